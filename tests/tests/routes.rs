//! The HTTP route table as clients meet it: every declared route (the daemon prints its table)
//! is tried with no credentials and as each role, and must let in exactly the roles it
//! declares; an unknown path is 404 and a known one with another method 405 with `Allow`.

use std::process::Command;

use babymonitor_e2e::{ADMIN, Setup, VIEWER, binary, http};

const OPERATOR: (&str, &str) = ("operator", "operator pass 3");

/// (method, path with its parameters filled in, who may use it) for every declared route.
fn declared() -> Vec<(String, String, String)> {
    let out = Command::new(binary()).arg("routes").output().expect("run");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let rows: Vec<_> = text
        .lines()
        .map(|line| {
            let mut words = line.split(' ');
            let mut next = || words.next().expect("three words").to_string();
            let (method, pattern, need) = (next(), next(), next());
            // A parameter names nothing that exists: the handler's own 404 is an answer too.
            let path = pattern
                .replace("{token}", "no-such-clip")
                .replace("{id}", "no-such-id")
                .replace("{*service}", "device_service");
            (method, path, need)
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
    let base = daemon.http_base();
    let mut wrong = Vec::new();
    for (method, path, need) in declared() {
        if need == "onvif" {
            // SOAP authorizes per operation; onvif_bad_input and the Python tests cover it.
            continue;
        }
        let method = if method == "*" { "POST".into() } else { method };
        let url = format!("{base}{path}");
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

#[tokio::test]
async fn unknown_paths_are_404_and_other_methods_405_with_allow() {
    let daemon = Setup::new().small().start();
    let base = daemon.http_base();
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
