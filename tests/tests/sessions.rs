//! RTSP sessions: the timeout is announced, keep-alives hold a session, silence ends it.
//! The web page's logins: they outlive a restart of the camera, but not a logout or a change
//! of the user's password while the camera was off.

use std::time::Duration;

use babymonitor_e2e::rtsp::{RawRtsp, Via, watch};
use babymonitor_e2e::{ADMIN, Daemon, Setup, Stop, VIEWER};

#[tokio::test]
async fn sessions_announce_the_timeout_survive_with_keepalive_and_expire_without() {
    let daemon = Setup::new()
        .small()
        .set("rtsp", "session_timeout_s = 5")
        .start();

    // retina sends keep-alives: it keeps watching well past the timeout.
    let url = daemon.url("/stream");
    let kept =
        tokio::spawn(
            async move { watch(&url, Via::Tcp, Duration::from_secs(12), usize::MAX).await },
        );

    // A client that sets up UDP, plays, and then never says anything again.
    let mut silent = RawRtsp::connect(daemon.rtsp_port, ADMIN)
        .await
        .expect("connect");
    let r = silent
        .request(
            "DESCRIBE",
            &daemon.plain_url("/sub"),
            &[("Accept", "application/sdp")],
        )
        .await
        .expect("describe");
    assert_eq!(r.status, 200, "{r:?}");
    let control = r
        .body
        .lines()
        .filter_map(|l| l.strip_prefix("a=control:"))
        .find(|c| c.contains("stream=0"))
        .expect("a control URL for the video stream")
        .to_string();
    let control = if control.starts_with("rtsp://") {
        control
    } else {
        format!("{}/{control}", daemon.plain_url("/sub"))
    };
    let r = silent
        .request(
            "SETUP",
            &control,
            &[("Transport", "RTP/AVP;unicast;client_port=40000-40001")],
        )
        .await
        .expect("setup");
    assert_eq!(r.status, 200, "{r:?}");
    let session = r.header("Session").expect("Session header").to_string();
    assert!(session.contains("timeout=5"), "Session: {session}");
    let id = session.split(';').next().unwrap_or_default().to_string();
    let r = silent
        .request("PLAY", &daemon.plain_url("/sub"), &[("Session", &id)])
        .await
        .expect("play");
    assert_eq!(r.status, 200, "{r:?}");
    daemon
        .wait_metric("babymonitor_rtsp_viewers", Duration::from_secs(5), |v| {
            v == 2.0
        })
        .await;

    // The silent one is dropped after the timeout; the one with keep-alives stays.
    daemon
        .wait_metric("babymonitor_rtsp_viewers", Duration::from_secs(12), |v| {
            v == 1.0
        })
        .await;
    let got = kept.await.expect("task").expect("kept watching");
    let last = got.video.last().map(|f| f.0).unwrap_or_default();
    assert!(
        last > 10.0,
        "the viewer with keep-alives stopped at {last:.1} s"
    );
    drop(silent);
}

/// Logs in over HTTPS as the page does; the cookie as the browser sends it back.
async fn log_in(daemon: &Daemon, (user, password): (&str, &str)) -> String {
    let r = babymonitor_e2e::http::client()
        .post(format!("{}/api/login", daemon.https_base()))
        .body(serde_json::json!({ "user": user, "password": password }).to_string())
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 200, "login as {user}");
    r.headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|c| c.split(';').next())
        .expect("a cookie")
        .to_string()
}

/// Whom `/api/session` says the cookie belongs to, as the page asks it when it opens or
/// reconnects; `None` when the page would show its login.
async fn logged_in_as(daemon: &Daemon, cookie: &str) -> Option<String> {
    let r = babymonitor_e2e::http::client()
        .get(format!("{}/api/session", daemon.https_base()))
        .header("X-Babymonitor-Page", "1")
        .header("Cookie", cookie)
        .send()
        .await
        .expect("session");
    match r.status().as_u16() {
        200 => {
            let me: serde_json::Value =
                serde_json::from_slice(&r.bytes().await.expect("body")).expect("JSON");
            Some(me["user"].as_str().expect("a user").to_string())
        }
        401 => None,
        other => panic!("/api/session answered {other}\n{}", daemon.log()),
    }
}

#[tokio::test]
async fn web_logins_outlive_restarts_but_not_a_logout_or_a_new_password() {
    let setup = Setup::new().small();
    let mut daemon = setup.clone().start();
    let admin = log_in(&daemon, ADMIN).await;
    let viewer = log_in(&daemon, VIEWER).await;
    assert_eq!(
        logged_in_as(&daemon, &admin).await.as_deref(),
        Some("admin")
    );

    // An update (SIGTERM) and a power cut (SIGKILL): the phone goes on without a login.
    for how in [Stop::Term, Stop::Kill] {
        daemon.restart(&setup, how);
        assert_eq!(
            logged_in_as(&daemon, &admin).await.as_deref(),
            Some("admin"),
            "logged out by a restart ({how:?})\n{}",
            daemon.log()
        );
    }
    // A copied card hands out no cookie: the file holds no token.
    let stored = std::fs::read_to_string(daemon.dir.path().join("data/sessions.json"))
        .expect("the logins are in the data directory");
    for cookie in [&admin, &viewer] {
        let token = cookie.split_once('=').expect("name=value").1;
        assert!(!stored.contains(token), "a token on the card: {stored}");
    }

    // A logout right before a power cut stays a logout.
    let phone = log_in(&daemon, ADMIN).await;
    let r = babymonitor_e2e::http::client()
        .post(format!("{}/api/logout", daemon.https_base()))
        .header("Cookie", phone.clone())
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status(), 200);
    daemon.restart(&setup, Stop::Kill);
    assert_eq!(
        logged_in_as(&daemon, &phone).await,
        None,
        "back after a logout"
    );
    assert_eq!(
        logged_in_as(&daemon, &admin).await.as_deref(),
        Some("admin")
    );

    // The admin's password changed in the config while the camera was off: the admin's
    // logins end, the viewer's do not, and the new password logs in.
    let new_admin = ("admin", "a new admin pass 3");
    let changed = setup.users(&[
        (new_admin.0, new_admin.1, "admin"),
        (VIEWER.0, VIEWER.1, "user"),
    ]);
    daemon.restart(&changed, Stop::Term);
    assert_eq!(
        logged_in_as(&daemon, &admin).await,
        None,
        "the old password's login lives on"
    );
    assert_eq!(
        logged_in_as(&daemon, &viewer).await.as_deref(),
        Some("viewer")
    );
    let again = log_in(&daemon, new_admin).await;
    daemon.restart(&changed, Stop::Kill);
    assert_eq!(
        logged_in_as(&daemon, &again).await.as_deref(),
        Some("admin")
    );
    assert_eq!(logged_in_as(&daemon, &admin).await, None);
}

#[tokio::test]
async fn a_logins_lifetime_counts_from_the_login_not_from_a_restart() {
    let setup = Setup::new().small().set("web", "session_lifetime_s = 10");
    let mut daemon = setup.clone().start();
    let cookie = log_in(&daemon, ADMIN).await;
    let logged_in = std::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(4)).await;
    daemon.restart(&setup, Stop::Kill);
    assert_eq!(
        logged_in_as(&daemon, &cookie).await.as_deref(),
        Some("admin")
    );
    // Ten seconds after the login it is over; had the restart started it anew, it would last
    // until fourteen.
    let over = logged_in + Duration::from_millis(11_500);
    tokio::time::sleep(over.saturating_duration_since(std::time::Instant::now())).await;
    assert_eq!(
        logged_in_as(&daemon, &cookie).await,
        None,
        "the restart gave the login a new lifetime"
    );
}
