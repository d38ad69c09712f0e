//! Viewers built on retina: key frame first, steady timestamps, sound, many at once.

use std::time::Duration;

use babymonitor_e2e::Setup;
use babymonitor_e2e::rtsp::{Received, Via, watch};

fn check_video(got: &Received, fps: f64, seconds: f64, what: &str) {
    assert!(!got.video.is_empty(), "{what}: no video");
    assert!(got.video[0].1, "{what}: the first frame is not a key frame");
    let expected = fps * seconds;
    assert!(
        got.video.len() as f64 >= expected * 0.6,
        "{what}: {} frames, expected about {expected}",
        got.video.len()
    );
    let deltas: Vec<f64> = got.video.windows(2).map(|w| w[1].0 - w[0].0).collect();
    assert!(
        deltas.iter().all(|d| *d > 0.0),
        "{what}: timestamps do not rise: {deltas:?}"
    );
    let mut sorted = deltas.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    assert!(
        (median - 1.0 / fps).abs() < 0.2 / fps,
        "{what}: median frame interval {median} s at {fps} fps"
    );
    let span = got.video.last().map(|v| v.0).unwrap_or_default();
    let rate = (got.video.len() - 1) as f64 / span;
    assert!(
        (rate - fps).abs() < fps * 0.15,
        "{what}: {rate:.2} frames/s in timestamps, configured {fps}"
    );
}

fn check_audio(got: &Received, seconds: f64, what: &str) {
    // AAC at 48 kHz: 1024 samples a frame, about 47 frames a second.
    assert_eq!(got.audio_clock_rate, 48000, "{what}");
    assert!(
        got.audio_frames as f64 >= 47.0 * seconds * 0.6,
        "{what}: {} audio frames",
        got.audio_frames
    );
}

#[tokio::test]
async fn a_viewer_gets_a_key_frame_first_then_frames_at_the_configured_rate_and_sound() {
    let daemon = Setup::new()
        .set("video.main", "framerate = 20")
        .set("video.main", "keyframe_interval = 100")
        .start();
    let got = daemon
        .watch("/stream", Via::Tcp, Duration::from_secs(5))
        .await
        .expect("plays");
    assert_eq!(got.video_size, Some((1280, 720)));
    check_video(&got, 20.0, 5.0, "main over TCP");
    check_audio(&got, 5.0, "main over TCP");
    // Only one key frame is forced at the start; the next comes with the configured interval.
    let keys = got.video.iter().filter(|v| v.1).count();
    assert!(
        keys <= 3,
        "{keys} key frames in 5 s with an interval of 100 frames"
    );
}

#[tokio::test]
async fn the_sub_stream_plays_over_udp() {
    let daemon = Setup::new()
        .small()
        .set("video.sub", "framerate = 10")
        .start();
    let got = daemon
        .watch("/sub", Via::Udp, Duration::from_secs(4))
        .await
        .expect("plays");
    assert_eq!(got.video_size, Some((160, 120)));
    check_video(&got, 10.0, 4.0, "sub over UDP");
    check_audio(&got, 4.0, "sub over UDP");
}

#[tokio::test]
async fn eight_viewers_at_once_each_start_on_a_key_frame() {
    let daemon = Setup::new()
        .set("video.main", "keyframe_interval = 150")
        .start();
    let url = daemon.url("/stream");
    let viewers: Vec<_> = (0..8)
        .map(|i| {
            let url = url.clone();
            tokio::spawn(async move {
                // Staggered joins: each one lands in the middle of a running stream.
                tokio::time::sleep(Duration::from_millis(300 * i)).await;
                watch(
                    &url,
                    if i % 2 == 0 { Via::Tcp } else { Via::Udp },
                    Duration::from_secs(4),
                    usize::MAX,
                )
                .await
            })
        })
        .collect();
    for (i, v) in viewers.into_iter().enumerate() {
        let got = v
            .await
            .expect("task")
            .unwrap_or_else(|e| panic!("viewer {i}: {e:#}\n{}", daemon.log()));
        check_video(&got, 15.0, 4.0, &format!("viewer {i}"));
        check_audio(&got, 4.0, &format!("viewer {i}"));
    }
    // One encoder served them all.
    assert_eq!(
        daemon
            .metric("babymonitor_capture_starts_total{source=\"video\"}")
            .await,
        1.0
    );
}
