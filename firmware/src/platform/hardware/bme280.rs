//! The BME280 on the Pi's I2C bus (rppal), through the `bme280` crate.

use anyhow::{Context as _, anyhow};
use rppal::hal::Delay;
use rppal::i2c::I2c;

use super::climate::{ClimateSensor, Reading};
use crate::config::SensorConfig;

pub(super) struct Bme280 {
    sensor: bme280::i2c::BME280<I2c>,
    /// After a failed read the sensor is set up again (it may have lost power).
    needs_init: bool,
}

impl Bme280 {
    pub(super) fn open(config: &SensorConfig) -> anyhow::Result<Self> {
        // `I2c::new()` insists on knowing the Pi model; the bus number is enough.
        let i2c = I2c::with_bus(config.i2c_bus).with_context(|| {
            format!(
                "I2C bus {} (is dtparam=i2c_arm=on in config.txt?)",
                config.i2c_bus
            )
        })?;
        let mut me = Self {
            sensor: bme280::i2c::BME280::new(i2c, config.address),
            needs_init: true,
        };
        // A sensor that is missing at start-up is reported, and tried again at each reading.
        if let Err(e) = me.init() {
            tracing::warn!("BME280 at {:#04x}: {e:#}", config.address);
        }
        Ok(me)
    }

    fn init(&mut self) -> anyhow::Result<()> {
        self.sensor
            .init(&mut Delay::new())
            .map_err(|e| anyhow!("setting up the BME280: {e:?}"))?;
        self.needs_init = false;
        Ok(())
    }
}

impl ClimateSensor for Bme280 {
    fn read(&mut self) -> anyhow::Result<Reading> {
        if self.needs_init {
            self.init()?;
        }
        match self.sensor.measure(&mut Delay::new()) {
            Ok(m) => Ok(Reading {
                temperature_c: m.temperature,
                humidity_pct: m.humidity,
                pressure_hpa: m.pressure / 100.0,
            }),
            Err(e) => {
                self.needs_init = true;
                Err(anyhow!("reading the BME280: {e:?}"))
            }
        }
    }
}
