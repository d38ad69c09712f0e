//! The web page's login: the same accounts as RTSP and ONVIF, a session cookie, throttled
//! failures (the same counter as HTTP Digest).

use std::net::SocketAddr;
use std::time::Duration;

use hyper::header::{COOKIE, HeaderValue, RETRY_AFTER, SET_COOKIE};
use hyper::{HeaderMap, Request, Response, StatusCode};
use serde::Deserialize;
use tracing::{info, warn};

use crate::serve::http::auth::AuthedUser;
use crate::serve::http::{AppState, Body, json};
use crate::serve::webrtc::session::{COOKIE as SESSION, Lifetime, token_in};

#[derive(Deserialize)]
struct Credentials {
    user: String,
    password: String,
}

fn lifetime(state: &AppState) -> Lifetime {
    let web = &state.config().web;
    Lifetime {
        idle: Duration::from_secs(web.session_hours * 3600),
        max: Duration::from_secs(web.session_lifetime_s),
    }
}

fn token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(token_in)
}

/// The user of the request's session cookie, if it has a live one.
pub(in crate::serve::http) fn session_user<B>(
    state: &AppState,
    req: &Request<B>,
) -> Option<AuthedUser> {
    let name = state
        .auth
        .sessions
        .user(token(req.headers())?, lifetime(state))?;
    // A user removed from the configuration is logged out with it.
    let role = state.auth.role_of(&name)?;
    Some(AuthedUser { name, role })
}

/// Compares without leaking where the first difference is.
fn same(a: &str, b: &str) -> bool {
    onvif::security::constant_time_eq(a.as_bytes(), b.as_bytes())
}

fn with_cookie(mut r: Response<Body>, cookie: &str) -> Response<Body> {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        r.headers_mut().insert(SET_COOKIE, v);
    }
    r
}

/// `POST /api/login` with `{"user": ..., "password": ...}`.
pub(in crate::serve::http) async fn login(
    state: &AppState,
    body: &[u8],
    peer: SocketAddr,
) -> Response<Body> {
    if let Some(wait) = state.auth.throttled(peer.ip()) {
        let mut r = json::error(
            StatusCode::TOO_MANY_REQUESTS,
            "too many failed logins; try again later",
        );
        if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
            r.headers_mut().insert(RETRY_AFTER, v);
        }
        return r;
    }
    let creds: Credentials = match json::body(body) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let known = state.auth.password_of(&creds.user);
    if !known.is_some_and(|p| same(&p, &creds.password)) {
        warn!(peer = %peer.ip(), user = creds.user, "web login refused");
        state.auth.record_failure(peer.ip());
        return json::error(StatusCode::UNAUTHORIZED, "wrong user name or password");
    }
    info!(peer = %peer.ip(), user = creds.user, "web login");
    crate::platform::first_boot::logged_in(&creds.user);
    let token = state.auth.sessions.create(&creds.user, &creds.password);
    // On the card before the cookie is out: a restart right after does not lose it.
    state.auth.sessions.persist().await;
    // The browser may forget the cookie when the camera does: at the login's absolute end.
    let web = &state.config().web;
    let max_age = (web.session_hours * 3600).min(web.session_lifetime_s);
    with_cookie(
        json::ok(serde_json::json!({ "user": creds.user })),
        // Secure: the login is served over HTTPS only (see `routes::Transport`), and the
        // browser must never send the cookie back over plain HTTP.
        &format!("{SESSION}={token}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={max_age}"),
    )
}

/// `POST /api/logout`: ends the session and clears the cookie.
pub(in crate::serve::http) async fn logout(
    state: &AppState,
    headers: &HeaderMap,
) -> Response<Body> {
    // Off the card before the logout is confirmed: a restart right after does not bring it back.
    if let Some(t) = token(headers)
        && state.auth.sessions.remove(t)
    {
        state.auth.sessions.persist().await;
    }
    with_cookie(
        json::ok(serde_json::json!({})),
        &format!("{SESSION}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0"),
    )
}
