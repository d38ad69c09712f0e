//! The JSON API of the web page and of scripts, one file per area; `routes.rs` says which
//! route reaches which handler and who may use it.

pub(super) mod alerts;
pub(super) mod audio;
pub(super) mod controls;
pub(super) mod history;
pub(super) mod listen;
pub(super) mod live;
pub(super) mod login;
pub(super) mod metrics;
pub(super) mod mqtt;
pub(super) mod recordings;
pub(super) mod sleep;
pub(super) mod snapshot;
pub(super) mod status;
pub(super) mod talk;
pub(super) mod update;
pub(super) mod whep;

use hyper::{Response, StatusCode};

use super::auth::AuthedUser;
use super::routes::Need;
use super::{AppState, Body, json, text};

/// `GET /api/session`: who is logged in and what the camera has, for the page to show the
/// right controls.
pub(in crate::serve::http) fn session(state: &AppState, user: &AuthedUser) -> Response<Body> {
    let cam = &state.camera;
    json::ok(serde_json::json!({
        "user": user.name,
        "role": user.role.as_str(),
        "can_control": Need::Operator.allows(user.role),
        "ptz": cam.has_ptz(),
        "night": cam.has_night(),
        "name": state.config().device.name,
    }))
}

/// `GET /info`: where the streams are.
pub(in crate::serve::http) fn index(state: &AppState) -> Response<Body> {
    text(
        StatusCode::OK,
        format!(
            "babymonitor {}\n\nMain stream: rtsp://<this camera>:{port}/stream\nSub stream:  rtsp://<this camera>:{port}/sub\nSnapshot:    /snapshot.jpg?width=640\nMetrics:     /metrics\n",
            env!("CARGO_PKG_VERSION"),
            port = state.rtsp_port
        ),
    )
}
