//! The HTTP server (hyper on tokio): the web page and its JSON API (`api/`), snapshots, metrics,
//! ONVIF's SOAP services, and RTSP tunnelled in HTTP. Every route is declared in `routes.rs`,
//! with the access it needs.

mod api;
mod auth;
pub mod body;
mod events;
mod json;
mod onvif;
mod page;
mod query;
mod routes;
mod server;
mod stream;
mod transport;
mod tunnel;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Response, StatusCode};

pub use auth::Authenticator;
#[doc(hidden)]
pub use routes::{Need, Transport, declared as declared_routes, need_of};
pub use server::{Listeners, serve, tls_acceptor};
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

/// Largest request body read before a handler runs (uploads stream theirs).
const MAX_BODY: usize = 64 * 1024;

/// What every request handler can reach.
pub struct AppState {
    pub settings: Arc<Settings>,
    pub hub: Arc<Hub>,
    /// What encodes the snapshots.
    pub jpeg: crate::media::JpegEncoder,
    /// Shared with RTSP, whose failed logins count in the same throttle.
    pub auth: Arc<Authenticator>,
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
    /// Each user's alert rules and the alerts that go out (`/api/alerts`, `/api/events`).
    pub alerts: Arc<crate::alerts::Alerts>,
    /// The MQTT connection, for `/metrics` and `/api/status`.
    pub mqtt: Arc<crate::mqtt::Mqtt>,
    /// The simulated microphone's room (`--simulate` only): tests make it cry, hum or fail.
    pub sim_mic: Option<Arc<crate::audio::room::Room>>,
    /// Alerts pushed to ntfy: its counters for `/metrics` and `/api/status`.
    pub ntfy: Arc<crate::notify::Ntfy>,
    /// The sleep log (`/api/sleep`, `/api/status`).
    pub sleep: Arc<crate::sleep::SleepLog>,
    /// Event clips: `/api/clips`, `/api/status` and `/metrics`.
    pub recordings: Arc<crate::recordings::Recordings>,
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
