//! `[ptz]`: the pan/tilt servos, their calibration and limits, and the lens.

use serde::Deserialize;

use super::Problems;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AxisConfig {
    /// GPIO with hardware PWM: 12 or 18 (PWM0), 13 or 19 (PWM1).
    pub gpio: u8,
    /// Pulse widths (µs) at the two ends of the servo's travel.
    pub pulse_min_us: u32,
    pub pulse_max_us: u32,
    /// Angles (degrees) those pulses give.
    pub angle_min_deg: f32,
    pub angle_max_deg: f32,
    /// Soft limits (degrees) the camera never goes beyond.
    pub limit_min_deg: f32,
    pub limit_max_deg: f32,
    /// Mounted the other way round.
    pub reverse: bool,
    /// Travel speed at full speed (degrees per second); moves are made in small steps at it.
    pub speed_deg_s: f32,
}

impl AxisConfig {
    fn pan() -> Self {
        Self {
            gpio: 12,
            pulse_min_us: 500,
            pulse_max_us: 2500,
            angle_min_deg: -90.0,
            angle_max_deg: 90.0,
            limit_min_deg: -80.0,
            limit_max_deg: 80.0,
            reverse: false,
            speed_deg_s: 60.0,
        }
    }

    fn tilt() -> Self {
        Self {
            gpio: 13,
            limit_min_deg: -30.0,
            limit_max_deg: 60.0,
            speed_deg_s: 45.0,
            ..Self::pan()
        }
    }

    fn check(&self, name: &str, p: &mut Problems) {
        if ![12, 13, 18, 19].contains(&self.gpio) {
            p.add(
                format!("ptz.{name}.gpio"),
                format!(
                    "must be a hardware PWM pin (12, 13, 18 or 19), got {}",
                    self.gpio
                ),
            );
        }
        if self.pulse_min_us >= self.pulse_max_us
            || self.pulse_max_us > 3000
            || self.pulse_min_us < 300
        {
            p.add(
                format!("ptz.{name}.pulse_min_us"),
                "pulses must rise from min to max within 300-3000 µs",
            );
        }
        if self.angle_min_deg >= self.angle_max_deg {
            p.add(
                format!("ptz.{name}.angle_min_deg"),
                "must be below angle_max_deg",
            );
        }
        if !(self.angle_min_deg <= self.limit_min_deg
            && self.limit_min_deg < self.limit_max_deg
            && self.limit_max_deg <= self.angle_max_deg)
        {
            p.add(
                format!("ptz.{name}.limit_min_deg"),
                "soft limits must lie inside the servo's angles, min below max",
            );
        }
        if !(1.0..=600.0).contains(&self.speed_deg_s) {
            p.add(
                format!("ptz.{name}.speed_deg_s"),
                format!("must be between 1 and 600 (got {})", self.speed_deg_s),
            );
        }
    }
}

/// The Pi's hardware PWM channel behind a GPIO: 12 and 18 share channel 0, 13 and 19 channel 1.
pub fn pwm_channel(gpio: u8) -> u8 {
    if gpio == 12 || gpio == 18 { 0 } else { 1 }
}

impl Default for AxisConfig {
    fn default() -> Self {
        Self::pan()
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PtzConfig {
    pub enabled: bool,
    /// The lens' field of view (degrees), for moves "by a fraction of the picture".
    pub fov_h_deg: f32,
    pub fov_v_deg: f32,
    pub max_presets: usize,
    /// Digital zoom: the picture is cropped and scaled up to this factor (1 = no zoom).
    pub max_zoom: f32,
    /// How fast the zoom changes at full speed (factor per second).
    pub zoom_speed: f32,
    /// Stop sending pulses when the camera is still, so the servos neither jitter nor hum.
    pub release_when_idle: bool,
    pub pan: AxisConfig,
    pub tilt: AxisConfig,
}

impl Default for PtzConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            fov_h_deg: 62.2,
            fov_v_deg: 48.8,
            max_presets: 16,
            max_zoom: 4.0,
            zoom_speed: 1.5,
            release_when_idle: true,
            pan: AxisConfig::pan(),
            tilt: AxisConfig::tilt(),
        }
    }
}

impl PtzConfig {
    pub(super) fn check(&self, p: &mut Problems) {
        p.range("ptz.fov_h_deg", self.fov_h_deg, 5.0, 180.0);
        p.range("ptz.fov_v_deg", self.fov_v_deg, 5.0, 180.0);
        p.range("ptz.max_presets", self.max_presets, 1, 100);
        p.range("ptz.max_zoom", self.max_zoom, 1.0, 8.0);
        p.range("ptz.zoom_speed", self.zoom_speed, 0.1, 20.0);
        self.pan.check("pan", p);
        self.tilt.check("tilt", p);
        if pwm_channel(self.pan.gpio) == pwm_channel(self.tilt.gpio) {
            p.add(
                "ptz.tilt.gpio",
                "pan and tilt need different PWM channels (12/18 share one, 13/19 the other)",
            );
        }
    }
}
