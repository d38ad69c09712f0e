//! The camera as ONVIF sees it: the firmware's side of the `onvif` crate's service traits.

mod device;
pub use device::level;
mod media;
mod ptz;

use std::sync::Arc;

use crate::config::Config;
use crate::identity::Identity;
use crate::settings::Settings;

pub struct Camera {
    settings: Arc<Settings>,
    identity: Identity,
    simulate: bool,
    has_audio: bool,
    motion: Option<Arc<crate::ptz::Ptz>>,
}

impl Camera {
    pub fn new(
        settings: Arc<Settings>,
        identity: Identity,
        simulate: bool,
        has_audio: bool,
        motion: Option<Arc<crate::ptz::Ptz>>,
    ) -> Self {
        Self {
            settings,
            identity,
            simulate,
            has_audio,
            motion,
        }
    }

    pub fn has_ptz(&self) -> bool {
        self.motion.is_some()
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
