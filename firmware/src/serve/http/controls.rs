//! `/api/ptz/*` and `/api/night`: the page's controls as JSON. They call the same domain
//! controls as the ONVIF services, under the same access rules (moving the camera needs an
//! operator or admin).

use std::time::Duration;

use hyper::{Method, Response, StatusCode};
use onvif::service::Access;
use serde::Deserialize;
use serde_json::json;

use super::auth::AuthedUser;
use super::json::{done, refused};
use super::{AppState, Body, json};
use crate::config::NightMode;
use crate::serve::onvif::level;

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

/// Serves `/api/ptz...` and `/api/night`; `None` if the path is not one of them.
pub(super) fn serve(
    state: &AppState,
    method: &Method,
    path: &str,
    user: &AuthedUser,
    body: &[u8],
) -> Option<Response<Body>> {
    let ptz = &state.ptz;
    let writes = *method != Method::GET;
    if (path.starts_with("/api/ptz") || path == "/api/night")
        && writes
        && !Access::Actuate.allowed(level(user.role))
    {
        return Some(json::error(
            StatusCode::FORBIDDEN,
            format!("{} may watch but not move the camera", user.name),
        ));
    }
    let preset_action = path
        .strip_prefix("/api/ptz/presets/")
        .map(|rest| rest.split_once('/').unwrap_or((rest, "")));
    Some(match (method, path, preset_action) {
        (&Method::GET, "/api/ptz", _) => json::ok(ptz_status(state)),
        (&Method::POST, "/api/ptz/move", _) => {
            let m: Move = match json::body(body) {
                Ok(m) => m,
                Err(r) => return Some(*r),
            };
            let timeout = Duration::from_millis(m.timeout_ms.unwrap_or(1000)).min(MAX_MOVE);
            done(ptz.motion().and_then(|p| {
                p.continuous(m.pan, m.tilt, Some(timeout))?;
                p.zoom_continuous(m.zoom, Some(timeout))
            }))
        }
        (&Method::POST, "/api/ptz/stop", _) => {
            ptz.stop();
            json::ok(json!({}))
        }
        (&Method::POST, "/api/ptz/home", _) => done(ptz.go_home(None)),
        (&Method::GET, "/api/ptz/presets", _) => json::ok(presets(state)),
        (&Method::POST, "/api/ptz/presets", _) => {
            let p: NewPreset = match json::body(body) {
                Ok(p) => p,
                Err(r) => return Some(*r),
            };
            match ptz.save_preset(None, p.name.filter(|n| !n.trim().is_empty())) {
                Ok(token) => json::reply(StatusCode::CREATED, &json!({ "token": token })),
                Err(e) => refused(&e),
            }
        }
        (&Method::POST, _, Some((token, "goto"))) => done(ptz.go_to_preset(token, None)),
        (&Method::DELETE, _, Some((token, ""))) => done(ptz.remove_preset(token)),
        (&Method::GET, "/api/night", _) => json::ok(night(state)),
        (&Method::POST, "/api/night", _) => {
            let n: NightChange = match json::body(body) {
                Ok(n) => n,
                Err(r) => return Some(*r),
            };
            match state.night.set_mode(n.mode) {
                Ok(()) => json::ok(night(state)),
                Err(e) => refused(&e),
            }
        }
        _ if path.starts_with("/api/ptz") || path == "/api/night" => {
            json::error(StatusCode::NOT_FOUND, "no such control")
        }
        _ => return None,
    })
}
