//! Nothing is shown without a password: RTSP and HTTP both ask for Digest credentials.

use std::process::Command;
use std::time::Duration;

use babymonitor_e2e::rtsp::{Via, raw_exchange, status_of, watch};
use babymonitor_e2e::{ADMIN, Setup, VIEWER, http, run};

#[tokio::test]
async fn rtsp_refuses_missing_and_wrong_credentials_with_401() {
    let daemon = Setup::new().small().start();
    let describe = format!(
        "DESCRIBE {} RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n\r\n",
        daemon.plain_url("/stream")
    );
    let reply = raw_exchange(
        daemon.rtsp_port,
        describe.as_bytes(),
        Duration::from_secs(5),
    )
    .await
    .expect("reply");
    assert_eq!(
        status_of(&reply),
        Some(401),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    assert!(
        String::from_utf8_lossy(&reply).contains("WWW-Authenticate: Digest"),
        "{}",
        String::from_utf8_lossy(&reply)
    );

    for creds in [(ADMIN.0, "wrong password"), ("nobody", ADMIN.1)] {
        let (ok, _, err) = run(Command::new("ffprobe").args([
            "-v",
            "error",
            "-rtsp_transport",
            "tcp",
            &daemon.url_as(creds, "/stream"),
        ]));
        assert!(!ok && err.contains("401"), "{creds:?}: {err}");
        let result = watch(
            &daemon.url_as(creds, "/stream"),
            Via::Tcp,
            Duration::from_secs(1),
            1,
        )
        .await;
        assert!(result.is_err(), "retina played with {creds:?}");
    }
    // The watch-only role may watch.
    let got = watch(
        &daemon.url_as(VIEWER, "/sub"),
        Via::Tcp,
        Duration::from_secs(2),
        5,
    )
    .await
    .expect("viewer plays");
    assert!(!got.video.is_empty());
}

#[tokio::test]
async fn snapshot_needs_digest_and_returns_a_jpeg_of_the_asked_size() {
    let daemon = Setup::new().start();
    let url = format!("{}/snapshot.jpg", daemon.http_base());

    let (status, challenges) = http::challenges(&url).await.expect("get");
    assert_eq!(status, 401);
    assert!(
        challenges.iter().any(|c| c.contains("algorithm=MD5")),
        "{challenges:?}"
    );
    assert!(
        challenges.iter().any(|c| c.contains("algorithm=SHA-256")),
        "{challenges:?}"
    );
    let (status, _) = http::get(&url, Some((ADMIN.0, "wrong")))
        .await
        .expect("get");
    assert_eq!(status, 401);

    for (query, size) in [
        ("", (1280, 720)),
        ("?width=320", (320, 180)),
        ("?width=641", (640, 360)),
    ] {
        let (status, body) = http::get(&format!("{url}{query}"), Some(VIEWER))
            .await
            .expect("get");
        assert_eq!(
            status,
            200,
            "{query}: {}\n{}",
            String::from_utf8_lossy(&body),
            daemon.log()
        );
        let mut decoder = jpeg_decoder::Decoder::new(&body[..]);
        let pixels = decoder.decode().expect("a JPEG that decodes");
        let info = decoder.info().expect("info");
        assert_eq!(
            (u32::from(info.width), u32::from(info.height)),
            size,
            "{query}"
        );
        assert_eq!(pixels.len(), info.width as usize * info.height as usize * 3);
    }
    for bad in ["?width=0", "?width=99999", "?width=abc"] {
        let (status, _) = http::get(&format!("{url}{bad}"), Some(ADMIN))
            .await
            .expect("get");
        assert_eq!(status, 400, "{bad}");
    }
    assert_eq!(daemon.metric("babymonitor_snapshots_total").await, 3.0);
}

#[tokio::test]
async fn repeated_wrong_passwords_are_throttled() {
    let daemon = Setup::new().small().start();
    let url = format!("{}/metrics", daemon.http_base());
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(
            http::get(&url, Some((ADMIN.0, "guess")))
                .await
                .expect("get")
                .0,
        );
    }
    assert!(statuses[..10].iter().all(|s| *s == 401), "{statuses:?}");
    assert_eq!(statuses[11], 429, "{statuses:?}");
}

/// A parent who finds someone watching changes that account's password: the stream stops
/// then, not at the watcher's next request. Others watching go on.
#[tokio::test]
async fn a_changed_password_ends_the_rtsp_streams_watched_with_the_old_one() {
    let setup = Setup::new().small();
    let daemon = setup.clone().start();
    let watched = |who, via| {
        let url = daemon.url_as(who, "/sub");
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let result = watch(&url, via, Duration::from_secs(25), usize::MAX).await;
            (result, started.elapsed())
        })
    };
    let intruder_tcp = watched(VIEWER, Via::Tcp);
    let intruder_udp = watched(VIEWER, Via::Udp);
    let parent = watched(ADMIN, Via::Tcp);
    tokio::time::sleep(Duration::from_secs(4)).await;

    daemon.reload(&setup.clone().users(&[
        (ADMIN.0, ADMIN.1, "admin"),
        (VIEWER.0, "a new viewer pass 7", "user"),
    ]));
    for (via, intruder) in [("TCP", intruder_tcp), ("UDP", intruder_udp)] {
        let (result, lasted) = intruder.await.expect("task");
        assert!(
            result.is_err() && lasted < Duration::from_secs(15),
            "the old password's {via} stream went on ({lasted:?}): {result:?}\n{}",
            daemon.log()
        );
    }
    let (result, lasted) = parent.await.expect("task");
    let got =
        result.unwrap_or_else(|e| panic!("the admin's stream ended: {e:#}\n{}", daemon.log()));
    assert!(lasted >= Duration::from_secs(25));
    let last = got.video.last().map(|v| v.0).unwrap_or_default();
    assert!(last > 20.0, "the admin's stream stalled at {last} s");
    assert!(
        daemon
            .log()
            .contains("password changed or user removed: RTSP connections closed"),
        "{}",
        daemon.log()
    );
}
