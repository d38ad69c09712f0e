//! `[sensor]` and `[comfort]`: the BME280 climate sensor and the limits that raise alerts.

use serde::Deserialize;

use super::Problems;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SensorConfig {
    pub enabled: bool,
    /// I2C bus number (`/dev/i2c-<n>`); the Pi's header pins 3 and 5 are bus 1.
    pub i2c_bus: u8,
    /// 0x76 (SDO to ground) or 0x77 (SDO to 3.3 V).
    pub address: u8,
    pub interval_s: u64,
    /// Added to every reading, to match a trusted thermometer (the Pi warms the board).
    pub temperature_offset_c: f32,
    pub humidity_offset: f32,
}

impl Default for SensorConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            i2c_bus: 1,
            address: 0x76,
            interval_s: 5,
            temperature_offset_c: 0.0,
            humidity_offset: 0.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ComfortConfig {
    pub temperature_min_c: f32,
    pub temperature_max_c: f32,
    pub humidity_min: f32,
    pub humidity_max: f32,
    /// How far a reading must come back inside a limit before its alert ends, so that a
    /// reading that hovers at the limit does not raise and end it every few seconds.
    pub temperature_hysteresis_c: f32,
    pub humidity_hysteresis: f32,
    /// Readings are sent when they change, and at least this often.
    pub report_interval_s: u64,
}

impl Default for ComfortConfig {
    fn default() -> Self {
        Self {
            temperature_min_c: 16.0,
            temperature_max_c: 22.0,
            humidity_min: 40.0,
            humidity_max: 60.0,
            temperature_hysteresis_c: 0.3,
            humidity_hysteresis: 2.0,
            report_interval_s: 60,
        }
    }
}

impl SensorConfig {
    pub(super) fn check(&self, p: &mut Problems) {
        if self.address != 0x76 && self.address != 0x77 {
            p.add(
                "sensor.address",
                format!(
                    "a BME280 answers at 0x76 or 0x77 (got {:#04x})",
                    self.address
                ),
            );
        }
        p.range("sensor.interval_s", self.interval_s, 1, 3600);
        p.range(
            "sensor.temperature_offset_c",
            self.temperature_offset_c,
            -20.0,
            20.0,
        );
        p.range("sensor.humidity_offset", self.humidity_offset, -50.0, 50.0);
    }
}

impl ComfortConfig {
    pub(super) fn check(&self, p: &mut Problems) {
        p.range(
            "comfort.temperature_min_c",
            self.temperature_min_c,
            -20.0,
            50.0,
        );
        p.range(
            "comfort.temperature_max_c",
            self.temperature_max_c,
            -20.0,
            50.0,
        );
        if self.temperature_max_c <= self.temperature_min_c {
            p.add(
                "comfort.temperature_max_c",
                "must be above temperature_min_c",
            );
        }
        p.range("comfort.humidity_min", self.humidity_min, 0.0, 100.0);
        p.range("comfort.humidity_max", self.humidity_max, 0.0, 100.0);
        if self.humidity_max <= self.humidity_min {
            p.add("comfort.humidity_max", "must be above humidity_min");
        }
        p.range(
            "comfort.temperature_hysteresis_c",
            self.temperature_hysteresis_c,
            0.0,
            5.0,
        );
        p.range(
            "comfort.humidity_hysteresis",
            self.humidity_hysteresis,
            0.0,
            20.0,
        );
        p.range("comfort.report_interval_s", self.report_interval_s, 5, 3600);
    }
}
