//! The nursery's climate sensor: a BME280 on the Pi's I2C bus, or a simulated room whose
//! temperature and humidity drift slowly (tests can set them, or make readings fail).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use anyhow::bail;

use crate::config::SensorConfig;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    pub temperature_c: f32,
    pub humidity_pct: f32,
    pub pressure_hpa: f32,
}

pub trait ClimateSensor: Send {
    fn read(&mut self) -> anyhow::Result<Reading>;
}

/// The simulated room, shared with whoever drives it (the simulation API).
#[derive(Debug)]
pub struct SimRoom {
    state: Mutex<RoomState>,
}

#[derive(Debug)]
struct RoomState {
    started: Instant,
    /// Values set by hand replace the drift until cleared.
    fixed: Option<(f32, f32)>,
    /// Readings that fail from now on (an unplugged sensor).
    failing: bool,
}

impl Default for SimRoom {
    fn default() -> Self {
        Self {
            state: Mutex::new(RoomState {
                started: Instant::now(),
                fixed: None,
                failing: false,
            }),
        }
    }
}

impl SimRoom {
    /// Holds the room at these values; `None` lets it drift again.
    pub fn set(&self, values: Option<(f32, f32)>) {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .fixed = values;
    }

    pub fn set_failing(&self, failing: bool) {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .failing = failing;
    }

    fn reading(&self) -> anyhow::Result<Reading> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.failing {
            bail!("I2C read at 0x76 failed (simulated: the sensor does not answer)");
        }
        let (temperature_c, humidity_pct) = state.fixed.unwrap_or_else(|| {
            // A room that warms and cools by a few tenths over minutes.
            let t = state.started.elapsed().as_secs_f32();
            let temperature = 20.5 + 0.4 * (t / 300.0).sin() + 0.1 * (t / 37.0).sin();
            let humidity = 50.0 + 3.0 * (t / 420.0).cos() + 0.5 * (t / 53.0).sin();
            (temperature, humidity)
        });
        Ok(Reading {
            temperature_c,
            humidity_pct,
            pressure_hpa: 1013.2,
        })
    }
}

struct SimSensor(Arc<SimRoom>);

impl ClimateSensor for SimSensor {
    fn read(&mut self) -> anyhow::Result<Reading> {
        self.0.reading()
    }
}

/// A sensor, and the simulated room behind it with `--simulate`.
pub type SensorAndRoom = (Box<dyn ClimateSensor>, Option<Arc<SimRoom>>);

pub fn climate_sensor(config: &SensorConfig, simulate: bool) -> anyhow::Result<SensorAndRoom> {
    if simulate {
        let room = Arc::new(SimRoom::default());
        return Ok((Box::new(SimSensor(Arc::clone(&room))), Some(room)));
    }
    Ok((Box::new(super::bme280::Bme280::open(config)?), None))
}
