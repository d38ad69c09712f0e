//! The HTTP server (hyper on tokio): snapshots, metrics, and later ONVIF and the web page.

mod audio;
mod auth;
pub mod body;
mod controls;
mod events;
mod history;
mod json;
mod live;
mod login;
mod metrics;
mod onvif;
mod page;
mod query;
mod server;
mod snapshot;
mod status;
mod stream;
mod talk;
mod tunnel;
mod whep;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use tracing::debug;

pub use auth::Authenticator;
pub use server::serve;
#[doc(hidden)]
pub use tunnel::classify as classify_tunnel;

use crate::config::Config;
use crate::media::Hub;
use crate::serve::onvif::Camera;
use crate::settings::Settings;

pub type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// A body that is all there at once.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

/// Largest request body accepted (no route takes a body yet beyond this).
const MAX_BODY: usize = 64 * 1024;

/// What every request handler can reach.
pub struct AppState {
    pub settings: Arc<Settings>,
    pub hub: Arc<Hub>,
    /// What encodes the snapshots.
    pub jpeg: crate::media::JpegEncoder,
    pub auth: Authenticator,
    pub rtsp_port: u16,
    pub camera: Arc<Camera>,
    /// The domain's controls the JSON API drives (ONVIF reaches them through `camera`).
    pub ptz: Arc<crate::ptz::Controls>,
    pub night: Arc<crate::night::Controls>,
    /// The speaker, clips and built-in sounds; `None` without a speaker.
    pub audio: Option<Arc<crate::audio::Audio>>,
    pub wsse: ::onvif::security::Verifier,
    /// Where tunnelled RTSP is passed on to.
    pub rtsp_addr: std::net::SocketAddr,
    pub bus: Arc<crate::events::Bus>,
    pub detectors: Arc<crate::detect::Detectors>,
    /// The climate sensor's task, if the camera has one.
    pub climate: Option<Arc<crate::climate::ClimateTask>>,
    /// The simulated room (`--simulate` only): tests set its temperature and humidity.
    pub sim_room: Option<Arc<crate::platform::hardware::climate::SimRoom>>,
    pub web: crate::serve::webrtc::Web,
    /// The HTTP connections open now, under `[http]`'s limits.
    pub connections: crate::serve::gate::Gate,
}

impl AppState {
    /// The configuration now (a reload may replace it between two requests).
    pub fn config(&self) -> Arc<Config> {
        self.settings.current()
    }

    /// How long a client may take to send a request body.
    pub fn body_timeout(&self) -> Duration {
        Duration::from_secs(self.config().http.body_timeout_s)
    }
}

pub fn text(status: StatusCode, body: impl Into<String>) -> Response<Body> {
    let mut r = Response::new(full(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Routes one request. Everything but `/healthz`, the web page's files and its login needs a
/// user: HTTP Digest (scripts) or the page's session cookie.
pub async fn route(
    state: Arc<AppState>,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Response<Body> {
    let path = req.uri().path().to_string();
    if path == "/healthz" {
        return text(StatusCode::OK, "ok\n");
    }
    if path.starts_with("/onvif/") {
        if !state.config().onvif.enabled {
            return text(StatusCode::NOT_FOUND, "ONVIF is switched off\n");
        }
        return onvif::serve(&state, req, peer).await;
    }
    if let Some(file) = page::serve(req.method(), &path) {
        return file;
    }
    let session = login::session_user(&state, &req);
    let user = match session {
        Some(user) => user,
        // The page asks with this header: it shows its own login, not the browser's prompt.
        None if req.headers().contains_key("x-babymonitor-page") && path != "/api/login" => {
            return json::error(StatusCode::UNAUTHORIZED, "please log in");
        }
        None if path == "/api/login" => auth::AuthedUser {
            name: String::new(),
            role: crate::config::Role::User,
            query: None,
        },
        None => match state.auth.check(&req, peer) {
            Ok(user) => user,
            Err(response) => return refuse(*response, req).await,
        },
    };
    debug!(%peer, user = user.name, method = %req.method(), path, "request");
    if path.starts_with("/api/audio") || path.starts_with("/api/clips") {
        return audio::serve(&state, req, &user).await;
    }
    if path == live::PATH {
        return live::serve(&state, req);
    }
    let method = req.method().clone();
    let headers = req.headers().clone();
    // A bounded body, drained so that keep-alive keeps working and nobody can stream forever.
    let body = match body::read(req.into_body(), MAX_BODY, state.body_timeout()).await {
        Ok(body) => body,
        Err(e) => return e.response(),
    };
    if path == whep::PREFIX || path.starts_with("/api/whep/") {
        return whep::serve(&state, &method, &path, &headers, body).await;
    }
    if path == talk::PREFIX || path.starts_with("/api/talk/") {
        return talk::serve(&state, &method, &path, &headers, &user, body).await;
    }
    if let Some(r) = controls::serve(&state, &method, &path, &user, &body) {
        return r;
    }
    match (method, path.as_str()) {
        (Method::POST, "/api/login") => login::login(&state, &body, peer),
        (Method::POST, "/api/logout") => login::logout(&state, &headers),
        (Method::GET, "/api/session") => session_info(&state, &user),
        (Method::GET, "/api/history") => history::serve(&state, user.query.as_deref()),
        (Method::GET, "/api/status") => status::status(&state),
        (Method::GET, "/api/events") => status::events(&state),
        (Method::PUT | Method::POST, "/api/simulate/climate") => {
            if state.auth.role_of(&user.name) == Some(crate::config::Role::Admin) {
                status::simulate_climate(&state, &body)
            } else {
                text(
                    StatusCode::FORBIDDEN,
                    "only an admin may change the simulated room\n",
                )
            }
        }
        (Method::GET | Method::HEAD, "/snapshot.jpg") => {
            snapshot::serve(&state, &path_and_query(&path, &user.query)).await
        }
        (Method::GET, "/metrics") => metrics::serve(&state),
        (Method::GET, "/info") => index(&state),
        (
            _,
            "/snapshot.jpg" | "/metrics" | "/info" | "/api/login" | "/api/logout" | "/api/status"
            | "/api/events",
        ) => text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n"),
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

fn path_and_query(path: &str, query: &Option<String>) -> String {
    match query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    }
}

/// Who is logged in and what the camera has, for the page to show the right controls.
fn session_info(state: &AppState, user: &auth::AuthedUser) -> Response<Body> {
    let cam = &state.camera;
    json::ok(serde_json::json!({
        "user": user.name,
        "role": user.role.as_str(),
        "can_control": ::onvif::service::Access::Actuate.allowed(crate::serve::onvif::level(user.role)),
        "ptz": cam.has_ptz(),
        "night": cam.has_night(),
        "name": state.config().device.name,
    }))
}

fn index(state: &AppState) -> Response<Body> {
    text(
        StatusCode::OK,
        format!(
            "babymonitor {}\n\nMain stream: rtsp://<this camera>:{port}/stream\nSub stream:  rtsp://<this camera>:{port}/sub\nSnapshot:    /snapshot.jpg?width=640\nMetrics:     /metrics\n",
            env!("CARGO_PKG_VERSION"),
            port = state.rtsp_port
        ),
    )
}

/// Answers a request that failed to log in. The body is read first (when small), so that a
/// Digest client can send its credentials on the same connection; a body too big or too slow
/// closes the connection instead.
async fn refuse(mut response: Response<Body>, req: Request<Incoming>) -> Response<Body> {
    let declared = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let drained = declared.is_none_or(|n| n <= MAX_BODY as u64)
        && body::read(req.into_body(), MAX_BODY, Duration::from_secs(2))
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
