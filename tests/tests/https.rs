//! HTTPS as clients meet it: openssl and curl see the camera's certificate (TLS 1.2 and 1.3,
//! not 1.1; the names a browser checks; the fingerprint the log shows), the page and its API
//! are not served in plain text, NVRs keep plain HTTP unless `require_tls`, ONVIF over HTTPS
//! hands out https addresses, and passwords never cross plain HTTP.

use std::process::{Command, Output};
use std::time::Duration;

use babymonitor_e2e::onvif::{TDS, TRT, envelope, op, wsse, wsse_raw};
use babymonitor_e2e::{ADMIN, Daemon, Setup, http};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn s_client(daemon: &Daemon, args: &[&str]) -> Output {
    let connect = format!("127.0.0.1:{}", daemon.https_port);
    let mut child = Command::new("openssl")
        .args(["s_client", "-connect", &connect, "-servername", "localhost"])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("openssl runs");
    // Closing stdin ends the session once the handshake is done.
    drop(child.stdin.take());
    child.wait_with_output().expect("openssl ends")
}

fn negotiated(out: &Output) -> Option<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        // "New, TLSv1.3, Cipher is ...": printed once the handshake is done (the session's
        // "Protocol :" line only comes with a TLS 1.3 ticket, which may arrive after stdin ends).
        .find_map(|l| {
            l.trim()
                .strip_prefix("New, ")
                .and_then(|rest| rest.split(',').next())
                .map(|p| p.trim().to_string())
        })
        .filter(|_| out.status.success())
}

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().expect("runs");
    assert!(out.status.success(), "{program} {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn openssl_and_curl_see_the_cameras_certificate() {
    let daemon = Setup::new().small().start();
    assert_eq!(
        negotiated(&s_client(&daemon, &["-tls1_2"])).as_deref(),
        Some("TLSv1.2")
    );
    assert_eq!(
        negotiated(&s_client(&daemon, &["-tls1_3"])).as_deref(),
        Some("TLSv1.3")
    );
    // The client offers TLS 1.1 for real (OpenSSL's own floor lowered): the camera refuses.
    let old = s_client(&daemon, &["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"]);
    assert_eq!(
        negotiated(&old),
        None,
        "{}",
        String::from_utf8_lossy(&old.stdout)
    );
    let alpn = s_client(&daemon, &["-tls1_3", "-alpn", "h2,http/1.1"]);
    assert!(
        String::from_utf8_lossy(&alpn.stdout).contains("ALPN protocol: http/1.1"),
        "{alpn:?}"
    );

    // The certificate as served, not as stored.
    let shown = s_client(&daemon, &["-tls1_3", "-showcerts"]);
    let text = String::from_utf8_lossy(&shown.stdout);
    let begin = text
        .find("-----BEGIN CERTIFICATE-----")
        .expect("a certificate");
    let end = text.find("-----END CERTIFICATE-----").expect("its end") + 25;
    let served = daemon.dir.path().join("served.pem");
    std::fs::write(&served, format!("{}\n", &text[begin..end])).expect("write");
    let served = served.to_str().expect("path");
    let san = run(
        "openssl",
        &["x509", "-in", served, "-noout", "-ext", "subjectAltName"],
    );
    for name in [
        "DNS:babymonitor.local",
        "DNS:localhost",
        "IP Address:127.0.0.1",
    ] {
        assert!(san.contains(name), "{name} not in {san}");
    }
    let fingerprint = run(
        "openssl",
        &["x509", "-in", served, "-noout", "-fingerprint", "-sha256"],
    );
    let fingerprint = fingerprint
        .trim()
        .rsplit('=')
        .next()
        .expect("value")
        .to_string();
    assert!(
        daemon.log().contains(&format!("fingerprint={fingerprint}")),
        "{fingerprint} is not the logged one:\n{}",
        daemon.log()
    );

    // curl checks the name against the certificate, with the certificate as its only CA.
    let url = format!("https://localhost:{}/healthz", daemon.https_port);
    assert_eq!(
        run("curl", &["-sS", "--fail", "--cacert", served, &url]),
        "ok\n"
    );

    // The page is not served in plain text: a browser is sent to HTTPS.
    let plain = format!("http://127.0.0.1:{}/", daemon.http_port);
    let head = run("curl", &["-sS", "-i", &plain]);
    assert!(head.starts_with("HTTP/1.1 308"), "{head}");
    let to = format!("location: https://127.0.0.1:{}/\r\n", daemon.https_port);
    assert!(head.to_ascii_lowercase().contains(&to), "{head}");
    assert!(
        !head.contains("<html") && !head.contains("<video"),
        "{head}"
    );
    let page = run(
        "curl",
        &[
            "-sS",
            "--cacert",
            served,
            "-L",
            "--resolve",
            &format!("localhost:{}:127.0.0.1", daemon.https_port),
            &format!("https://localhost:{}/", daemon.https_port),
        ],
    );
    assert!(page.contains("<video"), "the page over HTTPS");
}

#[tokio::test]
async fn plain_http_keeps_what_nvrs_need_and_refuses_the_login() {
    let daemon = Setup::new().small().start();
    let plain = daemon.http_base();
    // NVRs: ONVIF, snapshots, metrics and the health check.
    for path in ["/healthz", "/snapshot.jpg", "/metrics"] {
        let (status, _) = http::get(&format!("{plain}{path}"), Some(ADMIN))
            .await
            .expect("get");
        assert_eq!(status, 200, "{path}");
    }
    let info = envelope("", &op(TDS, "GetDeviceInformation", ""));
    let (status, body) =
        http::post_soap(&format!("{plain}/onvif/device_service"), &info, Some(ADMIN))
            .await
            .expect("soap");
    assert_eq!(status, 200, "{body}");
    // The page's login: refused, saying where to go, and no cookie is set.
    let r = http::client()
        .post(format!("{plain}/api/login"))
        .body(format!(
            r#"{{"user":"{}","password":"{}"}}"#,
            ADMIN.0, ADMIN.1
        ))
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("set-cookie").is_none());
    let reason = r.text().await.expect("body");
    assert!(reason.contains("HTTPS"), "{reason}");
    // The API with Digest: a script is sent to HTTPS too, its password never checked here.
    let (status, _) = http::status_of("GET", &format!("{plain}/api/status"), Some(ADMIN))
        .await
        .expect("status");
    assert_eq!(status, 308);
}

#[tokio::test]
async fn require_tls_leaves_only_the_health_check_on_plain_http() {
    let daemon = Setup::new()
        .small()
        .set("http", "require_tls = true")
        .start();
    let plain = daemon.http_base();
    let (status, headers) = http::status_of(
        "GET",
        &format!("{plain}/snapshot.jpg?width=64"),
        Some(ADMIN),
    )
    .await
    .expect("snapshot");
    assert_eq!(status, 308);
    assert_eq!(
        headers["location"],
        format!(
            "https://127.0.0.1:{}/snapshot.jpg?width=64",
            daemon.https_port
        )
    );
    let info = envelope("", &op(TDS, "GetDeviceInformation", ""));
    let (status, body) =
        http::post_soap(&format!("{plain}/onvif/device_service"), &info, Some(ADMIN))
            .await
            .expect("soap");
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("HTTPS"), "{body}");
    assert_eq!(
        http::get(&format!("{plain}/healthz"), None)
            .await
            .expect("health")
            .0,
        200
    );
    // A tunnelled RTSP half over plain HTTP is refused like any request: its login would
    // cross the network in the clear.
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", daemon.http_port))
        .await
        .expect("connect");
    s.write_all(tunnel_get().as_bytes()).await.expect("send");
    let answer = read_head(&mut s).await;
    assert!(answer.starts_with("HTTP/1.0 308"), "{answer}");
    // Everything is there over HTTPS.
    let secure = daemon.https_base();
    let (status, body) = http::post_soap(
        &format!("{secure}/onvif/device_service"),
        &info,
        Some(ADMIN),
    )
    .await
    .expect("soap");
    assert_eq!(status, 200, "{body}");
    let (status, _) = http::get(&format!("{secure}/snapshot.jpg?width=64"), Some(ADMIN))
        .await
        .expect("snapshot");
    assert_eq!(status, 200);
}

fn tunnel_get() -> String {
    "GET /stream HTTP/1.0\r\nx-sessioncookie: e2etunnel1\r\nAccept: application/x-rtsp-tunnelled\r\n\
     Host: 127.0.0.1\r\n\r\n"
        .to_string()
}

async fn read_head(s: &mut (impl AsyncReadExt + Unpin)) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn rtsp_tunnels_through_https_and_handshakes_count_as_connections() {
    let daemon = Setup::new()
        .small()
        .set("http", "max_connections_per_address = 4")
        .start();
    // The GET half of an RTSP-over-HTTP tunnel, inside TLS: the RTSP server answers it.
    let mut tunnel = http::tls_connect(daemon.https_port).await.expect("TLS");
    tunnel
        .write_all(tunnel_get().as_bytes())
        .await
        .expect("send");
    let answer = read_head(&mut tunnel).await;
    assert!(answer.starts_with("HTTP/1.0 200"), "{answer}");
    assert!(answer.contains("application/x-rtsp-tunnelled"), "{answer}");
    drop(tunnel);

    // Connections that never finish their handshake hold places like any other.
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(
            tokio::net::TcpStream::connect(("127.0.0.1", daemon.https_port))
                .await
                .expect("connect"),
        );
    }
    daemon
        .wait_metric(
            "babymonitor_http_connections",
            Duration::from_secs(10),
            |v| v >= 3.0,
        )
        .await;
    // They are cut off by the handshake's time limit (10 s), not held for ever.
    for mut s in idle {
        let mut buf = [0u8; 16];
        let closed = tokio::time::timeout(Duration::from_secs(30), s.read(&mut buf)).await;
        assert!(
            matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
            "a connection without a handshake is still open after 30 s"
        );
    }
    let (status, _) = http::get(&format!("{}/healthz", daemon.https_base()), None)
        .await
        .expect("health");
    assert_eq!(status, 200);
}

/// Every address of this camera a response hands out (element text with `://127.0.0.1`).
fn addresses(body: &str) -> Vec<String> {
    body.split('>')
        .filter_map(|s| s.split('<').next())
        .filter(|text| text.contains("://127.0.0.1"))
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn onvif_over_https_hands_out_https_addresses() {
    let daemon = Setup::new().small().start();
    let secure = daemon.https_base();
    let device = format!("{secure}/onvif/device_service");
    let media = format!("{secure}/onvif/media_service");
    let https = format!("https://127.0.0.1:{}/", daemon.https_port);
    let mut seen = Vec::new();
    for (url, request) in [
        (
            &device,
            op(TDS, "GetCapabilities", "<Category>All</Category>"),
        ),
        (
            &device,
            op(
                TDS,
                "GetServices",
                "<IncludeCapability>false</IncludeCapability>",
            ),
        ),
        (
            &media,
            op(TRT, "GetSnapshotUri", "<ProfileToken>main</ProfileToken>"),
        ),
    ] {
        let (status, body) = http::post_soap(url, &envelope("", &request), Some(ADMIN))
            .await
            .expect("soap");
        assert_eq!(status, 200, "{body}");
        let found = addresses(&body);
        assert!(!found.is_empty(), "{body}");
        seen.extend(found);
    }
    let wrong: Vec<_> = seen.iter().filter(|a| !a.starts_with(&https)).collect();
    assert!(wrong.is_empty(), "not over HTTPS: {wrong:?}");
    // An event subscription's address too.
    let (status, body) = http::post_soap(
        &format!("{secure}/onvif/events_service"),
        &envelope(
            "",
            &op(
                "http://www.onvif.org/ver10/events/wsdl",
                "CreatePullPointSubscription",
                "",
            ),
        ),
        Some(ADMIN),
    )
    .await
    .expect("subscribe");
    assert_eq!(status, 200, "{body}");
    let subscription = addresses(&body);
    assert!(
        subscription
            .iter()
            .any(|a| a.starts_with(&format!("{https}onvif/subscription"))),
        "{body}"
    );
    // Over plain HTTP the same services say http.
    let (_, body) = http::post_soap(
        &format!("{}/onvif/device_service", daemon.http_base()),
        &envelope("", &op(TDS, "GetCapabilities", "<Category>All</Category>")),
        Some(ADMIN),
    )
    .await
    .expect("soap");
    let plain = format!("http://127.0.0.1:{}/", daemon.http_port);
    assert!(
        addresses(&body).iter().all(|a| a.starts_with(&plain)),
        "{body}"
    );
}

fn text_token() -> String {
    wsse_raw(ADMIN.0, ADMIN.1, "PasswordText", None, None)
}

#[tokio::test]
async fn passwords_never_cross_plain_http() {
    let daemon = Setup::new().small().start();
    let plain = format!("{}/onvif/device_service", daemon.http_base());
    let secure = format!("{}/onvif/device_service", daemon.https_base());
    let users = envelope("", &op(TDS, "GetUsers", ""));
    let with_text = envelope(&text_token(), &op(TDS, "GetUsers", ""));
    let (status, body) = http::post_soap(&plain, &with_text, None)
        .await
        .expect("soap");
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("PasswordDigest") && body.contains("HTTPS"),
        "{body}"
    );
    let (status, body) = http::post_soap(&secure, &with_text, None)
        .await
        .expect("soap");
    assert_eq!(status, 200, "PasswordText over HTTPS: {body}");
    let nonce: [u8; 16] = rand::random();
    let with_digest = envelope(&wsse(ADMIN.0, ADMIN.1, &nonce, 0), &op(TDS, "GetUsers", ""));
    let (status, body) = http::post_soap(&plain, &with_digest, None)
        .await
        .expect("soap");
    assert_eq!(status, 200, "PasswordDigest over plain HTTP: {body}");
    let _ = users;

    let nanny = "<User><tt:Username>nanny</tt:Username><tt:Password>bottles at six</tt:Password><tt:UserLevel>User</tt:UserLevel></User>";
    for operation in ["CreateUsers", "SetUser"] {
        let request = envelope("", &op(TDS, operation, nanny));
        let (status, body) = http::post_soap(&plain, &request, Some(ADMIN))
            .await
            .expect("soap");
        assert_eq!(status, 400, "{operation}: {body}");
        assert!(body.contains("HTTPS"), "{operation}: {body}");
    }
    let (status, body) = http::post_soap(
        &secure,
        &envelope("", &op(TDS, "CreateUsers", nanny)),
        Some(ADMIN),
    )
    .await
    .expect("soap");
    assert_eq!(status, 200, "CreateUsers over HTTPS: {body}");
    let (_, body) = http::post_soap(&plain, &envelope("", &op(TDS, "GetUsers", "")), Some(ADMIN))
        .await
        .expect("soap");
    assert!(body.contains("nanny"), "{body}");
}
