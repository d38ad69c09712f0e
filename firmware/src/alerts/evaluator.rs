//! Decides when an alert fires for one user: the one place that does. Pure: it is fed what the
//! camera senses, with the time, and says which alert is due; the task in `mod.rs` feeds it
//! from the event bus and a clock tick, and tests feed it a made-up clock.

use std::time::Duration;

use serde::Serialize;

use super::rules::{Rules, Switches};

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Cry,
    Motion,
    TooHot,
    TooCold,
    TooHumid,
    TooDry,
    Microphone,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::Cry,
        Kind::Motion,
        Kind::TooHot,
        Kind::TooCold,
        Kind::TooHumid,
        Kind::TooDry,
        Kind::Microphone,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Cry => "cry",
            Kind::Motion => "motion",
            Kind::TooHot => "too_hot",
            Kind::TooCold => "too_cold",
            Kind::TooHumid => "too_humid",
            Kind::TooDry => "too_dry",
            Kind::Microphone => "microphone",
        }
    }

    /// The user's switches for this kind (the four climate kinds share one).
    pub fn switches(self, rules: &Rules) -> Switches {
        match self {
            Kind::Cry => rules.cry,
            Kind::Motion => rules.motion,
            Kind::TooHot | Kind::TooCold | Kind::TooHumid | Kind::TooDry => rules.climate,
            Kind::Microphone => rules.microphone,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A condition the camera senses: on (`true`) or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signal {
    /// `Kind::Cry` is the sound detector's crying.
    pub kind: Kind,
    pub on: bool,
}

/// The time as the evaluator sees it: a monotonic clock for durations, and the local time of
/// day for the sleep-training hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moment {
    pub since_start: Duration,
    /// Minutes since local midnight.
    pub minute_of_day: u16,
}

/// One crying episode: from the detector going on to it going off.
#[derive(Debug, Clone, Copy)]
struct Episode {
    started: Duration,
    /// Whether this episode has alerted (each alerts at most once).
    alerted: bool,
}

/// One user's state.
#[derive(Debug, Default)]
pub struct Evaluator {
    /// Each kind's condition as last heard.
    on: [bool; Kind::ALL.len()],
    episode: Option<Episode>,
    /// When the last crying alert went out.
    last_cry_alert: Option<Duration>,
}

impl Evaluator {
    /// An evaluator that takes the present state as known, without alerting for it: a user
    /// added while the room is too hot hears of the next rise, not of this one.
    pub fn primed(present: &[Signal], now: Moment) -> Self {
        let mut e = Self::default();
        for s in present {
            e.on[s.kind.index()] = s.on;
            if s.kind == Kind::Cry && s.on {
                e.episode = Some(Episode {
                    started: now.since_start,
                    alerted: true,
                });
            }
        }
        e
    }

    /// A condition changed (or was reported again); the alert it makes due, if any.
    pub fn feed(&mut self, rules: &Rules, now: Moment, signal: Signal) -> Option<Kind> {
        let was = std::mem::replace(&mut self.on[signal.kind.index()], signal.on);
        match (signal.kind, was, signal.on) {
            (Kind::Cry, false, true) => {
                self.episode = Some(Episode {
                    started: now.since_start,
                    alerted: false,
                });
                self.cry_due(rules, now)
            }
            (Kind::Cry, true, false) => {
                self.episode = None;
                None
            }
            (kind, false, true) if kind.switches(rules).enabled => Some(kind),
            _ => None,
        }
    }

    /// The clock moved on: a crying episode may have lasted long enough, or a cooldown ended.
    pub fn tick(&mut self, rules: &Rules, now: Moment) -> Option<Kind> {
        self.cry_due(rules, now)
    }

    /// Whether the crying episode alerts now. Outside sleep training an episode alerts when
    /// it starts; inside its hours once it has lasted `delay_s`, and not within `cooldown_s`
    /// of the last crying alert.
    fn cry_due(&mut self, rules: &Rules, now: Moment) -> Option<Kind> {
        let episode = self.episode.as_mut()?;
        if episode.alerted || !rules.cry.enabled {
            return None;
        }
        let st = &rules.sleep_training;
        if st.applies_at(now.minute_of_day) {
            let lasted = now.since_start.saturating_sub(episode.started);
            if lasted < Duration::from_secs(st.delay_s.into()) {
                return None;
            }
            let cooling = self.last_cry_alert.is_some_and(|at| {
                now.since_start.saturating_sub(at) < Duration::from_secs(st.cooldown_s.into())
            });
            if cooling {
                return None;
            }
        }
        episode.alerted = true;
        self.last_cry_alert = Some(now.since_start);
        Some(Kind::Cry)
    }
}

#[cfg(test)]
mod tests {
    use super::super::rules::{ClockTime, SleepTraining};
    use super::*;

    /// A made-up clock: seconds since start at a local time of day.
    struct Clock {
        s: u64,
        start_minute: u16,
    }

    impl Clock {
        fn at(hour: u16, minute: u16) -> Self {
            Self {
                s: 0,
                start_minute: hour * 60 + minute,
            }
        }

        fn now(&self) -> Moment {
            Moment {
                since_start: Duration::from_secs(self.s),
                minute_of_day: ((u64::from(self.start_minute) + self.s / 60) % 1440) as u16,
            }
        }
    }

    /// Drives one evaluator through a script, ticking every second, and records when alerts
    /// fired (seconds since start).
    struct Run {
        rules: Rules,
        clock: Clock,
        e: Evaluator,
        fired: Vec<(u64, Kind)>,
    }

    impl Run {
        fn new(rules: Rules, clock: Clock) -> Self {
            Self {
                rules,
                clock,
                e: Evaluator::default(),
                fired: Vec::new(),
            }
        }

        fn signal(&mut self, kind: Kind, on: bool) -> &mut Self {
            let now = self.clock.now();
            if let Some(k) = self.e.feed(&self.rules, now, Signal { kind, on }) {
                self.fired.push((self.clock.s, k));
            }
            self
        }

        fn wait(&mut self, seconds: u64) -> &mut Self {
            for _ in 0..seconds {
                self.clock.s += 1;
                let now = self.clock.now();
                if let Some(k) = self.e.tick(&self.rules, now) {
                    self.fired.push((self.clock.s, k));
                }
            }
            self
        }

        /// A crying episode of `seconds`, then `quiet` seconds.
        fn cry(&mut self, seconds: u64, quiet: u64) -> &mut Self {
            self.signal(Kind::Cry, true)
                .wait(seconds)
                .signal(Kind::Cry, false)
                .wait(quiet)
        }
    }

    fn training(delay_s: u32, cooldown_s: u32, from: (u16, u16), to: (u16, u16)) -> Rules {
        Rules {
            sleep_training: SleepTraining {
                enabled: true,
                delay_s,
                cooldown_s,
                from: ClockTime::new(from.0, from.1),
                to: ClockTime::new(to.0, to.1),
            },
            ..Rules::default()
        }
    }

    #[test]
    fn without_sleep_training_each_crying_episode_alerts_once_when_it_starts() {
        let mut r = Run::new(Rules::default(), Clock::at(22, 0));
        r.wait(5).cry(40, 10).cry(3, 10);
        // The detector reporting crying again (unchanged) is not a new episode.
        r.signal(Kind::Cry, true).wait(2).signal(Kind::Cry, true);
        assert_eq!(
            r.fired,
            vec![(5, Kind::Cry), (55, Kind::Cry), (68, Kind::Cry)]
        );
    }

    #[test]
    fn sleep_training_holds_short_crying_and_alerts_once_a_long_one_lasted_the_delay() {
        let mut r = Run::new(training(30, 600, (19, 0), (7, 0)), Clock::at(22, 0));
        r.wait(5).cry(10, 10).cry(40, 10);
        // Not at 25 (the start of the 40 s episode) nor at 5: 30 s into the long one.
        assert_eq!(r.fired, vec![(55, Kind::Cry)]);
    }

    #[test]
    fn the_cooldown_holds_the_next_alert_and_lets_one_through_after_it() {
        let mut r = Run::new(training(30, 300, (19, 0), (7, 0)), Clock::at(22, 0));
        r.cry(40, 10); // alerts at 30
        r.cry(60, 10); // starts at 50, lasted 30 s at 80: within the cooldown (until 330)
        assert_eq!(r.fired, vec![(30, Kind::Cry)]);
        // An episode that has lasted the delay when the cooldown ends alerts then.
        r.wait(170); // now 290: lasts 30 s at 320, the cooldown ends at 330
        r.signal(Kind::Cry, true).wait(60).signal(Kind::Cry, false);
        assert_eq!(r.fired, vec![(30, Kind::Cry), (330, Kind::Cry)]);
        // A zero cooldown and zero delay alert at every episode's start.
        let mut r = Run::new(training(0, 0, (0, 0), (0, 0)), Clock::at(22, 0));
        r.cry(5, 5).cry(5, 5);
        assert_eq!(r.fired, vec![(0, Kind::Cry), (10, Kind::Cry)]);
    }

    #[test]
    fn outside_the_sleep_training_hours_crying_alerts_at_once_and_without_cooldown() {
        // 19:00 to 07:00, and it is noon.
        let mut r = Run::new(training(30, 600, (19, 0), (7, 0)), Clock::at(12, 0));
        r.cry(10, 5).cry(10, 5);
        assert_eq!(r.fired, vec![(0, Kind::Cry), (15, Kind::Cry)]);
    }

    #[test]
    fn the_hours_wrap_midnight_and_their_end_releases_a_held_episode() {
        // 23:00 to 01:00; the clock starts at 23:58 and crosses midnight: still held.
        let mut r = Run::new(training(300, 600, (23, 0), (1, 0)), Clock::at(23, 58));
        r.cry(120, 10);
        assert!(r.fired.is_empty(), "{:?}", r.fired);
        // 00:59:30: crying starts, held; at 01:00 the rule ends and the episode alerts.
        let mut r = Run::new(training(300, 600, (23, 0), (1, 0)), Clock::at(0, 58));
        r.wait(90).signal(Kind::Cry, true).wait(60);
        assert_eq!(r.fired, vec![(120, Kind::Cry)]);
    }

    #[test]
    fn motion_climate_and_the_microphone_alert_once_per_rise() {
        let rules = Rules {
            motion: Switches::default(),
            ..Rules::default()
        };
        let mut r = Run::new(rules, Clock::at(12, 0));
        for kind in Kind::ALL.into_iter().filter(|k| *k != Kind::Cry) {
            r.fired.clear();
            r.signal(kind, true).wait(1).signal(kind, true).wait(1);
            r.signal(kind, false).signal(kind, false).wait(1);
            r.signal(kind, true).wait(1);
            assert_eq!(r.fired.len(), 2, "{kind:?}: {:?}", r.fired);
            assert!(r.fired.iter().all(|(_, k)| *k == kind));
            r.signal(kind, false);
        }
    }

    #[test]
    fn disabled_kinds_do_not_alert_and_motion_is_off_by_default() {
        let mut rules = Rules::default();
        rules.climate.enabled = false;
        rules.microphone.enabled = false;
        rules.cry.enabled = false;
        let mut r = Run::new(rules, Clock::at(12, 0));
        for kind in Kind::ALL {
            r.signal(kind, true).wait(400).signal(kind, false);
        }
        assert!(r.fired.is_empty(), "{:?}", r.fired);
        // The switch is read when the condition rises: switching climate on later does not
        // alert for a rise that was already ignored, the next rise does.
        r.rules.climate.enabled = true;
        r.signal(Kind::TooHot, true).wait(1);
        r.rules.climate.enabled = false;
        r.signal(Kind::TooHot, false).signal(Kind::TooHot, true);
        assert_eq!(r.fired, vec![(2800, Kind::TooHot)]);
    }

    #[test]
    fn a_primed_evaluator_does_not_alert_for_what_was_already_so() {
        let now = Clock::at(12, 0).now();
        let present = [
            Signal {
                kind: Kind::TooHot,
                on: true,
            },
            Signal {
                kind: Kind::Cry,
                on: true,
            },
        ];
        let mut e = Evaluator::primed(&present, now);
        let rules = Rules::default();
        let hot = Signal {
            kind: Kind::TooHot,
            on: true,
        };
        assert_eq!(e.feed(&rules, now, hot), None);
        assert_eq!(e.tick(&rules, now), None);
        let cry = |on| Signal {
            kind: Kind::Cry,
            on,
        };
        assert_eq!(e.feed(&rules, now, cry(false)), None);
        assert_eq!(e.feed(&rules, now, cry(true)), Some(Kind::Cry));
    }

    #[test]
    fn the_kinds_are_spelt_as_the_api_says() {
        for kind in Kind::ALL {
            assert_eq!(
                serde_json::to_value(kind).expect("json"),
                serde_json::Value::from(kind.as_str())
            );
        }
        assert!(Kind::TooHumid.switches(&Rules::default()).enabled);
    }
}
