//! Audio files through GStreamer: checking an upload, and playing a stored clip.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use gst::prelude::*;

use super::source::{Repeat, Source};

/// Why an upload was refused; the message is shown to the user as it is.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BadAudio {
    #[error("not a WAV, MP3, Ogg (Vorbis or Opus) or FLAC file")]
    UnknownFormat,
    #[error("the file is damaged: {0}")]
    Damaged(String),
    #[error("the file is truncated: it says {declared:.1} s but holds {decoded:.1} s")]
    Truncated { declared: f64, decoded: f64 },
    #[error("the file holds no sound")]
    Empty,
    #[error("the file is longer than {0} minutes")]
    TooLong(u64),
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

/// A WAV whose data chunk says more than the file holds was cut short (an interrupted copy).
/// Streaming writers that did not know the length (0 or 0xFFFFFFFF) are let through.
pub(super) fn check_wav_length(bytes: &[u8]) -> Result<(), BadAudio> {
    let mut at = 12;
    while let Some(head) = bytes.get(at..at + 8) {
        let size = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        let body = at + 8;
        if &head[..4] == b"data" {
            let held = bytes.len() - body;
            if size != 0 && size != u32::MAX && (size as usize) > held {
                // 16-bit mono at 16 kHz is the usual clip; the exact rate does not matter here.
                let rate = fmt_byte_rate(bytes).unwrap_or(32000) as f64;
                return Err(BadAudio::Truncated {
                    declared: f64::from(size) / rate,
                    decoded: held as f64 / rate,
                });
            }
            return Ok(());
        }
        // Chunks are padded to an even length.
        at = body.saturating_add(size as usize + (size as usize & 1));
    }
    Err(BadAudio::Damaged("the WAV file has no audio data".into()))
}

fn fmt_byte_rate(bytes: &[u8]) -> Option<u32> {
    let at = bytes.windows(4).position(|w| w == b"fmt ")?;
    let r = bytes.get(at + 16..at + 20)?;
    Some(u32::from_le_bytes([r[0], r[1], r[2], r[3]])).filter(|r| *r > 0)
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
    let pipeline = gst::parse::launch(&desc)?
        .downcast::<gst::Pipeline>()
        .map_err(|_| anyhow!("decoder is not a pipeline"))?;
    let sink = pipeline
        .by_name("sink")
        .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
        .ok_or_else(|| anyhow!("decoder without its appsink"))?;
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

/// Decodes the whole file to check it. Blocking (run it off the async threads).
pub(super) fn probe(path: &Path) -> Result<Probed, BadAudio> {
    let mut head = [0u8; 12];
    {
        use std::io::Read as _;
        let mut f = std::fs::File::open(path).map_err(|e| BadAudio::Damaged(e.to_string()))?;
        let n = f
            .read(&mut head)
            .map_err(|e| BadAudio::Damaged(e.to_string()))?;
        sniff(&head[..n])?;
    }
    let format = sniff(&head)?;
    let rate = 16000u32;
    let (pipeline, sink) =
        pipeline(path, rate, 64).map_err(|e| BadAudio::Damaged(e.to_string()))?;
    let result = decode_all(&pipeline, &sink, rate, format);
    let _ = pipeline.set_state(gst::State::Null);
    result.map(|duration| Probed { format, duration })
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
        assert_eq!(check_wav_length(&wav(100, 100)), Ok(()));
        assert_eq!(check_wav_length(&wav(u32::MAX, 10)), Ok(()));
        assert!(matches!(
            check_wav_length(&wav(320_000, 32_000)),
            Err(BadAudio::Truncated { declared, decoded }) if (declared - 10.0).abs() < 0.01 && (decoded - 1.0).abs() < 0.01
        ));
        assert!(check_wav_length(b"RIFF\0\0\0\0WAVE").is_err());
    }

    #[test]
    fn random_bytes_never_panic() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..20_000 {
            let n = rng.random_range(0..80);
            let mut b: Vec<u8> = (0..n).map(|_| rng.random()).collect();
            if rng.random_bool(0.5) && b.len() >= 12 {
                b[..4].copy_from_slice(b"RIFF");
                b[8..12].copy_from_slice(b"WAVE");
            }
            let _ = sniff(&b);
            let _ = check_wav_length(&b);
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
}
