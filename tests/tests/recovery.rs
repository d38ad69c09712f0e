//! A source that fails or ends is restarted; viewers get an error, never a hang.

use std::process::Command;
use std::time::{Duration, Instant};

use babymonitor_e2e::rtsp::{RawRtsp, Via, watch};
use babymonitor_e2e::{ADMIN, Setup, run};

const FAILURES: &str = "babymonitor_capture_failures_total{source=\"video\"}";
const STARTS: &str = "babymonitor_capture_starts_total{source=\"video\"}";

#[tokio::test]
async fn a_source_that_ends_mid_stream_is_restarted_and_new_viewers_play() {
    // A raw description that ends after 2 s, as a camera that drops out would.
    let daemon = Setup::new()
        .small()
        .set("video", "source = \"raw\"")
        .set(
            "video",
            "pipeline = \"videotestsrc is-live=true num-buffers=30 pattern=ball\"",
        )
        .start();
    // This viewer watches across the failure and sees the picture come back.
    let through = daemon
        .watch("/stream", Via::Tcp, Duration::from_secs(6))
        .await
        .expect("plays");
    assert!(through.video.first().is_some_and(|f| f.1));
    assert!(
        daemon.metric(FAILURES).await >= 1.0,
        "the end of the source was not noticed"
    );
    assert!(
        daemon.metric(STARTS).await >= 2.0,
        "the source was not restarted"
    );
    let resumed = through.video.last().map(|f| f.0).unwrap_or_default();
    assert!(
        resumed > 3.5,
        "the viewer's picture stopped at {resumed:.1} s and never came back\n{}",
        daemon.log()
    );
    let again = daemon
        .watch("/stream", Via::Tcp, Duration::from_secs(1))
        .await
        .unwrap_or_else(|e| panic!("no picture after the restart: {e:#}\n{}", daemon.log()));
    assert!(
        again.video.first().is_some_and(|f| f.1),
        "first frame after restart is not a key frame"
    );
}

#[tokio::test]
async fn a_removed_video_file_gives_503_not_a_hang_and_plays_again_once_it_is_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clip = dir.path().join("clip.mkv");
    let (ok, _, err) = run(Command::new("gst-launch-1.0").args([
        "-q",
        "videotestsrc",
        "num-buffers=20",
        "!",
        "video/x-raw,width=320,height=240,framerate=10/1",
        "!",
        "x264enc",
        "!",
        "matroskamux",
        "!",
        "filesink",
        &format!("location={}", clip.display()),
    ]));
    assert!(ok, "making the clip: {err}");
    let saved = std::fs::read(&clip).expect("clip");

    let daemon = Setup::new()
        .small()
        .set("video", "source = \"file\"")
        .set("video", &format!("path = \"{}\"", clip.display()))
        .set("media", "start_timeout_s = 4")
        .set("media", "restart_backoff_max_s = 1")
        .start();
    let got = daemon
        .watch("/stream", Via::Tcp, Duration::from_secs(3))
        .await
        .expect("plays the file");
    // The 2 s file loops without a failure.
    assert!(
        got.video.len() >= 20,
        "{} frames in 3 s of a looping 10 fps file",
        got.video.len()
    );
    assert_eq!(daemon.metric(FAILURES).await, 0.0);

    // Removed while someone watches: the loop's restart finds no file.
    let url = daemon.url("/stream");
    let watcher =
        tokio::spawn(
            async move { watch(&url, Via::Tcp, Duration::from_secs(8), usize::MAX).await },
        );
    daemon
        .wait_metric("babymonitor_rtsp_viewers", Duration::from_secs(5), |v| {
            v >= 1.0
        })
        .await;
    std::fs::remove_file(&clip).expect("remove");
    daemon
        .wait_metric(FAILURES, Duration::from_secs(10), |v| v >= 1.0)
        .await;

    let started = Instant::now();
    let mut raw = RawRtsp::connect(daemon.rtsp_port, ADMIN)
        .await
        .expect("connect");
    let reply = raw
        .request(
            "DESCRIBE",
            &daemon.plain_url("/stream"),
            &[("Accept", "application/sdp")],
        )
        .await
        .expect("reply");
    assert_eq!(reply.status, 503, "{reply:?}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "the refusal took {:?}",
        started.elapsed()
    );

    std::fs::write(&clip, saved).expect("restore");
    let _ = watcher.await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match watch(&daemon.url("/stream"), Via::Tcp, Duration::from_secs(1), 5).await {
            Ok(got) if !got.video.is_empty() => break,
            _ if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(500)).await,
            other => panic!("never played again: {other:?}\n{}", daemon.log()),
        }
    }
}

const STAND_IN: &str = "babymonitor_capture_stand_in{source=\"audio\"}";

#[tokio::test]
async fn a_microphone_that_fails_leaves_the_picture_playing_with_silence() {
    // The microphone stops after about a second.
    let daemon = Setup::new()
        .small()
        .set("audio", "source = \"raw\"")
        .set(
            "audio",
            "pipeline = \"audiotestsrc is-live=true num-buffers=50\"",
        )
        .start();
    let got = daemon
        .watch("/stream", Via::Tcp, Duration::from_secs(5))
        .await
        .expect("plays");
    assert!(
        daemon
            .metric("babymonitor_capture_failures_total{source=\"audio\"}")
            .await
            >= 1.0
    );
    let last = got.video.last().map(|f| f.0).unwrap_or_default();
    assert!(
        last > 4.0,
        "the picture stopped at {last:.1} s when the microphone failed\n{}",
        daemon.log()
    );
    // Sound (silence) kept coming: ~47 AAC frames a second at 48 kHz.
    assert!(
        got.audio_frames as f64 > 47.0 * 5.0 * 0.6,
        "{} audio frames",
        got.audio_frames
    );
}

#[tokio::test]
async fn a_missing_microphone_does_not_keep_viewers_out() {
    let daemon = Setup::new()
        .small()
        .set("audio", "source = \"file\"")
        .set("audio", "path = \"/nonexistent/lullaby.wav\"")
        .start();
    let got = daemon
        .watch("/sub", Via::Tcp, Duration::from_secs(3))
        .await
        .unwrap_or_else(|e| panic!("no picture without a microphone: {e:#}\n{}", daemon.log()));
    assert!(got.video.first().is_some_and(|f| f.1));
    assert!(
        got.audio_frames > 50,
        "{} audio frames of silence",
        got.audio_frames
    );
    assert_eq!(daemon.metric(STAND_IN).await, 1.0);
    assert_eq!(
        daemon
            .metric("babymonitor_capture_running{source=\"audio\"}")
            .await,
        0.0
    );
}
