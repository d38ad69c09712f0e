//! With the detectors on, the camera and microphone run for them while nobody watches, but
//! nothing is encoded until a viewer comes, and viewers then play as usual.

use std::time::Duration;

use babymonitor_e2e::Setup;
use babymonitor_e2e::rtsp::Via;

const VIDEO: &str = "babymonitor_capture_running{source=\"video\"}";
const AUDIO: &str = "babymonitor_capture_running{source=\"audio\"}";
const MAIN_FRAMES: &str = "babymonitor_video_frames_total{stream=\"main\"}";
const SUB_FRAMES: &str = "babymonitor_video_frames_total{stream=\"sub\"}";

#[tokio::test]
async fn detectors_keep_capture_running_without_encoding_until_someone_watches() {
    let daemon = Setup::new()
        .small()
        .set("motion", "enabled = true")
        .set("sound", "enabled = true")
        .set("media", "idle_grace_s = 1")
        .start();
    daemon
        .wait_metric(VIDEO, Duration::from_secs(10), |v| v == 1.0)
        .await;
    daemon
        .wait_metric(AUDIO, Duration::from_secs(10), |v| v == 1.0)
        .await;
    // The sound detector hears the microphone (its level appears once it has listened) ...
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !daemon
        .metrics()
        .await
        .expect("metrics")
        .get("babymonitor_sound_level_dbfs")
        .is_some_and(|v| *v < 0.0)
    {
        assert!(std::time::Instant::now() < deadline, "{}", daemon.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // ... for two seconds more (the capture counts its sound) ...
    daemon.wait_audio(2.0).await;
    // ... but no encoder has worked for nobody.
    assert_eq!(daemon.metric(MAIN_FRAMES).await, 0.0, "{}", daemon.log());
    assert_eq!(daemon.metric(SUB_FRAMES).await, 0.0);

    let got = daemon
        .watch("/sub", Via::Tcp, Duration::from_secs(3))
        .await
        .expect("the sub stream plays");
    assert!(
        got.video.first().is_some_and(|f| f.1),
        "first frame is a key frame"
    );
    assert!(got.video.len() >= 20, "{} frames", got.video.len());
    assert_eq!(
        daemon.metric(MAIN_FRAMES).await,
        0.0,
        "the main encoder stays idle while only /sub is watched"
    );
    let got = daemon
        .watch("/stream", Via::Tcp, Duration::from_secs(2))
        .await
        .expect("the main stream plays");
    assert!(got.video.first().is_some_and(|f| f.1));

    // After the viewers, capture goes on for the detectors; the encoders stop again once the
    // viewer is gone and the grace (1 s) is over.
    daemon
        .wait_metric("babymonitor_rtsp_viewers", Duration::from_secs(10), |v| {
            v == 0.0
        })
        .await;
    daemon.wait_audio(3.0).await;
    assert_eq!(daemon.metric(VIDEO).await, 1.0);
    let before = daemon.metric(MAIN_FRAMES).await;
    daemon.wait_audio(2.0).await;
    assert_eq!(daemon.metric(MAIN_FRAMES).await, before);
}
