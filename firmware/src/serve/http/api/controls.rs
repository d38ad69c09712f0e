//! `/api/ptz/*` and `/api/night`: the page's controls as JSON. They call the same domain
//! controls as the ONVIF services, under the same access rules (moving the camera needs an
//! operator or admin, as `routes.rs` declares).

use std::time::Duration;

use hyper::{Response, StatusCode};
use serde::Deserialize;
use serde_json::json;

use crate::config::NightMode;
use crate::serve::http::json::{done, refused};
use crate::serve::http::{AppState, Body, json};

/// The longest a continuous move may run unattended (a lost "stop" ends there).
const MAX_MOVE: Duration = Duration::from_secs(10);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Move {
    #[serde(default)]
    pan: f32,
    #[serde(default)]
    tilt: f32,
    #[serde(default)]
    zoom: f32,
    /// Stops by itself after this long (default 1 s, at most 10 s).
    timeout_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPreset {
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NightChange {
    mode: NightMode,
}

fn ptz_status(state: &AppState) -> serde_json::Value {
    let s = state.ptz.status().unwrap_or_default();
    json!({
        "available": state.ptz.available(),
        "pan": s.pan,
        "tilt": s.tilt,
        "zoom": s.zoom,
        "moving": s.moving,
    })
}

fn presets(state: &AppState) -> serde_json::Value {
    let list: Vec<_> = state
        .ptz
        .presets()
        .into_iter()
        .map(|p| json!({ "token": p.token, "name": p.name }))
        .collect();
    json!({ "presets": list })
}

fn night(state: &AppState) -> serde_json::Value {
    match state.night.state() {
        Some(n) => json!({ "available": true, "mode": n.mode, "night": n.night }),
        None => json!({ "available": false }),
    }
}

/// `GET /api/ptz`.
pub(in crate::serve::http) fn ptz(state: &AppState) -> Response<Body> {
    json::ok(ptz_status(state))
}

/// `POST /api/ptz/move` with `{"pan", "tilt", "zoom", "timeout_ms"}`.
pub(in crate::serve::http) fn start_move(state: &AppState, body: &[u8]) -> Response<Body> {
    let m: Move = match json::body(body) {
        Ok(m) => m,
        Err(r) => return *r,
    };
    let timeout = Duration::from_millis(m.timeout_ms.unwrap_or(1000)).min(MAX_MOVE);
    done(
        state
            .ptz
            .move_continuously(m.pan, m.tilt, m.zoom, Some(timeout)),
    )
}

/// `POST /api/ptz/stop`.
pub(in crate::serve::http) fn stop(state: &AppState) -> Response<Body> {
    state.ptz.stop();
    json::ok(json!({}))
}

/// `POST /api/ptz/home`.
pub(in crate::serve::http) fn home(state: &AppState) -> Response<Body> {
    done(state.ptz.go_home(None))
}

/// `GET /api/ptz/presets`.
pub(in crate::serve::http) fn presets_list(state: &AppState) -> Response<Body> {
    json::ok(presets(state))
}

/// `POST /api/ptz/presets` with `{"name"}`: the position now, as a new preset.
pub(in crate::serve::http) fn add_preset(state: &AppState, body: &[u8]) -> Response<Body> {
    let p: NewPreset = match json::body(body) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    match state
        .ptz
        .save_preset(None, p.name.filter(|n| !n.trim().is_empty()))
    {
        Ok(token) => json::reply(StatusCode::CREATED, &json!({ "token": token })),
        Err(e) => refused(&e),
    }
}

/// `POST /api/ptz/presets/<token>/goto`.
pub(in crate::serve::http) fn goto_preset(state: &AppState, token: &str) -> Response<Body> {
    done(state.ptz.go_to_preset(token, None))
}

/// `DELETE /api/ptz/presets/<token>`.
pub(in crate::serve::http) fn remove_preset(state: &AppState, token: &str) -> Response<Body> {
    done(state.ptz.remove_preset(token))
}

/// `GET /api/night`.
pub(in crate::serve::http) fn night_get(state: &AppState) -> Response<Body> {
    json::ok(night(state))
}

/// `POST /api/night` with `{"mode": "day" | "night" | "auto"}`.
pub(in crate::serve::http) fn night_set(state: &AppState, body: &[u8]) -> Response<Body> {
    let n: NightChange = match json::body(body) {
        Ok(n) => n,
        Err(r) => return *r,
    };
    match state.night.set_mode(n.mode) {
        Ok(()) => json::ok(night(state)),
        Err(e) => refused(&e),
    }
}
