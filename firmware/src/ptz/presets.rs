//! The pan/tilt as users drive it, over ONVIF or the web page: the motion (if the camera has
//! one) plus the presets and home, stored with the settings so they outlive a restart.

use std::sync::Arc;

use tracing::info;

use super::{Ptz, PtzError, Status, to_norm, zoom_level};
use crate::settings::{PresetState, RuntimeState, Settings};

/// A saved position.
#[derive(Debug, Clone, PartialEq)]
pub struct Preset {
    pub token: String,
    pub name: String,
    pub at: Position,
}

/// Where the camera points, in the generic space like [`Status`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Position {
    /// -1 to 1 between the soft limits.
    pub pan: f32,
    pub tilt: f32,
    /// 0 (none) to 1 (`max_zoom`).
    pub zoom: f32,
}

pub struct Controls {
    motion: Option<Arc<Ptz>>,
    settings: Arc<Settings>,
}

impl Controls {
    pub fn new(motion: Option<Arc<Ptz>>, settings: Arc<Settings>) -> Self {
        Self { motion, settings }
    }

    pub fn available(&self) -> bool {
        self.motion.is_some()
    }

    /// The motion controller, for moves; `NoPtz` on a camera without pan/tilt.
    pub fn motion(&self) -> Result<&Ptz, PtzError> {
        self.motion.as_deref().ok_or(PtzError::NoPtz)
    }

    /// Pan, tilt and zoom at these speeds until stopped or until `timeout`: the continuous
    /// move both ONVIF and the page ask for.
    pub fn move_continuously(
        &self,
        pan: f32,
        tilt: f32,
        zoom: f32,
        timeout: Option<std::time::Duration>,
    ) -> Result<(), PtzError> {
        let p = self.motion()?;
        p.continuous(pan, tilt, timeout)?;
        p.zoom_continuous(zoom, timeout)
    }

    pub fn status(&self) -> Option<Status> {
        self.motion.as_deref().map(Ptz::status)
    }

    pub fn stop(&self) {
        if let Some(p) = self.motion.as_deref() {
            p.stop();
        }
    }

    pub fn max_presets(&self) -> usize {
        self.settings.current().ptz.max_presets
    }

    /// The saved presets (none on a camera without pan/tilt).
    pub fn presets(&self) -> Vec<Preset> {
        let Some(p) = self.motion.as_deref() else {
            return Vec::new();
        };
        let config = p.config();
        self.settings
            .state()
            .presets
            .into_iter()
            .map(|s| Preset {
                at: Position {
                    pan: to_norm(&config.pan, s.position[0]),
                    tilt: to_norm(&config.tilt, s.position[1]),
                    zoom: zoom_level(config, s.zoom),
                },
                token: s.token,
                name: s.name,
            })
            .collect()
    }

    /// Saves where the camera points now, under `token` (a new preset when there is none
    /// by that token or none given) and `name` (the token when a new one has none).
    pub fn save_preset(
        &self,
        token: Option<String>,
        name: Option<String>,
    ) -> Result<String, PtzError> {
        let p = self.motion()?;
        let (position, zoom) = (p.position_degrees(), p.zoom_factor());
        let max = self.max_presets();
        let mut result = Err(PtzError::TooManyPresets(max));
        self.settings.change(|state, _| {
            if let Some(slot) = slot(state, token.as_deref(), max) {
                slot.position = position;
                slot.zoom = zoom;
                if let Some(name) = &name {
                    slot.name = name.clone();
                } else if slot.name.is_empty() {
                    slot.name = slot.token.clone();
                }
                result = Ok(slot.token.clone());
            }
            Ok(())
        })?;
        if let Ok(t) = &result {
            info!(preset = t, "preset saved");
        }
        result
    }

    pub fn remove_preset(&self, token: &str) -> Result<(), PtzError> {
        let mut found = false;
        self.settings.change(|state, _| {
            let before = state.presets.len();
            state.presets.retain(|p| p.token != token);
            found = state.presets.len() != before;
            Ok(())
        })?;
        if found {
            Ok(())
        } else {
            Err(PtzError::UnknownPreset(token.into()))
        }
    }

    pub fn go_to_preset(&self, token: &str, speed: Option<f32>) -> Result<(), PtzError> {
        let preset = self
            .settings
            .state()
            .presets
            .into_iter()
            .find(|p| p.token == token)
            .ok_or_else(|| PtzError::UnknownPreset(token.into()))?;
        let p = self.motion()?;
        p.goto_degrees(preset.position, speed)?;
        p.zoom_to_factor(preset.zoom, speed)
    }

    /// To the home position (straight ahead until one is set).
    pub fn go_home(&self, speed: Option<f32>) -> Result<(), PtzError> {
        let home = self.settings.state().ptz_home.unwrap_or([0.0, 0.0]);
        self.motion()?.goto_degrees(home, speed)
    }

    /// Makes where the camera points now its home.
    pub fn set_home(&self) -> Result<(), PtzError> {
        let position = self.motion()?.position_degrees();
        self.settings.change(|state, _| {
            state.ptz_home = Some(position);
            Ok(())
        })?;
        Ok(())
    }
}

/// The stored preset `token` names, or a new one (under `token`, or the first free
/// "presetN": ZoneMinder picks its own tokens, most clients leave it to us); `None` when
/// there are `max` already.
fn slot<'a>(
    state: &'a mut RuntimeState,
    token: Option<&str>,
    max: usize,
) -> Option<&'a mut PresetState> {
    if let Some(i) = token.and_then(|t| state.presets.iter().position(|p| p.token == t)) {
        return state.presets.get_mut(i);
    }
    if state.presets.len() >= max {
        return None;
    }
    let token = token.map_or_else(|| free_token(&state.presets), str::to_string);
    state.presets.push(PresetState {
        token,
        name: String::new(),
        position: [0.0, 0.0],
        zoom: 1.0,
    });
    state.presets.last_mut()
}

fn free_token(presets: &[PresetState]) -> String {
    let taken = |n: &usize| presets.iter().any(|p| p.token == format!("preset{n}"));
    let n = (1..).find(|n| !taken(n)).unwrap_or(0);
    format!("preset{n}")
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::config::{Config, PtzConfig};
    use crate::platform::hardware::pan_tilt;

    fn settings(dir: &std::path::Path) -> Arc<Settings> {
        let mut base = Config::default();
        base.ptz.max_presets = 2;
        crate::settings::for_tests(dir, base)
    }

    fn controls(settings: &Arc<Settings>) -> Controls {
        let servos = pan_tilt(&PtzConfig::default(), true).expect("sim").servos;
        let ptz = Ptz::start(PtzConfig::default(), servos, [0.0, 0.0], |_| {}).expect("start");
        Controls::new(Some(Arc::new(ptz)), Arc::clone(settings))
    }

    fn settle(c: &Controls) -> Status {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let s = c.status().expect("ptz");
            if !s.moving || Instant::now() > deadline {
                return s;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn go(c: &Controls, pan: f32, tilt: f32) {
        c.motion()
            .expect("ptz")
            .absolute(Some(pan), Some(tilt), None)
            .expect("move");
        settle(c);
    }

    #[test]
    fn presets_are_saved_gone_to_and_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = controls(&settings(dir.path()));
        go(&c, 0.5, -0.5);
        let cot = c.save_preset(None, Some("Cot".into())).expect("save");
        assert_eq!(cot, "preset1");
        go(&c, -1.0, 1.0);
        let door = c.save_preset(Some("door".into()), None).expect("save");
        let list = c.presets();
        assert_eq!(list.len(), 2);
        assert_eq!(
            (list[0].name.as_str(), list[1].name.as_str()),
            ("Cot", "door")
        );
        assert!((list[0].at.pan - 0.5).abs() < 1e-4 && (list[0].at.tilt + 0.5).abs() < 1e-4);
        assert_eq!(
            c.save_preset(None, None),
            Err(PtzError::TooManyPresets(2)),
            "a third preset"
        );
        // Saving under a known token moves that preset.
        assert_eq!(c.save_preset(Some(door.clone()), None), Ok(door.clone()));

        c.go_to_preset(&cot, None).expect("go to");
        let s = settle(&c);
        assert!(
            (s.pan - 0.5).abs() < 1e-4 && (s.tilt + 0.5).abs() < 1e-4,
            "{s:?}"
        );
        assert_eq!(
            c.go_to_preset("nope", None),
            Err(PtzError::UnknownPreset("nope".into()))
        );

        c.remove_preset(&cot).expect("remove");
        assert_eq!(c.remove_preset(&cot), Err(PtzError::UnknownPreset(cot)));
        assert_eq!(c.presets().len(), 1);
    }

    #[test]
    fn home_is_straight_ahead_until_set() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = controls(&settings(dir.path()));
        go(&c, 0.5, 0.5);
        c.go_home(None).expect("home");
        let s = settle(&c);
        let straight = to_norm(&PtzConfig::default().pan, 0.0);
        assert!((s.pan - straight).abs() < 1e-4, "{s:?}");
        go(&c, -0.5, 0.25);
        c.set_home().expect("set home");
        go(&c, 1.0, 1.0);
        c.go_home(None).expect("home");
        let s = settle(&c);
        assert!(
            (s.pan + 0.5).abs() < 1e-4 && (s.tilt - 0.25).abs() < 1e-4,
            "{s:?}"
        );
    }

    #[test]
    fn presets_and_home_outlive_a_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = controls(&settings(dir.path()));
        go(&first, 0.5, 0.0);
        let token = first.save_preset(None, Some("Cot".into())).expect("save");
        first.set_home().expect("home");
        drop(first);
        let again = controls(&settings(dir.path()));
        let list = again.presets();
        assert_eq!(list.len(), 1);
        assert_eq!(
            (list[0].token.as_str(), list[0].name.as_str()),
            (token.as_str(), "Cot")
        );
        assert!((list[0].at.pan - 0.5).abs() < 1e-4);
        again.go_home(None).expect("home");
        assert!((settle(&again).pan - 0.5).abs() < 1e-4);
    }

    #[test]
    fn a_camera_without_pan_tilt_says_so() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = Controls::new(None, settings(dir.path()));
        assert!(!c.available() && c.presets().is_empty() && c.status().is_none());
        assert_eq!(c.save_preset(None, None), Err(PtzError::NoPtz));
        assert_eq!(c.go_home(None), Err(PtzError::NoPtz));
        assert_eq!(c.set_home(), Err(PtzError::NoPtz));
        c.stop();
    }
}
