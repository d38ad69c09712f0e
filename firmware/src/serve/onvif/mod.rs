//! The camera as ONVIF sees it: the firmware's side of the `onvif` crate's service traits,
//! translating between ONVIF's types and the domain's, and domain errors to faults.

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

/// What the ONVIF services reach: the domain's controls, which do the work.
pub struct Camera {
    pub settings: Arc<Settings>,
    pub identity: Identity,
    pub simulate: bool,
    pub has_audio: bool,
    pub ptz: Arc<crate::ptz::Controls>,
    pub night: Arc<crate::night::Controls>,
    pub picture: crate::media::picture::Picture,
    pub update: Arc<crate::update::Updater>,
}

impl Camera {
    pub fn has_ptz(&self) -> bool {
        self.ptz.available()
    }

    pub fn has_night(&self) -> bool {
        self.night.available()
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
