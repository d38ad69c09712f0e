//! Servos on the Raspberry Pi's hardware PWM (rppal), 50 Hz.

use std::time::Duration;

use anyhow::Context as _;
use rppal::pwm::{Channel, Polarity, Pwm};

use super::{Servo, Switch, pulse_us};
use crate::config::{AxisConfig, pwm_channel};

const PERIOD: Duration = Duration::from_millis(20);

pub(super) struct PiServo {
    pwm: Pwm,
    axis: AxisConfig,
}

impl PiServo {
    pub(super) fn new(axis: &AxisConfig) -> anyhow::Result<Self> {
        let channel = if pwm_channel(axis.gpio) == 0 {
            Channel::Pwm0
        } else {
            Channel::Pwm1
        };
        // Enabled only with the first position, so the servo does not jump at start-up.
        let pwm = Pwm::with_period(channel, PERIOD, Duration::ZERO, Polarity::Normal, false)
            .with_context(|| {
                format!(
                    "PWM for the servo on GPIO {} (is the pwm-2chan overlay in config.txt?)",
                    axis.gpio
                )
            })?;
        Ok(Self {
            pwm,
            axis: axis.clone(),
        })
    }
}

impl Servo for PiServo {
    fn set_angle(&mut self, degrees: f32) -> anyhow::Result<()> {
        let pulse = Duration::from_micros(pulse_us(&self.axis, degrees).round() as u64);
        self.pwm.set_pulse_width(pulse)?;
        if !self.pwm.is_enabled()? {
            self.pwm.enable()?;
        }
        Ok(())
    }

    fn release(&mut self) -> anyhow::Result<()> {
        self.pwm.disable()?;
        Ok(())
    }
}

/// A GPIO output pin (rppal).
pub(super) struct PiSwitch {
    pin: rppal::gpio::OutputPin,
    active_high: bool,
}

impl PiSwitch {
    pub(super) fn new(gpio: u8, active_high: bool) -> anyhow::Result<Self> {
        let pin = rppal::gpio::Gpio::new()?
            .get(gpio)
            .with_context(|| format!("GPIO {gpio}"))?
            .into_output();
        Ok(Self { pin, active_high })
    }
}

impl Switch for PiSwitch {
    fn set(&mut self, on: bool) -> anyhow::Result<()> {
        if on == self.active_high {
            self.pin.set_high()
        } else {
            self.pin.set_low()
        }
        Ok(())
    }
}
