//! Nothing is captured while nobody watches; the camera stops a grace time after the last viewer.

use std::time::{Duration, Instant};

use babymonitor_e2e::rtsp::{Via, watch};
use babymonitor_e2e::{ADMIN, Setup, http};

const RUNNING: &str = "babymonitor_capture_running{source=\"video\"}";
const MIC_RUNNING: &str = "babymonitor_capture_running{source=\"audio\"}";
const STARTS: &str = "babymonitor_capture_starts_total{source=\"video\"}";

#[tokio::test]
async fn capture_runs_only_while_someone_watches_and_stops_after_the_grace() {
    let daemon = Setup::new()
        .small()
        .set("media", "idle_grace_s = 3")
        .start();
    assert_eq!(
        daemon.metric(RUNNING).await,
        0.0,
        "camera running with nobody watching"
    );
    assert_eq!(daemon.metric(MIC_RUNNING).await, 0.0);
    assert_eq!(daemon.metric(STARTS).await, 0.0);

    let url = daemon.url("/stream");
    let viewer =
        tokio::spawn(
            async move { watch(&url, Via::Tcp, Duration::from_secs(3), usize::MAX).await },
        );
    daemon
        .wait_metric(RUNNING, Duration::from_secs(10), |v| v == 1.0)
        .await;
    daemon
        .wait_metric(MIC_RUNNING, Duration::from_secs(10), |v| v == 1.0)
        .await;
    let got = viewer.await.expect("task").expect("plays");
    assert!(!got.video.is_empty());
    let left = Instant::now();

    daemon
        .wait_metric(RUNNING, Duration::from_secs(15), |v| v == 0.0)
        .await;
    let stopped_after = left.elapsed();
    assert!(
        stopped_after >= Duration::from_millis(2500),
        "stopped {stopped_after:?} after the viewer left; grace is 3 s"
    );
    assert_eq!(daemon.metric(MIC_RUNNING).await, 0.0);
    assert_eq!(daemon.metric("babymonitor_rtsp_viewers").await, 0.0);

    // A viewer that comes back within the grace keeps the same capture running.
    let url = daemon.url("/stream");
    watch(&url, Via::Tcp, Duration::from_secs(1), usize::MAX)
        .await
        .expect("plays");
    watch(&url, Via::Tcp, Duration::from_secs(1), usize::MAX)
        .await
        .expect("plays again");
    assert_eq!(daemon.metric(STARTS).await, 2.0);
}

#[tokio::test]
async fn a_snapshot_starts_an_idle_camera_and_lets_it_stop_again() {
    let daemon = Setup::new()
        .small()
        .set("media", "idle_grace_s = 1")
        .start();
    assert_eq!(daemon.metric(RUNNING).await, 0.0);
    let (status, body) = http::get(&format!("{}/snapshot.jpg", daemon.http_base()), Some(ADMIN))
        .await
        .expect("get");
    assert_eq!(status, 200, "{}", daemon.log());
    assert!(body.starts_with(&[0xff, 0xd8]), "not a JPEG");
    assert_eq!(daemon.metric(STARTS).await, 1.0);
    daemon
        .wait_metric(RUNNING, Duration::from_secs(10), |v| v == 0.0)
        .await;
}
