//! Logins of the web page: a random token in an HttpOnly, SameSite=Strict cookie. A login ends
//! when it is not used for a while, when it is old, or when its user's password changes.
//!
//! Logins outlive a restart of the camera (a power blip at night, an update): the parent's
//! phone, listening with its screen off, picks up again by itself. They are kept in
//! `sessions.json` in the data directory, written atomically when a login begins or ends and
//! at most every [`SAVE_EVERY`] for their last use (the SD card is spared; minutes are nothing
//! against a 30-day idle limit), and when the daemon stops. The file holds no usable secret:
//! each token only as its SHA-256 (a copied card hands out no live cookie), and a hash of the
//! user's password with a salt of the file's own, so that the logins of a user whose password
//! changed or who was removed while the camera was off end at the next start. A file that
//! cannot be read is ignored with a warning: everyone logs in again.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use crate::config::User;

pub const COOKIE: &str = "bm_session";
/// More logins than this and the least recently used one is dropped.
const MAX_SESSIONS: usize = 256;
/// The least time between two writes for last uses alone.
pub const SAVE_EVERY: Duration = Duration::from_secs(5 * 60);
/// The file's layout; another number is a file this release does not read.
const VERSION: u32 = 1;

type Hash = [u8; 32];

/// Milliseconds on a clock of this process that never jumps: ages within a run are measured on
/// it, so setting the wall clock (NTP after a boot without a real-time clock) ends no login.
fn mono_ms() -> i64 {
    static START: LazyLock<Instant> = LazyLock::new(Instant::now);
    i64::try_from(START.elapsed().as_millis()).unwrap_or(i64::MAX)
}

fn unix_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn token_hash(token: &str) -> Hash {
    Sha256::digest(token.as_bytes()).into()
}

/// What ties a login to its user's password of the time (the length keeps `ab`+`c` apart
/// from `a`+`bc`).
fn password_hash(salt: &[u8], user: &str, password: &str) -> Hash {
    let mut h = Sha256::new();
    h.update(b"babymonitor web login\0");
    h.update(salt);
    h.update((user.len() as u64).to_le_bytes());
    h.update(user.as_bytes());
    h.update(password.as_bytes());
    h.finalize().into()
}

struct Session {
    user: String,
    password: Hash,
    /// On [`mono_ms`]'s clock.
    created: i64,
    used: i64,
    /// Wall clock (Unix seconds), for the file. The last use never goes back with the clock.
    created_unix: u64,
    used_unix: u64,
}

/// How long logins last: without use, and at most.
#[derive(Clone, Copy, Debug)]
pub struct Lifetime {
    pub idle: Duration,
    pub max: Duration,
}

#[derive(Default)]
struct Inner {
    by_hash: HashMap<Hash, Session>,
    /// A login began or ended since the last write.
    changed: bool,
    /// Only last uses changed.
    used: bool,
    saved: Option<Instant>,
}

pub struct Sessions {
    inner: Mutex<Inner>,
    /// Where they are kept; `None` keeps them in memory only.
    path: Option<PathBuf>,
    salt: [u8; 16],
    /// Held from the copy of the logins to the rename, so that an older copy never replaces a
    /// newer one.
    writing: Mutex<()>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    token_sha256: String,
    user: String,
    password_sha256: String,
    created: u64,
    used: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredFile {
    version: u32,
    salt: String,
    sessions: Vec<Stored>,
}

/// Only the version, read before the rest so that another layout gets a clear message.
#[derive(Deserialize)]
struct Version {
    version: u32,
}

impl Default for Sessions {
    fn default() -> Self {
        Self::new()
    }
}

impl Sessions {
    /// Logins kept in memory only.
    pub fn new() -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            path: None,
            salt: rand::rng().random(),
            writing: Mutex::new(()),
        }
    }

    /// The logins `path` kept that are still good for `users` (a missing file has none; one
    /// that cannot be read is ignored with a warning).
    pub fn open(path: PathBuf, users: &[User]) -> Self {
        let stored = match std::fs::read_to_string(&path) {
            Ok(text) => match read(&text) {
                Ok(stored) => Some(stored),
                Err(why) => {
                    warn!(
                        file = %path.display(),
                        "web logins not kept: {why}; everyone logs in again"
                    );
                    None
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                warn!(file = %path.display(), "web logins not kept: {e}; everyone logs in again");
                None
            }
        };
        let mut me = Self {
            path: Some(path),
            ..Self::new()
        };
        let Some((salt, stored)) = stored else {
            return me;
        };
        me.salt = salt;
        let (now, now_unix) = (mono_ms(), unix_s());
        let mut dropped = 0;
        let mut by_hash = HashMap::new();
        for s in stored {
            let (Some(token), Some(password)) = (unhex(&s.token_sha256), unhex(&s.password_sha256))
            else {
                dropped += 1;
                continue;
            };
            let current = users
                .iter()
                .find(|u| u.name == s.user)
                .map(|u| password_hash(&me.salt, &u.name, &u.password));
            if current != Some(password) {
                dropped += 1;
                continue;
            }
            // A time ahead of the clock (set back, or not set yet after a boot) is an age of
            // nothing, not a negative one that would keep the login alive longer.
            let age = |t: u64| ms(Duration::from_secs(now_unix.saturating_sub(t)));
            by_hash.insert(
                token,
                Session {
                    created: now.saturating_sub(age(s.created)),
                    used: now.saturating_sub(age(s.used.max(s.created))),
                    user: s.user,
                    password,
                    created_unix: s.created,
                    used_unix: s.used.max(s.created),
                },
            );
        }
        while by_hash.len() > MAX_SESSIONS {
            drop_least_recent(&mut by_hash);
        }
        if dropped > 0 {
            info!(
                dropped,
                "web logins of a changed password or a removed user ended"
            );
        }
        info!(
            kept = by_hash.len(),
            "web logins kept from before the start"
        );
        let inner = me.inner.get_mut().unwrap_or_else(PoisonError::into_inner);
        inner.by_hash = by_hash;
        inner.changed = dropped > 0;
        me
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new session for `user`, who logged in with `password`; returns its token. It is on
    /// the card after the next [`Self::save`].
    pub fn create(&self, user: &str, password: &str) -> String {
        let bytes: [u8; 32] = rand::rng().random();
        let token: String = hex::encode(bytes);
        let mut inner = self.lock();
        if inner.by_hash.len() >= MAX_SESSIONS {
            drop_least_recent(&mut inner.by_hash);
        }
        let (now, now_unix) = (mono_ms(), unix_s());
        let session = Session {
            user: user.to_string(),
            password: password_hash(&self.salt, user, password),
            created: now,
            used: now,
            created_unix: now_unix,
            used_unix: now_unix,
        };
        inner.by_hash.insert(token_hash(&token), session);
        inner.changed = true;
        token
    }

    /// The user of a live session, which counts as a use of it.
    pub fn user(&self, token: &str, lifetime: Lifetime) -> Option<String> {
        let mut inner = self.lock();
        let (now, now_unix) = (mono_ms(), unix_s());
        let (idle, max) = (ms(lifetime.idle), ms(lifetime.max));
        let before = inner.by_hash.len();
        inner.by_hash.retain(|_, s| {
            now.saturating_sub(s.used) < idle && now.saturating_sub(s.created) < max
        });
        // Expired logins leave the file with the next write: the next start drops them too.
        let expired = inner.by_hash.len() != before;
        let found = inner.by_hash.get_mut(&token_hash(token)).map(|session| {
            session.used = now;
            session.used_unix = session.used_unix.max(now_unix);
            session.user.clone()
        });
        inner.used |= expired || found.is_some();
        found
    }

    /// Ends the session of `token`; whether there was one.
    pub fn remove(&self, token: &str) -> bool {
        let mut inner = self.lock();
        let removed = inner.by_hash.remove(&token_hash(token)).is_some();
        inner.changed |= removed;
        removed
    }

    /// Ends every login of `user`.
    pub fn revoke(&self, user: &str) -> usize {
        let mut inner = self.lock();
        let before = inner.by_hash.len();
        inner.by_hash.retain(|_, s| s.user != user);
        let ended = before - inner.by_hash.len();
        inner.changed |= ended > 0;
        ended
    }

    /// Writes the file if a login began or ended, or if last uses changed and the last write
    /// is [`SAVE_EVERY`] ago; whether it wrote.
    pub fn save_if_due(&self) -> anyhow::Result<bool> {
        let due = {
            let inner = self.lock();
            inner.changed || (inner.used && inner.saved.is_none_or(|t| t.elapsed() >= SAVE_EVERY))
        };
        if due {
            self.save()?;
        }
        Ok(due)
    }

    /// Writes the file now if anything changed (the daemon calls it when it stops).
    pub fn save(&self) -> anyhow::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let _turn = self.writing.lock().unwrap_or_else(PoisonError::into_inner);
        let text = {
            let mut inner = self.lock();
            if !inner.changed && !inner.used {
                return Ok(());
            }
            inner.changed = false;
            inner.used = false;
            inner.saved = Some(Instant::now());
            let file = StoredFile {
                version: VERSION,
                salt: hex::encode(self.salt),
                sessions: inner
                    .by_hash
                    .iter()
                    .map(|(token, s)| Stored {
                        token_sha256: hex::encode(token),
                        user: s.user.clone(),
                        password_sha256: hex::encode(s.password),
                        created: s.created_unix,
                        used: s.used_unix,
                    })
                    .collect(),
            };
            serde_json::to_string(&file)?
        };
        let written = crate::settings::write_atomically(path, &text);
        if written.is_err() {
            // Tried again with the next change or the next round of the saver.
            self.lock().changed = true;
        }
        written
    }

    /// [`Self::save`] on a blocking thread, waited for: a login is on the card before its
    /// cookie is handed out, and a logout before it is confirmed.
    pub async fn persist(self: &Arc<Self>) {
        let me = Arc::clone(self);
        match tokio::task::spawn_blocking(move || me.save()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!("cannot store the web logins: {e:#}"),
            Err(e) => warn!("cannot store the web logins: {e}"),
        }
    }

    /// [`Self::save`] without waiting, on a blocking thread when there is a runtime (for
    /// callers that are not async, such as a change of the accounts).
    pub fn persist_soon(self: &Arc<Self>) {
        let me = Arc::clone(self);
        let write = move || {
            if let Err(e) = me.save() {
                warn!("cannot store the web logins: {e:#}");
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let _detached = runtime.spawn_blocking(write);
            }
            Err(_) => write(),
        }
    }
}

fn drop_least_recent(map: &mut HashMap<Hash, Session>) {
    if let Some(oldest) = map.iter().min_by_key(|(_, s)| s.used).map(|(t, _)| *t) {
        map.remove(&oldest);
    }
}

fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    hex::decode(text).ok()?.try_into().ok()
}

/// The salt and the logins of a file's text, or why it cannot be used.
fn read(text: &str) -> Result<([u8; 16], Vec<Stored>), String> {
    let version = serde_json::from_str::<Version>(text)
        .map_err(|e| format!("unreadable ({e})"))?
        .version;
    if version != VERSION {
        return Err(format!(
            "written in layout {version}, this release reads {VERSION}"
        ));
    }
    let file: StoredFile = serde_json::from_str(text).map_err(|e| format!("unreadable ({e})"))?;
    let salt = unhex(&file.salt).ok_or("unreadable (bad salt)")?;
    Ok((salt, file.sessions))
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
    use crate::config::Role;

    const LONG: Lifetime = Lifetime {
        idle: Duration::from_secs(3600),
        max: Duration::from_secs(3600),
    };

    fn users(password: &str) -> Vec<User> {
        vec![
            User {
                name: "admin".into(),
                password: password.into(),
                role: Role::Admin,
            },
            User {
                name: "viewer".into(),
                password: "viewer pw".into(),
                role: Role::User,
            },
        ]
    }

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
        let t = s.create("admin", "pw");
        assert_eq!(s.user(&t, long).as_deref(), Some("admin"));
        assert_eq!(s.user("nope", long), None);
        assert!(s.remove(&t));
        assert_eq!(s.user(&t, long), None);
        let t = s.create("admin", "pw");
        let idle = Lifetime {
            idle: Duration::ZERO,
            max: minute,
        };
        assert_eq!(s.user(&t, idle), None);
        // Used all the time, a session still ends at its lifetime.
        let t = s.create("admin", "pw");
        let old = Lifetime {
            idle: minute,
            max: Duration::ZERO,
        };
        assert_eq!(s.user(&t, old), None);
        let (a, b, c) = (
            s.create("admin", "pw"),
            s.create("admin", "pw"),
            s.create("viewer", "pw"),
        );
        assert_eq!(s.revoke("admin"), 2);
        assert_eq!((s.user(&a, long), s.user(&b, long)), (None, None));
        assert_eq!(s.user(&c, long).as_deref(), Some("viewer"));
    }

    #[test]
    fn logins_outlive_a_restart_and_the_card_holds_no_token() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("sessions.json");
        let s = Sessions::open(path.clone(), &users("pw 1"));
        let (a, v) = (s.create("admin", "pw 1"), s.create("viewer", "viewer pw"));
        let gone = s.create("admin", "pw 1");
        assert!(s.remove(&gone));
        s.save().expect("save");
        let text = std::fs::read_to_string(&path).expect("file");
        for token in [&a, &v, &gone] {
            assert!(
                !text.contains(token.as_str()),
                "a token on the card: {text}"
            );
        }
        for password in ["pw 1", "viewer pw"] {
            assert!(!text.contains(password), "a password on the card: {text}");
        }
        assert!(text.contains(&hex::encode(token_hash(&a))), "{text}");

        let again = Sessions::open(path.clone(), &users("pw 1"));
        assert_eq!(again.user(&a, LONG).as_deref(), Some("admin"));
        assert_eq!(again.user(&v, LONG).as_deref(), Some("viewer"));
        assert_eq!(again.user(&gone, LONG), None, "a logout is kept");
        // The hash itself is no cookie.
        assert_eq!(again.user(&hex::encode(token_hash(&a)), LONG), None);

        // The admin's password changed while the camera was off: only the admin is out.
        let changed = Sessions::open(path.clone(), &users("pw 2"));
        assert_eq!(changed.user(&a, LONG), None);
        assert_eq!(changed.user(&v, LONG).as_deref(), Some("viewer"));
        changed.save().expect("save");
        // Removed users are out too, and what was dropped stays dropped.
        let removed = Sessions::open(path.clone(), &users("pw 2")[..1]);
        assert_eq!(removed.user(&v, LONG), None);
        assert_eq!(
            Sessions::open(path, &users("pw 1")).user(&a, LONG),
            None,
            "dropped for good, even if the old password comes back"
        );
    }

    /// Rewrites the file's times with `f(created, used)`.
    fn shift(path: &std::path::Path, f: impl Fn(u64, u64) -> (u64, u64)) {
        let text = std::fs::read_to_string(path).expect("file");
        let mut file: StoredFile = serde_json::from_str(&text).expect("json");
        for s in &mut file.sessions {
            (s.created, s.used) = f(s.created, s.used);
        }
        std::fs::write(path, serde_json::to_string(&file).expect("json")).expect("write");
    }

    #[test]
    fn ages_count_across_a_restart_and_a_clock_set_back_extends_nothing() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("sessions.json");
        let s = Sessions::open(path.clone(), &users("pw"));
        let t = s.create("admin", "pw");
        s.save().expect("save");
        let hour = 3600;
        let lifetime = |idle_h: u64, max_h: u64| Lifetime {
            idle: Duration::from_secs(idle_h * hour),
            max: Duration::from_secs(max_h * hour),
        };

        // Made 10 hours ago, last used 2 hours ago.
        shift(&path, |c, u| (c - 10 * hour, u - 2 * hour));
        let s = Sessions::open(path.clone(), &users("pw"));
        assert_eq!(s.user(&t, lifetime(1, 24)), None, "idle too long");
        let s = Sessions::open(path.clone(), &users("pw"));
        assert_eq!(s.user(&t, lifetime(3, 9)), None, "too old");
        let s = Sessions::open(path.clone(), &users("pw"));
        assert_eq!(s.user(&t, lifetime(3, 24)).as_deref(), Some("admin"));

        // Times ahead of the clock count as now, not as a login younger than new.
        shift(&path, |c, u| (c + 100 * hour, u + 100 * hour));
        let s = Sessions::open(path.clone(), &users("pw"));
        assert_eq!(s.user(&t, lifetime(1, 1)).as_deref(), Some("admin"));
        let zero = Lifetime {
            idle: Duration::from_secs(3600),
            max: Duration::ZERO,
        };
        assert_eq!(s.user(&t, zero), None);
    }

    #[test]
    fn last_uses_are_written_seldom_and_logins_at_once() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("sessions.json");
        let s = Sessions::open(path.clone(), &users("pw"));
        assert!(!s.save_if_due().expect("save"), "nothing to write");
        assert!(!path.exists(), "no file without a login");
        let t = s.create("admin", "pw");
        assert!(s.save_if_due().expect("save"), "a login is written");
        assert!(s.user(&t, LONG).is_some());
        assert!(!s.save_if_due().expect("save"), "a use is not, so soon");
        s.save().expect("save");
        assert!(s.remove(&t));
        assert!(s.save_if_due().expect("save"), "a logout is written");
        assert!(!s.remove(&t));
        assert!(!s.save_if_due().expect("save"));
    }

    #[test]
    fn a_corrupt_or_foreign_file_is_ignored() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("sessions.json");
        let s = Sessions::open(path.clone(), &users("pw"));
        let t = s.create("admin", "pw");
        s.save().expect("save");
        let good = std::fs::read_to_string(&path).expect("file");
        for bad in [
            "{broken".to_string(),
            String::new(),
            good.replace("\"version\":1", "\"version\":99"),
            good.replace("\"salt\":\"", "\"salt\":\"zz"),
            good.replace("\"sessions\":[", "\"other\":1,\"sessions\":["),
        ] {
            std::fs::write(&path, &bad).expect("write");
            let s = Sessions::open(path.clone(), &users("pw"));
            assert_eq!(s.user(&t, LONG), None, "{bad}");
            // And the next login writes a good file over it.
            let again = s.create("admin", "pw");
            s.save().expect("save");
            let s = Sessions::open(path.clone(), &users("pw"));
            assert_eq!(s.user(&again, LONG).as_deref(), Some("admin"));
        }
        // A token hash that is no hash drops that login only.
        std::fs::write(&path, &good).expect("write");
        let text = good.replacen("\"token_sha256\":\"", "\"token_sha256\":\"x", 1);
        std::fs::write(&path, text).expect("write");
        assert_eq!(Sessions::open(path, &users("pw")).user(&t, LONG), None);
    }
}
