//! The HTTP route table as clients meet it: every declared route (the daemon prints its table)
//! is tried with no credentials and as each role, and must let in exactly the roles it
//! declares; an unknown path is 404 and a known one with another method 405 with `Allow`.

use std::process::Command;

use babymonitor_e2e::{ADMIN, Setup, VIEWER, binary, http, onvif};

const OPERATOR: (&str, &str) = ("operator", "operator pass 3");

/// (method, path with its parameters filled in, who may use it, over what) for every declared
/// route.
fn declared() -> Vec<(String, String, String, String)> {
    let out = Command::new(binary()).arg("routes").output().expect("run");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let rows: Vec<_> = text
        .lines()
        .map(|line| {
            let mut words = line.split(' ');
            let mut next = || words.next().expect("three words").to_string();
            let (method, pattern, need, transport) = (next(), next(), next(), next());
            // A parameter names nothing that exists: the handler's own 404 is an answer too.
            let path = pattern
                .replace("{token}", "no-such-clip")
                .replace("{id}", "no-such-id")
                .replace("{*service}", "device_service");
            (method, path, need, transport)
        })
        .collect();
    assert!(rows.len() > 30, "{text}");
    rows
}

#[tokio::test]
async fn every_route_lets_in_exactly_the_roles_it_declares() {
    let daemon = Setup::new()
        .small()
        .users(&[
            (ADMIN.0, ADMIN.1, "admin"),
            (OPERATOR.0, OPERATOR.1, "operator"),
            (VIEWER.0, VIEWER.1, "user"),
        ])
        .start();
    let mut wrong = Vec::new();
    for (method, path, need, _) in declared() {
        if need == "onvif" {
            // SOAP authorizes per operation: every_onvif_operation_... tries each one.
            continue;
        }
        let method = if method == "*" { "POST".into() } else { method };
        let url = format!("{}{path}", daemon.https_base());
        let mut try_as = async |who: Option<(&str, &str)>, expected: Option<u16>| {
            let (status, _) = http::status_of(&method, &url, who)
                .await
                .unwrap_or_else(|e| panic!("{method} {path}: {e:#}"));
            let ok = match expected {
                Some(e) => status == e,
                None => status != 401 && status != 403,
            };
            if !ok {
                let who = who.map_or("nobody", |w| w.0);
                wrong.push(format!(
                    "{method} {path} ({need}) as {who}: {status}, expected {}",
                    expected.map_or("neither 401 nor 403".to_string(), |e| e.to_string())
                ));
            }
        };
        let login = (need != "public").then_some(401);
        let (viewer, operator) = match need.as_str() {
            "public" | "viewer" => (None, None),
            "operator" => (Some(403), None),
            "admin" => (Some(403), Some(403)),
            other => panic!("unknown need {other}"),
        };
        try_as(None, login).await;
        try_as(Some(VIEWER), viewer).await;
        try_as(Some(OPERATOR), operator).await;
        try_as(Some(ADMIN), None).await;
    }
    assert!(wrong.is_empty(), "{}\n{}", wrong.join("\n"), daemon.log());
}

/// Plain HTTP serves what NVRs need; every other route sends a browser's GET or HEAD to the
/// same path over HTTPS and refuses anything else, before any login is asked for.
#[tokio::test]
async fn every_route_is_served_over_the_transport_it_declares() {
    let daemon = Setup::new().small().start();
    let mut wrong = Vec::new();
    let mut https_only = 0;
    for (method, path, _, transport) in declared() {
        let method = if method == "*" { "POST".into() } else { method };
        let url = format!("{}{path}", daemon.http_base());
        let (status, headers) = http::status_of(&method, &url, None)
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e:#}"));
        let location = headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let expected = match transport.as_str() {
            "https" => {
                https_only += 1;
                if method == "GET" || method == "HEAD" {
                    let to = format!("https://127.0.0.1:{}{path}", daemon.https_port);
                    (status == 308 && location == to)
                        .then_some(())
                        .ok_or(format!("308 to {to}"))
                } else {
                    (status == 403).then_some(()).ok_or("403".to_string())
                }
            }
            "http+https" => (status != 308 && status != 403)
                .then_some(())
                .ok_or("served".to_string()),
            other => panic!("unknown transport {other}"),
        };
        if let Err(e) = expected {
            wrong.push(format!(
                "{method} {path} ({transport}) over plain HTTP: {status} {location}, expected {e}"
            ));
        }
    }
    assert!(https_only > 20, "the page and its API are HTTPS only");
    assert!(wrong.is_empty(), "{}\n{}", wrong.join("\n"), daemon.log());
}

#[tokio::test]
async fn unknown_paths_are_404_and_other_methods_405_with_allow() {
    let daemon = Setup::new().small().start();
    let base = daemon.https_base();
    let status = |method: &'static str, path: &'static str, who| {
        let url = format!("{base}{path}");
        async move { http::status_of(method, &url, who).await.expect("request") }
    };
    // No login is asked for a path that does not exist, nor for a method that is not served.
    for path in [
        "/nothing/here",
        "/api/nothing",
        "/api/clips/x/y/z",
        "/snapshot.jpgx",
    ] {
        assert_eq!(status("GET", path, None).await.0, 404, "{path}");
        assert_eq!(status("GET", path, Some(ADMIN)).await.0, 404, "{path}");
    }
    for (method, path, allow) in [
        ("DELETE", "/snapshot.jpg", "GET, HEAD"),
        ("GET", "/api/whep", "POST"),
        ("PUT", "/api/ptz", "GET"),
        ("GET", "/api/login", "POST"),
        ("POST", "/api/clips/x/play/extra", ""),
        ("PATCH", "/api/clips", "GET, POST"),
    ] {
        let (code, headers) = status(method, path, None).await;
        if allow.is_empty() {
            assert_eq!(code, 404, "{method} {path}");
            continue;
        }
        assert_eq!(code, 405, "{method} {path}");
        assert_eq!(headers["allow"], allow, "{method} {path}");
    }
    // A trailing slash names the same route.
    let (code, _) = status("GET", "/api/status/", Some(VIEWER)).await;
    assert_eq!(code, 200);
}

/// (service path, namespace, name, access class) for every ONVIF operation the daemon serves.
fn operations() -> Vec<(String, String, String, String)> {
    let out = Command::new(binary())
        .arg("operations")
        .output()
        .expect("run");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let rows: Vec<_> = text
        .lines()
        .map(|line| {
            let mut words = line.split(' ');
            let mut next = || words.next().expect("four words").to_string();
            (next(), next(), next(), next())
        })
        .collect();
    assert!(rows.len() > 100, "{text}");
    rows
}

/// Whether a level may call an operation of `access` (ONVIF Core's default access policy).
fn allowed(access: &str, level: &str) -> bool {
    match (level, access) {
        ("anonymous", a) => a == "PreAuth",
        ("user", a) => ["PreAuth", "ReadSystem", "ReadMedia"].contains(&a),
        ("operator", a) => !["ReadSystemSecret", "Unrecoverable"].contains(&a),
        ("admin", _) => true,
        other => panic!("unknown level or class {other:?}"),
    }
}

/// Every ONVIF operation as anonymous, user, operator and admin: refused (401, 403 or a
/// NotAuthorized fault) exactly when its access class says so. The body of each operation is
/// empty: the daemon decides who may call an operation from its name alone, before the
/// operation reads its arguments, so an action that is let in fails on its missing arguments
/// (DeleteUsers, SetSystemFactoryDefault, the moves) or does nothing (SystemReboot on simulated
/// hardware). An operation no service serves is ActionNotSupported, whoever asks.
#[tokio::test]
async fn every_onvif_operation_lets_in_exactly_the_levels_of_its_class() {
    let daemon = Setup::new()
        .small()
        .users(&[
            (ADMIN.0, ADMIN.1, "admin"),
            (OPERATOR.0, OPERATOR.1, "operator"),
            (VIEWER.0, VIEWER.1, "user"),
        ])
        .start();
    // Over HTTPS: CreateUsers and SetUser carry passwords, which plain HTTP refuses whoever asks.
    let base = daemon.https_base();
    // One client: keep-alive, one connection for all the requests.
    let client = babymonitor_e2e::http::client();
    let mut nonce = 0u64;
    let mut send = async |path: &str, ns: &str, name: &str, who: Option<(&str, &str)>| {
        nonce += 1;
        let header = who.map_or(String::new(), |(user, pass)| {
            onvif::wsse(user, pass, &nonce.to_be_bytes(), 0)
        });
        let body = onvif::envelope(&header, &onvif::op(ns, name, ""));
        let r = client
            .post(format!("{base}{path}"))
            .header("content-type", "application/soap+xml; charset=utf-8")
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let status = r.status().as_u16();
        (status, r.text().await.unwrap_or_default())
    };
    let levels = [
        ("anonymous", None),
        ("user", Some(VIEWER)),
        ("operator", Some(OPERATOR)),
        ("admin", Some(ADMIN)),
    ];
    let mut wrong = Vec::new();
    let mut seen = std::collections::HashMap::<(&str, bool), usize>::new();
    for (path, ns, name, access) in operations() {
        for (level, who) in levels {
            let (status, text) = send(&path, &ns, &name, who).await;
            let refused = status == 401
                || status == 403
                || onvif::subcodes(&text).iter().any(|s| s == "NotAuthorized");
            let expected = !allowed(&access, level);
            *seen.entry((level, refused)).or_default() += 1;
            if refused != expected {
                wrong.push(format!(
                    "{name} ({access}) as {level}: {status} {}, expected {}",
                    onvif::subcodes(&text).join("/"),
                    if expected { "refused" } else { "let in" }
                ));
            }
        }
    }
    // Every level was both let in and refused somewhere (admin: let in everywhere).
    for (level, _) in levels {
        assert!(
            seen.get(&(level, false)).is_some_and(|&n| n > 0),
            "{level} never let in"
        );
        if level != "admin" {
            assert!(
                seen.get(&(level, true)).is_some_and(|&n| n > 0),
                "{level} never refused"
            );
        }
    }
    // Names no table lists, including the verbs that used to be let in by their prefix.
    for (path, ns, name) in [
        ("/onvif/device_service", onvif::TDS, "SetNTP"),
        ("/onvif/device_service", onvif::TDS, "GetAccessPolicy"),
        (
            "/onvif/media_service",
            onvif::TRT,
            "StartMulticastStreaming",
        ),
        ("/onvif/media2_service", onvif::TR2, "CreateOSD"),
        ("/onvif/device_service", "urn:elsewhere", "GetAnything"),
    ] {
        for (level, who) in levels {
            let (status, text) = send(path, ns, name, who).await;
            if !onvif::subcodes(&text)
                .iter()
                .any(|s| s == "ActionNotSupported")
            {
                wrong.push(format!("unlisted {name} as {level}: {status} {text}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}\n{}", wrong.join("\n"), daemon.log());
}
