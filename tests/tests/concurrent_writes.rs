//! Files the camera keeps have one writer at a time: many clients changing the same setting at
//! once all get an answer, and the file holds the last value and parses.

use babymonitor_e2e::http::{get, post};
use babymonitor_e2e::{ADMIN, Setup};

#[tokio::test]
async fn two_hundred_volume_changes_at_once_all_land() {
    let daemon = Setup::new().small().start();
    let base = daemon.https_base();
    let changes = (0..200).map(|i| {
        let url = format!("{base}/api/audio/volume?master={}", i % 100);
        async move { post(&url, "text/plain", "", Some(ADMIN)).await }
    });
    let answers = futures::future::join_all(changes).await;
    let failed: Vec<String> = answers
        .iter()
        .filter_map(|a| match a {
            Ok((200, _)) => None,
            Ok((status, body)) => Some(format!("{status} {body}")),
            Err(e) => Some(format!("{e:#}")),
        })
        .collect();
    assert!(
        failed.is_empty(),
        "{} of 200 failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );

    // One more change after all of them: it is what the speaker and the file keep.
    let (status, body) = post(
        &format!("{base}/api/audio/volume?master=37&music=61"),
        "text/plain",
        "",
        Some(ADMIN),
    )
    .await
    .expect("last change");
    assert_eq!(status, 200, "{body}");
    let file = daemon.dir.path().join("data").join("speaker.toml");
    let stored: toml::Table =
        toml::from_str(&std::fs::read_to_string(&file).expect("speaker.toml"))
            .expect("speaker.toml parses");
    assert_eq!(
        stored.get("master").and_then(|v| v.as_integer()),
        Some(37),
        "{stored}"
    );
    assert_eq!(
        stored.get("music").and_then(|v| v.as_integer()),
        Some(61),
        "{stored}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(file.parent().expect("dir"))
        .expect("data dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    // The speaker is at the same value the file holds.
    let (status, audio) = get(&format!("{base}/api/audio"), Some(ADMIN))
        .await
        .expect("GET /api/audio");
    assert_eq!(status, 200);
    let audio: serde_json::Value = serde_json::from_slice(&audio).expect("JSON");
    assert_eq!(audio["volume"].as_f64(), Some(37.0), "{audio}");
    assert_eq!(audio["music_volume"].as_f64(), Some(61.0), "{audio}");
}
