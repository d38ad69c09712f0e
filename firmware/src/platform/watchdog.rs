//! Feeds the hardware watchdog from the async runtime, so a daemon whose runtime stops
//! making progress (a deadlock, a livelock) is rebooted by the hardware.
//!
//! Linux watchdogs start counting when the device is opened; every write restarts the count.
//! Writing `V` right before closing ("magic close") disarms it, which is what a clean stop
//! does; a crash closes without it, the count runs out and the camera reboots unless the
//! respawned daemon opens the device again in time.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::time::Duration;

use anyhow::Context;
use tracing::{info, warn};

use crate::config::WatchdogConfig;

pub struct Watchdog {
    device: File,
    interval: Duration,
}

impl Watchdog {
    /// Opens (and so arms) the configured device; `None` when there is none or in simulation.
    pub fn open(config: &WatchdogConfig, simulate: bool) -> anyhow::Result<Option<Self>> {
        if simulate || config.device.as_os_str().is_empty() {
            return Ok(None);
        }
        let device = OpenOptions::new()
            .write(true)
            .open(&config.device)
            .with_context(|| format!("opening the watchdog {}", config.device.display()))?;
        info!(device = %config.device.display(), "hardware watchdog armed");
        Ok(Some(Self {
            device,
            interval: Duration::from_secs(config.interval_s),
        }))
    }

    /// Feeds the watchdog until `stop` turns true, then disarms it.
    pub async fn run(mut self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(self.interval);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if let Err(e) = self.device.write_all(b"\0") {
                        warn!("cannot feed the watchdog: {e}");
                    }
                }
                _ = stop.changed() => break,
            }
            if *stop.borrow() {
                break;
            }
        }
        if let Err(e) = self
            .device
            .write_all(b"V")
            .and_then(|()| self.device.flush())
        {
            warn!("cannot disarm the watchdog: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plain file standing in for the watchdog device.
    fn device_file(dir: &tempfile::TempDir, interval_s: u64) -> WatchdogConfig {
        let device = dir.path().join("watchdog");
        std::fs::write(&device, b"").expect("file");
        WatchdogConfig { device, interval_s }
    }

    #[test]
    fn off_in_simulation_and_without_a_device() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = device_file(&dir, 1);
        assert!(Watchdog::open(&config, true).expect("no error").is_none());
        assert!(
            Watchdog::open(&WatchdogConfig::default(), false)
                .expect("no error")
                .is_none()
        );
        let missing = WatchdogConfig {
            device: dir.path().join("missing"),
            interval_s: 1,
        };
        let err = Watchdog::open(&missing, false)
            .err()
            .expect("a missing device is an error");
        assert!(format!("{err:#}").contains("missing"));
    }

    #[tokio::test(start_paused = true)]
    async fn feeds_until_stopped_then_disarms() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = device_file(&dir, 5);
        let device = config.device.clone();
        let dog = Watchdog::open(&config, false)
            .expect("opens")
            .expect("armed");
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(dog.run(stop_rx));
        // Feeds at 0, 5, 10 and 15 s.
        tokio::time::sleep(Duration::from_millis(16_000)).await;
        stop_tx.send(true).expect("send");
        task.await.expect("task");
        assert_eq!(std::fs::read(&device).expect("read"), b"\0\0\0\0V");
    }
}
