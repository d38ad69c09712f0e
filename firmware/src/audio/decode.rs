//! Audio files through GStreamer: checking an upload, and playing a stored clip.
//!
//! An upload is checked twice before it is kept. Its header is read here against sane limits
//! ([`check_header`]), so no decoder ever sees a sample rate of 2^31 or a tag larger than the
//! file. Then it is decoded whole in a child process (`babymonitor decode-clip`, see
//! [`decode_clip_child`]) under memory, CPU and time limits: a decoder that crashes, hangs or
//! asks for half a terabyte costs that one upload, not the daemon and every viewer with it.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow};
use gst::prelude::*;
use serde::{Deserialize, Serialize};
use tracing::warn;

use super::source::{Repeat, Source};

/// Why an upload was refused; the message is shown to the user as it is.
#[derive(Debug, thiserror::Error, PartialEq, Serialize, Deserialize)]
pub enum BadAudio {
    #[error("not a WAV, MP3, Ogg (Vorbis or Opus) or FLAC file")]
    UnknownFormat,
    /// A header field outside what a real file holds; the message names the field.
    #[error("{0}")]
    BadHeader(String),
    #[error("the file is damaged: {0}")]
    Damaged(String),
    #[error("the file is truncated: it says {declared:.1} s but holds {decoded:.1} s")]
    Truncated { declared: f64, decoded: f64 },
    #[error("the file holds no sound")]
    Empty,
    #[error("the file is longer than {0} minutes")]
    TooLong(u64),
    /// The decoder crashed or broke a limit on this file; the details are in the log only.
    #[error("the decoder failed on this file")]
    DecoderFailed,
}

/// What an accepted file holds.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Probed {
    /// "wav", "mp3", "ogg" or "flac".
    pub(super) format: &'static str,
    pub(super) duration: Duration,
}

/// Longest clip accepted: hours of noise belong in a built-in sound, not an upload.
pub(super) const MAX_DURATION: Duration = Duration::from_secs(3 * 3600);
/// A file that takes longer than this to decode is refused.
const PROBE_TIMEOUT: Duration = Duration::from_secs(60);
/// The parent's own deadline for the decoder process, should it hang where it cannot look at
/// the clock (in a state change, say).
const CHILD_TIMEOUT: Duration = Duration::from_secs(75);
/// Address space of the decoder process: GStreamer and a few threads fit in a fraction of it.
const CHILD_MEMORY: u64 = 1 << 30;
/// The decoder writes nothing; the registry cache is the most GStreamer may want to write.
const CHILD_FILE_SIZE: u64 = 64 << 20;
/// The child's stderr kept for the log (GLib errors are short).
const CHILD_STDERR: usize = 4096;

/// Limits a header must meet.
const RATES: std::ops::RangeInclusive<u32> = 8000..=192_000;
const CHANNELS: std::ops::RangeInclusive<u32> = 1..=8;

/// The container from the first bytes; anything else is refused before GStreamer sees it.
pub(super) fn sniff(head: &[u8]) -> Result<&'static str, BadAudio> {
    let starts = |m: &[u8]| head.starts_with(m);
    if starts(b"RIFF") && head.get(8..12) == Some(b"WAVE") {
        Ok("wav")
    } else if starts(b"fLaC") {
        Ok("flac")
    } else if starts(b"OggS") {
        Ok("ogg")
    } else if starts(b"ID3") || (head.len() > 1 && head[0] == 0xFF && head[1] & 0xE0 == 0xE0) {
        Ok("mp3")
    } else {
        Err(BadAudio::UnknownFormat)
    }
}

fn bad(message: String) -> BadAudio {
    BadAudio::BadHeader(message)
}

/// Random access to the file being checked: `None` past its end.
struct At<'a, R> {
    r: &'a mut R,
    len: u64,
}

impl<R: Read + Seek> At<'_, R> {
    fn bytes(&mut self, at: u64, n: usize) -> Option<Vec<u8>> {
        if at.checked_add(n as u64)? > self.len {
            return None;
        }
        self.r.seek(SeekFrom::Start(at)).ok()?;
        let mut buf = vec![0; n];
        self.r.read_exact(&mut buf).ok()?;
        Some(buf)
    }
}

fn le16(b: &[u8]) -> u32 {
    u32::from(u16::from_le_bytes([b[0], b[1]]))
}

fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

fn be24(b: &[u8]) -> u32 {
    u32::from_be_bytes([0, b[0], b[1], b[2]])
}

/// Checks an upload's header against what real files hold, and returns its format. Reads
/// only the headers, wherever they are in the file.
pub(super) fn check_header<R: Read + Seek>(r: &mut R) -> Result<&'static str, BadAudio> {
    let io = |e: std::io::Error| BadAudio::Damaged(e.to_string());
    let len = r.seek(SeekFrom::End(0)).map_err(io)?;
    let mut f = At { r, len };
    let head = f.bytes(0, 12.min(len as usize)).unwrap_or_default();
    let format = sniff(&head)?;
    match format {
        "wav" => check_wav(&mut f)?,
        "mp3" => check_mp3(&mut f)?,
        "ogg" => check_ogg(&mut f)?,
        _ => check_flac(&mut f)?,
    }
    Ok(format)
}

/// Walks the RIFF chunks: `fmt ` must be sane and come before `data`, and no chunk may claim
/// more than the file holds. A data chunk that does was cut short (an interrupted copy);
/// streaming writers that did not know the length (0 or 0xFFFFFFFF) are let through.
fn check_wav<R: Read + Seek>(f: &mut At<'_, R>) -> Result<(), BadAudio> {
    let riff = f.bytes(4, 4).map_or(0, |b| le32(&b));
    if riff != 0 && riff != u32::MAX && riff < 4 {
        return Err(bad(format!(
            "WAV RIFF size {riff} is smaller than its own header"
        )));
    }
    let mut at: u64 = 12;
    let mut byte_rate = None;
    // Real files have a handful of chunks; a crafted one could have millions of empty ones.
    for _ in 0..1000 {
        let Some(head) = f.bytes(at, 8) else { break };
        let id = String::from_utf8_lossy(&head[..4])
            .escape_debug()
            .to_string();
        let size = le32(&head[4..]);
        let body = at + 8;
        let held = f.len - body;
        match &head[..4] {
            b"data" => {
                let Some(rate) = byte_rate else {
                    return Err(bad("WAV data comes before its fmt chunk".into()));
                };
                if size != 0 && size != u32::MAX && u64::from(size) > held {
                    let rate = f64::from(rate);
                    return Err(BadAudio::Truncated {
                        declared: f64::from(size) / rate,
                        decoded: held as f64 / rate,
                    });
                }
                return Ok(());
            }
            b"fmt " => {
                if !(16..=1024).contains(&size) {
                    return Err(bad(format!(
                        "WAV fmt chunk of {size} bytes (16 to 1024 expected)"
                    )));
                }
                let fmt = f
                    .bytes(body, size.min(40) as usize)
                    .ok_or_else(|| bad("WAV fmt chunk runs past the end of the file".into()))?;
                byte_rate = Some(check_wav_fmt(&fmt)?);
            }
            _ if u64::from(size) > held => {
                return Err(bad(format!(
                    "WAV chunk \"{id}\" of {size} bytes runs past the end of the file ({} bytes)",
                    f.len
                )));
            }
            _ => {}
        }
        // Chunks are padded to an even length.
        at = body + u64::from(size) + u64::from(size & 1);
    }
    Err(BadAudio::Damaged("the WAV file has no audio data".into()))
}

/// The fmt chunk's fields; returns the byte rate.
fn check_wav_fmt(b: &[u8]) -> Result<u32, BadAudio> {
    let mut tag = le16(&b[0..]);
    let channels = le16(&b[2..]);
    let rate = le32(&b[4..]);
    let byte_rate = le32(&b[8..]);
    let align = le16(&b[12..]);
    let bits = le16(&b[14..]);
    if !CHANNELS.contains(&channels) {
        return Err(bad(format!("WAV channel count {channels} is outside 1-8")));
    }
    if !RATES.contains(&rate) {
        return Err(bad(format!(
            "WAV sample rate {rate} Hz is outside 8000-192000"
        )));
    }
    if tag == 0xFFFE {
        // WAVE_FORMAT_EXTENSIBLE: the real format is the first two bytes of the sub-format.
        if b.len() < 40 {
            return Err(bad(
                "WAV extensible fmt chunk is shorter than 40 bytes".into()
            ));
        }
        let valid = le16(&b[18..]);
        if valid > bits {
            return Err(bad(format!(
                "WAV valid bits {valid} exceed the {bits} bits per sample"
            )));
        }
        tag = le16(&b[24..]);
    }
    let (kind, allowed): (&str, &[u32]) = match tag {
        1 => ("PCM", &[8, 16, 24, 32]),
        3 => ("float", &[32, 64]),
        6 | 7 => ("A-law or µ-law", &[8]),
        _ => {
            return Err(bad(format!(
                "WAV format code 0x{tag:04x} is not supported (PCM, float, A-law or µ-law only)"
            )));
        }
    };
    if !allowed.contains(&bits) {
        return Err(bad(format!(
            "WAV bits per sample {bits} is not valid for {kind} (allowed: {allowed:?})"
        )));
    }
    if align != channels * bits / 8 {
        return Err(bad(format!(
            "WAV block align {align} does not match {channels} channel(s) of {bits} bits"
        )));
    }
    if u64::from(byte_rate) != u64::from(rate) * u64::from(align) {
        return Err(bad(format!(
            "WAV byte rate {byte_rate} does not match {rate} Hz × {align} bytes"
        )));
    }
    Ok(byte_rate)
}

/// An ID3v2 tag that fits in the file, then a valid MPEG audio frame header.
fn check_mp3<R: Read + Seek>(f: &mut At<'_, R>) -> Result<(), BadAudio> {
    let at = if f.bytes(0, 3).as_deref() == Some(b"ID3") {
        skip_id3(f)?
    } else {
        0
    };
    let h = f
        .bytes(at, 4)
        .ok_or_else(|| bad("the MP3 file ends inside its first frame header".into()))?;
    match mp3_frame_fault(&h) {
        Some(fault) => Err(bad(format!("MP3 frame header at byte {at}: {fault}"))),
        None => Ok(()),
    }
}

/// Where the first MP3 frame after the ID3v2 tag starts.
fn skip_id3<R: Read + Seek>(f: &mut At<'_, R>) -> Result<u64, BadAudio> {
    let id3 = f
        .bytes(0, 10)
        .ok_or_else(|| bad("the file ends inside its ID3v2 header".into()))?;
    if !(2..=4).contains(&id3[3]) || id3[4] == 0xFF {
        return Err(bad(format!(
            "ID3v2 version 2.{}.{} is not supported",
            id3[3], id3[4]
        )));
    }
    if id3[6..10].iter().any(|b| b & 0x80 != 0) {
        return Err(bad("ID3v2 tag size is not a syncsafe number".into()));
    }
    let size = id3[6..10]
        .iter()
        .fold(0u64, |n, b| (n << 7) | u64::from(*b));
    let footer = if id3[3] == 4 && id3[5] & 0x10 != 0 {
        10
    } else {
        0
    };
    let at = 10 + size + footer;
    if at >= f.len {
        return Err(bad(format!(
            "ID3v2 tag of {size} bytes is larger than the file ({} bytes)",
            f.len
        )));
    }
    // Padding after the tag; a real file's first frame is a few KB in at most.
    let window = f
        .bytes(at, (f.len - at).min(64 * 1024) as usize)
        .unwrap_or_default();
    match window
        .windows(2)
        .position(|w| w[0] == 0xFF && w[1] & 0xE0 == 0xE0)
    {
        Some(p) => Ok(at + p as u64),
        None => Err(bad(
            "no MP3 frame in the first 64 KB after the ID3v2 tag".into()
        )),
    }
}

/// What is wrong with a 4-byte MP3 frame header, if anything.
fn mp3_frame_fault(h: &[u8]) -> Option<&'static str> {
    let version = (h[1] >> 3) & 3;
    let layer = (h[1] >> 1) & 3;
    let bitrate = h[2] >> 4;
    let rate = (h[2] >> 2) & 3;
    [
        (version == 1, "the MPEG version bits are reserved"),
        (layer == 0, "the layer bits are reserved"),
        (bitrate == 15, "bitrate index 15 is invalid"),
        (bitrate == 0, "free-format bitrate is not supported"),
        (rate == 3, "sample rate index 3 is reserved"),
        (h[3] & 3 == 2, "emphasis 2 is reserved"),
    ]
    .into_iter()
    .find_map(|(wrong, fault)| wrong.then_some(fault))
}

/// The first page and the Vorbis or Opus identification header it carries.
fn check_ogg<R: Read + Seek>(f: &mut At<'_, R>) -> Result<(), BadAudio> {
    let p = ogg_first_packet(f)?;
    if p.starts_with(b"\x01vorbis") {
        check_vorbis(&p)
    } else if p.starts_with(b"OpusHead") {
        check_opus(&p)
    } else {
        Err(bad("the Ogg stream is neither Vorbis nor Opus".into()))
    }
}

/// The first packet of a stream's first page (the identification header).
fn ogg_first_packet<R: Read + Seek>(f: &mut At<'_, R>) -> Result<Vec<u8>, BadAudio> {
    let page = f
        .bytes(0, 27)
        .ok_or_else(|| bad("the Ogg file ends inside its first page header".into()))?;
    if page[4] != 0 {
        return Err(bad(format!("Ogg page version {} is not 0", page[4])));
    }
    if page[5] & !7 != 0 || page[5] & 2 == 0 {
        return Err(bad(format!(
            "Ogg first page header type 0x{:02x} is not a stream start",
            page[5]
        )));
    }
    let segments = f
        .bytes(27, usize::from(page[26]))
        .ok_or_else(|| bad("the Ogg file ends inside its first segment table".into()))?;
    // The identification header is small: it ends within the first page.
    let Some(end) = segments.iter().position(|s| *s < 255) else {
        return Err(bad(
            "the Ogg identification header does not end on the first page".into(),
        ));
    };
    let packet_len: usize = segments[..=end].iter().map(|s| usize::from(*s)).sum();
    f.bytes(27 + u64::from(page[26]), packet_len)
        .ok_or_else(|| bad("the first Ogg page runs past the end of the file".into()))
}

fn check_vorbis(p: &[u8]) -> Result<(), BadAudio> {
    if p.len() < 30 {
        return Err(bad("the Vorbis identification header is too short".into()));
    }
    let version = le32(&p[7..]);
    let channels = u32::from(p[11]);
    let rate = le32(&p[12..]);
    let (small, large) = (p[28] & 0xF, p[28] >> 4);
    if version != 0 {
        return Err(bad(format!("Vorbis version {version} is not 0")));
    }
    if !CHANNELS.contains(&channels) {
        return Err(bad(format!(
            "Vorbis channel count {channels} is outside 1-8"
        )));
    }
    if !RATES.contains(&rate) {
        return Err(bad(format!(
            "Vorbis sample rate {rate} Hz is outside 8000-192000"
        )));
    }
    if !(6..=13).contains(&small) || !(6..=13).contains(&large) || small > large {
        return Err(bad(format!(
            "Vorbis block sizes 2^{small} and 2^{large} are invalid"
        )));
    }
    if p[29] & 1 == 0 {
        return Err(bad(
            "the Vorbis identification header lacks its framing bit".into(),
        ));
    }
    Ok(())
}

fn check_opus(p: &[u8]) -> Result<(), BadAudio> {
    if p.len() < 19 {
        return Err(bad("the Opus identification header is too short".into()));
    }
    let channels = u32::from(p[9]);
    let rate = le32(&p[12..]);
    let family = p[18];
    if p[8] >> 4 != 0 {
        return Err(bad(format!("Opus version {} is not supported", p[8])));
    }
    if !CHANNELS.contains(&channels) {
        return Err(bad(format!("Opus channel count {channels} is outside 1-8")));
    }
    // 0 means "not stated"; Opus always decodes at 48 kHz anyway.
    if rate != 0 && !RATES.contains(&rate) {
        return Err(bad(format!(
            "Opus input sample rate {rate} Hz is outside 8000-192000"
        )));
    }
    match family {
        0 if channels <= 2 => Ok(()),
        0 => Err(bad(format!(
            "Opus mapping family 0 allows 1 or 2 channels, not {channels}"
        ))),
        1 if p.len() >= 21 + channels as usize && p[19] >= 1 && p[20] <= p[19] => Ok(()),
        1 => Err(bad("the Opus channel mapping table is invalid".into())),
        _ => Err(bad(format!(
            "Opus channel mapping family {family} is not supported"
        ))),
    }
}

/// STREAMINFO, then metadata blocks that fit in the file and end where the audio begins.
fn check_flac<R: Read + Seek>(f: &mut At<'_, R>) -> Result<(), BadAudio> {
    let last = check_streaminfo(f)?;
    let at = skip_flac_metadata(f, last)?;
    match f.bytes(at, 2) {
        None => Err(BadAudio::Empty),
        Some(sync) if sync[0] == 0xFF && sync[1] & 0xFE == 0xF8 => Ok(()),
        Some(_) => Err(bad(format!(
            "FLAC audio at byte {at} does not start with a frame"
        ))),
    }
}

/// The first metadata block, STREAMINFO; true when it is the last block.
fn check_streaminfo<R: Read + Seek>(f: &mut At<'_, R>) -> Result<bool, BadAudio> {
    let short = || bad("the FLAC file ends inside its STREAMINFO".into());
    let h = f.bytes(4, 4).ok_or_else(short)?;
    let (kind, len) = (h[0] & 0x7F, be24(&h[1..]));
    if kind != 0 {
        return Err(bad(format!(
            "the first FLAC metadata block is type {kind}, not STREAMINFO"
        )));
    }
    if len != 34 {
        return Err(bad(format!("FLAC STREAMINFO is {len} bytes, not 34")));
    }
    let si = f.bytes(8, 34).ok_or_else(short)?;
    let min_block = u32::from(u16::from_be_bytes([si[0], si[1]]));
    let max_block = u32::from(u16::from_be_bytes([si[2], si[3]]));
    let (min_frame, max_frame) = (be24(&si[4..]), be24(&si[7..]));
    let packed = u64::from_be_bytes([
        si[10], si[11], si[12], si[13], si[14], si[15], si[16], si[17],
    ]);
    let rate = (packed >> 44) as u32;
    let bits = ((packed >> 36) & 31) as u32 + 1;
    let samples = packed & 0xF_FFFF_FFFF;
    if min_block < 16 {
        return Err(bad(format!(
            "FLAC minimum block size {min_block} is below 16"
        )));
    }
    if max_block < min_block {
        return Err(bad(format!(
            "FLAC maximum block size {max_block} is below the minimum {min_block}"
        )));
    }
    if min_frame != 0 && max_frame != 0 && min_frame > max_frame {
        return Err(bad(format!(
            "FLAC minimum frame size {min_frame} exceeds the maximum {max_frame}"
        )));
    }
    if !RATES.contains(&rate) {
        return Err(bad(format!(
            "FLAC sample rate {rate} Hz is outside 8000-192000"
        )));
    }
    if !(4..=32).contains(&bits) {
        return Err(bad(format!("FLAC bits per sample {bits} is outside 4-32")));
    }
    if samples / u64::from(rate) > MAX_DURATION.as_secs() {
        return Err(BadAudio::TooLong(MAX_DURATION.as_secs() / 60));
    }
    Ok(h[0] & 0x80 != 0)
}

/// Where the audio starts: past the metadata blocks after STREAMINFO, each inside the file.
fn skip_flac_metadata<R: Read + Seek>(f: &mut At<'_, R>, mut last: bool) -> Result<u64, BadAudio> {
    let mut at: u64 = 8 + 34;
    for _ in 0..1000 {
        if last {
            return Ok(at);
        }
        let h = f
            .bytes(at, 4)
            .ok_or_else(|| bad("the FLAC metadata runs past the end of the file".into()))?;
        let (kind, len) = (h[0] & 0x7F, be24(&h[1..]));
        if kind == 127 {
            return Err(bad("FLAC metadata block type 127 is invalid".into()));
        }
        last = h[0] & 0x80 != 0;
        at += 4 + u64::from(len);
        if at > f.len {
            return Err(bad(format!(
                "FLAC metadata block of {len} bytes runs past the end of the file ({} bytes)",
                f.len
            )));
        }
    }
    if last {
        Ok(at)
    } else {
        Err(bad("FLAC metadata has more than 1000 blocks".into()))
    }
}

fn quoted(p: &Path) -> String {
    format!(
        "\"{}\"",
        p.to_string_lossy()
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
    )
}

fn pipeline(
    path: &Path,
    rate: u32,
    max_buffers: u32,
) -> anyhow::Result<(gst::Pipeline, gst_app::AppSink)> {
    let desc = format!(
        "filesrc location={} ! decodebin ! audioconvert ! audioresample \
         ! audio/x-raw,format=F32LE,layout=interleaved,channels=1,rate={rate} \
         ! appsink name=sink sync=false max-buffers={max_buffers} enable-last-sample=false",
        quoted(path)
    );
    let pipeline = crate::media::launch(&desc)?;
    let sink = crate::media::element(&pipeline, "sink")?;
    Ok((pipeline, sink))
}

fn bus_error(pipeline: &gst::Pipeline) -> Option<String> {
    let bus = pipeline.bus()?;
    while let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
        if let gst::MessageView::Error(e) = msg.view() {
            return Some(e.error().to_string());
        }
    }
    None
}

/// Decodes the whole file to check it, in this process. Blocking. Only the decoder process
/// runs this on uploads ([`decode_clip_child`]); the daemon asks it with [`probe_isolated`].
fn probe(path: &Path, rate: u32) -> Result<Probed, BadAudio> {
    let mut head = [0u8; 12];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .map_err(|e| BadAudio::Damaged(e.to_string()))?;
    let format = sniff(&head[..n])?;
    let (pipeline, sink) =
        pipeline(path, rate, 64).map_err(|e| BadAudio::Damaged(e.to_string()))?;
    let result = decode_all(&pipeline, &sink, rate, format);
    let _ = pipeline.set_state(gst::State::Null);
    result.map(|duration| Probed { format, duration })
}

/// What the decoder process prints on its stdout, one JSON line.
#[derive(Debug, Serialize, Deserialize)]
enum Report {
    Decoded { format: String, seconds: f64 },
    Refused(BadAudio),
}

/// `babymonitor decode-clip --rate R FILE`: decodes FILE whole at the mixer's rate, as a clip
/// would play, and reports on stdout. Limits itself first, so that a decoder bug hits a wall
/// here (and the daemon reads an exit by signal) rather than the daemon's memory.
pub fn decode_clip_child(path: &Path, rate: u32) -> ExitCode {
    use rlimit::Resource;
    if let Err(e) = drop_capabilities() {
        eprintln!("decode-clip: cannot drop capabilities: {e}");
        return ExitCode::from(3);
    }
    let cpu = PROBE_TIMEOUT.as_secs() + 5;
    for (resource, soft, hard) in [
        (Resource::AS, CHILD_MEMORY, CHILD_MEMORY),
        // SIGXCPU at the soft limit, SIGKILL at the hard one.
        (Resource::CPU, cpu, cpu + 5),
        (Resource::FSIZE, CHILD_FILE_SIZE, CHILD_FILE_SIZE),
        // A crash must not leave a core of up to a gigabyte on the data partition.
        (Resource::CORE, 0, 0),
    ] {
        if let Err(e) = resource.set(soft, hard) {
            eprintln!("decode-clip: cannot set {resource:?}: {e}");
            return ExitCode::from(3);
        }
    }
    if let Err(e) = gst::init() {
        eprintln!("decode-clip: GStreamer: {e}");
        return ExitCode::from(3);
    }
    let report = match probe(path, rate) {
        Ok(p) => Report::Decoded {
            format: p.format.into(),
            seconds: p.duration.as_secs_f64(),
        },
        Err(e) => Report::Refused(e),
    };
    match serde_json::to_string(&report) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(_) => ExitCode::from(3),
    }
}

/// Gives up every capability the daemon was started with (on the image: binding low ports and
/// signalling init), so that a decoder bug exploited by a crafted upload holds none of them.
/// Called first thing in the decoder process, while it has one thread: capabilities are per
/// thread, and threads started later inherit these.
fn drop_capabilities() -> Result<(), caps::errors::CapsError> {
    use caps::CapSet;
    // Ambient first: it must stay a subset of permitted and inheritable.
    for set in [
        CapSet::Ambient,
        CapSet::Inheritable,
        CapSet::Effective,
        CapSet::Permitted,
    ] {
        caps::clear(None, set)?;
    }
    Ok(())
}

/// Decodes an upload in a decoder process (this same binary) and waits for its verdict.
/// `Err` is the camera's own fault (the process cannot start); `Ok(Err)` refuses the file,
/// also when the decoder crashed or hung on it.
pub(super) fn probe_isolated(path: &Path, rate: u32) -> anyhow::Result<Result<Probed, BadAudio>> {
    // The running binary even if a package upgrade has replaced the file meanwhile.
    let mut cmd = Command::new("/proc/self/exe");
    cmd.arg("decode-clip")
        .arg("--rate")
        .arg(rate.to_string())
        .arg(path);
    // Its allocator keeps to two arenas (`platform::allocator`, run first in `main`): each
    // reserves 64 MB of address space, against the child's limit.
    run_decoder(cmd, CHILD_TIMEOUT)
}

fn run_decoder(mut cmd: Command, timeout: Duration) -> anyhow::Result<Result<Probed, BadAudio>> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting the clip decoder")?;
    let (out, err) = (child.stdout.take(), child.stderr.take());
    // Read both pipes to the end, so that the child never blocks on a full one.
    let (status, stdout, stderr) = std::thread::scope(|s| {
        let stdout = s.spawn(|| read_tail(out, 64 * 1024));
        let stderr = s.spawn(|| read_tail(err, CHILD_STDERR));
        let status = wait_or_kill(&mut child, timeout);
        let stdout = stdout.join().unwrap_or_default();
        (status, stdout, stderr.join().unwrap_or_default())
    });
    verdict(status?, &stdout, &stderr, timeout)
}

/// A pipe read to its end, of which the last `keep` bytes are kept: the end of stderr holds
/// the fatal error, the end of stdout the report.
fn read_tail(pipe: Option<impl Read>, keep: usize) -> String {
    let mut kept = Vec::new();
    if let Some(mut pipe) = pipe {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = pipe.read(&mut buf) {
            kept.extend_from_slice(&buf[..n]);
            if kept.len() > keep {
                kept.drain(..kept.len() - keep);
            }
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}

/// How the child ended, or `None` when it ran past `timeout` and was killed. The child is
/// gone when this returns, so that its pipes close.
fn wait_or_kill(
    child: &mut std::process::Child,
    timeout: Duration,
) -> anyhow::Result<Option<std::process::ExitStatus>> {
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(Some(status)),
            Ok(None) if started.elapsed() <= timeout => {
                std::thread::sleep(Duration::from_millis(20));
            }
            ended => {
                let _ = child.kill();
                let _ = child.wait();
                return ended.map(|_| None).context("waiting for the clip decoder");
            }
        }
    }
}

/// The decoder's report if it ended well; a refusal if it crashed or hung on the file.
fn verdict(
    status: Option<std::process::ExitStatus>,
    stdout: &str,
    stderr: &str,
    timeout: Duration,
) -> anyhow::Result<Result<Probed, BadAudio>> {
    let report = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<Report>(l).ok());
    match (status, report) {
        (Some(s), Some(Report::Decoded { format, seconds })) if s.success() => {
            let format = ["wav", "mp3", "ogg", "flac"]
                .into_iter()
                .find(|f| *f == format)
                .ok_or_else(|| anyhow!("the clip decoder reported format {format:?}"))?;
            Ok(Ok(Probed {
                format,
                duration: Duration::from_secs_f64(seconds.max(0.0)),
            }))
        }
        (Some(s), Some(Report::Refused(why))) if s.success() => Ok(Err(why)),
        (None, _) => {
            warn!(
                seconds = timeout.as_secs(),
                stderr = stderr.trim(),
                "clip decoder hung and was stopped"
            );
            Ok(Err(BadAudio::Damaged("it takes too long to decode".into())))
        }
        (Some(s), _) => {
            use std::os::unix::process::ExitStatusExt as _;
            // GLib aborts with the reason on stderr; it may name paths, so it goes to the log.
            warn!(
                code = s.code(),
                signal = s.signal(),
                stderr = stderr.trim(),
                "clip decoder failed"
            );
            Ok(Err(BadAudio::DecoderFailed))
        }
    }
}

fn decode_all(
    pipeline: &gst::Pipeline,
    sink: &gst_app::AppSink,
    rate: u32,
    format: &'static str,
) -> Result<Duration, BadAudio> {
    pipeline.set_state(gst::State::Playing).map_err(|_| {
        BadAudio::Damaged(bus_error(pipeline).unwrap_or_else(|| "unreadable".into()))
    })?;
    let started = Instant::now();
    let mut samples: u64 = 0;
    let mut declared: Option<f64> = None;
    loop {
        if let Some(e) = bus_error(pipeline) {
            return Err(BadAudio::Damaged(e));
        }
        if started.elapsed() > PROBE_TIMEOUT {
            return Err(BadAudio::Damaged("it takes too long to decode".into()));
        }
        match sink.try_pull_sample(gst::ClockTime::from_mseconds(200)) {
            Some(sample) => {
                if declared.is_none() {
                    declared = pipeline
                        .query_duration::<gst::ClockTime>()
                        .map(|d| d.seconds_f64());
                }
                if let Some(b) = sample.buffer() {
                    samples += b.size() as u64 / 4;
                }
                if samples / u64::from(rate) > MAX_DURATION.as_secs() {
                    return Err(BadAudio::TooLong(MAX_DURATION.as_secs() / 60));
                }
            }
            None if sink.is_eos() => break,
            None => {}
        }
    }
    // Errors can come with the end of the stream.
    if let Some(e) = bus_error(pipeline) {
        return Err(BadAudio::Damaged(e));
    }
    let decoded = samples as f64 / f64::from(rate);
    if samples == 0 {
        return Err(BadAudio::Empty);
    }
    // WAV and FLAC state their exact length; MP3 and Ogg lengths are estimates.
    if let Some(declared) = declared.filter(|_| matches!(format, "wav" | "flac"))
        && declared > decoded + (0.02 * declared).max(0.25)
    {
        return Err(BadAudio::Truncated { declared, decoded });
    }
    Ok(Duration::from_secs_f64(decoded))
}

/// A stored clip played from its file, decoded a little ahead of the mixer.
pub(super) struct FileSource {
    pipeline: gst::Pipeline,
    sink: gst_app::AppSink,
    pending: Vec<f32>,
    pos: usize,
    repeat: Repeat,
    /// Waiting for the first samples after a start or a loop.
    priming: bool,
}

impl FileSource {
    pub(super) fn open(path: &Path, rate: u32, repeat: Repeat) -> anyhow::Result<Self> {
        let (pipeline, sink) = pipeline(path, rate, 8)?;
        pipeline.set_state(gst::State::Paused)?;
        // Prerolled: the first samples are there when the mixer asks.
        let (result, _, _) = pipeline.state(gst::ClockTime::from_seconds(5));
        if result.is_err() {
            let _ = pipeline.set_state(gst::State::Null);
            return Err(anyhow!(
                "cannot decode the clip: {}",
                bus_error(&pipeline).unwrap_or_else(|| "unknown error".into())
            ));
        }
        pipeline.set_state(gst::State::Playing)?;
        Ok(Self {
            pipeline,
            sink,
            pending: Vec::new(),
            pos: 0,
            repeat,
            priming: true,
        })
    }
}

impl Source for FileSource {
    fn fill(&mut self, out: &mut [f32]) -> usize {
        let mut written = 0;
        while written < out.len() {
            if self.pos < self.pending.len() {
                let n = (self.pending.len() - self.pos).min(out.len() - written);
                out[written..written + n].copy_from_slice(&self.pending[self.pos..self.pos + n]);
                self.pos += n;
                written += n;
                continue;
            }
            // A short wait at the start of a play; none later (the mixer must not stall).
            let wait = if self.priming {
                gst::ClockTime::from_mseconds(15)
            } else {
                gst::ClockTime::ZERO
            };
            match self.sink.try_pull_sample(wait) {
                Some(sample) => {
                    self.priming = false;
                    self.pending.clear();
                    self.pos = 0;
                    if let Some(map) = sample.buffer().and_then(|b| b.map_readable().ok()) {
                        self.pending.extend(
                            map.chunks_exact(4)
                                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                        );
                    }
                }
                None if self.sink.is_eos() => {
                    if self.repeat.again()
                        && self
                            .pipeline
                            .seek_simple(gst::SeekFlags::FLUSH, gst::ClockTime::ZERO)
                            .is_ok()
                    {
                        self.priming = true;
                        continue;
                    }
                    return written;
                }
                None if bus_error(&self.pipeline).is_some() => return written,
                None => {
                    // The decoder is behind: a moment of silence rather than an early end.
                    out[written..].fill(0.0);
                    return out.len();
                }
            }
        }
        written
    }
}

impl Drop for FileSource {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn check(bytes: &[u8]) -> Result<&'static str, BadAudio> {
        check_header(&mut Cursor::new(bytes))
    }

    fn refusal(bytes: &[u8]) -> String {
        match check(bytes) {
            Ok(f) => panic!("a crafted {f} passed"),
            Err(e) => e.to_string(),
        }
    }

    fn wav(declared: u32, held: usize) -> Vec<u8> {
        let mut w = b"RIFF\0\0\0\0WAVEfmt \x10\0\0\0\x01\0\x01\0\x80\x3e\0\0\0\x7d\0\0\x02\0\x10\0"
            .to_vec();
        w.extend_from_slice(b"LIST\x03\0\0\0abc\0");
        w.extend_from_slice(b"data");
        w.extend_from_slice(&declared.to_le_bytes());
        w.resize(w.len() + held, 0);
        w
    }

    #[test]
    fn a_cut_wav_is_found() {
        assert_eq!(check(&wav(100, 100)), Ok("wav"));
        assert_eq!(check(&wav(u32::MAX, 10)), Ok("wav"));
        assert!(matches!(
            check(&wav(320_000, 32_000)),
            Err(BadAudio::Truncated { declared, decoded }) if (declared - 10.0).abs() < 0.01 && (decoded - 1.0).abs() < 0.01
        ));
        assert!(check(b"RIFF\0\0\0\0WAVE").is_err());
    }

    #[test]
    fn crafted_wav_headers_name_the_field() {
        let with = |at: usize, bytes: &[u8]| {
            let mut w = wav(100, 100);
            w[at..at + bytes.len()].copy_from_slice(bytes);
            refusal(&w)
        };
        assert_eq!(
            with(24, &[0xff, 0xff, 0xff, 0x7f]),
            "WAV sample rate 2147483647 Hz is outside 8000-192000"
        );
        assert!(with(22, &[0, 0]).contains("channel count 0"));
        assert!(with(34, &[7, 0]).contains("bits per sample 7"));
        assert!(with(32, &[4, 0]).contains("block align 4"));
        assert!(with(28, &[1, 0, 0, 0]).contains("byte rate 1"));
        assert!(with(20, &[0x55, 0]).contains("format code 0x0055"));
        assert!(with(40, &[0xff, 0xff, 0xff, 0x0f]).contains("\"LIST\""));
        assert!(with(16, &[0xff, 0, 0, 0x10]).contains("fmt chunk of"));
        let no_fmt = b"RIFF\x10\0\0\0WAVEdata\xff\xff\xff\x7f\0\0\0\0";
        assert!(refusal(no_fmt).contains("before its fmt"));
    }

    #[test]
    fn crafted_mp3_headers_name_the_field() {
        let frame = [0xFF, 0xFB, 0x90, 0x64];
        let mut ok = b"ID3\x04\0\0\0\0\0\x02\0\0".to_vec();
        ok.extend_from_slice(&frame);
        ok.resize(500, 0);
        assert_eq!(check(&ok), Ok("mp3"));
        assert_eq!(check(&[&frame[..], &[0; 400]].concat()), Ok("mp3"));
        let with = |at: usize, b: u8| {
            let mut m = ok.clone();
            m[at] = b;
            refusal(&m)
        };
        assert!(with(6, 0x80).contains("syncsafe"));
        assert!(with(6, 0x7f).contains("larger than the file"));
        assert!(with(14, 0xF0).contains("bitrate index 15"));
        assert!(with(14, 0x9C).contains("sample rate index 3"));
        assert!(with(13, 0xEB).contains("MPEG version"));
        assert!(with(13, 0xF9).contains("layer"));
        assert!(refusal(b"ID3\x04").contains("ID3v2 header"));
    }

    fn ogg(packet: &[u8]) -> Vec<u8> {
        let mut o = b"OggS\0\x02".to_vec();
        o.extend_from_slice(&[0; 20]);
        o.push(1);
        o.push(packet.len() as u8);
        o.extend_from_slice(packet);
        o.resize(o.len() + 100, 0);
        o
    }

    fn vorbis() -> Vec<u8> {
        let mut p = b"\x01vorbis\0\0\0\0\x01\x80\x3e\0\0".to_vec();
        p.extend_from_slice(&[0; 12]);
        p.extend_from_slice(&[0xB8, 1]);
        p
    }

    fn opus() -> Vec<u8> {
        b"OpusHead\x01\x01\x38\x01\x80\x3e\0\0\0\0\0".to_vec()
    }

    #[test]
    fn crafted_ogg_headers_name_the_field() {
        assert_eq!(check(&ogg(&vorbis())), Ok("ogg"));
        assert_eq!(check(&ogg(&opus())), Ok("ogg"));
        let vorbis_with = |at: usize, bytes: &[u8]| {
            let mut p = vorbis();
            p[at..at + bytes.len()].copy_from_slice(bytes);
            refusal(&ogg(&p))
        };
        assert!(vorbis_with(11, &[0]).contains("Vorbis channel count 0"));
        assert!(vorbis_with(12, &[0xff, 0xff, 0xff, 0x7f]).contains("Vorbis sample rate"));
        assert!(vorbis_with(28, &[0xF4]).contains("block sizes"));
        let mut p = opus();
        p[9] = 200;
        assert!(refusal(&ogg(&p)).contains("Opus channel count 200"));
        let mut o = ogg(&opus());
        o[4] = 1;
        assert!(refusal(&o).contains("page version 1"));
        assert!(refusal(&ogg(b"\x80theora")).contains("neither Vorbis nor Opus"));
    }

    fn flac() -> Vec<u8> {
        let mut f = b"fLaC\x80\0\0\x22\x10\0\x10\0\0\0\0\0\0\0".to_vec();
        // 16 kHz, mono, 16 bits, 8000 samples.
        let packed: u64 = (16000 << 44) | (15 << 36) | 8000;
        f.extend_from_slice(&packed.to_be_bytes());
        f.extend_from_slice(&[0; 16]);
        f.extend_from_slice(&[0xFF, 0xF8, 0, 0]);
        f
    }

    #[test]
    fn crafted_flac_headers_name_the_field() {
        assert_eq!(check(&flac()), Ok("flac"));
        let with = |at: usize, bytes: &[u8]| {
            let mut f = flac();
            f[at..at + bytes.len()].copy_from_slice(bytes);
            refusal(&f)
        };
        assert!(with(18, &[0, 0, 0]).contains("FLAC sample rate 0 Hz"));
        assert!(with(8, &[0, 0]).contains("minimum block size 0"));
        assert!(with(10, &[0, 8]).contains("maximum block size 8"));
        assert!(with(4, &[0x04]).contains("type 4, not STREAMINFO"));
        // Not the last block: the audio's frame sync is read as a block header.
        assert!(with(4, &[0x00]).contains("type 127"));
        let mut picture = flac();
        picture[4] = 0;
        picture.splice(42..42, [0x86, 0xff, 0xff, 0xff]);
        assert!(refusal(&picture).contains("of 16777215 bytes runs past the end"));
        assert!(with(42, &[0]).contains("does not start with a frame"));
    }

    #[test]
    fn random_bytes_never_panic() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let seeds = [wav(100, 100), ogg(&vorbis()), ogg(&opus()), flac()];
        for _ in 0..20_000 {
            let mut b: Vec<u8> = if rng.random_bool(0.5) {
                let n = rng.random_range(0..80);
                (0..n).map(|_| rng.random()).collect()
            } else {
                // A real header with a few bytes changed or cut off.
                let mut b = seeds[rng.random_range(0..seeds.len())].clone();
                for _ in 0..rng.random_range(1..4) {
                    let i = rng.random_range(0..b.len());
                    b[i] = rng.random();
                }
                b.truncate(rng.random_range(0..=b.len()));
                b
            };
            if rng.random_bool(0.2) && b.len() >= 12 {
                b[..4].copy_from_slice(b"RIFF");
                b[8..12].copy_from_slice(b"WAVE");
            }
            let _ = sniff(&b);
            let _ = check(&b);
        }
    }

    #[test]
    fn formats_by_their_first_bytes() {
        assert_eq!(sniff(b"RIFF\0\0\0\0WAVEfmt "), Ok("wav"));
        assert_eq!(sniff(b"fLaC\0\0\0\x22"), Ok("flac"));
        assert_eq!(sniff(b"OggS\0\x02"), Ok("ogg"));
        assert_eq!(sniff(b"ID3\x04\0"), Ok("mp3"));
        assert_eq!(sniff(&[0xFF, 0xFB, 0x90, 0x64]), Ok("mp3"));
        assert_eq!(sniff(b"<html>"), Err(BadAudio::UnknownFormat));
        assert_eq!(sniff(b""), Err(BadAudio::UnknownFormat));
    }

    fn sh(script: &str) -> Command {
        let mut c = Command::new("/bin/sh");
        c.args(["-c", script]);
        c
    }

    #[test]
    fn a_decoder_that_crashes_or_hangs_refuses_the_file() {
        let crashed = run_decoder(
            sh("echo 'GLib-ERROR: failed to allocate' >&2; kill -ABRT $$"),
            Duration::from_secs(10),
        );
        assert_eq!(crashed.expect("ran"), Err(BadAudio::DecoderFailed));
        let hung = run_decoder(sh("exec sleep 30"), Duration::from_millis(300));
        assert!(matches!(hung.expect("ran"), Err(BadAudio::Damaged(m)) if m.contains("too long")));
        let report = serde_json::to_string(&Report::Decoded {
            format: "mp3".into(),
            seconds: 1.5,
        })
        .expect("json");
        let fine = run_decoder(sh(&format!("echo '{report}'")), Duration::from_secs(10));
        assert_eq!(
            fine.expect("ran"),
            Ok(Probed {
                format: "mp3",
                duration: Duration::from_secs_f64(1.5)
            })
        );
        let refused = serde_json::to_string(&Report::Refused(BadAudio::Empty)).expect("json");
        let empty = run_decoder(sh(&format!("echo '{refused}'")), Duration::from_secs(10));
        assert_eq!(empty.expect("ran"), Err(BadAudio::Empty));
        assert!(run_decoder(Command::new("/nonexistent/decoder"), Duration::from_secs(1)).is_err());
    }

    #[test]
    fn the_decoder_holds_no_capability() {
        // Capabilities are per thread: this thread stands in for the decoder process.
        std::thread::spawn(|| {
            let held = |set| caps::read(None, set).expect("read capabilities");
            if held(caps::CapSet::Permitted).is_empty() {
                eprintln!(
                    "SKIPPED: this test runs without capabilities, so dropping none proves nothing"
                );
                return;
            }
            drop_capabilities().expect("drop");
            for set in [
                caps::CapSet::Ambient,
                caps::CapSet::Inheritable,
                caps::CapSet::Effective,
                caps::CapSet::Permitted,
            ] {
                assert!(held(set).is_empty(), "{set:?} still holds {:?}", held(set));
            }
        })
        .join()
        .expect("the thread ends");
    }
}
