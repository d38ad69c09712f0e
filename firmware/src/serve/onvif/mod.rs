//! The camera as ONVIF sees it: the firmware's side of the `onvif` crate's service traits.

mod audio;
mod device;
pub use device::level;
mod media;
mod night;
mod ptz;

use std::sync::Arc;

use crate::config::Config;
use crate::platform::identity::Identity;
use crate::settings::Settings;

pub struct Camera {
    settings: Arc<Settings>,
    identity: Identity,
    simulate: bool,
    has_audio: bool,
    motion: Option<Arc<crate::ptz::Ptz>>,
    night: Option<Arc<crate::night::Night>>,
}

impl Camera {
    pub fn new(
        settings: Arc<Settings>,
        identity: Identity,
        simulate: bool,
        has_audio: bool,
        motion: Option<Arc<crate::ptz::Ptz>>,
        night: Option<Arc<crate::night::Night>>,
    ) -> Self {
        Self {
            settings,
            identity,
            simulate,
            has_audio,
            motion,
            night,
        }
    }

    pub fn has_ptz(&self) -> bool {
        self.motion.is_some()
    }

    pub fn has_night(&self) -> bool {
        self.night.is_some()
    }

    /// Night-vision mode and whether the picture is in night mode now.
    pub fn night_state(&self) -> Option<(crate::config::NightMode, bool)> {
        self.night.as_deref().map(|n| (n.mode(), n.is_night()))
    }

    /// Pan/tilt status for metrics and the web page.
    pub fn ptz_status(&self) -> Option<crate::ptz::Status> {
        self.motion.as_deref().map(crate::ptz::Ptz::status)
    }

    fn config(&self) -> Arc<Config> {
        self.settings.current()
    }
}

/// Percent-encodes a scope segment (spaces and the like are not allowed in a URI).
fn scope_segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The scopes WS-Discovery and GetScopes announce.
pub fn scopes(config: &Config, identity: &Identity) -> Vec<String> {
    let mut scopes = vec![
        "onvif://www.onvif.org/Profile/Streaming".to_string(),
        "onvif://www.onvif.org/Profile/T".to_string(),
        "onvif://www.onvif.org/type/video_encoder".to_string(),
        "onvif://www.onvif.org/type/audio_encoder".to_string(),
        format!(
            "onvif://www.onvif.org/name/{}",
            scope_segment(&config.device.name)
        ),
        format!(
            "onvif://www.onvif.org/hardware/{}",
            scope_segment(&identity.model)
        ),
    ];
    if !config.device.location.is_empty() {
        scopes.push(format!(
            "onvif://www.onvif.org/location/{}",
            scope_segment(&config.device.location)
        ));
    }
    if let Some(mac) = &identity.mac {
        scopes.push(format!(
            "onvif://www.onvif.org/MacAddress/{}",
            mac.replace(':', "-")
        ));
    }
    scopes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_uris() {
        let mut config = Config::default();
        config.device.name = "Baby's room 2".into();
        let identity = Identity::detect();
        let scopes = scopes(&config, &identity);
        assert!(scopes.contains(&"onvif://www.onvif.org/name/Baby%27s%20room%202".to_string()));
        assert!(scopes.iter().all(|s| !s.contains(' ')));
    }
}
