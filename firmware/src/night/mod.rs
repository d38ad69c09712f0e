//! Night vision: the IR-cut filter and the IR LEDs, by hand (day/night) or AUTO from the
//! scene's brightness with hysteresis and a dwell time, so it never flickers at dusk.
//! What users change (the mode, AUTO's boundaries) is stored with the settings by
//! [`controls`]; this controller applies the settings and the scene to the hardware.

mod controls;
pub use controls::{Boundaries, Change, Controls, NightError, NightState};

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use tracing::{info, warn};

use crate::config::{NightConfig, NightMode};
use crate::platform::hardware::NightVision;

struct State {
    mode: NightMode,
    night: bool,
    /// AUTO's candidate: the other state, and since when the scene has asked for it.
    pending: Option<(bool, Instant)>,
}

pub struct Night {
    state: Mutex<State>,
    outputs: Mutex<NightVision>,
    config: Mutex<NightConfig>,
}

impl Night {
    pub fn new(config: NightConfig, outputs: NightVision) -> Self {
        let night = config.mode == NightMode::Night;
        let me = Self {
            state: Mutex::new(State {
                mode: config.mode,
                night,
                pending: None,
            }),
            outputs: Mutex::new(outputs),
            config: Mutex::new(config),
        };
        me.drive(night);
        me
    }

    pub fn mode(&self) -> NightMode {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .mode
    }

    /// Whether the picture is in night mode now (filter out, LEDs on).
    pub fn is_night(&self) -> bool {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .night
    }

    pub fn set_config(&self, config: &NightConfig) {
        *self.config.lock().unwrap_or_else(PoisonError::into_inner) = config.clone();
        self.set_mode(config.mode);
    }

    pub fn set_mode(&self, mode: NightMode) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.mode != mode {
            info!(?mode, "night vision mode");
        }
        state.mode = mode;
        state.pending = None;
        let want = match mode {
            NightMode::Day => Some(false),
            NightMode::Night => Some(true),
            NightMode::Auto => None,
        };
        if let Some(night) = want.filter(|n| *n != state.night) {
            state.night = night;
            drop(state);
            self.drive(night);
        }
    }

    /// A brightness measurement (0-1) for AUTO.
    pub fn sample(&self, brightness: f32, now: Instant) {
        let config = self
            .config
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.mode != NightMode::Auto {
            return;
        }
        let wants_other = if state.night {
            brightness > config.bright_above
        } else {
            brightness < config.dark_below
        };
        if !wants_other {
            state.pending = None;
            return;
        }
        let target = !state.night;
        let since = match state.pending {
            Some((t, since)) if t == target => since,
            _ => {
                state.pending = Some((target, now));
                now
            }
        };
        if now.duration_since(since) >= Duration::from_secs(config.dwell_s) {
            state.night = target;
            state.pending = None;
            drop(state);
            info!(
                brightness,
                night = target,
                "night vision switched by the scene's brightness"
            );
            self.drive(target);
        }
    }

    fn drive(&self, night: bool) {
        let mut outputs = self.outputs.lock().unwrap_or_else(PoisonError::into_inner);
        if let Err(e) = outputs.ir_cut.set(!night) {
            warn!("IR-cut filter: {e:#}");
        }
        if let Err(e) = outputs.leds.set(night) {
            warn!("IR LEDs: {e:#}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::hardware::night_vision;
    use std::sync::Arc;

    fn night(mode: NightMode) -> (Night, Arc<crate::platform::hardware::SimSwitches>) {
        let config = NightConfig {
            mode,
            dwell_s: 10,
            ..NightConfig::default()
        };
        let nv = night_vision(&config, true).expect("sim");
        let sim = nv.simulated.clone().expect("sim state");
        (Night::new(config, nv), sim)
    }

    #[test]
    fn manual_modes_drive_filter_and_leds() {
        use std::sync::atomic::Ordering::Relaxed;
        let (n, sim) = night(NightMode::Day);
        assert!(sim.ir_cut.load(Relaxed) && !sim.leds.load(Relaxed));
        n.set_mode(NightMode::Night);
        assert!(n.is_night() && !sim.ir_cut.load(Relaxed) && sim.leds.load(Relaxed));
        n.sample(0.9, Instant::now());
        assert!(n.is_night(), "manual night ignores the scene");
    }

    #[test]
    fn auto_waits_for_the_dwell_and_has_hysteresis() {
        let (n, _) = night(NightMode::Auto);
        let t0 = Instant::now();
        n.sample(0.05, t0);
        n.sample(0.05, t0 + Duration::from_secs(5));
        assert!(!n.is_night(), "switched before the dwell time");
        n.sample(0.05, t0 + Duration::from_secs(11));
        assert!(n.is_night());
        // Between the thresholds nothing happens, however long.
        n.sample(0.25, t0 + Duration::from_secs(20));
        n.sample(0.25, t0 + Duration::from_secs(60));
        assert!(n.is_night());
        // A brief bright moment resets the wait.
        n.sample(0.8, t0 + Duration::from_secs(61));
        n.sample(0.25, t0 + Duration::from_secs(62));
        n.sample(0.8, t0 + Duration::from_secs(63));
        n.sample(0.8, t0 + Duration::from_secs(70));
        assert!(n.is_night());
        n.sample(0.8, t0 + Duration::from_secs(74));
        assert!(!n.is_night());
    }
}
