//! RTSP sessions: the timeout is announced, keep-alives hold a session, silence ends it.

use std::time::Duration;

use babymonitor_e2e::rtsp::{RawRtsp, Via, watch};
use babymonitor_e2e::{ADMIN, Setup};

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
