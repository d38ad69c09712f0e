//! When clips start and end, from the detectors' events: a clip starts when an event does,
//! runs until `post_s` after the last event ended, takes in an event that comes within
//! `merge_s` of the last one's end, and is cut at `max_s` (a longer event goes on in the next
//! clip). Time is passed in, so that the rules can be tested without waiting.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::config::RecordingsConfig;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A clip starts for `kind`; `continued`: it follows one that reached its longest, and
    /// starts at the newest key frame rather than with the whole pre-roll.
    Start {
        kind: String,
        continued: bool,
    },
    Stop,
}

#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub post: Duration,
    pub merge: Duration,
    pub max: Duration,
}

impl Timing {
    pub fn of(config: &RecordingsConfig) -> Self {
        Self {
            post: Duration::from_secs(config.post_s.into()),
            merge: Duration::from_secs(config.merge_s.into()),
            max: Duration::from_secs(config.max_s.into()),
        }
    }
}

#[derive(Debug)]
struct Clip {
    started: Duration,
    /// Since when no event has been on; `None` while one is.
    quiet_since: Option<Duration>,
}

pub struct Trigger {
    timing: Timing,
    kinds: Vec<String>,
    on: BTreeSet<String>,
    clip: Option<Clip>,
}

impl Trigger {
    pub fn new(timing: Timing, kinds: Vec<String>) -> Self {
        Self {
            timing,
            kinds,
            on: BTreeSet::new(),
            clip: None,
        }
    }

    pub fn recording(&self) -> bool {
        self.clip.is_some()
    }

    /// An event of `kind` went on or off at `now`.
    pub fn event(&mut self, now: Duration, kind: &str, on: bool) -> Option<Action> {
        if !self.kinds.iter().any(|k| k == kind) {
            return None;
        }
        if !on {
            self.on.remove(kind);
            if self.on.is_empty()
                && let Some(clip) = &mut self.clip
                && clip.quiet_since.is_none()
            {
                clip.quiet_since = Some(now);
            }
            return None;
        }
        self.on.insert(kind.to_string());
        match &mut self.clip {
            Some(clip) => {
                clip.quiet_since = None;
                None
            }
            None => Some(self.start(now, kind, false)),
        }
    }

    fn start(&mut self, now: Duration, kind: &str, continued: bool) -> Action {
        self.clip = Some(Clip {
            started: now,
            quiet_since: None,
        });
        Action::Start {
            kind: kind.to_string(),
            continued,
        }
    }

    /// The clock moved on to `now`: the post-roll or the longest clip may be over.
    pub fn tick(&mut self, now: Duration) -> Vec<Action> {
        let Some(clip) = &self.clip else {
            return Vec::new();
        };
        let tail = self.timing.post.max(self.timing.merge);
        if now.saturating_sub(clip.started) >= self.timing.max {
            self.clip = None;
            let mut actions = vec![Action::Stop];
            if let Some(kind) = self.on.iter().next().cloned() {
                actions.push(self.start(now, &kind, true));
            }
            return actions;
        }
        match clip.quiet_since {
            Some(quiet) if now.saturating_sub(quiet) >= tail => {
                self.clip = None;
                vec![Action::Stop]
            }
            _ => Vec::new(),
        }
    }

    /// The clip ended for another reason (no space, the writer failed): the next event
    /// starts a new one.
    pub fn abort(&mut self) {
        self.clip = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    fn trigger(post: u64, merge: u64, max: u64) -> Trigger {
        Trigger::new(
            Timing {
                post: s(post),
                merge: s(merge),
                max: s(max),
            },
            vec!["cry".into(), "motion".into()],
        )
    }

    fn start(kind: &str, continued: bool) -> Action {
        Action::Start {
            kind: kind.into(),
            continued,
        }
    }

    /// Ticks every second from `from` to `to` (inclusive); the actions with their times.
    fn run(t: &mut Trigger, from: u64, to: u64) -> Vec<(u64, Action)> {
        (from..=to)
            .flat_map(|at| t.tick(s(at)).into_iter().map(move |a| (at, a)))
            .collect()
    }

    #[test]
    fn a_cry_makes_one_clip_ending_post_s_after_it() {
        let mut t = trigger(10, 5, 120);
        assert_eq!(t.event(s(100), "cry", true), Some(start("cry", false)));
        assert_eq!(t.event(s(101), "cry", true), None, "still the same clip");
        assert_eq!(t.event(s(108), "cry", false), None);
        assert_eq!(run(&mut t, 100, 130), vec![(118, Action::Stop)]);
        assert!(!t.recording());
    }

    #[test]
    fn events_within_merge_s_join_one_clip_and_later_ones_make_another() {
        let mut t = trigger(10, 20, 600);
        t.event(s(0), "cry", true);
        t.event(s(5), "cry", false);
        // 15 s after the end: past post_s but within merge_s, so the clip went on.
        assert_eq!(run(&mut t, 0, 19), vec![]);
        assert_eq!(t.event(s(20), "cry", true), None);
        t.event(s(30), "cry", false);
        assert_eq!(run(&mut t, 20, 60), vec![(50, Action::Stop)]);
        // Another kind overlapping keeps the clip going until both are off.
        assert_eq!(
            t.event(s(100), "motion", true),
            Some(start("motion", false))
        );
        t.event(s(101), "cry", true);
        t.event(s(102), "motion", false);
        assert_eq!(run(&mut t, 100, 140), vec![]);
        t.event(s(141), "cry", false);
        assert_eq!(run(&mut t, 141, 170), vec![(161, Action::Stop)]);
    }

    #[test]
    fn a_long_event_is_cut_at_max_s_and_goes_on_in_the_next_clip() {
        let mut t = trigger(10, 10, 60);
        t.event(s(0), "cry", true);
        assert_eq!(
            run(&mut t, 0, 130),
            vec![
                (60, Action::Stop),
                (60, start("cry", true)),
                (120, Action::Stop),
                (120, start("cry", true)),
            ]
        );
        // Cut in its post-roll: it just ends.
        t.event(s(150), "cry", false);
        assert_eq!(run(&mut t, 131, 200), vec![(160, Action::Stop)]);
    }

    #[test]
    fn kinds_not_chosen_do_nothing_and_an_aborted_clip_lets_the_next_event_start() {
        let mut t = Trigger::new(
            Timing {
                post: s(1),
                merge: s(1),
                max: s(60),
            },
            vec!["cry".into()],
        );
        assert_eq!(t.event(s(0), "motion", true), None);
        assert!(!t.recording());
        assert_eq!(t.event(s(1), "cry", true), Some(start("cry", false)));
        t.abort();
        assert_eq!(t.event(s(2), "cry", false), None);
        assert_eq!(t.event(s(3), "cry", true), Some(start("cry", false)));
    }
}
