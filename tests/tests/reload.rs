//! SIGHUP reads the configuration again: good settings apply at once, a bad file changes nothing.

use std::time::{Duration, Instant};

use babymonitor_e2e::rtsp::{Via, watch};
use babymonitor_e2e::{ADMIN, Setup, http};

/// Waits until a new viewer of /stream sees `size`.
async fn wait_for_size(url: &str, size: (u32, u32), log: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let got = watch(url, Via::Tcp, Duration::from_secs(2), 3).await;
        match got {
            Ok(g) if g.video_size == Some(size) => return,
            other if Instant::now() > deadline => {
                panic!("never saw {size:?}: {other:?}\n{}", log())
            }
            _ => tokio::time::sleep(Duration::from_millis(300)).await,
        }
    }
}

#[tokio::test]
async fn sighup_applies_new_settings_and_keeps_the_last_good_ones_on_a_bad_file() {
    let setup = Setup::new().small();
    let daemon = setup.clone().start();
    let url = daemon.url("/stream");
    wait_for_size(&url, (320, 240), || daemon.log()).await;

    // A viewer who stays through the change keeps getting pictures.
    let u = url.clone();
    let through =
        tokio::spawn(async move { watch(&u, Via::Tcp, Duration::from_secs(6), usize::MAX).await });
    tokio::time::sleep(Duration::from_secs(1)).await;
    let bigger = setup
        .clone()
        .set("video.main", "width = 480")
        .set("video.main", "height = 360");
    daemon.reload(&bigger);
    wait_for_size(&url, (480, 360), || daemon.log()).await;
    let got = through.await.expect("task").expect("kept watching");
    let last = got.video.last().map(|f| f.0).unwrap_or_default();
    assert!(
        last > 4.5,
        "the viewer's picture stopped at {last:.1} s across the reload\n{}",
        daemon.log()
    );

    // A broken file: named in the log, and nothing changes.
    daemon.reload_raw("[rtsp]\nport = 1\n[video.main]\nwidth = 1281\n");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !daemon.log().contains("keeping the running configuration") {
        assert!(
            Instant::now() < deadline,
            "no complaint about the bad file\n{}",
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = daemon.log();
    assert!(
        log.contains("config.toml:4:") && log.contains("video.main.width"),
        "{log}"
    );
    wait_for_size(&url, (480, 360), || daemon.log()).await;
}

#[tokio::test]
async fn sighup_changes_passwords_without_a_restart() {
    let setup = Setup::new().small();
    let daemon = setup.clone().start();
    let snapshot = format!("{}/snapshot.jpg?width=64", daemon.http_base());
    assert_eq!(http::get(&snapshot, Some(ADMIN)).await.expect("get").0, 200);

    let new_password = "a brand new one";
    daemon.reload(&setup.users(&[(ADMIN.0, new_password, "admin")]));
    let deadline = Instant::now() + Duration::from_secs(5);
    while http::get(&snapshot, Some((ADMIN.0, new_password)))
        .await
        .expect("get")
        .0
        != 200
    {
        assert!(
            Instant::now() < deadline,
            "the new password never worked\n{}",
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        http::get(&snapshot, Some(ADMIN)).await.expect("get").0,
        401,
        "the old password still works over HTTP"
    );
    assert!(
        watch(&daemon.url("/stream"), Via::Tcp, Duration::from_secs(1), 1)
            .await
            .is_err(),
        "the old password still works over RTSP"
    );
    let got = watch(
        &daemon.url_as((ADMIN.0, new_password), "/stream"),
        Via::Tcp,
        Duration::from_secs(1),
        3,
    )
    .await;
    assert!(
        !got.expect("the new password works over RTSP")
            .video
            .is_empty()
    );
}
