//! The climate task: reads the sensor every few seconds, reports temperature and humidity
//! (on change and at least once a minute) and raises "too hot / too cold / too dry / too
//! humid" from the comfort limits, with hysteresis. A failed reading is retried, reported once
//! as a sensor failure, and never stops anything else.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tracing::{info, warn};

use crate::config::{ComfortConfig, SensorConfig};
use crate::events::{Bus, flag, topics};
use crate::platform::hardware::climate::{ClimateSensor, Reading};
use crate::platform::worker::Worker;

/// Quick retries of a failed reading before it counts as a failure.
const RETRIES: u32 = 2;
const RETRY_PAUSE: Duration = Duration::from_millis(200);
/// Changes smaller than these are not worth a message.
const TEMPERATURE_STEP: f32 = 0.1;
const HUMIDITY_STEP: f32 = 0.5;

/// What the sensor says now, for `/api/status` and `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Climate {
    pub reading: Option<Reading>,
    pub failing: bool,
    pub too_hot: bool,
    pub too_cold: bool,
    pub too_humid: bool,
    pub too_dry: bool,
    pub failures: u64,
}

/// The sensor's thread and what it shares; stopping or dropping it joins the thread.
pub struct ClimateTask {
    shared: Arc<Shared>,
    thread: Worker,
}

struct Shared {
    now: Mutex<Climate>,
    settings: Mutex<(SensorConfig, ComfortConfig)>,
    stop: Mutex<bool>,
    wake: std::sync::Condvar,
}

impl ClimateTask {
    pub fn start(
        sensor: Box<dyn ClimateSensor>,
        config: SensorConfig,
        comfort: ComfortConfig,
        bus: Arc<Bus>,
    ) -> anyhow::Result<Arc<Self>> {
        let shared = Arc::new(Shared {
            now: Mutex::new(Climate::default()),
            settings: Mutex::new((config, comfort)),
            stop: Mutex::new(false),
            wake: std::sync::Condvar::new(),
        });
        let task = Arc::clone(&shared);
        let thread = Worker::spawn("climate", move || task.run(sensor, &bus))?;
        Ok(Arc::new(Self { shared, thread }))
    }

    pub fn current(&self) -> Climate {
        self.shared.current()
    }

    pub fn set_config(&self, config: SensorConfig, comfort: ComfortConfig) {
        *self
            .shared
            .settings
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = (config, comfort);
        self.shared.wake.notify_all();
    }

    /// Stops the thread and waits for it (a reading under way is finished first).
    pub fn shutdown(&self) {
        *self
            .shared
            .stop
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = true;
        self.shared.wake.notify_all();
        self.thread.join();
    }
}

impl Drop for ClimateTask {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl Shared {
    fn current(&self) -> Climate {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sleeps for `d`, or less if told to stop; true when it should stop.
    fn pause(&self, d: Duration) -> bool {
        let stop = self.stop.lock().unwrap_or_else(PoisonError::into_inner);
        let (stop, _) = self
            .wake
            .wait_timeout_while(stop, d, |s| !*s)
            .unwrap_or_else(PoisonError::into_inner);
        *stop
    }

    fn run(&self, mut sensor: Box<dyn ClimateSensor>, bus: &Bus) {
        let mut last_report: Option<(Instant, Reading)> = None;
        loop {
            let (config, comfort) = self
                .settings
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            match read_with_retries(sensor.as_mut()) {
                Ok(raw) => {
                    let reading = Reading {
                        temperature_c: raw.temperature_c + config.temperature_offset_c,
                        humidity_pct: (raw.humidity_pct + config.humidity_offset).clamp(0.0, 100.0),
                        ..raw
                    };
                    let was_failing = self.current().failing;
                    if was_failing {
                        info!("the climate sensor reads again");
                    }
                    let due = last_report.is_none_or(|(at, before)| {
                        at.elapsed() >= Duration::from_secs(comfort.report_interval_s)
                            || (before.temperature_c - reading.temperature_c).abs()
                                >= TEMPERATURE_STEP
                            || (before.humidity_pct - reading.humidity_pct).abs() >= HUMIDITY_STEP
                    });
                    if due {
                        report(bus, &reading);
                        last_report = Some((Instant::now(), reading));
                    }
                    let climate = {
                        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
                        now.reading = Some(reading);
                        now.failing = false;
                        judge(&mut now, &reading, &comfort);
                        *now
                    };
                    publish_limits(bus, &climate);
                    bus.set(
                        topics::SENSOR_FAILURE,
                        &[("SensorToken", topics::SENSOR)],
                        &[("State", "false")],
                    );
                }
                Err(e) => {
                    let first = {
                        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
                        now.failures += 1;
                        !std::mem::replace(&mut now.failing, true)
                    };
                    if first {
                        warn!(
                            "the climate sensor fails: {e:#}; trying again every {} s",
                            config.interval_s
                        );
                    }
                    bus.set(
                        topics::SENSOR_FAILURE,
                        &[("SensorToken", topics::SENSOR)],
                        &[("State", "true")],
                    );
                }
            }
            if self.pause(Duration::from_secs(config.interval_s)) {
                return;
            }
        }
    }
}

fn read_with_retries(sensor: &mut dyn ClimateSensor) -> anyhow::Result<Reading> {
    let mut last = None;
    for attempt in 0..=RETRIES {
        if attempt > 0 {
            std::thread::sleep(RETRY_PAUSE);
        }
        match sensor.read() {
            Ok(r) if r.temperature_c.is_finite() && r.humidity_pct.is_finite() => return Ok(r),
            Ok(r) => last = Some(anyhow::anyhow!("the sensor gave nonsense: {r:?}")),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("no reading")))
}

/// Alerts with hysteresis: raised past a limit, ended only well back inside it.
fn judge(now: &mut Climate, r: &Reading, c: &ComfortConfig) {
    let (t, h) = (r.temperature_c, r.humidity_pct);
    for (on, past, back) in [
        (
            &mut now.too_hot,
            t > c.temperature_max_c,
            t <= c.temperature_max_c - c.temperature_hysteresis_c,
        ),
        (
            &mut now.too_cold,
            t < c.temperature_min_c,
            t >= c.temperature_min_c + c.temperature_hysteresis_c,
        ),
        (
            &mut now.too_humid,
            h > c.humidity_max,
            h <= c.humidity_max - c.humidity_hysteresis,
        ),
        (
            &mut now.too_dry,
            h < c.humidity_min,
            h >= c.humidity_min + c.humidity_hysteresis,
        ),
    ] {
        *on = if *on { !back } else { past };
    }
}

fn report(bus: &Bus, r: &Reading) {
    let source = [("SensorToken", topics::SENSOR)];
    bus.report(
        topics::TEMPERATURE,
        &source,
        &[("Status", &format!("{:.1}", r.temperature_c))],
    );
    bus.report(
        topics::HUMIDITY,
        &source,
        &[("Status", &format!("{:.1}", r.humidity_pct))],
    );
}

fn publish_limits(bus: &Bus, c: &Climate) {
    let source = [("SensorToken", topics::SENSOR)];
    for (topic, on, what) in [
        (topics::TEMPERATURE_HIGH, c.too_hot, "too hot"),
        (topics::TEMPERATURE_LOW, c.too_cold, "too cold"),
        (topics::HUMIDITY_HIGH, c.too_humid, "too humid"),
        (topics::HUMIDITY_LOW, c.too_dry, "too dry"),
    ] {
        if bus.value(topic, "State").as_deref() != Some(flag(on)) {
            if on {
                warn!("the nursery is {what}");
            } else if bus.value(topic, "State").is_some() {
                info!("the nursery is no longer {what}");
            }
        }
        bus.set(topic, &source, &[("State", flag(on))]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(t: f32, h: f32) -> Reading {
        Reading {
            temperature_c: t,
            humidity_pct: h,
            pressure_hpa: 1000.0,
        }
    }

    #[test]
    fn alerts_start_past_a_limit_and_end_well_inside_it() {
        let c = ComfortConfig::default();
        let mut now = Climate::default();
        judge(&mut now, &reading(22.5, 50.0), &c);
        assert!(now.too_hot && !now.too_cold);
        judge(&mut now, &reading(21.9, 50.0), &c);
        assert!(now.too_hot, "still within the hysteresis");
        judge(&mut now, &reading(21.6, 50.0), &c);
        assert!(!now.too_hot);
        judge(&mut now, &reading(15.0, 30.0), &c);
        assert!(now.too_cold && now.too_dry);
        judge(&mut now, &reading(18.0, 65.0), &c);
        assert!(!now.too_cold && !now.too_dry && now.too_humid);
    }

    use std::sync::atomic::{AtomicBool, Ordering};

    /// A sensor that takes a while to answer and says when it is gone.
    struct Slow {
        reading: std::sync::mpsc::Sender<()>,
        dropped: Arc<AtomicBool>,
    }

    impl ClimateSensor for Slow {
        fn read(&mut self) -> anyhow::Result<Reading> {
            let _ = self.reading.send(());
            std::thread::sleep(Duration::from_millis(300));
            Ok(Reading {
                temperature_c: 21.0,
                humidity_pct: 50.0,
                pressure_hpa: 1000.0,
            })
        }
    }

    impl Drop for Slow {
        fn drop(&mut self) {
            self.dropped.store(true, Ordering::SeqCst);
        }
    }

    #[test]
    fn shutdown_returns_once_the_sensor_thread_has_ended() {
        let (tx, rx) = std::sync::mpsc::channel();
        let dropped = Arc::new(AtomicBool::new(false));
        let sensor = Slow {
            reading: tx,
            dropped: Arc::clone(&dropped),
        };
        let bus = Bus::new(crate::events::Subscriptions::new(Default::default()));
        let task = ClimateTask::start(
            Box::new(sensor),
            SensorConfig::default(),
            ComfortConfig::default(),
            bus,
        )
        .expect("start");
        rx.recv().expect("the sensor is read");
        task.shutdown();
        assert!(
            dropped.load(Ordering::SeqCst),
            "the sensor thread still runs after shutdown"
        );
    }
}
