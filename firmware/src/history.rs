//! The nursery's last 24 hours for the page's chart: temperature, humidity and sound level, one
//! averaged sample a minute in a ring buffer. Written to the SD card at most every few minutes
//! (atomically), so a restart keeps the chart and the card is spared.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tracing::warn;

/// One sample per this many seconds.
pub const RESOLUTION_S: u64 = 60;
/// How far back the chart goes.
pub const WINDOW_S: u64 = 24 * 3600;
/// The least time between two writes of the file.
pub const SAVE_EVERY: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Start of the minute, Unix seconds.
    pub t: u64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub temperature_c: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub humidity_pct: Option<f32>,
    /// Sound level in dBFS (0 is full scale, silence is about -90).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sound_db: Option<f32>,
}

#[derive(Default, Clone, Copy)]
struct Sums {
    values: [f64; 3],
    counts: [u32; 3],
}

struct Inner {
    samples: VecDeque<Sample>,
    /// Running sums of the minute being filled (the last sample).
    current: Sums,
    dirty: bool,
    saved: Option<Instant>,
}

pub struct History {
    path: PathBuf,
    inner: Mutex<Inner>,
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl History {
    /// Loads what `path` kept (an unreadable file starts an empty history, with a warning).
    pub fn open(path: PathBuf) -> Self {
        let mut samples: VecDeque<Sample> = match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).unwrap_or_else(|e| {
                warn!(file = %path.display(), "history unreadable, starting afresh: {e}");
                VecDeque::new()
            }),
            Err(_) => VecDeque::new(),
        };
        let oldest = now_s().saturating_sub(WINDOW_S);
        samples.retain(|s| s.t >= oldest);
        Self {
            path,
            inner: Mutex::new(Inner {
                samples,
                current: Sums::default(),
                dirty: false,
                saved: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a measurement (any of them may be missing); called by the sensor task as often as
    /// it likes: each minute keeps the mean of what it got.
    pub fn record(
        &self,
        temperature_c: Option<f32>,
        humidity_pct: Option<f32>,
        sound_db: Option<f32>,
    ) {
        self.record_at(now_s(), [temperature_c, humidity_pct, sound_db]);
        if let Err(e) = self.save_if_due() {
            warn!("cannot store the history: {e:#}");
        }
    }

    fn record_at(&self, t: u64, values: [Option<f32>; 3]) {
        if values.iter().all(Option::is_none) {
            return;
        }
        let slot = t - t % RESOLUTION_S;
        let mut inner = self.lock();
        if inner.samples.back().is_some_and(|s| s.t > slot) {
            // The clock went back: the chart stays in order, the measurement is dropped.
            return;
        }
        if inner.samples.back().is_none_or(|s| s.t != slot) {
            inner.samples.push_back(Sample {
                t: slot,
                temperature_c: None,
                humidity_pct: None,
                sound_db: None,
            });
            inner.current = Sums::default();
        }
        let mut sums = inner.current;
        let mut means = [None; 3];
        for (i, v) in values.iter().enumerate() {
            if let Some(v) = v.filter(|v| v.is_finite()) {
                sums.values[i] += f64::from(v);
                sums.counts[i] += 1;
            }
            if sums.counts[i] > 0 {
                means[i] = Some((sums.values[i] / f64::from(sums.counts[i])) as f32);
            }
        }
        inner.current = sums;
        if let Some(last) = inner.samples.back_mut() {
            [last.temperature_c, last.humidity_pct, last.sound_db] = means;
        }
        let oldest = slot.saturating_sub(WINDOW_S);
        while inner.samples.front().is_some_and(|s| s.t < oldest) {
            inner.samples.pop_front();
        }
        inner.dirty = true;
    }

    /// The samples since `since` (Unix seconds), oldest first.
    pub fn samples(&self, since: u64) -> Vec<Sample> {
        self.lock()
            .samples
            .iter()
            .filter(|s| s.t >= since)
            .copied()
            .collect()
    }

    /// Writes the file if something changed and the last write is `SAVE_EVERY` ago.
    pub fn save_if_due(&self) -> anyhow::Result<bool> {
        let due = {
            let inner = self.lock();
            inner.dirty && inner.saved.is_none_or(|t| t.elapsed() >= SAVE_EVERY)
        };
        if due {
            self.save()?;
        }
        Ok(due)
    }

    /// Writes the file now if anything changed (the daemon calls it when it stops).
    pub fn save(&self) -> anyhow::Result<()> {
        let text = {
            let mut inner = self.lock();
            if !inner.dirty {
                return Ok(());
            }
            inner.dirty = false;
            inner.saved = Some(Instant::now());
            serde_json::to_string(&inner.samples)?
        };
        crate::settings::write_atomically(&self.path, &text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minute_keeps_the_mean_and_a_day_is_kept() {
        let dir = tempfile::tempdir().expect("dir");
        let h = History::open(dir.path().join("history.json"));
        let t0 = now_s() - now_s() % RESOLUTION_S - 2 * WINDOW_S;
        h.record_at(t0, [Some(20.0), Some(50.0), None]);
        h.record_at(t0 + 10, [Some(22.0), None, Some(-40.0)]);
        h.record_at(t0 + 20, [Some(f32::NAN), None, None]);
        let s = h.samples(0);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].temperature_c, Some(21.0));
        assert_eq!(s[0].humidity_pct, Some(50.0));
        assert_eq!(s[0].sound_db, Some(-40.0));
        h.record_at(t0 + RESOLUTION_S, [Some(23.0), None, None]);
        assert_eq!(h.samples(0).len(), 2);
        assert_eq!(h.samples(t0 + 1).len(), 1);
        // A day later the first minutes have gone.
        h.record_at(t0 + WINDOW_S + 2 * RESOLUTION_S, [Some(19.0), None, None]);
        let s = h.samples(0);
        assert_eq!(s.len(), 1, "{s:?}");
        assert_eq!(s[0].temperature_c, Some(19.0));
    }

    #[test]
    fn saved_at_most_every_few_minutes_and_loaded_again() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("history.json");
        let h = History::open(path.clone());
        let t = now_s();
        h.record_at(t, [Some(21.5), Some(40.0), Some(-60.0)]);
        assert!(
            h.save_if_due().expect("save"),
            "the first change is written"
        );
        h.record_at(t + RESOLUTION_S, [Some(22.0), None, None]);
        assert!(
            !h.save_if_due().expect("save"),
            "not again within SAVE_EVERY"
        );
        assert_eq!(History::open(path.clone()).samples(0).len(), 1);
        h.save().expect("save");
        let again = History::open(path.clone());
        assert_eq!(again.samples(0), h.samples(0));
        std::fs::write(&path, "{broken").expect("write");
        assert!(History::open(path).samples(0).is_empty());
    }
}
