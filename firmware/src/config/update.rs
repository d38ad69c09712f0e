//! `[update]`: signed firmware updates, installed by RAUC into the other root file system.

use std::path::PathBuf;

use serde::Deserialize;

use super::Problems;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpdateConfig {
    pub enabled: bool,
    /// RAUC's system configuration on the camera (the SD-card image has it there). With
    /// --simulate the daemon writes its own into the data directory instead.
    pub system_conf: PathBuf,
    /// --simulate only: the certificates bundles must be signed with (PEM). Empty:
    /// `<data_dir>/update/keyring.pem`.
    pub keyring: PathBuf,
    /// The largest update file taken, in MB; it is written to the data partition.
    pub max_bundle_mb: u64,
    /// After a boot into a new version: seconds within which HTTP, RTSP and the camera must
    /// work, else the camera goes back to the version it came from.
    pub health_s: u64,
    /// What ONVIF's StartFirmwareUpgrade says the camera is away for while it restarts.
    pub expected_down_s: u64,
}

impl Default for UpdateConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            system_conf: PathBuf::from("/etc/rauc/system.conf"),
            keyring: PathBuf::new(),
            max_bundle_mb: 600,
            health_s: 120,
            expected_down_s: 90,
        }
    }
}

impl UpdateConfig {
    pub(super) fn check(&self, p: &mut Problems) {
        p.range("update.max_bundle_mb", self.max_bundle_mb, 1, 4096);
        p.range("update.health_s", self.health_s, 5, 3600);
        p.range("update.expected_down_s", self.expected_down_s, 10, 3600);
    }
}
