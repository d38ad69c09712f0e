//! `[sleep]`: the sleep log, kept on the camera: which minutes of the night's hours were
//! settled, moving or crying, night by night (`crate::sleep`).

use serde::Deserialize;

use super::Problems;
pub use crate::alerts::rules::ClockTime;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SleepConfig {
    pub enabled: bool,
    /// The night's hours, the camera's local time; `to` before `from` wraps midnight, and
    /// `from` equal to `to` is a whole day. A night is named by the date it starts.
    pub from: ClockTime,
    pub to: ClockTime,
    /// Nights kept; the oldest go first.
    pub nights: u32,
    /// Seconds in a "minute", the unit the log classifies. Not documented: tests shorten it.
    pub minute_s: u32,
}

impl Default for SleepConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            from: ClockTime::new(19, 0),
            to: ClockTime::new(7, 0),
            nights: 60,
            minute_s: 60,
        }
    }
}

impl SleepConfig {
    pub const NIGHTS: (u32, u32) = (1, 366);
    pub const MINUTE_S: (u32, u32) = (1, 3600);

    pub(super) fn check(&self, p: &mut Problems) {
        let (lo, hi) = Self::NIGHTS;
        p.range("sleep.nights", self.nights, lo, hi);
        let (lo, hi) = Self::MINUTE_S;
        p.range("sleep.minute_s", self.minute_s, lo, hi);
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, std::path::Path::new("t.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn a_full_section_parses() {
        let c = parse("[sleep]\nenabled = false\nfrom = \"20:30\"\nto = \"06:15\"\nnights = 14\nminute_s = 1\n")
            .expect("parses")
            .sleep;
        assert!(!c.enabled);
        assert_eq!(
            (c.from.to_string(), c.to.to_string()),
            ("20:30".into(), "06:15".into())
        );
        assert_eq!((c.nights, c.minute_s), (14, 1));
    }

    #[test]
    fn bad_values_name_their_field_and_line() {
        let err = parse("[sleep]\nfrom = \"7pm\"\n").expect_err("refused");
        assert!(err.starts_with("t.toml:2:"), "{err}");
        assert!(err.contains("from") && err.contains("HH:MM"), "{err}");
        let err = parse("[sleep]\nto = \"24:00\"\n").expect_err("refused");
        assert!(err.contains("to") && err.contains("HH:MM"), "{err}");
        for bad in ["0", "367"] {
            let err =
                parse(&format!("[sleep]\nenabled = true\nnights = {bad}\n")).expect_err("refused");
            assert!(err.starts_with("t.toml:3:"), "{err}");
            assert!(
                err.contains("sleep.nights") && err.contains("between 1 and 366"),
                "{err}"
            );
        }
        let err = parse("[sleep]\nminute_s = 0\n").expect_err("refused");
        assert!(err.contains("sleep.minute_s"), "{err}");
        let err = parse("[sleep]\nhours = 12\n").expect_err("refused");
        assert!(err.contains("hours"), "{err}");
    }
}
