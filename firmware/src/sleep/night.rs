//! One night of the log: the night's hours in the camera's time zone, how a minute is
//! classified from what the detectors saw, the intervals the minutes merge into, and the
//! night's totals.

use gst::glib::{DateTime, TimeZone};
use serde::{Deserialize, Serialize};
use time::{Date, Month};

use crate::config::ClockTime;

/// What a minute was, as far as the detectors can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum State {
    #[serde(rename = "s")]
    Settled,
    #[serde(rename = "m")]
    Moving,
    #[serde(rename = "c")]
    Crying,
}

impl State {
    /// The word the API, the CSV and the page use.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Settled => "settled",
            State::Moving => "moving",
            State::Crying => "crying",
        }
    }

    fn restless(self) -> bool {
        self != State::Settled
    }
}

/// What the detectors saw in one minute.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Minute {
    /// Crying was detected at some moment of it.
    pub crying: bool,
    /// Motion was detected at some moment of it.
    pub moving: bool,
    /// Seconds of it during which the camera and the microphone both worked.
    pub watched_s: f64,
}

impl Minute {
    /// Crying wins over moving; quiet counts as settled only if the camera and microphone
    /// worked for at least half the minute; anything else is not known (and not stored).
    pub fn classify(&self, minute_s: u32) -> Option<State> {
        if self.crying {
            Some(State::Crying)
        } else if self.moving {
            Some(State::Moving)
        } else if self.watched_s * 2.0 >= f64::from(minute_s) {
            Some(State::Settled)
        } else {
            None
        }
    }
}

/// `[start, end)` in seconds from the night's start, and what it was. Stored as
/// `[start, end, "s"]`: a night of minutes is a few hundred bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interval(pub u32, pub u32, pub State);

impl Interval {
    pub fn seconds(&self) -> u32 {
        self.1.saturating_sub(self.0)
    }
}

/// Seconds of each state in a night.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub settled_s: u32,
    pub moving_s: u32,
    pub crying_s: u32,
}

/// A wake-up: at least this many minutes moving or crying after a settled stretch.
pub const WAKE_UP_MINUTES: u32 = 3;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Night {
    /// The local date the night started, `YYYY-MM-DD`.
    pub night: String,
    /// When it started and when its hours end, Unix seconds. The end is kept with the night
    /// so that changed hours do not redraw the nights before them.
    pub start: i64,
    pub end: i64,
    pub intervals: Vec<Interval>,
}

impl Night {
    pub fn new(span: &Span) -> Self {
        Self {
            night: span.name(),
            start: span.start,
            end: span.end,
            intervals: Vec::new(),
        }
    }

    /// Adds `[start, end)`, merged into the last interval when it follows it with the same
    /// state. What overlaps the intervals already there (the clock went back) is dropped.
    pub fn add(&mut self, start: u32, end: u32, state: State) {
        if end <= start {
            return;
        }
        match self.intervals.last_mut() {
            Some(last) if start < last.1 => {}
            Some(last) if last.1 == start && last.2 == state => last.1 = end,
            _ => self.intervals.push(Interval(start, end, state)),
        }
    }

    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for i in &self.intervals {
            let sum = match i.2 {
                State::Settled => &mut t.settled_s,
                State::Moving => &mut t.moving_s,
                State::Crying => &mut t.crying_s,
            };
            *sum += i.seconds();
        }
        t
    }

    /// Stretches of at least [`WAKE_UP_MINUTES`] of moving or crying without a break that
    /// came after a settled stretch. A gap (minutes not known) ends a stretch.
    pub fn wake_ups(&self, minute_s: u32) -> u32 {
        let needed = WAKE_UP_MINUTES * minute_s;
        let (mut count, mut was_settled, mut restless, mut end) = (0, false, 0, None);
        for i in &self.intervals {
            if end != Some(i.0) {
                restless = 0;
            }
            end = Some(i.1);
            if !i.2.restless() {
                was_settled = true;
                restless = 0;
                continue;
            }
            restless += i.seconds();
            if was_settled && restless >= needed {
                count += 1;
                was_settled = false;
            }
        }
        count
    }

    pub fn longest_settled_s(&self) -> u32 {
        self.intervals
            .iter()
            .filter(|i| i.2 == State::Settled)
            .map(Interval::seconds)
            .max()
            .unwrap_or(0)
    }
}

/// The night's hours, local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hours {
    pub from: ClockTime,
    pub to: ClockTime,
}

/// One night's place in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// The local date it starts.
    pub date: Date,
    /// `[start, end)`, Unix seconds.
    pub start: i64,
    pub end: i64,
}

impl Span {
    pub fn name(&self) -> String {
        let (y, m, d) = (
            self.date.year(),
            u8::from(self.date.month()),
            self.date.day(),
        );
        format!("{y:04}-{m:02}-{d:02}")
    }

    pub fn contains(&self, t: i64) -> bool {
        (self.start..self.end).contains(&t)
    }

    pub fn length_s(&self) -> u32 {
        u32::try_from(self.end - self.start).unwrap_or(0)
    }
}

/// `date` at `time` in `tz` as Unix seconds. A time that a clock change skips becomes the
/// moment the clocks jumped (GLib moves it forward).
fn unix_at(tz: &TimeZone, date: Date, time: ClockTime) -> Option<i64> {
    let minutes = i32::from(time.minutes());
    DateTime::new(
        tz,
        date.year(),
        i32::from(u8::from(date.month())),
        i32::from(date.day()),
        minutes / 60,
        minutes % 60,
        0.0,
    )
    .ok()
    .map(|t| t.to_unix())
}

/// The local date of `t` in `tz`.
pub fn local_date(tz: &TimeZone, t: i64) -> Option<Date> {
    let local = DateTime::from_unix_utc(t).ok()?.to_timezone(tz).ok()?;
    let (y, m, d) = local.ymd();
    let month = Month::try_from(u8::try_from(m).ok()?).ok()?;
    Date::from_calendar_date(y, month, u8::try_from(d).ok()?).ok()
}

impl Hours {
    /// The night that starts on `date`: from `from` that day to `to` the next day if `to`
    /// comes before `from` (or equals it: a whole day), else the same day. In seconds, so a
    /// night across a clock change is an hour shorter or longer.
    pub fn night_of(&self, tz: &TimeZone, date: Date) -> Option<Span> {
        let start = unix_at(tz, date, self.from)?;
        let end_date = if self.to <= self.from {
            date.next_day()?
        } else {
            date
        };
        let end = unix_at(tz, end_date, self.to)?;
        (end > start).then_some(Span { date, start, end })
    }

    /// The night `t` falls in, if it is in the night's hours.
    pub fn night_at(&self, tz: &TimeZone, t: i64) -> Option<Span> {
        let today = local_date(tz, t)?;
        [today.previous_day(), Some(today)]
            .into_iter()
            .flatten()
            .filter_map(|d| self.night_of(tz, d))
            .find(|s| s.contains(t))
    }
}

/// `t` as ISO 8601 in `tz`, with its offset: `2026-12-02T19:00:00+01:00`.
pub fn iso_local(tz: &TimeZone, t: i64) -> String {
    DateTime::from_unix_utc(t)
        .and_then(|d| d.to_timezone(tz))
        .and_then(|d| d.format("%Y-%m-%dT%H:%M:%S%:z"))
        .map_or_else(|_| t.to_string(), |s| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use State::*;

    fn berlin() -> TimeZone {
        let tz = TimeZone::new(Some("Europe/Berlin"));
        // GLib falls back to UTC when the system has no tzdata.
        assert_eq!(
            gst::glib::DateTime::from_unix_utc(0)
                .and_then(|t| t.to_timezone(&tz))
                .map(|t| t.utc_offset().as_seconds())
                .ok(),
            Some(3600),
            "tzdata has Europe/Berlin"
        );
        tz
    }

    fn date(y: i32, m: u8, d: u8) -> Date {
        Date::from_calendar_date(y, Month::try_from(m).expect("month"), d).expect("date")
    }

    fn at(tz: &TimeZone, y: i32, m: i32, d: i32, h: i32, min: i32) -> i64 {
        DateTime::new(tz, y, m, d, h, min, 0.0)
            .expect("time")
            .to_unix()
    }

    fn hours(from: (u16, u16), to: (u16, u16)) -> Hours {
        Hours {
            from: ClockTime::new(from.0, from.1),
            to: ClockTime::new(to.0, to.1),
        }
    }

    fn night(intervals: &[(u32, u32, State)]) -> Night {
        let mut n = Night {
            night: "2026-12-02".into(),
            start: 0,
            end: 43_200,
            intervals: Vec::new(),
        };
        for &(a, b, s) in intervals {
            n.add(a, b, s);
        }
        n
    }

    #[test]
    fn crying_wins_then_moving_then_settled_if_watched() {
        let m = |crying, moving, watched_s| Minute {
            crying,
            moving,
            watched_s,
        };
        assert_eq!(m(true, true, 0.0).classify(60), Some(Crying));
        assert_eq!(m(false, true, 0.0).classify(60), Some(Moving));
        assert_eq!(m(false, false, 30.0).classify(60), Some(Settled));
        assert_eq!(m(false, false, 29.9).classify(60), None);
        assert_eq!(m(false, false, 0.5).classify(1), Some(Settled));
    }

    #[test]
    fn minutes_of_one_state_merge_and_gaps_stay_gaps() {
        let n = night(&[
            (0, 60, Settled),
            (60, 120, Settled),
            (120, 180, Moving),
            (240, 300, Moving),
            (300, 360, Crying),
        ]);
        assert_eq!(
            n.intervals,
            [
                Interval(0, 120, Settled),
                Interval(120, 180, Moving),
                Interval(240, 300, Moving),
                Interval(300, 360, Crying),
            ]
        );
        let t = n.totals();
        assert_eq!((t.settled_s, t.moving_s, t.crying_s), (120, 120, 60));
        assert_eq!(n.longest_settled_s(), 120);
    }

    #[test]
    fn what_overlaps_the_log_is_dropped() {
        let n = night(&[(0, 120, Settled), (60, 120, Crying), (120, 120, Moving)]);
        assert_eq!(n.intervals, [Interval(0, 120, Settled)]);
    }

    #[test]
    fn the_stored_form_is_compact() {
        let n = night(&[(0, 120, Settled), (120, 180, Crying)]);
        let json = serde_json::to_string(&n.intervals).expect("json");
        assert_eq!(json, r#"[[0,120,"s"],[120,180,"c"]]"#);
    }

    #[test]
    fn a_wake_up_is_three_restless_minutes_after_settling() {
        let m = 60;
        // Two minutes of moving is a stir, not a wake-up; three (moving then crying) is one.
        let n = night(&[
            (0, 600, Settled),
            (600, 720, Moving),
            (720, 900, Settled),
            (900, 960, Moving),
            (960, 1080, Crying),
            (1080, 1200, Moving),
            (1200, 1800, Settled),
        ]);
        assert_eq!(n.wake_ups(m), 1);
        // Restless from the start, never settled: no wake-up, however long.
        assert_eq!(night(&[(0, 900, Crying)]).wake_ups(m), 0);
        // A gap splits the restless minutes.
        let n = night(&[(0, 600, Settled), (600, 720, Moving), (780, 900, Moving)]);
        assert_eq!(n.wake_ups(m), 0);
        // Two separate wake-ups, each after settling again.
        let n = night(&[
            (0, 60, Settled),
            (60, 240, Crying),
            (240, 300, Settled),
            (300, 480, Moving),
        ]);
        assert_eq!(n.wake_ups(m), 2);
        // With one-second "minutes", three seconds.
        let n = night(&[(0, 5, Settled), (5, 8, Crying)]);
        assert_eq!(n.wake_ups(1), 1);
    }

    #[test]
    fn a_night_across_midnight_is_named_by_its_first_evening() {
        let tz = berlin();
        let h = hours((19, 0), (7, 0));
        let span = h.night_of(&tz, date(2026, 12, 2)).expect("night");
        assert_eq!(span.name(), "2026-12-02");
        assert_eq!(span.start, at(&tz, 2026, 12, 2, 19, 0));
        assert_eq!(span.end, at(&tz, 2026, 12, 3, 7, 0));
        assert_eq!(span.length_s(), 12 * 3600);
        for (d, hh, mm) in [(2, 19, 0), (2, 23, 59), (3, 0, 0), (3, 6, 59)] {
            assert_eq!(
                h.night_at(&tz, at(&tz, 2026, 12, d, hh, mm)),
                Some(span),
                "{d} {hh}:{mm}"
            );
        }
        // The day between two nights is no night.
        for (d, hh) in [(3, 7), (3, 12), (2, 18)] {
            assert_eq!(h.night_at(&tz, at(&tz, 2026, 12, d, hh, 0)), None);
        }
        assert_eq!(
            h.night_at(&tz, at(&tz, 2026, 12, 3, 19, 30))
                .map(|s| s.name()),
            Some("2026-12-03".into())
        );
        assert_eq!(iso_local(&tz, span.start), "2026-12-02T19:00:00+01:00");
    }

    #[test]
    fn a_night_within_one_day_and_a_whole_day() {
        let tz = berlin();
        let nap = hours((13, 0), (15, 30));
        let span = nap.night_of(&tz, date(2026, 6, 1)).expect("nap");
        assert_eq!(span.length_s(), 9000);
        assert_eq!(nap.night_at(&tz, at(&tz, 2026, 6, 1, 15, 30)), None);
        let day = hours((8, 0), (8, 0));
        let span = day.night_at(&tz, at(&tz, 2026, 6, 2, 7, 59)).expect("day");
        assert_eq!(
            (span.name(), span.length_s()),
            ("2026-06-01".into(), 86_400)
        );
    }

    #[test]
    fn nights_across_a_clock_change_keep_their_local_hours() {
        let tz = berlin();
        let h = hours((19, 0), (7, 0));
        // Clocks go forward at 02:00 on 29 March 2026: an 11-hour night.
        let spring = h.night_of(&tz, date(2026, 3, 28)).expect("spring");
        assert_eq!(spring.length_s(), 11 * 3600);
        assert_eq!(iso_local(&tz, spring.end), "2026-03-29T07:00:00+02:00");
        // And back at 03:00 on 25 October 2026: a 13-hour night.
        let autumn = h.night_of(&tz, date(2026, 10, 24)).expect("autumn");
        assert_eq!(autumn.length_s(), 13 * 3600);
        let within = at(&tz, 2026, 10, 25, 2, 30);
        assert_eq!(h.night_at(&tz, within), Some(autumn));
        // A start in the skipped hour still makes a night (from when the clocks jumped).
        let odd = hours((2, 30), (6, 0));
        let span = odd.night_of(&tz, date(2026, 3, 29)).expect("skipped start");
        assert_eq!(iso_local(&tz, span.start), "2026-03-29T03:00:00+02:00");
        assert_eq!(span.length_s(), 3 * 3600);
    }
}
