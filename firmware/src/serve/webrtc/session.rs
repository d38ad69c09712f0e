//! Logins of the web page: a random token in an HttpOnly, SameSite=Strict cookie, kept in
//! memory (a restart logs everyone out, which costs a parent one more login).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rand::Rng;

pub const COOKIE: &str = "bm_session";
/// More logins than this and the least recently used one is dropped.
const MAX_SESSIONS: usize = 256;

pub struct Sessions {
    by_token: Mutex<HashMap<String, (String, Instant)>>,
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

    fn lock(&self) -> MutexGuard<'_, HashMap<String, (String, Instant)>> {
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
                .min_by_key(|(_, (_, used))| *used)
                .map(|(t, _)| t.clone())
        {
            map.remove(&oldest);
        }
        map.insert(token.clone(), (user.to_string(), Instant::now()));
        token
    }

    /// The user of a live session, which counts as a use of it.
    pub fn user(&self, token: &str, max_idle: Duration) -> Option<String> {
        let mut map = self.lock();
        let now = Instant::now();
        map.retain(|_, (_, used)| now.duration_since(*used) < max_idle);
        let (user, used) = map.get_mut(token)?;
        *used = now;
        Some(user.clone())
    }

    pub fn remove(&self, token: &str) {
        self.lock().remove(token);
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
        let s = Sessions::new();
        let t = s.create("admin");
        assert_eq!(
            s.user(&t, Duration::from_secs(60)).as_deref(),
            Some("admin")
        );
        assert_eq!(s.user("nope", Duration::from_secs(60)), None);
        s.remove(&t);
        assert_eq!(s.user(&t, Duration::from_secs(60)), None);
        let t = s.create("admin");
        assert_eq!(s.user(&t, Duration::ZERO), None);
    }
}
