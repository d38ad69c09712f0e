//! `[listen]`: the audio-only listen stream (`GET /api/listen.aac`) a phone plays with its
//! screen off, and its noise gate.

use serde::{Deserialize, Serialize};

use super::Problems;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ListenConfig {
    /// Phones listening at once; one more is refused with 503 and Retry-After.
    pub max_listeners: usize,
    /// Seconds a listener may go without taking sound before it is dropped.
    pub stall_s: u64,
    pub gate: GateConfig,
}

/// The noise gate: only sound above the room's usual level passes, so a fan or white noise is
/// not heard all night. The web page changes it (`PUT /api/listen`); that is stored.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GateConfig {
    /// Off: everything the microphone hears passes.
    pub enabled: bool,
    /// How far above the room's usual noise (dB) a sound must be to open the gate.
    pub threshold_db: f32,
    /// Seconds the gate stays open after the sound (a breath between wails is not cut).
    pub hold_s: f32,
}

impl Default for ListenConfig {
    fn default() -> Self {
        Self {
            max_listeners: 20,
            stall_s: 20,
            gate: GateConfig::default(),
        }
    }
}

impl Default for GateConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            threshold_db: 10.0,
            hold_s: 2.0,
        }
    }
}

/// The listen stream's encoding: a mono voice channel at a low rate, whatever the microphone's.
pub const SAMPLE_RATE: u32 = 16_000;
pub const BITRATE_KBPS: u32 = 32;

impl GateConfig {
    pub const THRESHOLD_DB: (f32, f32) = (1.0, 60.0);
    pub const HOLD_S: (f32, f32) = (0.0, 60.0);

    /// Checks the gate's values, naming the field under `prefix` (`listen.gate`, or `gate`
    /// in the API's body).
    pub fn problem(&self, prefix: &str) -> Option<(String, String)> {
        let mut p = Problems::default();
        self.check_into(prefix, &mut p);
        p.0.into_iter().next()
    }

    fn check_into(&self, prefix: &str, p: &mut Problems) {
        let (lo, hi) = Self::THRESHOLD_DB;
        if !self.threshold_db.is_finite() {
            p.add(format!("{prefix}.threshold_db"), "must be a number");
        } else {
            p.range(&format!("{prefix}.threshold_db"), self.threshold_db, lo, hi);
        }
        let (lo, hi) = Self::HOLD_S;
        if !self.hold_s.is_finite() {
            p.add(format!("{prefix}.hold_s"), "must be a number");
        } else {
            p.range(&format!("{prefix}.hold_s"), self.hold_s, lo, hi);
        }
    }
}

impl ListenConfig {
    pub(super) fn check(&self, p: &mut Problems) {
        // The HTTP server's connection limit per address must leave room for the page.
        p.range("listen.max_listeners", self.max_listeners, 0, 256);
        p.range("listen.stall_s", self.stall_s, 2, 600);
        self.gate.check_into("listen.gate", p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_value_in_the_file_names_its_line_and_field() {
        let parse = |text: &str| {
            crate::config::Config::parse(text, std::path::Path::new("t.toml"))
                .map(|c| c.listen)
                .map_err(|e| e.to_string())
        };
        let err = parse(
            "[listen]
stall_s = 20
[listen.gate]
threshold_db = 0.5
",
        )
        .unwrap_err();
        assert!(err.starts_with("t.toml:4:"), "{err}");
        assert!(err.contains("listen.gate.threshold_db"), "{err}");
        let err = parse(
            "[listen]
max_listeners = 1000
",
        )
        .unwrap_err();
        assert!(err.contains("listen.max_listeners"), "{err}");
        let ok = parse(
            "[listen.gate]
enabled = false
",
        )
        .expect("parses");
        assert_eq!(
            (ok.max_listeners, ok.gate.enabled, ok.gate.hold_s),
            (20, false, 2.0)
        );
    }

    #[test]
    fn gate_problems_name_the_field() {
        assert_eq!(GateConfig::default().problem("gate"), None);
        let bad = GateConfig {
            threshold_db: 0.5,
            ..Default::default()
        };
        let (field, message) = bad.problem("gate").expect("refused");
        assert_eq!(field, "gate.threshold_db");
        assert!(message.contains("between 1 and 60"), "{message}");
        let bad = GateConfig {
            hold_s: f32::NAN,
            ..Default::default()
        };
        assert_eq!(
            bad.problem("listen.gate").expect("refused").0,
            "listen.gate.hold_s"
        );
    }
}
