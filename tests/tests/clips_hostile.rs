//! Hostile clip uploads: crafted headers are refused with a reason naming the field, a file the
//! decoder chokes on costs that one upload, a stalled body is closed, and all the while the
//! camera keeps streaming. Valid files of every format still upload and play.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use babymonitor_e2e::rtsp::{Via, watch};
use babymonitor_e2e::{ADMIN, Daemon, Setup};
use reqwest::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The Digest answer for `method path` to the camera's challenge.
async fn digest(daemon: &Daemon, method: &str, path: &str) -> String {
    let r = babymonitor_e2e::http::client()
        .get(format!("{}/api/clips", daemon.https_base()))
        .send()
        .await
        .expect("challenge");
    let challenge = r
        .headers()
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("Digest"))
        .expect("a Digest challenge")
        .to_string();
    let mut prompt = digest_auth::parse(&challenge).expect("challenge parses");
    let mut ctx = digest_auth::AuthContext::new(ADMIN.0, ADMIN.1, path);
    ctx.method = digest_auth::HttpMethod::from(method);
    prompt
        .respond(&ctx)
        .expect("digest answer")
        .to_header_string()
}

/// `method path` as the admin with `body`: (status, JSON body, Retry-After).
async fn send(
    daemon: &Daemon,
    method: &str,
    path: &str,
    body: Vec<u8>,
) -> (u16, Value, Option<String>) {
    let auth = digest(daemon, method, path).await;
    let r = babymonitor_e2e::http::client()
        .request(
            method.parse().expect("method"),
            format!("{}{path}", daemon.https_base()),
        )
        .header(AUTHORIZATION, auth)
        .body(body)
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}\n--- daemon log ---\n{}", daemon.log()));
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let text = r.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
        retry,
    )
}

async fn healthy(daemon: &Daemon) {
    let r = babymonitor_e2e::http::client()
        .get(format!("{}/healthz", daemon.http_base()))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap_or_else(|e| panic!("/healthz: {e}\n--- daemon log ---\n{}", daemon.log()));
    assert_eq!(r.status().as_u16(), 200);
}

/// A 16-bit mono WAV header (44 bytes) and `seconds` of a quiet square wave at `rate`.
fn wav(rate: u32, seconds: f64) -> Vec<u8> {
    let n = (f64::from(rate) * seconds) as u32;
    let mut w = Vec::new();
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + n * 2).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes()); // PCM
    w.extend_from_slice(&1u16.to_le_bytes()); // mono
    w.extend_from_slice(&rate.to_le_bytes());
    w.extend_from_slice(&(rate * 2).to_le_bytes());
    w.extend_from_slice(&2u16.to_le_bytes());
    w.extend_from_slice(&16u16.to_le_bytes());
    w.extend_from_slice(b"data");
    w.extend_from_slice(&(n * 2).to_le_bytes());
    for i in 0..n {
        let s: i16 = if (i / 20) % 2 == 0 { 3000 } else { -3000 };
        w.extend_from_slice(&s.to_le_bytes());
    }
    w
}

/// The reported crash: a 0.5 s 16 kHz WAV whose sample rate field says 2^31-1.
fn crash_wav() -> Vec<u8> {
    let mut w = wav(16000, 0.5);
    w[24..28].copy_from_slice(&[0xff, 0xff, 0xff, 0x7f]);
    w
}

/// Half a second of a tone encoded by GStreamer (`encoder` is the tail of a gst-launch line).
fn encoded(dir: &Path, name: &str, encoder: &str) -> Vec<u8> {
    let out = dir.join(name);
    let line = format!(
        "audiotestsrc num-buffers=8 samplesperbuffer=1000 ! audio/x-raw,rate=16000,channels=1 \
         ! audioconvert ! {encoder} ! filesink location={}",
        out.display()
    );
    let ok = Command::new("gst-launch-1.0")
        .arg("-q")
        .args(line.split_whitespace())
        .status()
        .expect("gst-launch-1.0 runs")
        .success();
    assert!(ok, "gst-launch-1.0 {line}");
    std::fs::read(&out).expect("encoded file")
}

fn error_of(v: &Value) -> String {
    v.get("error")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn the_reported_wav_is_refused_and_the_camera_lives() {
    let daemon = Setup::new().small().start();
    let (status, body, _) = send(&daemon, "POST", "/api/clips?name=x", crash_wav()).await;
    assert!((400..500).contains(&status), "{status} {body}");
    assert!(
        error_of(&body).contains("WAV sample rate 2147483647 Hz is outside 8000-192000"),
        "{body}"
    );
    healthy(&daemon).await;
}

/// The first Ogg page's length (header, segment table, packets).
fn first_page_len(ogg: &[u8]) -> usize {
    let segments = usize::from(ogg[26]);
    27 + segments
        + ogg[27..27 + segments]
            .iter()
            .map(|s| usize::from(*s))
            .sum::<usize>()
}

fn changed(mut bytes: Vec<u8>, at: usize, with: &[u8]) -> Vec<u8> {
    bytes[at..at + with.len()].copy_from_slice(with);
    bytes
}

#[tokio::test]
async fn crafted_headers_are_refused_with_a_reason_while_a_viewer_watches() {
    let daemon = Setup::new()
        .small()
        .set("video.main", "framerate = 10")
        .set("video.sub", "framerate = 10")
        .start();
    let dir = tempfile::tempdir().expect("tempdir");
    let mp3 = encoded(dir.path(), "a.mp3", "lamemp3enc");
    let vorbis = encoded(dir.path(), "a.ogg", "vorbisenc ! oggmux");
    let opus = encoded(dir.path(), "a.opus", "opusenc ! oggmux");
    let flac = encoded(dir.path(), "a.flac", "flacenc");
    assert_eq!(
        first_page_len(&vorbis),
        28 + 30,
        "one Vorbis id header on page one"
    );
    let mut big_id3 = b"ID3\x04\0\0\x7f\x7f\x7f\x7f".to_vec();
    big_id3.extend_from_slice(&mp3);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("reported", crash_wav(), "WAV sample rate 2147483647 Hz"),
        (
            "wav channels",
            changed(wav(16000, 0.5), 22, &[0, 0]),
            "WAV channel count 0",
        ),
        (
            "wav bits",
            changed(wav(16000, 0.5), 34, &[7, 0]),
            "WAV bits per sample 7",
        ),
        (
            "wav byte rate",
            changed(wav(16000, 0.5), 28, &[1, 0, 0, 0]),
            "WAV byte rate 1",
        ),
        ("mp3 id3 size", big_id3, "ID3v2 tag of 268435455 bytes"),
        (
            "mp3 bitrate",
            changed(mp3.clone(), 2, &[0xF0 | (mp3[2] & 0x0F)]),
            "bitrate index 15",
        ),
        (
            "mp3 rate",
            changed(mp3.clone(), 2, &[mp3[2] | 0x0C]),
            "sample rate index 3",
        ),
        (
            "vorbis channels",
            changed(vorbis.clone(), 28 + 11, &[0]),
            "Vorbis channel count 0",
        ),
        (
            "vorbis rate",
            changed(vorbis.clone(), 28 + 12, &[0xff, 0xff, 0xff, 0x7f]),
            "Vorbis sample rate 2147483647 Hz",
        ),
        (
            "opus channels",
            changed(opus.clone(), 28 + 9, &[200]),
            "Opus channel count 200",
        ),
        (
            "flac rate",
            changed(flac.clone(), 18, &[0, 0]),
            "FLAC sample rate",
        ),
        (
            "flac block size",
            changed(flac.clone(), 8, &[0, 0]),
            "FLAC minimum block size 0",
        ),
        (
            "flac streaminfo",
            changed(flac.clone(), 5, &[0, 0, 0x40]),
            "FLAC STREAMINFO is 64 bytes",
        ),
    ];
    let url = daemon.url("/stream");
    let watching = Duration::from_secs(15);
    let viewer = tokio::spawn(async move { watch(&url, Via::Tcp, watching, usize::MAX).await });
    daemon
        .wait_metric("babymonitor_rtsp_viewers", Duration::from_secs(10), |v| {
            v >= 1.0
        })
        .await;
    for (what, bytes, reason) in cases {
        let (status, body, _) = send(&daemon, "POST", "/api/clips?name=crafted", bytes).await;
        assert!([400, 415, 422].contains(&status), "{what}: {status} {body}");
        assert!(error_of(&body).contains(reason), "{what}: {body}");
        healthy(&daemon).await;
    }
    let (status, list, _) = send(&daemon, "GET", "/api/clips", Vec::new()).await;
    assert_eq!(status, 200);
    let uploaded: Vec<&Value> = list
        .as_array()
        .expect("a list")
        .iter()
        .filter(|c| c["builtin"] == false)
        .collect();
    assert!(uploaded.is_empty(), "refused uploads left clips: {list}");
    let got = viewer
        .await
        .expect("viewer task")
        .unwrap_or_else(|e| panic!("viewer broke: {e:#}\n{}", daemon.log()));
    // Frames until the end of the watch: the camera never stopped.
    let last = got.video.last().map_or(0.0, |f| f.0);
    assert!(
        last > watching.as_secs_f64() - 4.0,
        "the viewer's frames stop at {last:.1} s\n{}",
        daemon.log()
    );
}

#[tokio::test]
async fn a_file_the_decoder_cannot_read_costs_only_its_upload() {
    let daemon = Setup::new().small().start();
    let dir = tempfile::tempdir().expect("tempdir");
    let vorbis = encoded(dir.path(), "a.ogg", "vorbisenc ! oggmux");
    // A sane identification header, then noise where the rest of the stream should be.
    let mut broken = vorbis[..first_page_len(&vorbis)].to_vec();
    let mut x: u32 = 12345;
    broken.extend((0..20_000).map(|_| {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        (x >> 16) as u8
    }));
    let (status, body, _) = send(&daemon, "POST", "/api/clips?name=broken", broken).await;
    assert!(
        (400..600).contains(&status) && status != 503,
        "{status} {body}"
    );
    assert!(!error_of(&body).is_empty(), "{body}");
    healthy(&daemon).await;
    let (status, body, _) = send(&daemon, "POST", "/api/clips?name=fine", wav(16000, 0.5)).await;
    assert_eq!(status, 201, "{body}\n{}", daemon.log());
    let (_, list, _) = send(&daemon, "GET", "/api/clips", Vec::new()).await;
    let names: Vec<&str> = list
        .as_array()
        .expect("a list")
        .iter()
        .filter(|c| c["builtin"] == false)
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["fine"]);
}

/// Starts `POST path` by hand with a body of `declared` bytes, of which only `head` is sent.
async fn start_upload(
    daemon: &Daemon,
    path: &str,
    declared: usize,
    head: &[u8],
) -> impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin {
    let auth = digest(daemon, "POST", path).await;
    let mut s = babymonitor_e2e::http::tls_connect(daemon.https_port)
        .await
        .expect("connect");
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {auth}\r\nContent-Length: {declared}\r\n\r\n"
    );
    s.write_all(request.as_bytes()).await.expect("send head");
    s.write_all(head).await.expect("send part of the body");
    s
}

#[tokio::test]
async fn stalled_uploads_are_closed_and_the_busy_camera_says_when_to_retry() {
    let daemon = Setup::new().small().start();
    let head = &wav(16000, 0.5)[..1000];
    // Uploads are taken one at a time: one that stalls keeps the next waiting.
    let stalled = vec![start_upload(&daemon, "/api/clips?name=slow", 100_000, head).await];
    // It is in: the stalled connection and the one asking (no gauge counts uploads).
    daemon
        .wait_metric(
            "babymonitor_http_connections",
            Duration::from_secs(10),
            |v| v >= 2.0,
        )
        .await;
    let (status, body, retry) =
        send(&daemon, "POST", "/api/clips?name=second", wav(16000, 0.5)).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        retry.is_some_and(|r| r.parse::<u32>().is_ok()),
        "no Retry-After"
    );
    healthy(&daemon).await;
    for mut s in stalled {
        let mut reply = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(40), s.read_to_end(&mut reply)).await;
        assert!(read.is_ok(), "a stalled upload is still open after 40 s");
        let text = String::from_utf8_lossy(&reply);
        assert!(
            text.is_empty() || text.starts_with("HTTP/1.1 408"),
            "{text}"
        );
    }
    // Its place is free again, and nothing of it was kept.
    let (status, body, _) = send(&daemon, "POST", "/api/clips?name=later", wav(16000, 0.5)).await;
    assert_eq!(status, 201, "{body}");
    let leftovers: Vec<_> = std::fs::read_dir(daemon.dir.path().join("data/clips"))
        .expect("clips dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".upload"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test]
async fn valid_clips_of_every_format_upload_and_play() {
    let daemon = Setup::new().small().start();
    let dir = tempfile::tempdir().expect("tempdir");
    let files = [
        ("wav", wav(16000, 0.5)),
        ("gst wav", encoded(dir.path(), "b.wav", "wavenc")),
        ("mp3", encoded(dir.path(), "b.mp3", "lamemp3enc")),
        ("vorbis", encoded(dir.path(), "b.ogg", "vorbisenc ! oggmux")),
        ("opus", encoded(dir.path(), "b.opus", "opusenc ! oggmux")),
        ("flac", encoded(dir.path(), "b.flac", "flacenc")),
    ];
    for (what, bytes) in files {
        let (status, clip, _) = send(
            &daemon,
            "POST",
            &format!("/api/clips?name={}", what.replace(' ', "+")),
            bytes,
        )
        .await;
        assert_eq!(status, 201, "{what}: {clip}\n{}", daemon.log());
        let seconds = clip["duration_s"].as_f64().unwrap_or_default();
        assert!((seconds - 0.5).abs() < 0.3, "{what}: {seconds} s");
        let token = clip["token"].as_str().expect("token");
        let (status, played, _) = send(
            &daemon,
            "POST",
            &format!("/api/clips/{token}/play"),
            Vec::new(),
        )
        .await;
        assert_eq!(status, 200, "{what}: {played}");
        assert_eq!(played["playing"]["token"], token, "{what}");
    }
    // PUT replaces a clip's audio (the ONVIF upload URI) through the same checks.
    let (_, list, _) = send(&daemon, "GET", "/api/clips", Vec::new()).await;
    let token = list
        .as_array()
        .and_then(|l| l.iter().find(|c| c["name"] == "flac"))
        .and_then(|c| c["token"].as_str())
        .expect("the flac clip")
        .to_string();
    let (status, body, _) = send(&daemon, "PUT", &format!("/api/clips/{token}"), crash_wav()).await;
    assert_eq!(status, 422, "{body}");
    let (status, body, _) = send(
        &daemon,
        "PUT",
        &format!("/api/clips/{token}"),
        wav(16000, 1.0),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        (body["duration_s"].as_f64().unwrap_or_default() - 1.0).abs() < 0.1,
        "{body}"
    );
}
