//! `[watchdog]`: the hardware watchdog the daemon feeds while it runs.

use std::path::PathBuf;

use serde::Deserialize;

use super::Problems;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WatchdogConfig {
    /// Empty: no watchdog. The SD-card image sets /dev/watchdog.
    pub device: PathBuf,
    /// Seconds between feeds; well under the hardware's timeout (15 s on the Pi).
    pub interval_s: u64,
}

impl Default for WatchdogConfig {
    fn default() -> Self {
        Self {
            device: PathBuf::new(),
            interval_s: 5,
        }
    }
}

impl WatchdogConfig {
    pub(super) fn check(&self, p: &mut Problems) {
        p.range("watchdog.interval_s", self.interval_s, 1, 60);
    }
}
