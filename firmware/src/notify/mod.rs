//! Push notifications: alerts passed on to a service that wakes the parents' phones when the
//! page is not open (ntfy now). A channel here decides nothing about alerts: it subscribes to
//! [`crate::alerts::Alerts::subscribe`], keeps one user's (their rules already applied) and
//! only chooses which kinds it carries, how often, and how hard it tries.
//!
//! The pure parts every channel shares are here: whose alerts ([`follows`]), the rate limit
//! ([`RateLimit`]) and the retry schedule ([`backoff`]).

pub mod ntfy;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

pub use ntfy::Ntfy;

use crate::alerts::Alert;
use crate::config::{Role, User};

/// Whose alerts a channel set to `user` follows: that user, or with `user` empty the first
/// admin. `None` when there is no such user (nothing is sent then).
pub fn follower<'a>(user: &'a str, users: &'a [User]) -> Option<&'a str> {
    if user.is_empty() {
        users
            .iter()
            .find(|u| u.role == Role::Admin)
            .map(|u| u.name.as_str())
    } else {
        users
            .iter()
            .find(|u| u.name == user)
            .map(|u| u.name.as_str())
    }
}

/// Whether a channel following `user` (see [`follower`]) for `kinds` (empty: all) passes
/// `alert` on: the user's own, of a kind it carries, with the user's notify switch on.
pub fn follows(alert: &Alert, user: &str, kinds: &[String], users: &[User]) -> bool {
    follower(user, users) == Some(alert.user.as_str())
        && alert.notify
        && (kinds.is_empty() || kinds.iter().any(|k| k == alert.kind.as_str()))
}

/// At most `max` in any `window` (a sliding window, so a burst at the end of one hour and the
/// start of the next is still at most `max`).
#[derive(Debug)]
pub struct RateLimit {
    window: Duration,
    sent: VecDeque<Instant>,
}

impl RateLimit {
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            sent: VecDeque::new(),
        }
    }

    /// Whether one more may go at `now` (and counts it if so). `max` is read each time, so a
    /// reload that lowers it applies at once.
    pub fn allow(&mut self, max: u32, now: Instant) -> bool {
        while let Some(&first) = self.sent.front() {
            if now.saturating_duration_since(first) >= self.window {
                self.sent.pop_front();
            } else {
                break;
            }
        }
        if self.sent.len() >= max as usize {
            return false;
        }
        self.sent.push_back(now);
        true
    }
}

/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// How long to wait before retry number `retry` (1 for the first): 1 s, 2 s, 4 s... at most
/// [`MAX_BACKOFF`]. A server that is restarting gets a moment; one that is down is not
/// hammered.
pub fn backoff(retry: u32) -> Duration {
    let secs = 1u64 << retry.saturating_sub(1).min(16);
    Duration::from_secs(secs).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::Kind;

    fn user(name: &str, role: Role) -> User {
        User {
            name: name.into(),
            password: "pw-123456".into(),
            role,
        }
    }

    fn alert(user: &str, kind: Kind, notify: bool) -> Alert {
        Alert {
            user: user.into(),
            id: 1,
            kind,
            title: "t".into(),
            body: "b".into(),
            time: "2026-01-01T00:00:00Z".into(),
            sound: true,
            vibrate: true,
            notify,
        }
    }

    #[test]
    fn the_first_admin_or_the_named_user_and_the_kinds_and_the_notify_switch() {
        let users = [
            user("viewer", Role::User),
            user("ann", Role::Admin),
            user("bob", Role::Admin),
        ];
        assert_eq!(follower("", &users), Some("ann"));
        assert_eq!(follower("viewer", &users), Some("viewer"));
        assert_eq!(follower("gone", &users), None);
        assert_eq!(follower("", &users[..1]), None);

        let all: [String; 0] = [];
        assert!(follows(&alert("ann", Kind::Cry, true), "", &all, &users));
        assert!(!follows(&alert("bob", Kind::Cry, true), "", &all, &users));
        assert!(!follows(&alert("ann", Kind::Cry, false), "", &all, &users));
        assert!(follows(
            &alert("bob", Kind::Motion, true),
            "bob",
            &all,
            &users
        ));
        assert!(!follows(
            &alert("ann", Kind::Cry, true),
            "gone",
            &all,
            &users
        ));
        let some = ["cry".to_string(), "too_hot".to_string()];
        assert!(follows(&alert("ann", Kind::Cry, true), "", &some, &users));
        assert!(follows(
            &alert("ann", Kind::TooHot, true),
            "",
            &some,
            &users
        ));
        assert!(!follows(
            &alert("ann", Kind::TooCold, true),
            "",
            &some,
            &users
        ));
        assert!(!follows(
            &alert("ann", Kind::Microphone, true),
            "",
            &some,
            &users
        ));
    }

    #[test]
    fn at_most_max_in_any_hour() {
        let hour = Duration::from_secs(3600);
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut limit = RateLimit::new(hour);
        assert!(limit.allow(3, at(0)));
        assert!(limit.allow(3, at(10)));
        assert!(limit.allow(3, at(20)));
        assert!(!limit.allow(3, at(30)));
        // Refused ones do not count: the first leaves the window an hour after it went.
        assert!(!limit.allow(3, at(3599)));
        assert!(limit.allow(3, at(3600)));
        assert!(!limit.allow(3, at(3605)));
        assert!(limit.allow(3, at(3610)));
        // A lower maximum after a reload applies at once; a higher one lets more through.
        // (The one of 20 s has left the window: 3600 and 3610 are in it.)
        assert!(!limit.allow(1, at(3700)));
        assert!(limit.allow(4, at(3700)));
        assert!(limit.allow(4, at(3701)));
        assert!(!limit.allow(4, at(3702)));
    }

    #[test]
    fn backoff_doubles_up_to_a_minute() {
        let secs: Vec<u64> = (1..=9).map(|r| backoff(r).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(backoff(0), Duration::from_secs(1));
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }
}
