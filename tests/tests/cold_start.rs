//! A stream started cold (the camera runs only for the detectors, the encoder's gate shut) plays
//! at once for every client: the full frame rate from the first key frame, the sound with the
//! picture, an IDR with its SPS and PPS first, and recordings with clean timestamps.

use std::process::Command;
use std::time::Duration;

use babymonitor_e2e::{Daemon, Setup, run};

/// Frames counted over `SECONDS` of stream time. The streams run at 15 fps; 14 leaves room for
/// a frame lost at either end of the window.
const SECONDS: u32 = 10;
const MIN_FRAMES: usize = 14 * SECONDS as usize;

/// Detectors on (so the camera keeps running for them while nobody watches) and a short grace
/// time to wait out between clients.
fn camera_for_the_detectors() -> Daemon {
    Setup::new()
        .small()
        .set("sound", "enabled = true")
        .set("motion", "enabled = true")
        .set("video.main", "framerate = 15")
        .set("video.sub", "framerate = 15")
        .set("media", "idle_grace_s = 1")
        .start()
}

/// Lets the last client's session end and the grace time (1 s) pass: the next viewer starts
/// cold. The detectors keep the microphone running, so its count of sound says time has passed.
async fn idle(daemon: &Daemon) {
    daemon
        .wait_metric("babymonitor_rtsp_viewers", Duration::from_secs(15), |v| {
            v == 0.0
        })
        .await;
    daemon.wait_audio(2.0).await;
}

fn go_idle(daemon: &Daemon) {
    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(idle(daemon));
}

/// The URL for a transport: the HTTP tunnel is on the HTTP port.
fn url_for(daemon: &Daemon, path: &str, transport: &str) -> String {
    let url = daemon.url(path);
    if transport == "http" {
        url.replace(
            &format!(":{}/", daemon.rtsp_port),
            &format!(":{}/", daemon.http_port),
        )
    } else {
        url
    }
}

#[derive(Debug)]
struct Packet {
    video: bool,
    key: bool,
}

/// `SECONDS` of packets as ffprobe reads them (in arrival order), bounded by a wall-clock limit.
fn read_packets(url: &str, transport: &str) -> (Vec<Packet>, String) {
    let (_, out, err) = run(Command::new("timeout").args([
        "40",
        "ffprobe",
        "-v",
        "error",
        "-rw_timeout",
        "15000000",
        "-rtsp_transport",
        transport,
        "-read_intervals",
        &format!("%+{SECONDS}"),
        "-show_entries",
        "packet=stream_index,flags:stream=index,codec_type",
        "-of",
        "csv",
        url,
    ]));
    let mut video_index = None;
    let mut rows = Vec::new();
    for line in out.lines() {
        let fields: Vec<&str> = line.trim().split(',').collect();
        match fields.as_slice() {
            ["stream", index, "video", ..] => video_index = Some(index.to_string()),
            ["packet", index, flags, ..] => rows.push((index.to_string(), flags.starts_with('K'))),
            _ => {}
        }
    }
    let video_index = video_index.unwrap_or_else(|| "0".into());
    let packets = rows
        .into_iter()
        .map(|(index, key)| Packet {
            video: index == video_index,
            key,
        })
        .collect();
    (packets, err)
}

fn plays_from_a_cold_start(path: &str) {
    let daemon = camera_for_the_detectors();
    for transport in ["udp", "tcp", "http"] {
        go_idle(&daemon);
        let (packets, err) = read_packets(&url_for(&daemon, path, transport), transport);
        let video: Vec<&Packet> = packets.iter().filter(|p| p.video).collect();
        let context = || {
            format!(
                "{path} over {transport}: {} video and {} audio packets\n{err}\n--- daemon log ---\n{}",
                video.len(),
                packets.len() - video.len(),
                daemon.log()
            )
        };
        assert!(
            video.first().is_some_and(|p| p.key),
            "the first picture is no key frame: {}",
            context()
        );
        assert!(
            video.len() >= MIN_FRAMES,
            "fewer than {MIN_FRAMES} frames in {SECONDS} s: {}",
            context()
        );
        // Sound with the picture from the start: the first second's worth of audio arrives
        // while the first second of video (15 frames) does.
        let first_second = packets
            .iter()
            .scan(0, |frames, p| {
                *frames += usize::from(p.video);
                (*frames <= 15).then_some(p)
            })
            .filter(|p| !p.video)
            .count();
        assert!(
            first_second >= 20,
            "only {first_second} audio packets with the first second of video: {}",
            context()
        );
    }
}

#[test]
fn sub_plays_at_full_rate_with_sound_from_a_cold_start_over_udp_tcp_and_http() {
    plays_from_a_cold_start("/sub");
}

#[test]
fn main_plays_at_full_rate_with_sound_from_a_cold_start_over_udp_tcp_and_http() {
    plays_from_a_cold_start("/stream");
}

/// NAL unit types of the first video packet a new viewer reads (ffprobe shows its bytes).
fn first_picture_nal_types(url: &str) -> Vec<u8> {
    let (_, out, err) = run(Command::new("timeout").args([
        "30",
        "ffprobe",
        "-v",
        "error",
        "-rtsp_transport",
        "tcp",
        "-select_streams",
        "v",
        "-read_intervals",
        "%+#1",
        "-show_entries",
        "packet=data",
        "-show_data",
        "-of",
        "default",
        url,
    ]));
    // Hex dump lines: "00000000: 0000 0001 6742 ...  ascii".
    let bytes: Vec<u8> = out
        .lines()
        .filter_map(|l| l.split_once(": "))
        .flat_map(|(_, rest)| {
            let hex: String = rest
                .split("  ")
                .next()
                .unwrap_or_default()
                .split_whitespace()
                .collect();
            (0..hex.len() / 2)
                .filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(!bytes.is_empty(), "no picture from {url}: {err}");
    let mut types = Vec::new();
    let mut i = 0;
    while i + 3 < bytes.len() {
        if bytes[i..i + 3] == [0, 0, 1] {
            types.push(bytes[i + 3] & 0x1f);
            i += 3;
        } else {
            i += 1;
        }
    }
    types
}

fn assert_idr_with_parameter_sets(types: &[u8], what: &str) {
    let position = |t: u8| types.iter().position(|&x| x == t);
    let (Some(sps), Some(pps), Some(idr)) = (position(7), position(8), position(5)) else {
        panic!("{what}: the first picture is no IDR with SPS and PPS: NAL types {types:?}");
    };
    assert!(
        sps < idr && pps < idr && !types.contains(&1),
        "{what}: NAL types {types:?}"
    );
}

#[test]
fn a_viewer_starts_with_an_idr_and_its_parameter_sets_cold_and_when_joining() {
    let daemon = camera_for_the_detectors();
    for path in ["/sub", "/stream"] {
        go_idle(&daemon);
        let url = daemon.url(path);
        assert_idr_with_parameter_sets(&first_picture_nal_types(&url), &format!("{path} cold"));
        // Someone watches already: the joiner lands in the middle of a group of pictures (a key
        // frame every 2 s) and gets its own IDR.
        let mut watcher = Command::new("ffprobe")
            .args([
                "-v",
                "quiet",
                "-rtsp_transport",
                "tcp",
                "-read_intervals",
                "%+8",
                "-show_entries",
                "packet=pts",
                "-of",
                "csv",
                &url,
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("ffprobe runs");
        for delay_ms in [2300, 900] {
            std::thread::sleep(Duration::from_millis(delay_ms));
            assert_idr_with_parameter_sets(
                &first_picture_nal_types(&url),
                &format!("{path} joining"),
            );
        }
        let _ = watcher.kill();
        let _ = watcher.wait();
    }
}

/// FFmpeg's H.264 parser loses the timestamp of the first picture of every RTSP session
/// (libavcodec's `av_parser_parse2` takes its first byte offset from the packet, RTP packets
/// have none, and the first timestamp lookup then matches nothing), whatever the server sends:
/// Debian's ffmpeg 5.1 and ffmpeg 9.0 print this line for a plain gst-rtsp-server
/// `x264enc ! rtph264pay` too. The file is still right (the muxer gives that picture the time
/// before the next one, which the checks below read back); nothing else may be printed, in
/// particular no "Non-monotonous DTS", which follows when the sound starts after the second
/// picture.
fn ffmpeg_first_packet_warning(line: &str) -> bool {
    line.contains("Timestamps are unset in a packet for stream 0.")
}

#[test]
fn copied_recordings_have_clean_timestamps_and_start_together() {
    let daemon = camera_for_the_detectors();
    for path in ["/stream", "/sub"] {
        go_idle(&daemon);
        let file = daemon
            .dir
            .path()
            .join(format!("rec{}.mp4", path.replace('/', "_")));
        let (ok, _, err) = run(Command::new("timeout").args([
            "40",
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "warning",
            "-rtsp_transport",
            "tcp",
            "-i",
            &daemon.url(path),
            "-t",
            "6",
            "-c",
            "copy",
            "-y",
            file.to_str().expect("utf-8 path"),
        ]));
        assert!(ok, "ffmpeg {path}: {err}\n{}", daemon.log());
        let warnings: Vec<&str> = err
            .lines()
            .filter(|l| !l.trim().is_empty() && !ffmpeg_first_packet_warning(l))
            .collect();
        assert!(warnings.is_empty(), "ffmpeg {path} warned:\n{err}");

        let (ok, out, err) = run(Command::new("ffprobe").args([
            "-v",
            "error",
            "-show_entries",
            "stream=index,codec_type,start_time:packet=stream_index,dts_time",
            "-of",
            "csv",
            file.to_str().expect("utf-8 path"),
        ]));
        assert!(ok, "{err}");
        let mut last_dts: [Option<f64>; 2] = [None, None];
        let mut start: [Option<f64>; 2] = [None, None];
        for line in out.lines() {
            let fields: Vec<&str> = line.trim().split(',').collect();
            match fields.as_slice() {
                ["packet", index, dts, ..] => {
                    let i: usize = index.parse().expect("stream index");
                    let dts: f64 = dts
                        .parse()
                        .unwrap_or_else(|_| panic!("{path}: packet without DTS: {line}"));
                    if let Some(prev) = last_dts[i.min(1)] {
                        assert!(dts > prev, "{path}: DTS {dts} after {prev} on stream {i}");
                    }
                    last_dts[i.min(1)] = Some(dts);
                }
                ["stream", index, _, start_time] => {
                    let i: usize = index.parse().expect("stream index");
                    start[i.min(1)] = start_time.parse().ok();
                }
                _ => {}
            }
        }
        let (Some(a), Some(b)) = (start[0], start[1]) else {
            panic!("{path}: the recording lacks a track: {out}");
        };
        assert!(
            (a - b).abs() <= 0.1,
            "{path}: the tracks start {:.3} s apart",
            (a - b).abs()
        );
    }
}

/// The time lines a player builds from the server's announcements agree with the packets:
/// RTP-Info's `rtptime` marks the first frames (not seconds before or after), and the first
/// RTCP sender reports put the first picture and its sound at the same wall-clock time.
#[tokio::test(flavor = "multi_thread")]
async fn rtp_info_and_sender_reports_agree_with_the_first_packets() {
    let daemon = camera_for_the_detectors();
    for path in ["/stream", "/sub"] {
        idle(&daemon).await;
        let timing =
            babymonitor_e2e::rtsp::first_timestamps(&daemon.url(path), Duration::from_secs(8))
                .await
                .expect("plays");
        let [Some(video), Some(audio)] = timing.first_after_rtp_info else {
            panic!("{path}: no video or no sound: {timing:?}");
        };
        for (what, after) in [("picture", video), ("sound", audio)] {
            assert!(
                (0.0..0.5).contains(&after),
                "{path}: the first {what} is {after:.3} s from RTP-Info's rtptime: {timing:?}"
            );
        }
        assert!(
            (video - audio).abs() <= 0.1,
            "{path}: RTP-Info puts sound and picture {:.3} s apart: {timing:?}",
            (video - audio).abs()
        );
        let [Some(video), Some(audio)] = timing.first_by_sender_report else {
            panic!("{path}: no sender report for each stream within 8 s: {timing:?}");
        };
        assert!(
            (video - audio).abs() <= 0.1,
            "{path}: the sender reports put sound and picture {:.3} s apart: {timing:?}",
            (video - audio).abs()
        );
    }
}
