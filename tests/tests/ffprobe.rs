//! ffprobe, a real RTSP client, sees both streams with the configured sizes over every transport.

use std::process::Command;

use babymonitor_e2e::{Setup, run};

fn probe(url: &str, transport: &str) -> (bool, String, String) {
    run(Command::new("ffprobe").args([
        "-v",
        "error",
        "-rw_timeout",
        "15000000",
        "-rtsp_transport",
        transport,
        "-show_entries",
        "stream=codec_name,width,height",
        "-of",
        "csv=p=0",
        url,
    ]))
}

#[test]
fn both_streams_carry_h264_at_the_configured_size_and_aac_over_tcp_udp_and_http() {
    let daemon = Setup::new()
        .set("video.main", "width = 960")
        .set("video.main", "height = 540")
        .set("video.sub", "width = 480")
        .set("video.sub", "height = 270")
        .start();
    for (path, size) in [("/stream", "960,540"), ("/sub", "480,270")] {
        for transport in ["tcp", "udp", "http"] {
            let (ok, out, err) = probe(&daemon.url(path), transport);
            assert!(
                ok,
                "ffprobe {path} over {transport} failed: {err}\n{}",
                daemon.log()
            );
            let lines: Vec<&str> = out
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            assert!(
                lines.contains(&format!("h264,{size}").as_str()),
                "{path} {transport}: {out}"
            );
            assert!(lines.contains(&"aac"), "{path} {transport}: {out}");
        }
    }
}

#[test]
fn default_streams_are_720p_and_360p() {
    let daemon = Setup::new().start();
    for (path, size) in [("/stream", "h264,1280,720"), ("/sub", "h264,640,360")] {
        let (ok, out, err) = probe(&daemon.url(path), "tcp");
        assert!(ok, "{err}");
        assert!(out.lines().any(|l| l.trim() == size), "{path}: {out}");
    }
}

#[test]
fn a_stream_without_sound_when_audio_is_off() {
    let daemon = Setup::new().small().set("audio", "enabled = false").start();
    let (ok, out, err) = probe(&daemon.url("/stream"), "tcp");
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "h264,320,240");
}
