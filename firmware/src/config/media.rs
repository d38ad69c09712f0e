//! Capture and encoding settings: `[media]`, `[video]`, `[audio]`.

use std::path::PathBuf;

use serde::Deserialize;

use super::Problems;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    pub idle_grace_s: u64,
    pub start_timeout_s: u64,
    pub restart_backoff_max_s: u64,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            idle_grace_s: 10,
            start_timeout_s: 10,
            restart_backoff_max_s: 30,
        }
    }
}

impl MediaConfig {
    pub(super) fn check(&self, p: &mut Problems) {
        p.range("media.idle_grace_s", self.idle_grace_s, 0, 3600);
        p.range("media.start_timeout_s", self.start_timeout_s, 1, 120);
        p.range(
            "media.restart_backoff_max_s",
            self.restart_backoff_max_s,
            1,
            3600,
        );
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VideoSource {
    Test,
    Libcamera,
    V4l2,
    File,
    Raw,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EncoderChoice {
    Auto,
    V4l2h264enc,
    X264enc,
}

/// x264's speed presets, fastest first (x264enc's `speed-preset`). Only the software encoder
/// reads it; the Pi's hardware encoder has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum X264Preset {
    Ultrafast,
    Superfast,
    Veryfast,
    Faster,
    Fast,
    Medium,
}

impl X264Preset {
    pub fn name(self) -> &'static str {
        match self {
            X264Preset::Ultrafast => "ultrafast",
            X264Preset::Superfast => "superfast",
            X264Preset::Veryfast => "veryfast",
            X264Preset::Faster => "faster",
            X264Preset::Fast => "fast",
            X264Preset::Medium => "medium",
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StreamConfig {
    pub width: u32,
    pub height: u32,
    pub framerate: u32,
    pub bitrate_kbps: u32,
    pub keyframe_interval: u32,
}

impl StreamConfig {
    pub const MAIN: Self = Self {
        width: 1280,
        height: 720,
        framerate: 15,
        bitrate_kbps: 2000,
        keyframe_interval: 30,
    };
    pub const SUB: Self = Self {
        width: 640,
        height: 360,
        framerate: 15,
        bitrate_kbps: 500,
        keyframe_interval: 30,
    };

    fn check(&self, name: &str, p: &mut Problems) {
        for (field, value, max) in [("width", self.width, 3840), ("height", self.height, 2160)] {
            let key = format!("video.{name}.{field}");
            if value % 2 != 0 {
                p.add(key, format!("must be even (got {value})"));
            } else {
                p.range(&key, value, 16, max);
            }
        }
        p.range(&format!("video.{name}.framerate"), self.framerate, 1, 60);
        p.range(
            &format!("video.{name}.bitrate_kbps"),
            self.bitrate_kbps,
            32,
            50_000,
        );
        p.range(
            &format!("video.{name}.keyframe_interval"),
            self.keyframe_interval,
            1,
            600,
        );
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VideoConfig {
    pub source: VideoSource,
    pub device: String,
    pub camera: String,
    pub path: PathBuf,
    pub pipeline: String,
    /// The test picture shows the simulated camera's state and a clock; off, it is the plain
    /// pattern (the overlays are drawn on every frame, in software).
    pub test_overlay: bool,
    pub encoder: EncoderChoice,
    pub x264_preset: X264Preset,
    /// Picture adjustments, 0-100 (50 leaves the picture as the camera gives it).
    pub brightness: f32,
    pub saturation: f32,
    pub contrast: f32,
    #[serde(deserialize_with = "main_stream")]
    pub main: StreamConfig,
    #[serde(deserialize_with = "sub_stream")]
    pub sub: StreamConfig,
}

/// `[video.main]` / `[video.sub]` as written: what is left out keeps that stream's default.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamOverrides {
    width: Option<u32>,
    height: Option<u32>,
    framerate: Option<u32>,
    bitrate_kbps: Option<u32>,
    keyframe_interval: Option<u32>,
}

impl StreamOverrides {
    fn over(self, base: StreamConfig) -> StreamConfig {
        StreamConfig {
            width: self.width.unwrap_or(base.width),
            height: self.height.unwrap_or(base.height),
            framerate: self.framerate.unwrap_or(base.framerate),
            bitrate_kbps: self.bitrate_kbps.unwrap_or(base.bitrate_kbps),
            keyframe_interval: self.keyframe_interval.unwrap_or(base.keyframe_interval),
        }
    }
}

fn main_stream<'de, D: serde::Deserializer<'de>>(d: D) -> Result<StreamConfig, D::Error> {
    Ok(StreamOverrides::deserialize(d)?.over(StreamConfig::MAIN))
}

fn sub_stream<'de, D: serde::Deserializer<'de>>(d: D) -> Result<StreamConfig, D::Error> {
    Ok(StreamOverrides::deserialize(d)?.over(StreamConfig::SUB))
}

impl Default for VideoConfig {
    fn default() -> Self {
        Self {
            source: VideoSource::Test,
            device: "/dev/video0".into(),
            camera: String::new(),
            path: PathBuf::new(),
            pipeline: String::new(),
            test_overlay: true,
            encoder: EncoderChoice::Auto,
            x264_preset: X264Preset::Superfast,
            brightness: 50.0,
            saturation: 50.0,
            contrast: 50.0,
            main: StreamConfig::MAIN,
            sub: StreamConfig::SUB,
        }
    }
}

impl VideoConfig {
    pub(super) fn check(&self, p: &mut Problems) {
        p.range("video.brightness", self.brightness, 0.0, 100.0);
        p.range("video.saturation", self.saturation, 0.0, 100.0);
        p.range("video.contrast", self.contrast, 0.0, 100.0);
        self.main.check("main", p);
        self.sub.check("sub", p);
        if self.sub.width > self.main.width || self.sub.height > self.main.height {
            p.add(
                "video.sub.width",
                "the sub stream must not be larger than the main stream",
            );
        }
        if self.sub.framerate > self.main.framerate {
            p.add(
                "video.sub.framerate",
                "the sub stream must not have a higher frame rate than the main stream",
            );
        }
        match self.source {
            VideoSource::File if self.path.as_os_str().is_empty() => {
                p.add("video.path", "source \"file\" needs a path")
            }
            VideoSource::Raw if self.pipeline.trim().is_empty() => p.add(
                "video.pipeline",
                "source \"raw\" needs a GStreamer description",
            ),
            VideoSource::V4l2 if self.device.is_empty() => {
                p.add("video.device", "source \"v4l2\" needs a device")
            }
            _ => {}
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AudioSource {
    Test,
    Alsa,
    File,
    Raw,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AudioConfig {
    pub enabled: bool,
    pub source: AudioSource,
    pub device: String,
    pub path: PathBuf,
    pub pipeline: String,
    pub sample_rate: u32,
    pub channels: u32,
    pub bitrate_kbps: u32,
}

impl Default for AudioConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            source: AudioSource::Test,
            device: "default".into(),
            path: PathBuf::new(),
            pipeline: String::new(),
            sample_rate: 48000,
            channels: 1,
            bitrate_kbps: 64,
        }
    }
}

impl AudioConfig {
    pub(super) fn check(&self, p: &mut Problems) {
        const RATES: [u32; 5] = [8000, 16000, 32000, 44100, 48000];
        if !RATES.contains(&self.sample_rate) {
            p.add(
                "audio.sample_rate",
                format!("must be one of {RATES:?} (got {})", self.sample_rate),
            );
        }
        p.range("audio.channels", self.channels, 1, 2);
        p.range("audio.bitrate_kbps", self.bitrate_kbps, 8, 320);
        match self.source {
            AudioSource::File if self.path.as_os_str().is_empty() => {
                p.add("audio.path", "source \"file\" needs a path")
            }
            AudioSource::Raw if self.pipeline.trim().is_empty() => p.add(
                "audio.pipeline",
                "source \"raw\" needs a GStreamer description",
            ),
            _ => {}
        }
    }
}
