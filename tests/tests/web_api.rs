//! The web page's JSON API as scripts and the page use it: Digest or the session cookie,
//! the same controls as ONVIF, clear refusals, throttled logins.

use std::time::Duration;

use babymonitor_e2e::{ADMIN, Setup, VIEWER, http};
use serde_json::{Value, json};

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body:?}"))
}

async fn login(base: &str, user: &str, password: &str) -> reqwest::Response {
    babymonitor_e2e::http::client()
        .post(format!("{base}/api/login"))
        .body(json!({ "user": user, "password": password }).to_string())
        .send()
        .await
        .expect("login")
}

#[tokio::test]
async fn scripts_drive_the_controls_with_digest() {
    let daemon = Setup::new().small().start();
    let base = daemon.https_base();
    let post = |path: &str, body: Value, who| {
        let url = format!("{base}{path}");
        async move {
            http::post_soap(&url, &body.to_string(), Some(who))
                .await
                .expect("post")
        }
    };
    let (status, _) = post(
        "/api/ptz/move",
        json!({ "pan": 0.8, "timeout_ms": 700 }),
        ADMIN,
    )
    .await;
    assert_eq!(status, 200);
    daemon
        .wait_metric("babymonitor_ptz_moving", Duration::from_secs(10), |v| {
            v == 0.0
        })
        .await;
    let (status, body) = http::get(&format!("{base}/api/ptz"), Some(ADMIN))
        .await
        .expect("get");
    assert_eq!(status, 200);
    let ptz = json_of(&body);
    assert!(ptz["pan"].as_f64().expect("pan") > 0.1, "{ptz}");
    assert_eq!(ptz["moving"], false, "the move ended by its timeout");

    let (status, body) = post("/api/ptz/presets", json!({ "name": "Cot" }), ADMIN).await;
    assert_eq!(status, 201, "{body}");
    let token = json_of(body.as_bytes())["token"]
        .as_str()
        .expect("token")
        .to_string();
    let (_, body) = http::get(&format!("{base}/api/ptz/presets"), Some(ADMIN))
        .await
        .expect("get");
    assert_eq!(
        json_of(&body)["presets"],
        json!([{ "token": token, "name": "Cot" }])
    );
    let (status, _) = post(&format!("/api/ptz/presets/{token}/goto"), json!({}), ADMIN).await;
    assert_eq!(status, 200);
    let (status, body) = post("/api/ptz/presets/nope/goto", json!({}), ADMIN).await;
    assert_eq!(status, 400);
    assert!(body.contains("nope"), "{body}");

    let (status, body) = post("/api/night", json!({ "mode": "night" }), ADMIN).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(json_of(body.as_bytes())["mode"], "night");
    let (status, body) = post("/api/night", json!({ "mode": "dusk" }), ADMIN).await;
    assert_eq!(status, 400);
    assert!(body.contains("dusk"), "{body}");
    let (status, body) = post("/api/ptz/move", json!({ "pan": "left" }), ADMIN).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = post("/api/ptz/move", json!({ "pan": 7.0 }), ADMIN).await;
    assert_eq!(status, 400, "{body}");

    // A "user" watches; moving the camera needs an operator, as over ONVIF.
    let (status, body) = post("/api/ptz/move", json!({ "pan": 0.5 }), VIEWER).await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = http::get(&format!("{base}/api/night"), Some(VIEWER))
        .await
        .expect("get");
    assert_eq!(status, 200);

    // The history holds only what was measured (the simulated room, once the first minute
    // has a reading), and a bad question gets an answer that says why.
    let (status, body) = http::get(&format!("{base}/api/history"), Some(VIEWER))
        .await
        .expect("get");
    assert_eq!(status, 200);
    let history = json_of(&body);
    let samples = history["samples"].as_array().expect("samples");
    assert!(
        samples
            .iter()
            .all(|s| s["t"].is_u64() && s.as_object().is_some_and(|o| o.len() > 1)),
        "{samples:?}"
    );
    assert_eq!(history["resolution_s"], 60);
    let (status, body) = http::get(&format!("{base}/api/history?since=yesterday"), Some(VIEWER))
        .await
        .expect("get");
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("Unix seconds"));
}

#[tokio::test]
async fn a_session_cookie_opens_the_api_until_logout() {
    let daemon = Setup::new().small().start();
    let base = daemon.https_base();
    let r = login(&base, ADMIN.0, ADMIN.1).await;
    assert_eq!(r.status(), 200);
    let set_cookie = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("a cookie")
        .to_string();
    let attributes: Vec<&str> = set_cookie.split(';').map(str::trim).collect();
    for attribute in ["Secure", "HttpOnly", "SameSite=Strict"] {
        assert!(attributes.contains(&attribute), "{set_cookie}");
    }
    // No HSTS: with the camera's own certificate it would lock the parent out for good.
    assert!(r.headers().get("strict-transport-security").is_none());
    let cookie = set_cookie
        .split(';')
        .next()
        .expect("name=value")
        .to_string();
    let client = babymonitor_e2e::http::client();
    let session = |c: Option<&str>| {
        let mut req = client
            .get(format!("{base}/api/session"))
            .header("X-Babymonitor-Page", "1");
        if let Some(c) = c {
            req = req.header("Cookie", c.to_string());
        }
        req.send()
    };
    let r = session(Some(&cookie)).await.expect("session");
    assert_eq!(r.status(), 200);
    let me = json_of(&r.bytes().await.expect("body"));
    assert_eq!(me["user"], "admin");
    assert_eq!(me["can_control"], true);

    // Without a login the page gets a 401 of its own, not a browser password prompt.
    let r = session(None).await.expect("session");
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("www-authenticate").is_none());

    let r = client
        .post(format!("{base}/api/logout"))
        .header("Cookie", cookie.clone())
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status(), 200);
    let cleared = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert!(cleared.contains("; Secure;"), "{cleared}");
    assert_eq!(session(Some(&cookie)).await.expect("session").status(), 401);
    // The page itself needs no login: it holds no secret.
    let (status, page) = http::get(&format!("{base}/"), None).await.expect("page");
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&page).contains("<video"));
}

#[tokio::test]
async fn failed_web_logins_are_throttled_like_digest() {
    let daemon = Setup::new().small().start();
    let base = daemon.https_base();
    let mut statuses = Vec::new();
    for _ in 0..11 {
        statuses.push(login(&base, ADMIN.0, "guess").await.status().as_u16());
    }
    assert!(statuses[..10].iter().all(|s| *s == 401), "{statuses:?}");
    assert_eq!(statuses[10], 429, "{statuses:?}");
    // The right password waits too, and so does Digest from the same address.
    let r = login(&base, ADMIN.0, ADMIN.1).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
    let (status, _) = http::get(&format!("{base}/metrics"), Some(ADMIN))
        .await
        .expect("get");
    assert_eq!(status, 429);
    let r = babymonitor_e2e::http::client()
        .post(format!("{base}/api/login"))
        .body("{not json")
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 429, "throttled before the body is read");
}
