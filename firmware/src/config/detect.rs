//! `[sound]` and `[motion]`: the detectors that raise the parent's alerts.

use serde::Deserialize;

use super::Problems;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SoundMode {
    /// Only what sounds like crying: pitched bursts with breaths between them.
    Cry,
    /// Any sound that stays loud, crying or not.
    Any,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SoundConfig {
    /// The microphone keeps running while this is on, even when nobody watches.
    pub enabled: bool,
    pub mode: SoundMode,
    /// How far above the room's usual noise (dB) a sound must be to count.
    pub threshold_db: f32,
    /// Seconds of sound within `window_s` before the alert starts (a cough is too short).
    pub min_duration_s: f32,
    pub window_s: f32,
    /// Seconds of quiet before the alert ends.
    pub hold_s: f32,
}

impl Default for SoundConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            mode: SoundMode::Cry,
            threshold_db: 12.0,
            min_duration_s: 2.0,
            window_s: 10.0,
            hold_s: 10.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MotionConfig {
    /// The camera keeps running while this is on (the encoders only when someone watches).
    pub enabled: bool,
    /// 0 (only big, clear movement) to 1 (the slightest change).
    pub sensitivity: f32,
    /// Share of the picture (0-1) that must change for a frame to count as motion.
    pub min_area: f32,
    /// Seconds without motion before the alert ends.
    pub hold_s: f32,
    /// Parts of the picture to ignore, each `[x, y, width, height]` as fractions of the
    /// picture (0-1), e.g. a window with curtains that move or a night light.
    pub ignore: Vec<[f32; 4]>,
}

impl Default for MotionConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            sensitivity: 0.5,
            min_area: 0.01,
            hold_s: 10.0,
            ignore: Vec::new(),
        }
    }
}

impl SoundConfig {
    pub(super) fn check(&self, p: &mut Problems) {
        p.range("sound.threshold_db", self.threshold_db, 1.0, 60.0);
        p.range("sound.min_duration_s", self.min_duration_s, 0.1, 60.0);
        p.range("sound.window_s", self.window_s, 1.0, 120.0);
        if self.window_s < self.min_duration_s {
            p.add("sound.window_s", "must be at least min_duration_s");
        }
        p.range("sound.hold_s", self.hold_s, 0.0, 600.0);
    }
}

impl MotionConfig {
    pub(super) fn check(&self, p: &mut Problems) {
        p.range("motion.sensitivity", self.sensitivity, 0.0, 1.0);
        p.range("motion.min_area", self.min_area, 0.0001, 1.0);
        p.range("motion.hold_s", self.hold_s, 0.0, 600.0);
        for (i, [x, y, w, h]) in self.ignore.iter().copied().enumerate() {
            let inside = [x, y, w, h].iter().all(|v| (0.0..=1.0).contains(v));
            if !inside || x + w > 1.0 + f32::EPSILON || y + h > 1.0 + f32::EPSILON {
                p.add(
                    format!("motion.ignore[{i}]"),
                    "must be [x, y, width, height] inside the picture (fractions 0-1)",
                );
            }
        }
    }
}
