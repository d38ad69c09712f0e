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
    /// The page's logins, here so that changing the accounts ends them ([`Self::set_users`]).
    pub sessions: std::sync::Arc<crate::serve::webrtc::Sessions>,
    max_failures: u32,
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
    /// The accounts whose logins end (password changed, or gone), as they end: connections
    /// and streams opened with them close.
    ended: tokio::sync::broadcast::Sender<String>,
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
    /// `sessions` are the page's logins as the data directory kept them for `users`.
    pub fn new(
        users: Vec<User>,
        max_failures: u32,
        sessions: std::sync::Arc<crate::serve::webrtc::Sessions>,
    ) -> Self {
        Self {
            digest: DigestAuthority::new(crate::REALM, NONCE_LIFETIME),
            users: std::sync::RwLock::new(users),
            sessions,
            max_failures,
            failures: Mutex::new(HashMap::new()),
            ended: tokio::sync::broadcast::channel(64).0,
        }
    }

    /// Hears the name of each account whose logins end from now on.
    pub fn ended_logins(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.ended.subscribe()
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

    /// Replaces the accounts; takes effect with the next request. Every change of the accounts
    /// comes here (ONVIF's CreateUsers, SetUser and DeleteUsers, a reload of the config, the
    /// card's reset), so here the page's logins of a user whose password changed or who is
    /// gone end, and the connections that logged in as them close ([`Self::ended_logins`]):
    /// whoever knew or copied the old login is out with the old password. Returns those
    /// users.
    pub fn set_users(&self, users: Vec<User>) -> Vec<String> {
        let mut current = self
            .users
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut ended_any = false;
        let mut ended_users = Vec::new();
        for old in current.iter() {
            let kept = users
                .iter()
                .any(|u| u.name == old.name && same_secret(&u.password, &old.password));
            if !kept {
                ended_users.push(old.name.clone());
                // Nobody listening is no error: no connection of theirs is open.
                let _ = self.ended.send(old.name.clone());
                let ended = self.sessions.revoke(&old.name);
                if ended > 0 {
                    ended_any = true;
                    tracing::info!(
                        user = old.name,
                        ended,
                        "password changed or user removed: logged out"
                    );
                }
            }
        }
        *current = users;
        drop(current);
        if ended_any {
            // Not waited for: the next start drops them anyway, by their password's hash.
            self.sessions.persist_soon();
        }
        ended_users
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

fn same_secret(a: &str, b: &str) -> bool {
    onvif::security::constant_time_eq(a.as_bytes(), b.as_bytes())
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
    // Before any login: a browser sends a cached Digest credential or the cookie along with a
    // foreign page's request, so being logged in says nothing about who wrote the request.
    if let Some(why) = cross_site(req) {
        tracing::info!(%peer, path = req.uri().path(), why, "cross-site request refused");
        let why = format!("cross-site request refused: {why}");
        return Err(Box::new(if req.uri().path().starts_with("/api/") {
            json::error(StatusCode::FORBIDDEN, why)
        } else {
            text(StatusCode::FORBIDDEN, format!("{why}\n"))
        }));
    }
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

/// Why a request that changes something (any method but GET, HEAD and OPTIONS, and every
/// WebSocket upgrade, which browsers let any page open) comes from another site's page, if it
/// does: `Sec-Fetch-Site: cross-site`, or an `Origin` that is not this camera as the request
/// names it in `Host` (over http or https, which are served on other ports of the same host).
/// `Origin: null` (sandboxed frames, `file:` pages, some redirects) is foreign too. Requests
/// with neither header, as NVRs, scripts and ONVIF clients send them, are not browsers'.
fn cross_site<B>(req: &Request<B>) -> Option<String> {
    use hyper::Method;
    let headers = req.headers();
    let upgrade = headers
        .get(hyper::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if !upgrade && matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return None;
    }
    let fetch_site = headers.get("sec-fetch-site").map(HeaderValue::as_bytes);
    if fetch_site.is_some_and(|v| v.eq_ignore_ascii_case(b"cross-site")) {
        return Some("the browser says it comes from another site (Sec-Fetch-Site)".into());
    }
    let origin = headers.get(hyper::header::ORIGIN)?;
    // HTTP/2 names the host in the URI rather than in `Host`.
    let host = headers
        .get(hyper::header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .unwrap_or("");
    let origin_text = String::from_utf8_lossy(origin.as_bytes());
    if same_origin(&origin_text, host) {
        None
    } else {
        Some(format!(
            "its Origin {origin_text} is not this camera ({host})"
        ))
    }
}

/// Whether `origin` (`scheme://host[:port]`) names `host` (a Host header), over http or https,
/// default ports spelled or not.
fn same_origin(origin: &str, host: &str) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    let default = match scheme.to_ascii_lowercase().as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => return false,
    };
    let without = |a: &str| {
        let a = a.to_ascii_lowercase();
        match a.strip_suffix(default) {
            Some(rest) => rest.to_string(),
            None => a,
        }
    };
    !host.is_empty() && !authority.contains('/') && without(authority) == without(host)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, headers: &[(&str, &str)]) -> Request<()> {
        let mut b = Request::builder().method(method).uri("/api/ptz/home");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).expect("request")
    }

    #[test]
    fn foreign_origins_are_refused_for_changes_and_websockets() {
        let host = ("host", "cam.local:8080");
        for (method, headers, refused) in [
            // NVRs and scripts send neither header.
            ("POST", vec![host], false),
            (
                "POST",
                vec![host, ("origin", "http://cam.local:8080")],
                false,
            ),
            (
                "POST",
                vec![host, ("origin", "https://CAM.local:8080")],
                false,
            ),
            ("POST", vec![host, ("sec-fetch-site", "same-origin")], false),
            (
                "POST",
                vec![host, ("origin", "http://evil.example:8080")],
                true,
            ),
            (
                "POST",
                vec![host, ("origin", "http://cam.local:8081")],
                true,
            ),
            ("POST", vec![host, ("origin", "null")], true),
            ("DELETE", vec![host, ("sec-fetch-site", "cross-site")], true),
            ("PUT", vec![("origin", "http://cam.local:8080")], true),
            // Reading is left alone, except a WebSocket, which any page may open.
            ("GET", vec![host, ("origin", "http://evil.example")], false),
            (
                "OPTIONS",
                vec![host, ("sec-fetch-site", "cross-site")],
                false,
            ),
            (
                "GET",
                vec![
                    host,
                    ("upgrade", "websocket"),
                    ("origin", "http://evil.example"),
                ],
                true,
            ),
            (
                "GET",
                vec![
                    host,
                    ("upgrade", "websocket"),
                    ("origin", "http://cam.local:8080"),
                ],
                false,
            ),
        ] {
            let req = request(method, &headers);
            assert_eq!(cross_site(&req).is_some(), refused, "{method} {headers:?}");
        }
        assert!(same_origin("http://cam.local", "cam.local:80"));
        assert!(same_origin("https://cam.local:443", "cam.local"));
        assert!(!same_origin("https://cam.local", "cam.local:8080"));
        assert!(!same_origin("http://[::1]:8080", "[::2]:8080"));
        assert!(same_origin("http://[::1]:8080", "[::1]:8080"));
    }
}
