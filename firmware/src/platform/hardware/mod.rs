//! The hardware behind small traits, each with the real thing for the Pi and a simulation
//! that behaves like it (`--simulate`).

mod bme280;
pub mod climate;
mod pi;
mod sim;
mod speaker;

pub use speaker::{AlsaSpeaker, Speaker, WavSpeaker, speaker};

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::config::{AxisConfig, PtzConfig};

/// A hobby servo on a PWM pin.
pub trait Servo: Send {
    /// Holds the servo at an angle in degrees (servo coordinates, before soft limits).
    fn set_angle(&mut self, degrees: f32) -> anyhow::Result<()>;
    /// Stops the pulses; the servo keeps its place by friction and stays silent.
    fn release(&mut self) -> anyhow::Result<()>;
}

/// A GPIO output: the IR-cut filter's driver or the IR LEDs.
pub trait Switch: Send {
    fn set(&mut self, on: bool) -> anyhow::Result<()>;
}

/// The night-vision outputs: the IR-cut filter (on = filter in, day) and the IR LEDs.
pub struct NightVision {
    pub ir_cut: Box<dyn Switch>,
    pub leds: Box<dyn Switch>,
    /// What simulated outputs were last set to: (filter in, LEDs on).
    pub simulated: Option<Arc<SimSwitches>>,
}

#[derive(Debug, Default)]
pub struct SimSwitches {
    pub ir_cut: std::sync::atomic::AtomicBool,
    pub leds: std::sync::atomic::AtomicBool,
}

pub fn night_vision(
    config: &crate::config::NightConfig,
    simulate: bool,
) -> anyhow::Result<NightVision> {
    if simulate {
        let state = Arc::new(SimSwitches::default());
        Ok(NightVision {
            ir_cut: Box::new(sim::SimSwitch::new(Arc::clone(&state), true)),
            leds: Box::new(sim::SimSwitch::new(Arc::clone(&state), false)),
            simulated: Some(state),
        })
    } else {
        Ok(NightVision {
            ir_cut: Box::new(pi::PiSwitch::new(
                config.ir_cut_gpio,
                config.ir_cut_active_high,
            )?),
            leds: Box::new(pi::PiSwitch::new(config.ir_led_gpio, true)?),
            simulated: None,
        })
    }
}

/// Where the simulated servos point, for the test picture and for tests.
#[derive(Debug, Default)]
pub struct SimPosition {
    pub pan: AtomicF32,
    pub tilt: AtomicF32,
}

/// The pulse width that puts a servo at `degrees`.
pub fn pulse_us(axis: &AxisConfig, degrees: f32) -> f32 {
    let degrees = if axis.reverse {
        axis.angle_min_deg + axis.angle_max_deg - degrees
    } else {
        degrees
    };
    let span = axis.angle_max_deg - axis.angle_min_deg;
    let t = ((degrees - axis.angle_min_deg) / span).clamp(0.0, 1.0);
    axis.pulse_min_us as f32 + t * (axis.pulse_max_us - axis.pulse_min_us) as f32
}

/// The pan and tilt servos, and where simulated ones point.
pub struct PanTilt {
    pub servos: [Box<dyn Servo>; 2],
    pub simulated: Option<Arc<SimPosition>>,
}

/// Real servos on the Pi, simulated ones with `--simulate`.
pub fn pan_tilt(config: &PtzConfig, simulate: bool) -> anyhow::Result<PanTilt> {
    if simulate {
        let position = Arc::new(SimPosition::default());
        Ok(PanTilt {
            servos: [
                Box::new(sim::SimServo::new(Arc::clone(&position), true)),
                Box::new(sim::SimServo::new(Arc::clone(&position), false)),
            ],
            simulated: Some(position),
        })
    } else {
        Ok(PanTilt {
            servos: [
                Box::new(pi::PiServo::new(&config.pan)?),
                Box::new(pi::PiServo::new(&config.tilt)?),
            ],
            simulated: None,
        })
    }
}

/// An f32 that threads can share without a lock.
#[derive(Debug, Default)]
pub struct AtomicF32(AtomicU32);

impl AtomicF32 {
    pub fn load(&self) -> f32 {
        f32::from_bits(self.0.load(Ordering::Relaxed))
    }

    pub fn store(&self, v: f32) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pulses_follow_the_calibration() {
        let mut axis = AxisConfig::default();
        assert_eq!(pulse_us(&axis, -90.0), 500.0);
        assert_eq!(pulse_us(&axis, 0.0), 1500.0);
        assert_eq!(pulse_us(&axis, 90.0), 2500.0);
        assert_eq!(
            pulse_us(&axis, 200.0),
            2500.0,
            "never beyond the servo's travel"
        );
        axis.reverse = true;
        assert_eq!(pulse_us(&axis, -90.0), 2500.0);
    }
}
