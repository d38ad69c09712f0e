//! Logins of the web page: a random token in an HttpOnly, SameSite=Strict cookie, kept in
//! memory (a restart logs everyone out, which costs a parent one more login). A login ends when
//! it is not used for a while, when it is old, or when its user's password changes.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rand::Rng;

pub const COOKIE: &str = "bm_session";
/// More logins than this and the least recently used one is dropped.
const MAX_SESSIONS: usize = 256;

struct Session {
    user: String,
    created: Instant,
    used: Instant,
}

/// How long logins last: without use, and at most.
#[derive(Clone, Copy, Debug)]
pub struct Lifetime {
    pub idle: Duration,
    pub max: Duration,
}

pub struct Sessions {
    by_token: Mutex<HashMap<String, Session>>,
}

impl Default for Sessions {
    fn default() -> Self {
        Self::new()
    }
}

impl Sessions {
    pub fn new() -> Self {
        Self {
            by_token: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Session>> {
        self.by_token.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new session for `user`; returns its token.
    pub fn create(&self, user: &str) -> String {
        let bytes: [u8; 32] = rand::rng().random();
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let mut map = self.lock();
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.used)
                .map(|(t, _)| t.clone())
        {
            map.remove(&oldest);
        }
        let now = Instant::now();
        let session = Session {
            user: user.to_string(),
            created: now,
            used: now,
        };
        map.insert(token.clone(), session);
        token
    }

    /// The user of a live session, which counts as a use of it.
    pub fn user(&self, token: &str, lifetime: Lifetime) -> Option<String> {
        let mut map = self.lock();
        let now = Instant::now();
        map.retain(|_, s| {
            now.duration_since(s.used) < lifetime.idle
                && now.duration_since(s.created) < lifetime.max
        });
        let session = map.get_mut(token)?;
        session.used = now;
        Some(session.user.clone())
    }

    pub fn remove(&self, token: &str) {
        self.lock().remove(token);
    }

    /// Ends every login of `user`.
    pub fn revoke(&self, user: &str) -> usize {
        let mut map = self.lock();
        let before = map.len();
        map.retain(|_, s| s.user != user);
        before - map.len()
    }
}

/// The session token in a `Cookie` header, if any.
pub fn token_in(cookie_header: &str) -> Option<&str> {
    cookie_header
        .split(';')
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_found_among_other_cookies() {
        assert_eq!(token_in("a=1; bm_session=abc; b=2"), Some("abc"));
        assert_eq!(token_in("bm_session="), None);
        assert_eq!(token_in("other=bm_session"), None);
    }

    #[test]
    fn sessions_expire_and_end() {
        let minute = Duration::from_secs(60);
        let long = Lifetime {
            idle: minute,
            max: minute,
        };
        let s = Sessions::new();
        let t = s.create("admin");
        assert_eq!(s.user(&t, long).as_deref(), Some("admin"));
        assert_eq!(s.user("nope", long), None);
        s.remove(&t);
        assert_eq!(s.user(&t, long), None);
        let t = s.create("admin");
        let idle = Lifetime {
            idle: Duration::ZERO,
            max: minute,
        };
        assert_eq!(s.user(&t, idle), None);
        // Used all the time, a session still ends at its lifetime.
        let t = s.create("admin");
        let old = Lifetime {
            idle: minute,
            max: Duration::ZERO,
        };
        assert_eq!(s.user(&t, old), None);
        let (a, b, c) = (s.create("admin"), s.create("admin"), s.create("viewer"));
        assert_eq!(s.revoke("admin"), 2);
        assert_eq!((s.user(&a, long), s.user(&b, long)), (None, None));
        assert_eq!(s.user(&c, long).as_deref(), Some("viewer"));
    }
}
