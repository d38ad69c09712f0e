//! The command line: refused configs name file, line and field; no password, no start; SIGTERM.

use std::process::Command;
use std::time::Duration;

use babymonitor_e2e::rtsp::{Via, watch};
use babymonitor_e2e::{Setup, binary, run};

/// Runs the daemon on `path`, which it should refuse; returns (exit success, stderr).
fn refused(path: &std::path::Path) -> (bool, String) {
    let (ok, _, err) = run(Command::new(binary())
        .arg("--simulate")
        .arg("--config")
        .arg(path));
    (ok, err)
}

#[test]
fn a_bad_config_is_refused_with_file_line_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[rtsp]\nport = 8554\n\n[video.main]\nwidth = 1281\n").expect("write");
    let (ok, err) = refused(&path);
    assert!(!ok);
    assert!(err.contains(&format!("{}:5:", path.display())), "{err}");
    assert!(err.contains("video.main.width"), "{err}");

    std::fs::write(&path, "[audio]\nsample_rate = \"high\"\n").expect("write");
    let (ok, err) = refused(&path);
    assert!(!ok);
    assert!(
        err.contains(":2:") && err.contains("audio.sample_rate"),
        "{err}"
    );
}

#[test]
fn without_users_the_daemon_refuses_to_start_unless_simulated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nousers.toml");
    std::fs::write(&path, "[rtsp]\nport = 1\n").expect("write");
    let (ok, _, err) = run(Command::new(binary()).arg("--config").arg(&path));
    assert!(!ok);
    assert!(err.contains("no users"), "{err}");
}

#[test]
fn the_printed_default_config_is_complete_and_commented() {
    let (ok, out, _) = run(Command::new(binary()).arg("--print-default-config"));
    assert!(ok);
    for section in [
        "[device]",
        "[rtsp]",
        "[http]",
        "[media]",
        "[video]",
        "[video.main]",
        "[video.sub]",
        "[audio]",
        "[[users]]",
    ] {
        assert!(out.contains(section), "missing {section}");
    }
}

#[tokio::test]
async fn simulate_without_users_prints_a_random_password_that_works() {
    let daemon = Setup::new().small().users(&[]).keep_stdout().start();
    let mut url = None;
    for _ in 0..100 {
        if let Some(line) = daemon.stdout().lines().find(|l| l.contains("main stream:")) {
            url = line.split_whitespace().last().map(str::to_string);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let url = url.expect("the daemon printed the stream URL");
    let rtsp = daemon.rtsp_port;
    assert!(
        url.starts_with("rtsp://admin:") && url.ends_with(&format!("@127.0.0.1:{rtsp}/stream")),
        "{url}"
    );
    let got = watch(&url, Via::Tcp, Duration::from_secs(2), 3).await;
    assert!(
        !got.expect("plays with the printed password")
            .video
            .is_empty()
    );
}

#[tokio::test]
async fn sigterm_stops_the_daemon_cleanly_while_someone_watches() {
    let mut daemon = Setup::new().small().start();
    let url = daemon.url("/stream");
    let viewer =
        tokio::spawn(
            async move { watch(&url, Via::Tcp, Duration::from_secs(30), usize::MAX).await },
        );
    daemon
        .wait_metric("babymonitor_rtsp_viewers", Duration::from_secs(10), |v| {
            v == 1.0
        })
        .await;
    let status = daemon
        .terminate(Duration::from_secs(8))
        .expect("stopped within 8 s");
    assert!(status.success(), "exit status {status}");
    // The viewer sees the end of the stream instead of hanging.
    let ended = tokio::time::timeout(Duration::from_secs(20), viewer).await;
    assert!(ended.is_ok(), "the viewer hung after the daemon stopped");
}
