//! The listen stream's noise gate: open while the microphone hears more than the room's usual
//! noise by `threshold_db`, and `hold_s` after, so that a fan or white noise is not heard all
//! night while a cry (and the breaths between its wails) is. The level and the room's noise
//! floor are the sound detector's (`detect::Detectors::levels`): one measurement of the room.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::Hub;
use crate::config::GateConfig;

#[derive(Debug, Default)]
pub struct NoiseGate {
    open_until: Option<Instant>,
}

impl NoiseGate {
    /// Whether sound passes now. `levels`: the microphone's level and the room's noise floor
    /// (dBFS), or `None` until the detector has measured its first frame (a microphone that
    /// just started): the gate stays as it was, closed at first, so that starting the
    /// microphone for a listener does not begin with a burst of the fan.
    pub fn update(
        &mut self,
        config: &GateConfig,
        levels: Option<(f32, f32)>,
        now: Instant,
    ) -> bool {
        if !config.enabled {
            self.open_until = None;
            return true;
        }
        let Some((level, floor)) = levels else {
            return self.open_until.is_some_and(|until| now <= until);
        };
        if level > floor + config.threshold_db {
            let hold = Duration::from_secs_f32(config.hold_s.clamp(0.0, 3600.0));
            self.open_until = Some(now + hold);
        }
        self.open_until.is_some_and(|until| now <= until)
    }
}

/// Opens and closes the hub's listen gate with each batch of microphone samples, after the
/// detector has measured them (it was registered first).
pub fn follow(
    hub: &Arc<Hub>,
    config: impl Fn() -> GateConfig + Send + Sync + 'static,
    levels: impl Fn() -> Option<(f32, f32)> + Send + Sync + 'static,
) {
    let gate = Mutex::new(NoiseGate::default());
    let listen = Arc::clone(&hub.listen);
    // Kept up to date while nobody listens too (it costs a comparison per batch), so that a new
    // listener's first frames are gated as the room is now.
    hub.on_sound(Box::new(move |_| {
        let open = gate.lock().unwrap_or_else(PoisonError::into_inner).update(
            &config(),
            levels(),
            Instant::now(),
        );
        listen.set_gate_open(open);
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    const ON: GateConfig = GateConfig {
        enabled: true,
        threshold_db: 10.0,
        hold_s: 2.0,
    };

    #[test]
    fn noise_at_the_floor_stays_out_and_a_loud_sound_opens_for_the_hold_time() {
        let mut gate = NoiseGate::default();
        let t0 = Instant::now();
        let at = |s: f32| t0 + Duration::from_secs_f32(s);
        // Steady room noise: the level sits on the floor.
        assert!(!gate.update(&ON, Some((-40.0, -40.5)), at(0.0)));
        assert!(
            !gate.update(&ON, Some((-31.0, -40.0)), at(0.1)),
            "9 dB is not 10"
        );
        // A cry.
        assert!(gate.update(&ON, Some((-15.0, -40.0)), at(1.0)));
        // The breath between two wails: still open within the hold time ...
        assert!(gate.update(&ON, Some((-40.0, -40.0)), at(2.5)));
        assert!(gate.update(&ON, Some((-40.0, -40.0)), at(3.0)));
        // ... and closed after it.
        assert!(!gate.update(&ON, Some((-40.0, -40.0)), at(3.1)));
    }

    #[test]
    fn off_lets_everything_through_and_unmeasured_keeps_the_gate_as_it_was() {
        let mut gate = NoiseGate::default();
        let now = Instant::now();
        let off = GateConfig {
            enabled: false,
            ..ON
        };
        assert!(gate.update(&off, Some((-40.0, -40.0)), now));
        assert!(
            !gate.update(&ON, None, now),
            "closed until the room is measured"
        );
        assert!(gate.update(&ON, Some((-15.0, -40.0)), now));
        assert!(gate.update(&ON, None, now), "open while it was");
        // A higher threshold keeps out what a lower one lets in.
        let strict = GateConfig {
            threshold_db: 30.0,
            ..ON
        };
        assert!(!NoiseGate::default().update(&strict, Some((-15.0, -40.0)), now));
        assert!(NoiseGate::default().update(&ON, Some((-15.0, -40.0)), now));
    }
}
