//! `[speaker]`: what the camera plays (talk-back, lullabies, noises, uploaded clips) and how loud.

use std::path::PathBuf;

use serde::Deserialize;

use super::Problems;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpeakerConfig {
    /// False: no talk-back section in the SDP, no clips, nothing played.
    pub enabled: bool,
    /// The ALSA playback device (e.g. "default", "hw:0,0", "plughw:1,0").
    pub device: String,
    /// With --simulate the speaker is a WAV file; empty = `<data_dir>/speaker.wav`.
    pub simulated_wav: PathBuf,
    /// The mixer's sample rate (mono).
    pub sample_rate: u32,
    /// Master volume, 0-100.
    pub volume: u32,
    /// Talk-back (ONVIF backchannel, the web page's microphone), 0-100 before the master.
    pub talk_volume: u32,
    /// Clips, lullabies and noises, 0-100 before the master (each play may set its own).
    pub music_volume: u32,
    /// Music level, in percent of itself, while someone talks.
    pub duck_percent: u32,
    /// Seconds over which the sleep timer fades the music out.
    pub fade_s: u32,
    /// Largest clip upload in megabytes.
    pub max_clip_mb: u32,
    /// Uploaded clips kept at most.
    pub max_clips: u32,
}

impl Default for SpeakerConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            device: "default".into(),
            simulated_wav: PathBuf::new(),
            sample_rate: 48000,
            volume: 80,
            talk_volume: 100,
            music_volume: 60,
            duck_percent: 20,
            fade_s: 10,
            max_clip_mb: 20,
            max_clips: 32,
        }
    }
}

impl SpeakerConfig {
    pub(super) fn check(&self, p: &mut Problems) {
        if ![8000, 16000, 22050, 24000, 32000, 44100, 48000].contains(&self.sample_rate) {
            p.add(
                "speaker.sample_rate",
                format!(
                    "must be one of 8000, 16000, 22050, 24000, 32000, 44100, 48000 (got {})",
                    self.sample_rate
                ),
            );
        }
        if self.device.trim().is_empty() {
            p.add("speaker.device", "must not be empty");
        }
        p.range("speaker.volume", self.volume, 0, 100);
        p.range("speaker.talk_volume", self.talk_volume, 0, 100);
        p.range("speaker.music_volume", self.music_volume, 0, 100);
        p.range("speaker.duck_percent", self.duck_percent, 0, 100);
        p.range("speaker.fade_s", self.fade_s, 0, 600);
        p.range("speaker.max_clip_mb", self.max_clip_mb, 1, 500);
        p.range("speaker.max_clips", self.max_clips, 1, 1000);
    }
}
