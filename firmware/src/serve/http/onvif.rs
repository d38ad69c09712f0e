//! `POST /onvif/<service>`: SOAP requests, authenticated by WS-Security or HTTP Digest.

use std::net::SocketAddr;

use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Request, Response, StatusCode};
use onvif::service::{Access, Context};
use onvif::soap::{self, Fault};
use tracing::{debug, warn};

use super::body::BodyError;
use super::{AppState, Body};
use crate::serve::onvif::level;

/// SOAP requests are small; anything bigger is refused before it is read.
const MAX_SOAP: usize = 256 * 1024;

fn soap_response(status: StatusCode, xml: String) -> Response<Body> {
    let mut r = Response::new(super::full(xml));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/soap+xml; charset=utf-8"),
    );
    r
}

fn fault(f: &Fault) -> Response<Body> {
    let status = StatusCode::from_u16(f.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    soap_response(status, f.to_envelope())
}

/// Host name and port the client used, from the Host header (what it can reach us at); a Host
/// without a port means the scheme's own (80, or 443 over `tls`).
fn host_and_port(headers: &hyper::HeaderMap, default_port: u16, tls: bool) -> (String, u16) {
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .trim();
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) if !n.is_empty() && (n.ends_with(']') || !n.contains(':')) => {
            (n, p.parse().unwrap_or(default_port))
        }
        _ => (host, if tls { 443 } else { 80 }),
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    if name.is_empty() || name == "0.0.0.0" {
        ("127.0.0.1".into(), default_port)
    } else {
        (name.to_string(), port)
    }
}

/// Operations that carry a password in their body: never over plain HTTP.
const CARRY_PASSWORDS: [&str; 2] = ["CreateUsers", "SetUser"];

/// The fault for a password that would cross the network in the clear.
fn needs_tls(reason: &str) -> Response<Body> {
    fault(&Fault::new(
        onvif::soap::FaultCode::Sender,
        &["NotAuthorized"],
        reason,
    ))
}

/// `tls`: whether the request came over HTTPS (the URLs handed out follow it).
pub(super) async fn serve(
    state: &AppState,
    req: Request<Incoming>,
    peer: SocketAddr,
    tls: bool,
) -> Response<Body> {
    let subscription = super::events::subscription_id(req.uri().path());
    if let Some(refused) = refuse_route(&req, subscription) {
        return refused;
    }
    let config = state.config();
    let default_port = if tls {
        config.http.tls_port
    } else {
        config.http.port
    };
    let (host, http_port) = host_and_port(req.headers(), default_port, tls);
    let (parts, body) = req.into_parts();
    let bytes = match read_body(state, body).await {
        Ok(bytes) => bytes,
        Err(response) => return *response,
    };
    // Digest clients such as curl first send the request without a body and without
    // credentials, to be given a challenge.
    if bytes.is_empty() && !parts.headers.contains_key(hyper::header::AUTHORIZATION) {
        return with_fault_body(state.auth.challenge(peer.ip(), false));
    }
    let request = match soap::parse_request(&bytes) {
        Ok(r) => r,
        Err(f) => return fault(&f),
    };
    if !tls && request.operation.ns == onvif::ns::TDS && CARRY_PASSWORDS.contains(&request.name()) {
        warn!(%peer, operation = request.name(), "refused over plain HTTP: it carries passwords");
        return needs_tls(&format!(
            "{} carries passwords: use HTTPS (port {})",
            request.name(),
            config.http.tls_port
        ));
    }
    let user = match authorize(state, &parts, &request, peer, tls) {
        Ok(user) => user,
        Err(response) => return *response,
    };
    let ctx = context(state, &config, (host, http_port, tls), user);
    debug!(%peer, operation = request.name(), user = ctx.user.as_ref().map(|u| u.0.as_str()), "ONVIF");
    let answer = if onvif::events::is_events_operation(&request.operation) {
        super::events::handle(state, &request, &ctx, subscription).await
    } else {
        onvif::service::dispatch(&request, &ctx, &backends(state))
    };
    respond(answer, &request, peer)
}

/// A path that is no ONVIF service (404) or a method other than POST (405).
fn refuse_route(req: &Request<Incoming>, subscription: Option<u64>) -> Option<Response<Body>> {
    if onvif::service::Service::from_path(req.uri().path()).is_none() && subscription.is_none() {
        return Some(super::text(
            StatusCode::NOT_FOUND,
            "no such ONVIF service\n",
        ));
    }
    (req.method() != hyper::Method::POST).then(|| {
        super::text(
            StatusCode::METHOD_NOT_ALLOWED,
            "ONVIF services take SOAP over POST\n",
        )
    })
}

/// The request body, bounded; a body too large is answered with a SOAP fault.
async fn read_body(state: &AppState, body: Incoming) -> Result<bytes::Bytes, Box<Response<Body>>> {
    match super::body::read(body, MAX_SOAP, state.body_timeout()).await {
        Ok(bytes) => Ok(bytes),
        Err(BodyError::TooLarge) => {
            let mut r = soap_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                Fault::not_well_formed("the request is too large").to_envelope(),
            );
            r.headers_mut()
                .insert(hyper::header::CONNECTION, HeaderValue::from_static("close"));
            Err(Box::new(r))
        }
        Err(e) => Err(Box::new(e.response())),
    }
}

/// A 401 with the Digest challenge, carrying the SOAP fault as its body.
fn with_fault_body(mut r: Response<Body>) -> Response<Body> {
    *r.body_mut() = super::full(Fault::not_authorized().to_envelope());
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/soap+xml; charset=utf-8"),
    );
    r
}

/// Who is asking, if the operation's access class lets them.
fn authorize(
    state: &AppState,
    parts: &hyper::http::request::Parts,
    request: &soap::Request,
    peer: SocketAddr,
    tls: bool,
) -> Result<Authed, Box<Response<Body>>> {
    // An operation no service serves is refused whoever asks; there is no login to ask for.
    let Some(access) = onvif::service::access(&request.operation) else {
        debug!(%peer, operation = request.name(), "ONVIF operation not served");
        return Err(Box::new(fault(&Fault::action_not_supported(
            request.name(),
        ))));
    };
    let user = authenticate(state, parts, request, access, peer, tls)?;
    if let Some((name, level)) = &user
        && !access.allowed(*level)
    {
        warn!(%peer, user = name, operation = request.name(), "not allowed for this user");
        return Err(Box::new(fault(&Fault::not_authorized())));
    }
    Ok(user)
}

/// `host`, `http_port` and `tls`: what the client used to reach the camera.
fn context(
    state: &AppState,
    config: &crate::config::Config,
    (host, http_port, tls): (String, u16, bool),
    user: Authed,
) -> Context {
    Context {
        has_ptz: state.camera.has_ptz(),
        has_night: state.camera.has_night(),
        clip_limits: state.audio.as_deref().map(|a| {
            use ::onvif::speaker::SpeakerBackend as _;
            (a.max_clips(), a.max_clip_kb())
        }),
        host,
        tls,
        http_port,
        // Tunnelled RTSP is answered on plain HTTP only (RTSP clients know no TLS tunnel).
        tunnel_port: if tls { config.http.port } else { http_port },
        https_port: config.http.tls_port,
        rtsp_port: config.rtsp.port,
        rtsps_port: (config.rtsp.tls_port != 0).then_some(config.rtsp.tls_port),
        user,
        max_subscriptions: config.events.max_subscriptions,
    }
}

/// The camera's parts behind each service; those it lacks are absent.
fn backends(state: &AppState) -> onvif::service::Backends<'_> {
    let camera = state.camera.as_ref();
    onvif::service::Backends {
        device: camera,
        media: camera,
        ptz: camera
            .has_ptz()
            .then_some(camera as &dyn onvif::ptz::PtzBackend),
        imaging: camera
            .has_night()
            .then_some(camera as &dyn onvif::imaging::ImagingBackend),
        relay: camera
            .has_night()
            .then_some(camera as &dyn onvif::deviceio::RelayBackend),
        speaker: state
            .audio
            .as_deref()
            .map(|a| a as &dyn onvif::speaker::SpeakerBackend),
    }
}

/// The response body in its envelope, or the fault.
fn respond(
    answer: Result<String, Fault>,
    request: &soap::Request,
    peer: SocketAddr,
) -> Response<Body> {
    match answer {
        Ok(body) => soap_response(StatusCode::OK, soap::envelope(&body)),
        Err(f) => {
            debug!(%peer, operation = request.name(), reason = f.reason, "ONVIF fault");
            fault(&f)
        }
    }
}

type Authed = Option<(String, onvif::model::UserLevel)>;

/// WS-Security first (what ONVIF clients send), then HTTP Digest; pre-auth operations need neither.
fn authenticate(
    state: &AppState,
    parts: &hyper::http::request::Parts,
    request: &soap::Request,
    access: Access,
    peer: SocketAddr,
    tls: bool,
) -> Result<Authed, Box<Response<Body>>> {
    let token = onvif::security::username_token(request.header.as_ref());
    // Refused even where the operation needs no login: the password has crossed the network
    // already, and a client that got an answer would go on sending it.
    if !tls && matches!(&token, Some(Ok(t)) if !t.is_digest()) {
        warn!(%peer, operation = request.name(), "PasswordText refused over plain HTTP");
        return Err(Box::new(needs_tls(
            "PasswordText sends the password in the clear: use PasswordDigest, or HTTPS",
        )));
    }
    match token {
        Some(_) if access == Access::PreAuth => Ok(None),
        Some(token) => username_token(state, token, request, peer).map(Some),
        None if access == Access::PreAuth
            && !parts.headers.contains_key(hyper::header::AUTHORIZATION) =>
        {
            Ok(None)
        }
        None => digest(state, parts, access, peer),
    }
}

fn not_authorized() -> Box<Response<Body>> {
    Box::new(fault(&Fault::not_authorized()))
}

/// The user and level of a name that has verified.
fn known_user(
    state: &AppState,
    name: String,
) -> Result<(String, onvif::model::UserLevel), Box<Response<Body>>> {
    let level = state
        .auth
        .role_of(&name)
        .map(level)
        .ok_or_else(not_authorized)?;
    Ok((name, level))
}

/// A WS-Security UsernameToken (as `username_token` read it from the header).
fn username_token(
    state: &AppState,
    token: Result<onvif::security::UsernameToken, onvif::security::SecurityError>,
    request: &soap::Request,
    peer: SocketAddr,
) -> Result<(String, onvif::model::UserLevel), Box<Response<Body>>> {
    if state.auth.throttled(peer.ip()).is_some() {
        return Err(not_authorized());
    }
    let verified = token.and_then(|t| {
        state
            .wsse
            .verify(&t, time::OffsetDateTime::now_utc(), |name| {
                state.auth.password_of(name)
            })
    });
    match verified {
        Ok(name) => {
            crate::platform::first_boot::logged_in(&name);
            known_user(state, name)
        }
        Err(e) => {
            warn!(%peer, reason = %e, operation = request.name(), "ONVIF login refused");
            state.auth.record_failure(peer.ip());
            Err(not_authorized())
        }
    }
}

/// HTTP Digest; a pre-auth operation goes on without a user when it fails.
fn digest(
    state: &AppState,
    parts: &hyper::http::request::Parts,
    access: Access,
    peer: SocketAddr,
) -> Result<Authed, Box<Response<Body>>> {
    let probe = Request::from_parts(parts.clone(), ());
    match state.auth.check(&probe, peer) {
        Ok(user) => known_user(state, user.name).map(Some),
        Err(_) if access == Access::PreAuth => Ok(None),
        Err(challenge) if challenge.status() == StatusCode::UNAUTHORIZED => {
            Err(Box::new(with_fault_body(*challenge)))
        }
        Err(other) => Err(other),
    }
}

#[cfg(test)]
mod tests {
    use super::host_and_port;

    #[test]
    fn urls_use_the_host_and_port_the_client_used() {
        let headers = |h: &str| {
            let mut m = hyper::HeaderMap::new();
            m.insert(hyper::header::HOST, h.parse().expect("header"));
            m
        };
        assert_eq!(
            host_and_port(&headers("cam.local:8080"), 1, false),
            ("cam.local".into(), 8080)
        );
        assert_eq!(
            host_and_port(&headers("10.0.0.5"), 1, false),
            ("10.0.0.5".into(), 80)
        );
        assert_eq!(
            host_and_port(&headers("10.0.0.5"), 1, true),
            ("10.0.0.5".into(), 443)
        );
        assert_eq!(
            host_and_port(&headers("[fe80::1]:8080"), 1, false),
            ("fe80::1".into(), 8080)
        );
        assert_eq!(
            host_and_port(&headers("0.0.0.0:8080"), 8080, false),
            ("127.0.0.1".into(), 8080)
        );
        assert_eq!(
            host_and_port(&hyper::HeaderMap::new(), 8443, true),
            ("127.0.0.1".into(), 8443)
        );
    }
}
