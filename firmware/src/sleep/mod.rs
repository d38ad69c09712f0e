//! The sleep log (`[sleep]`): during the night's hours, each minute is settled, moving or
//! crying as the detectors saw it (`night.rs`); minutes merge into intervals, kept night by
//! night in `sleep.json` (`store.rs`) for the page's "Nights" card and the CSV export. It
//! records what the motion and sound detectors report, nothing more: it is no medical device.

pub mod night;
pub mod store;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gst::glib::TimeZone;
use onvif::events::Notification;
use serde::Serialize;
use tokio::sync::broadcast;
use tracing::warn;

use crate::config::{SleepConfig, SoundMode};
use crate::events::{Bus, topics};
use crate::media::Hub;
use crate::settings::Settings;
pub use night::{Hours, Interval, Minute, Night, Span, State, Totals};

/// The least time between two writes of the file (the SD card is spared).
pub const SAVE_EVERY: Duration = Duration::from_secs(5 * 60);
/// How long a gap between two looks may count as watched (a stalled runtime is not).
const MAX_CREDIT_S: f64 = 2.0;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// What the camera senses at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Seen {
    pub crying: bool,
    pub moving: bool,
    /// The camera and the microphone both work.
    pub working: bool,
}

/// The minute being filled.
#[derive(Debug, Clone, Copy)]
struct Tally {
    span: Span,
    minute_s: u32,
    /// `[start, end)` of the minute, Unix seconds.
    start: i64,
    end: i64,
    minute: Minute,
    /// Up to when it has been credited.
    last: f64,
}

/// A finished minute of a night.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Closed {
    span: Span,
    start: i64,
    end: i64,
    state: Option<State>,
}

/// Turns what the camera senses, moment by moment, into finished minutes.
#[derive(Default)]
struct Minutes {
    tally: Option<Tally>,
}

impl Minutes {
    /// Takes what is seen at `t` (Unix seconds); gives the minute that ended before it, if
    /// one did. `night` says which night `t` is in (none outside the night's hours).
    fn step(
        &mut self,
        t: f64,
        seen: Seen,
        minute_s: u32,
        night: impl FnOnce(i64) -> Option<Span>,
    ) -> Option<Closed> {
        let mut closed = None;
        if let Some(cur) = &mut self.tally {
            let upto = t.min(cur.end as f64);
            if seen.working && upto > cur.last {
                cur.minute.watched_s += (upto - cur.last).min(MAX_CREDIT_S);
            }
            cur.last = cur.last.max(upto);
            if t < cur.end as f64 && t >= cur.start as f64 && cur.minute_s == minute_s {
                cur.minute.crying |= seen.crying;
                cur.minute.moving |= seen.moving;
                return None;
            }
            closed = Some(Closed {
                span: cur.span,
                start: cur.start,
                end: cur.end,
                state: cur.minute.classify(cur.minute_s),
            });
            self.tally = None;
        }
        let whole = t.floor() as i64;
        if let Some(span) = night(whole) {
            let index = (whole - span.start) / i64::from(minute_s);
            let start = span.start + index * i64::from(minute_s);
            let end = (start + i64::from(minute_s)).min(span.end);
            // Right after the minute before, the time since the boundary was watched too.
            let follows = closed.is_some_and(|c| c.end == start);
            let last = if follows { start as f64 } else { t };
            let mut minute = Minute {
                crying: seen.crying,
                moving: seen.moving,
                watched_s: 0.0,
            };
            if seen.working && t > last {
                minute.watched_s = (t - last).min(MAX_CREDIT_S);
            }
            self.tally = Some(Tally {
                span,
                minute_s,
                start,
                end,
                minute,
                last: t.max(last),
            });
        }
        closed
    }
}

/// One night as the API gives it.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub night: String,
    /// The night's hours, and how far its log goes (now, for the night in progress).
    pub from: i64,
    pub to: i64,
    pub until: i64,
    pub intervals: Vec<ReportInterval>,
    pub totals: Totals,
    pub wake_ups: u32,
    pub longest_settled_s: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReportInterval {
    /// Unix seconds.
    pub start: i64,
    pub end: i64,
    pub state: &'static str,
}

struct Inner {
    /// Oldest first.
    nights: VecDeque<Night>,
    dirty: bool,
    saved: Instant,
    /// The night in progress and what its last minute was (`None`: not known).
    now: Option<(Span, Option<State>)>,
}

pub struct SleepLog {
    settings: Arc<Settings>,
    store: store::Store,
    inner: Mutex<Inner>,
    /// Writers take turns, each with the log as it is then: an older copy never lands last.
    saving: Mutex<()>,
}

impl SleepLog {
    /// The log kept at `path` (`sleep.json`); a damaged file is moved aside.
    pub fn open(settings: Arc<Settings>, path: PathBuf) -> Arc<Self> {
        let store = store::Store::new(path);
        let mut nights: VecDeque<Night> = store.load().into();
        let keep = settings.current().sleep.nights as usize;
        while nights.len() > keep {
            nights.pop_front();
        }
        Arc::new(Self {
            settings,
            store,
            inner: Mutex::new(Inner {
                nights,
                dirty: false,
                saved: Instant::now(),
                now: None,
            }),
            saving: Mutex::new(()),
        })
    }

    fn config(&self) -> SleepConfig {
        self.settings.current().sleep.clone()
    }

    /// The task that classifies the minutes from the bus and the capture's health and stores
    /// the log when due; it ends when the runtime does (or is aborted).
    pub fn spawn(self: &Arc<Self>, bus: Arc<Bus>, hub: Arc<Hub>) -> tokio::task::JoinHandle<()> {
        let log = Arc::clone(self);
        tokio::spawn(async move { log.run(&bus, &hub).await })
    }

    async fn run(self: Arc<Self>, bus: &Bus, hub: &Hub) {
        let mut live = bus.listen();
        let mut minutes = Minutes::default();
        loop {
            let minute_s = self.config().minute_s.max(1);
            // A few looks a minute: health is sampled, the detectors' changes come as events.
            let look = Duration::from_secs_f64((f64::from(minute_s) / 4.0).min(1.0));
            let mut pulse = Seen::default();
            tokio::select! {
                n = live.recv() => match n {
                    Ok(n) => pulse = self.pulse_of(&n),
                    // The bus keeps each property's value: the next look reads it.
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                () = tokio::time::sleep(look) => {}
            }
            let seen = self.seen(bus, hub, pulse);
            self.step(&mut minutes, now_s(), seen);
            if self.due() {
                let log = Arc::clone(&self);
                let saved = tokio::task::spawn_blocking(move || log.save()).await;
                if let Ok(Err(e)) = saved {
                    warn!("cannot store the sleep log: {e:#}");
                }
            }
        }
    }

    /// Which states an event switches on, as it comes (it may be over by the next look).
    fn pulse_of(&self, n: &Notification) -> Seen {
        let on = |item: &str| n.data.iter().any(|(k, v)| k == item && v == "true");
        let sound = n.topic == topics::DETECTED_SOUND && on("IsSoundDetected");
        let (crying, noise) = self.sound_is(sound);
        Seen {
            crying,
            moving: noise || (n.topic == topics::MOTION_ALARM && on("State")),
            working: false,
        }
    }

    /// A detected sound is crying only when the detector listens for crying; in `any` mode
    /// it is any lasting loud sound, so the log says moving (awake), not crying.
    fn sound_is(&self, detected: bool) -> (bool, bool) {
        match self.settings.current().sound.mode {
            SoundMode::Cry => (detected, false),
            SoundMode::Any => (false, detected),
        }
    }

    fn seen(&self, bus: &Bus, hub: &Hub, pulse: Seen) -> Seen {
        let on = |topic, item| bus.value(topic, item).is_some_and(|v| v == "true");
        let (crying, noise) = self.sound_is(on(topics::DETECTED_SOUND, "IsSoundDetected"));
        let stats = &hub.stats;
        let working = stats.video.running.load(Relaxed)
            && stats.audio.running.load(Relaxed)
            && !stats.audio.stand_in.load(Relaxed);
        Seen {
            crying: crying || pulse.crying,
            moving: noise || pulse.moving || on(topics::MOTION_ALARM, "State"),
            working,
        }
    }

    fn step(&self, minutes: &mut Minutes, t: f64, seen: Seen) {
        let config = self.config();
        let hours = Hours {
            from: config.from,
            to: config.to,
        };
        let tz = TimeZone::local();
        let closed = minutes.step(t, seen, config.minute_s.max(1), |t| {
            config.enabled.then(|| hours.night_at(&tz, t)).flatten()
        });
        let mut inner = lock(&self.inner);
        if let Some(c) = closed {
            if let Some(state) = c.state {
                Self::record(&mut inner, &c, state, config.nights as usize);
            }
            inner.now = Some((c.span, c.state));
        }
        match minutes.tally.map(|t| t.span) {
            Some(span) if inner.now.is_none_or(|(s, _)| s != span) => {
                inner.now = Some((span, None));
            }
            Some(_) => {}
            None => inner.now = None,
        }
    }

    fn record(inner: &mut Inner, c: &Closed, state: State, keep: usize) {
        let name = c.span.name();
        if inner.nights.back().is_none_or(|n| n.night != name) {
            if inner.nights.back().is_some_and(|n| n.start >= c.span.start) {
                // The clock went back past the last night: its minutes are not logged.
                return;
            }
            inner.nights.push_back(Night::new(&c.span));
            while inner.nights.len() > keep.max(1) {
                inner.nights.pop_front();
            }
        }
        let Some(night) = inner.nights.back_mut() else {
            return;
        };
        let offset = |t: i64| u32::try_from(t - night.start).ok();
        if let (Some(a), Some(b)) = (offset(c.start), offset(c.end.min(night.end))) {
            night.add(a, b, state);
            inner.dirty = true;
        }
    }

    fn due(&self) -> bool {
        let inner = lock(&self.inner);
        inner.dirty && inner.saved.elapsed() >= SAVE_EVERY
    }

    /// Writes the file if something changed since it was last written.
    pub fn save(&self) -> anyhow::Result<()> {
        let _turn = lock(&self.saving);
        let nights: Vec<Night> = {
            let mut inner = lock(&self.inner);
            if !inner.dirty {
                return Ok(());
            }
            inner.dirty = false;
            inner.saved = Instant::now();
            inner.nights.iter().cloned().collect()
        };
        let saved = self.store.save(&nights);
        if saved.is_err() {
            lock(&self.inner).dirty = true;
        }
        saved
    }

    /// The newest `count` nights, newest first, the one in progress up to now.
    pub fn nights(&self, count: usize) -> Vec<Report> {
        let minute_s = self.config().minute_s.max(1);
        let now = now_s().floor() as i64;
        let inner = lock(&self.inner);
        let current = inner.now.map(|(span, _)| span.name());
        let mut out: Vec<Report> = inner
            .nights
            .iter()
            .rev()
            .take(count)
            .map(|n| {
                let until = if current.as_deref() == Some(&n.night) {
                    now.clamp(n.start, n.end)
                } else {
                    n.end
                };
                report(n, until, minute_s)
            })
            .collect();
        // Tonight before its first minute is logged: an empty bar so far.
        if let Some((span, _)) = inner.now
            && inner.nights.back().is_none_or(|n| n.night != span.name())
        {
            out.insert(
                0,
                report(
                    &Night::new(&span),
                    now.clamp(span.start, span.end),
                    minute_s,
                ),
            );
            out.truncate(count);
        }
        out
    }

    /// Every night kept, oldest first (the CSV export).
    pub fn all(&self) -> Vec<Night> {
        lock(&self.inner).nights.iter().cloned().collect()
    }

    /// For `/api/status`: whether the log runs, tonight's name and its last minute's state
    /// (`unknown` when it was not known; no night outside the night's hours).
    pub fn status(&self) -> serde_json::Value {
        let inner = lock(&self.inner);
        let (night, state) = match inner.now {
            Some((span, state)) => (
                Some(span.name()),
                Some(state.map_or("unknown", State::as_str)),
            ),
            None => (None, None),
        };
        serde_json::json!({
            "enabled": self.config().enabled,
            "night": night,
            "state": state,
        })
    }
}

fn report(n: &Night, until: i64, minute_s: u32) -> Report {
    Report {
        night: n.night.clone(),
        from: n.start,
        to: n.end,
        until,
        intervals: n
            .intervals
            .iter()
            .map(|i| ReportInterval {
                start: n.start + i64::from(i.0),
                end: n.start + i64::from(i.1),
                state: i.2.as_str(),
            })
            .collect(),
        totals: n.totals(),
        wake_ups: n.wake_ups(minute_s),
        longest_settled_s: n.longest_settled_s(),
    }
}

/// The CSV export: `night,start,end,state,minutes`, one row per interval, oldest first, times
/// in ISO 8601 with the camera's offset.
pub fn csv(nights: &[Night], tz: &TimeZone) -> String {
    let mut out = String::from("night,start,end,state,minutes\r\n");
    for n in nights {
        for i in &n.intervals {
            let minutes = f64::from(i.seconds()) / 60.0;
            out.push_str(&format!(
                "{},{},{},{},{}\r\n",
                n.night,
                night::iso_local(tz, n.start + i64::from(i.0)),
                night::iso_local(tz, n.start + i64::from(i.1)),
                i.2.as_str(),
                (minutes * 100.0).round() / 100.0,
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    const T0: i64 = 1_800_000_000;

    fn span() -> Span {
        Span {
            date: date!(2027 - 01 - 15),
            start: T0,
            end: T0 + 600,
        }
    }

    fn in_night(t: i64) -> Option<Span> {
        span().contains(t).then(span)
    }

    fn seen(crying: bool, moving: bool, working: bool) -> Seen {
        Seen {
            crying,
            moving,
            working,
        }
    }

    /// Looks every quarter second from `from` to `to` (seconds after T0), seeing `what`.
    fn run(m: &mut Minutes, from: f64, to: f64, what: Seen, out: &mut Vec<Closed>) {
        let mut t = from;
        while t < to {
            out.extend(m.step(T0 as f64 + t, what, 60, in_night));
            t += 0.25;
        }
    }

    #[test]
    fn minutes_close_at_their_boundaries_with_what_they_saw() {
        let mut m = Minutes::default();
        let mut out = Vec::new();
        run(&mut m, 0.0, 60.0, seen(false, false, true), &mut out);
        run(&mut m, 60.0, 61.0, seen(false, true, true), &mut out);
        run(&mut m, 61.0, 120.0, seen(false, false, true), &mut out);
        run(&mut m, 120.0, 150.0, seen(false, false, false), &mut out);
        run(&mut m, 150.0, 180.0, seen(false, false, true), &mut out);
        run(&mut m, 180.0, 220.0, seen(false, false, false), &mut out);
        run(&mut m, 220.0, 240.25, seen(false, false, true), &mut out);
        let states: Vec<_> = out.iter().map(|c| (c.start - T0, c.state)).collect();
        assert_eq!(
            states,
            [
                (0, Some(State::Settled)),
                (60, Some(State::Moving)),
                // Watched for exactly half the minute: settled; for a third: not known.
                (120, Some(State::Settled)),
                (180, None),
            ]
        );
    }

    #[test]
    fn a_start_in_the_middle_of_a_minute_counts_only_what_was_watched() {
        let mut m = Minutes::default();
        let mut out = Vec::new();
        run(&mut m, 40.0, 60.25, seen(false, false, true), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].state, None, "20 s of 60 watched");
        // The next minute follows on: counted from its boundary.
        run(&mut m, 60.25, 120.25, seen(false, false, true), &mut out);
        assert_eq!(out[1].state, Some(State::Settled));
    }

    #[test]
    fn the_night_ends_with_its_last_minute() {
        let mut m = Minutes::default();
        let mut out = Vec::new();
        run(&mut m, 540.0, 610.0, seen(true, false, true), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].start - T0, out[0].end - T0), (540, 600));
        assert_eq!(out[0].state, Some(State::Crying));
        assert!(m.tally.is_none(), "no minute outside the night's hours");
    }

    #[test]
    fn only_the_newest_nights_are_kept_and_a_clock_set_back_logs_nothing() {
        let mut inner = Inner {
            nights: VecDeque::new(),
            dirty: false,
            saved: Instant::now(),
            now: None,
        };
        let day = 86_400;
        for (n, date) in [
            date!(2027 - 01 - 15),
            date!(2027 - 01 - 16),
            date!(2027 - 01 - 17),
        ]
        .into_iter()
        .enumerate()
        {
            let span = Span {
                date,
                start: T0 + n as i64 * day,
                end: T0 + n as i64 * day + 600,
            };
            for minute in [0, 60] {
                let start = span.start + minute;
                let closed = Closed {
                    span,
                    start,
                    end: start + 60,
                    state: Some(State::Settled),
                };
                SleepLog::record(&mut inner, &closed, State::Settled, 2);
            }
        }
        let names: Vec<_> = inner.nights.iter().map(|n| n.night.as_str()).collect();
        assert_eq!(names, ["2027-01-16", "2027-01-17"]);
        assert_eq!(
            inner.nights[1].intervals,
            [Interval(0, 120, State::Settled)]
        );
        assert!(inner.dirty);
        // The clock set back to the first night: its minutes are not mixed into the log.
        let span = Span {
            date: date!(2027 - 01 - 15),
            start: T0,
            end: T0 + 600,
        };
        let closed = Closed {
            span,
            start: T0 + 120,
            end: T0 + 180,
            state: Some(State::Crying),
        };
        SleepLog::record(&mut inner, &closed, State::Crying, 2);
        assert_eq!(inner.nights.len(), 2);
        assert_eq!(inner.nights[0].night, "2027-01-16");
    }

    #[test]
    fn the_csv_has_a_row_per_interval_in_local_time() {
        let tz = TimeZone::new(Some("Europe/Berlin"));
        assert_eq!(
            gst::glib::DateTime::from_unix_utc(0)
                .and_then(|t| t.to_timezone(&tz))
                .map(|t| t.utc_offset().as_seconds())
                .ok(),
            Some(3600),
            "tzdata has Europe/Berlin"
        );
        let mut n = Night::new(&span());
        n.add(0, 120, State::Settled);
        n.add(120, 150, State::Crying);
        let text = csv(&[n], &tz);
        assert_eq!(
            text,
            "night,start,end,state,minutes\r\n\
             2027-01-15,2027-01-15T09:00:00+01:00,2027-01-15T09:02:00+01:00,settled,2\r\n\
             2027-01-15,2027-01-15T09:02:00+01:00,2027-01-15T09:02:30+01:00,crying,0.5\r\n"
        );
    }
}
