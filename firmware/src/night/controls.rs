//! Night vision as users set it: day or night by hand, or AUTO with its boundaries. It is
//! stored with the settings, and [`Night`] applies each change the settings announce.

use std::sync::Arc;
use std::time::Duration;

use super::Night;
use crate::config::{NightConfig, NightMode};
use crate::settings::{Refused, RuntimeState, Settings};

/// How far a boundary offset of 1 moves AUTO's brightness thresholds.
const OFFSET_SCALE: f32 = 0.1;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum NightError {
    #[error("the camera has no night vision")]
    NoNightVision,
    /// The settings refused or could not store the change.
    #[error(transparent)]
    Storage(#[from] Refused),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NightState {
    pub mode: NightMode,
    /// The picture is in night mode now (filter out, LEDs on).
    pub night: bool,
}

/// AUTO's thresholds as offsets from the defaults (0: the default; 1 moves a threshold by a
/// tenth of the brightness range), the way ONVIF's boundary offsets describe them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Boundaries {
    /// Back to day above the default's bright threshold plus this.
    pub to_day: f32,
    /// To night below the default's dark threshold plus this.
    pub to_night: f32,
    /// How long the scene must stay dark (or bright) first.
    pub dwell: Duration,
}

impl Boundaries {
    pub fn of(config: &NightConfig) -> Self {
        let base = NightConfig::default();
        // Rounded: the thresholds are stored as f32 and 0.5 should read back as 0.5.
        let offset = |now: f32, base: f32| ((now - base) / OFFSET_SCALE * 1000.0).round() / 1000.0;
        Self {
            to_day: offset(config.bright_above, base.bright_above),
            to_night: offset(config.dark_below, base.dark_below),
            dwell: Duration::from_secs(config.dwell_s),
        }
    }

    /// As stored: [dark_below, bright_above, dwell_s].
    fn thresholds(&self) -> [f32; 3] {
        let base = NightConfig::default();
        [
            (base.dark_below + self.to_night * OFFSET_SCALE).clamp(0.0, 1.0),
            (base.bright_above + self.to_day * OFFSET_SCALE).clamp(0.0, 1.0),
            self.dwell.as_secs() as f32,
        ]
    }
}

/// A change to night vision's settings; what is `None` stays.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Change {
    pub mode: Option<NightMode>,
    pub boundaries: Option<Boundaries>,
}

impl Change {
    /// Writes the change into the run-time state, for a stored change that may carry others.
    pub fn store(&self, state: &mut RuntimeState) {
        if let Some(mode) = self.mode {
            state.night_mode = Some(mode);
        }
        if let Some(b) = &self.boundaries {
            state.night_auto = Some(b.thresholds());
        }
    }
}

pub struct Controls {
    night: Option<Arc<Night>>,
    settings: Arc<Settings>,
}

impl Controls {
    pub fn new(night: Option<Arc<Night>>, settings: Arc<Settings>) -> Self {
        Self { night, settings }
    }

    pub fn available(&self) -> bool {
        self.night.is_some()
    }

    pub fn state(&self) -> Option<NightState> {
        self.night.as_deref().map(|n| NightState {
            mode: n.mode(),
            night: n.is_night(),
        })
    }

    pub fn boundaries(&self) -> Boundaries {
        Boundaries::of(&self.settings.current().night)
    }

    /// Whether the camera can take `change` (a mode needs night vision).
    pub fn check(&self, change: &Change) -> Result<(), NightError> {
        if change.mode.is_some() && !self.available() {
            return Err(NightError::NoNightVision);
        }
        Ok(())
    }

    /// Day or night by hand, or AUTO.
    pub fn set_mode(&self, mode: NightMode) -> Result<(), NightError> {
        if !self.available() {
            return Err(NightError::NoNightVision);
        }
        let change = Change {
            mode: Some(mode),
            boundaries: None,
        };
        self.settings.change(|state, _| {
            change.store(state);
            Ok(())
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::platform::hardware::night_vision;

    fn settings(dir: &std::path::Path) -> Arc<Settings> {
        crate::settings::for_tests(dir, Config::default())
    }

    /// Night vision wired to the settings as the daemon does it.
    fn controls(settings: &Arc<Settings>) -> Controls {
        let config = settings.current().night.clone();
        let outputs = night_vision(&config, true).expect("sim");
        let night = Arc::new(Night::new(config, outputs));
        let applied = Arc::clone(&night);
        settings.subscribe(move |new| applied.set_config(&new.night));
        Controls::new(Some(night), Arc::clone(settings))
    }

    #[test]
    fn a_mode_set_by_hand_switches_at_once_and_is_stored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = settings(dir.path());
        let c = controls(&s);
        c.set_mode(NightMode::Night).expect("night");
        assert_eq!(
            c.state(),
            Some(NightState {
                mode: NightMode::Night,
                night: true
            })
        );
        c.set_mode(NightMode::Day).expect("day");
        assert_eq!(c.state().map(|n| n.night), Some(false));
        c.set_mode(NightMode::Auto).expect("auto");
        assert_eq!(s.state().night_mode, Some(NightMode::Auto));
        let again = settings(dir.path());
        assert_eq!(again.current().night.mode, NightMode::Auto);
    }

    #[test]
    fn boundary_offsets_move_the_thresholds_and_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = settings(dir.path());
        let c = controls(&s);
        assert_eq!(
            c.boundaries(),
            Boundaries {
                to_day: 0.0,
                to_night: 0.0,
                dwell: Duration::from_secs(10)
            }
        );
        let wanted = Boundaries {
            to_day: 1.5,
            to_night: 0.5,
            dwell: Duration::from_secs(30),
        };
        let change = Change {
            mode: None,
            boundaries: Some(wanted),
        };
        s.change(|state, _| {
            change.store(state);
            Ok(())
        })
        .expect("change");
        let night = &s.current().night;
        assert!((night.dark_below - 0.2).abs() < 1e-6, "{night:?}");
        assert!((night.bright_above - 0.5).abs() < 1e-6, "{night:?}");
        assert_eq!(night.dwell_s, 30);
        assert_eq!(c.boundaries(), wanted);
    }

    #[test]
    fn a_camera_without_night_vision_says_so() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = Controls::new(None, settings(dir.path()));
        assert_eq!(c.set_mode(NightMode::Night), Err(NightError::NoNightVision));
        assert_eq!(c.state(), None);
        let boundaries_only = Change {
            mode: None,
            boundaries: Some(c.boundaries()),
        };
        assert_eq!(c.check(&boundaries_only), Ok(()));
    }
}
