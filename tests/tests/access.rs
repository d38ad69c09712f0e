//! Who else gets in through the web: another site's page (with the browser's cached Digest
//! credentials) cannot change anything or open the live WebSocket, a WebSocket message far
//! beyond what the page sends closes the socket, and the page's logins end with their age and
//! with their user's password.

use std::time::Duration;

use babymonitor_e2e::onvif::{TDS, envelope, op};
use babymonitor_e2e::{ADMIN, Setup, VIEWER, http};
use futures::{SinkExt, StreamExt};
use reqwest::Method;

type TlsStream = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};

/// `method path` with the extra `headers`, answering a Digest challenge as ADMIN.
async fn send(
    base: &str,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let client = babymonitor_e2e::http::client();
    let url = format!("{base}{path}");
    let build = |auth: Option<String>| {
        let mut r = client.request(method.clone(), &url).body(body.to_string());
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        if let Some(a) = auth {
            r = r.header(reqwest::header::AUTHORIZATION, a);
        }
        r
    };
    let first = build(None).send().await.expect("send");
    let first = if first.status() == 401 {
        let verb = digest_auth::HttpMethod::from(method.as_str().to_string());
        let answer = http::digest_answer(&first, &url, ADMIN.0, ADMIN.1, verb).expect("digest");
        build(Some(answer)).send().await.expect("send")
    } else {
        first
    };
    (
        first.status().as_u16(),
        first.text().await.unwrap_or_default(),
    )
}

async fn session_cookie(base: &str) -> String {
    session_of(base, ADMIN).await
}

async fn session_of(base: &str, (user, password): (&str, &str)) -> String {
    let r = babymonitor_e2e::http::client()
        .post(format!("{base}/api/login"))
        .body(json!({ "user": user, "password": password }).to_string())
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().expect("cookie");
    cookie.split(';').next().expect("cookie").to_string()
}

/// Opens `/api/live.ws` with `origin` (and the session cookie); the handshake's status, and
/// the socket when it was opened.
async fn live_ws(
    port: u16,
    cookie: &str,
    origin: Option<&str>,
    config: Option<WebSocketConfig>,
) -> (u16, Option<tokio_tungstenite::WebSocketStream<TlsStream>>) {
    let mut req = format!("wss://127.0.0.1:{port}/api/live.ws")
        .into_client_request()
        .expect("request");
    req.headers_mut()
        .insert("cookie", cookie.parse().expect("cookie"));
    if let Some(o) = origin {
        req.headers_mut()
            .insert("origin", o.parse().expect("origin"));
    }
    let tcp = babymonitor_e2e::http::tls_connect(port)
        .await
        .expect("connect");
    match tokio_tungstenite::client_async_with_config(req, tcp, config).await {
        Ok((ws, response)) => (response.status().as_u16(), Some(ws)),
        Err(tungstenite::Error::Http(response)) => (response.status().as_u16(), None),
        Err(e) => panic!("WebSocket handshake: {e}"),
    }
}

#[tokio::test]
async fn another_sites_requests_are_refused_before_any_login() {
    let daemon = Setup::new().small().start();
    let base = daemon.https_base();
    let own = base.clone();
    let host_named = format!("https://localhost:{}", daemon.https_port);
    let soap = babymonitor_e2e::onvif::envelope(
        "",
        &babymonitor_e2e::onvif::op(
            "http://www.onvif.org/ver10/device/wsdl",
            "GetDeviceInformation",
            "",
        ),
    );
    let evil = [("origin", "http://evil.example:8080")];
    let null = [("origin", "null")];
    let site = [("sec-fetch-site", "cross-site")];
    for (method, path, headers, body) in [
        (Method::POST, "/api/ptz/home", &evil[..], ""),
        (Method::POST, "/api/ptz/home", &null[..], ""),
        (Method::POST, "/api/ptz/home", &site[..], ""),
        (Method::DELETE, "/api/ptz/presets/x", &evil[..], ""),
        // A login from another site's page would log the parent's browser into its account.
        (
            Method::POST,
            "/api/login",
            &evil[..],
            r#"{"user":"admin","password":"admin pass 1"}"#,
        ),
        (Method::POST, "/onvif/device_service", &evil[..], &soap),
    ] {
        let (status, text) = send(&base, method.clone(), path, headers, body).await;
        assert_eq!(status, 403, "{method} {path} {headers:?}: {text}");
        assert!(text.contains("cross-site request refused"), "{text}");
    }
    // No Origin (NVRs, curl, ONVIF clients), or the camera's own page, over http or https.
    let (status, text) = send(&base, Method::POST, "/onvif/device_service", &[], &soap).await;
    assert_eq!(status, 200, "{text}");
    for origin in [own.as_str(), &own.replace("https:", "http:"), &host_named] {
        let (status, text) = send(
            &base,
            Method::POST,
            "/api/ptz/home",
            &[("origin", origin), ("sec-fetch-site", "same-origin")],
            "",
        )
        .await;
        // localhost is this camera only when the request names it so.
        let expected = if origin == host_named { 403 } else { 200 };
        assert_eq!(status, expected, "Origin {origin}: {text}");
    }
    // Reading is not refused.
    let (status, _) = send(&base, Method::GET, "/api/status", &evil, "").await;
    assert_eq!(status, 200);

    // The live WebSocket: any page may open one, so its Origin decides.
    let cookie = session_cookie(&base).await;
    let port = daemon.https_port;
    assert_eq!(
        live_ws(port, &cookie, Some("http://evil.example"), None)
            .await
            .0,
        403
    );
    assert_eq!(live_ws(port, &cookie, Some("null"), None).await.0, 403);
    let (status, ws) = live_ws(port, &cookie, Some(&own), None).await;
    assert_eq!(status, 101);
    let mut ws = ws.expect("socket");
    let first = tokio::time::timeout(Duration::from_secs(20), ws.next())
        .await
        .expect("a picture in time");
    assert!(matches!(first, Some(Ok(Message::Binary(_)))), "{first:?}");
}

#[tokio::test]
async fn a_websocket_message_beyond_what_the_page_sends_closes_the_socket() {
    let daemon = Setup::new().small().start();
    let cookie = session_cookie(&daemon.https_base()).await;
    let origin = daemon.https_base();
    // A page that watches, so that the pictures' memory is there before counting.
    let (_, watching) = live_ws(daemon.https_port, &cookie, Some(&origin), None).await;
    let mut watching = watching.expect("socket");
    let first = tokio::time::timeout(Duration::from_secs(20), watching.next()).await;
    assert!(
        matches!(first, Ok(Some(Ok(Message::Binary(_))))),
        "{first:?}"
    );
    let before = daemon.rss_kib();
    for _ in 0..3 {
        let (status, ws) = live_ws(daemon.https_port, &cookie, Some(&origin), None).await;
        assert_eq!(status, 101);
        let mut ws = ws.expect("socket");
        ws.send(Message::Binary(vec![b'x'; 1 << 20].into()))
            .await
            .expect("send");
        let close = tokio::time::timeout(Duration::from_secs(20), async {
            while let Some(m) = ws.next().await {
                match m {
                    Ok(Message::Close(frame)) => return frame,
                    Ok(_) => {}
                    Err(e) => panic!("the socket broke instead of closing: {e}"),
                }
            }
            None
        })
        .await
        .expect("closed in time");
        let close = close.expect("a close frame with a code");
        assert_eq!(close.code, CloseCode::Size, "{close:?}");
    }
    // What was sent did not stay in the daemon; the page that watches still gets pictures.
    let grown = daemon.rss_kib().saturating_sub(before);
    assert!(grown < 3 * 1024, "the daemon grew by {grown} KiB");
    let next = tokio::time::timeout(Duration::from_secs(20), watching.next()).await;
    assert!(matches!(next, Ok(Some(Ok(Message::Binary(_))))), "{next:?}");
}

/// The status of `GET /api/session` with the session `cookie`.
async fn session_status(base: &str, cookie: &str) -> u16 {
    babymonitor_e2e::http::client()
        .get(format!("{base}/api/session"))
        .header("cookie", cookie)
        .header("x-babymonitor-page", "1")
        .send()
        .await
        .expect("session")
        .status()
        .as_u16()
}

/// Waits (generously) until the session `cookie` is refused; whether it was.
async fn ends(base: &str, cookie: &str) -> bool {
    for _ in 0..50 {
        if session_status(base, cookie).await == 401 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

async fn device(daemon: &babymonitor_e2e::Daemon, name: &str, inner: &str) {
    let url = format!("{}/onvif/device_service", daemon.https_base());
    let body = envelope("", &op(TDS, name, inner));
    let (status, answer) = http::post_soap(&url, &body, Some(ADMIN))
        .await
        .expect("SOAP");
    assert_eq!(status, 200, "{name}: {answer}");
}

#[tokio::test]
async fn a_users_logins_end_when_the_password_changes_or_the_user_is_deleted() {
    let daemon = Setup::new().small().start();
    let base = daemon.https_base();
    let viewer = session_of(&base, VIEWER).await;
    let admin = session_of(&base, ADMIN).await;
    assert_eq!(session_status(&base, &viewer).await, 200);

    // A new role keeps the login (the role follows); a new password ends it.
    let user = |password: &str, level: &str| {
        format!(
            "<User><tt:Username>{}</tt:Username>{password}<tt:UserLevel>{level}</tt:UserLevel></User>",
            VIEWER.0
        )
    };
    device(&daemon, "SetUser", &user("", "Operator")).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(session_status(&base, &viewer).await, 200);
    let new = "a new viewer pass 7";
    device(
        &daemon,
        "SetUser",
        &user(&format!("<tt:Password>{new}</tt:Password>"), "User"),
    )
    .await;
    assert!(ends(&base, &viewer).await, "the old login still works");
    assert_eq!(
        session_status(&base, &admin).await,
        200,
        "another user's login"
    );

    // Logged in again with the new password, then the user is deleted.
    let again = session_of(&base, (VIEWER.0, new)).await;
    assert_eq!(session_status(&base, &again).await, 200);
    device(
        &daemon,
        "DeleteUsers",
        &format!("<Username>{}</Username>", VIEWER.0),
    )
    .await;
    assert!(
        ends(&base, &again).await,
        "a deleted user's login still works"
    );
    assert_eq!(
        session_status(&base, &admin).await,
        200,
        "another user's login"
    );
}

#[tokio::test]
async fn a_login_ends_at_its_lifetime_however_much_it_is_used() {
    let daemon = Setup::new()
        .small()
        .set("web", "session_lifetime_s = 10")
        .start();
    let base = daemon.https_base();
    let cookie = session_cookie(&base).await;
    let started = std::time::Instant::now();
    // Used every half second: never idle, and still over after its ten seconds.
    let mut last_ok = Duration::ZERO;
    while started.elapsed() < Duration::from_secs(30) {
        match session_status(&base, &cookie).await {
            200 => last_ok = started.elapsed(),
            401 => break,
            other => panic!("GET /api/session: {other}"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(session_status(&base, &cookie).await, 401, "never ended");
    assert!(
        last_ok >= Duration::from_secs(8),
        "ended early, at {last_ok:?}"
    );
    // A new login works.
    let fresh = session_cookie(&base).await;
    assert_eq!(session_status(&base, &fresh).await, 200);
}

/// The next message of the fallback live view within 10 s: a picture.
async fn picture(ws: &mut tokio_tungstenite::WebSocketStream<TlsStream>) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_secs(10), ws.next()).await,
        Ok(Some(Ok(Message::Binary(_))))
    )
}

/// What a page streams with a login stops when that login ends: the fallback live view (a
/// WebSocket) and the listen stream of a viewer whose password changed close within seconds,
/// while the admin's live view goes on.
#[tokio::test]
async fn a_changed_password_closes_the_pages_streams_opened_with_it() {
    let daemon = Setup::new().small().start();
    let base = daemon.https_base();
    let viewer = session_of(&base, VIEWER).await;
    let admin = session_of(&base, ADMIN).await;
    let (status, ws) = live_ws(daemon.https_port, &viewer, None, None).await;
    assert_eq!(status, 101);
    let mut viewer_ws = ws.expect("socket");
    assert!(
        picture(&mut viewer_ws).await,
        "the viewer's live view shows nothing"
    );
    let (_, ws) = live_ws(daemon.https_port, &admin, None, None).await;
    let mut admin_ws = ws.expect("socket");
    assert!(picture(&mut admin_ws).await);
    let mut listen = babymonitor_e2e::http::client()
        .get(format!("{base}/api/listen.aac"))
        .header("cookie", &viewer)
        .send()
        .await
        .expect("listen");
    assert_eq!(listen.status(), 200);
    assert!(listen.chunk().await.expect("sound").is_some());

    let new = "a new viewer pass 7";
    device(
        &daemon,
        "SetUser",
        &format!(
            "<User><tt:Username>{}</tt:Username><tt:Password>{new}</tt:Password><tt:UserLevel>User</tt:UserLevel></User>",
            VIEWER.0
        ),
    )
    .await;

    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match viewer_ws.next().await {
                Some(Ok(Message::Close(frame))) => break frame.map(|f| f.code),
                Some(Err(_)) | None => break None,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert_eq!(
        closed.ok().flatten(),
        Some(CloseCode::Policy),
        "the old login's live view goes on, or closes without saying why\n{}",
        daemon.log()
    );
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Ok(Some(_)) = listen.chunk().await {}
    })
    .await;
    assert!(
        ended.is_ok(),
        "the old login's listen stream goes on\n{}",
        daemon.log()
    );
    for _ in 0..3 {
        assert!(
            picture(&mut admin_ws).await,
            "the admin's live view stopped"
        );
    }
}
