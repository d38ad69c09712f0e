//! The authentication layer in front of every route ([`admit`]): the page's session cookie or
//! HTTP Digest, failed attempts throttled per client address, then the route's [`Need`] checked
//! against the user's role.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hyper::header::{AUTHORIZATION, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use hyper::{Request, Response, StatusCode};
use onvif::http_digest::{DigestAuthority, DigestError};
use tracing::warn;

use super::routes::Need;
use super::{AppState, Body, MAX_BODY, api, json, text};
use crate::config::{Role, User};

/// Failures are counted per address over this window.
const WINDOW: Duration = Duration::from_secs(60);

/// How long a Digest nonce is good for. Keep-alive clients count on with the same one; when it
/// runs out they are answered `stale=true` and take a new one without asking the user.
const NONCE_LIFETIME: Duration = Duration::from_secs(180);

pub struct Authenticator {
    digest: DigestAuthority,
    users: std::sync::RwLock<Vec<User>>,
    max_failures: u32,
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

pub struct AuthedUser {
    pub name: String,
    pub role: Role,
}

impl AuthedUser {
    /// Who calls a route that needs no login: nobody yet.
    fn nobody() -> Self {
        Self {
            name: String::new(),
            role: Role::User,
        }
    }
}

impl Authenticator {
    pub fn new(users: Vec<User>, max_failures: u32) -> Self {
        Self {
            digest: DigestAuthority::new(crate::REALM, NONCE_LIFETIME),
            users: std::sync::RwLock::new(users),
            max_failures,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn users(&self) -> std::sync::RwLockReadGuard<'_, Vec<User>> {
        self.users
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn password_of(&self, name: &str) -> Option<String> {
        self.users()
            .iter()
            .find(|u| u.name == name)
            .map(|u| u.password.clone())
    }

    pub fn role_of(&self, name: &str) -> Option<Role> {
        self.users().iter().find(|u| u.name == name).map(|u| u.role)
    }

    /// Replaces the accounts; takes effect with the next request.
    pub fn set_users(&self, users: Vec<User>) {
        *self
            .users
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = users;
    }

    pub fn throttled(&self, ip: IpAddr) -> Option<Duration> {
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        failures.retain(|_, (_, since)| now.duration_since(*since) < WINDOW);
        failures
            .get(&ip)
            .filter(|(n, _)| *n >= self.max_failures)
            .map(|(_, since)| WINDOW.saturating_sub(now.duration_since(*since)))
    }

    pub fn record_failure(&self, ip: IpAddr) {
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if failures.len() > 10_000 {
            failures.clear();
        }
        let entry = failures.entry(ip).or_insert((0, Instant::now()));
        entry.0 += 1;
    }

    pub fn check<B>(
        &self,
        req: &Request<B>,
        peer: SocketAddr,
    ) -> Result<AuthedUser, Box<Response<Body>>> {
        if let Some(wait) = self.throttled(peer.ip()) {
            let mut r = text(
                StatusCode::TOO_MANY_REQUESTS,
                "too many failed logins; try again later\n",
            );
            if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
                r.headers_mut().insert(RETRY_AFTER, v);
            }
            return Err(Box::new(r));
        }
        let header = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let uri = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
        let result = self
            .digest
            .verify(header, req.method().as_str(), uri, peer.ip(), |name| {
                self.users()
                    .iter()
                    .find(|u| u.name == name)
                    .map(|u| u.password.clone())
            });
        match result {
            Ok(name) => {
                crate::platform::first_boot::logged_in(&name);
                let role = self
                    .users()
                    .iter()
                    .find(|u| u.name == name)
                    .map_or(Role::User, |u| u.role);
                Ok(AuthedUser { name, role })
            }
            Err(e) => {
                // A replay or a nonce from another address is an attack, not a slip: counted.
                let stale = e == DigestError::Stale;
                if !matches!(e, DigestError::Missing | DigestError::Stale) {
                    warn!(peer = %peer.ip(), reason = %e, "HTTP login refused");
                    self.record_failure(peer.ip());
                }
                Err(Box::new(self.challenge(peer.ip(), stale)))
            }
        }
    }

    /// A 401 with a Digest challenge whose nonce is good only from `client`.
    pub fn challenge(&self, client: IpAddr, stale: bool) -> Response<Body> {
        let mut r = text(StatusCode::UNAUTHORIZED, "authentication required\n");
        for value in self.digest.challenges(client, stale) {
            if let Ok(v) = HeaderValue::from_str(&value) {
                r.headers_mut().append(WWW_AUTHENTICATE, v);
            }
        }
        r
    }
}

/// The layer: who sent `req`, if the route's `need` lets them in. The page's session cookie
/// first, then HTTP Digest (scripts, NVRs); the refusal is 401 (with the Digest challenge, or
/// JSON for the page, which shows its own login rather than the browser's prompt), 429 while
/// throttled, or 403 for a role below the route's.
pub(super) fn admit<B>(
    state: &AppState,
    req: &Request<B>,
    peer: SocketAddr,
    need: Need,
) -> Result<AuthedUser, Box<Response<Body>>> {
    if !need.needs_login() {
        return Ok(AuthedUser::nobody());
    }
    let user = match api::login::session_user(state, req) {
        Some(user) => user,
        None if req.headers().contains_key("x-babymonitor-page") => {
            return Err(Box::new(json::error(
                StatusCode::UNAUTHORIZED,
                "please log in",
            )));
        }
        None => state.auth.check(req, peer)?,
    };
    if need.allows(user.role) {
        return Ok(user);
    }
    let why = match need {
        Need::Admin => "only an admin may do this".to_string(),
        _ => format!("{} may only watch", user.name),
    };
    tracing::debug!(%peer, user = user.name, path = req.uri().path(), "not allowed for this user");
    Err(Box::new(json::error(StatusCode::FORBIDDEN, why)))
}

/// Answers with `response` without having served the request. The body is read first (when
/// small), so that a Digest client can send its credentials on the same connection; a body too
/// big or too slow closes the connection instead.
pub(super) async fn drained<B>(mut response: Response<Body>, req: Request<B>) -> Response<Body>
where
    B: hyper::body::Body<Data = bytes::Bytes> + Unpin,
{
    let declared = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let drained = declared.is_none_or(|n| n <= MAX_BODY as u64)
        && super::body::read(req.into_body(), MAX_BODY, Duration::from_secs(2))
            .await
            .is_ok();
    if !drained {
        response.headers_mut().insert(
            hyper::header::CONNECTION,
            hyper::header::HeaderValue::from_static("close"),
        );
    }
    response
}
