//! The listen stream a phone plays with its screen off (`GET /api/listen.aac`), its settings
//! (`GET`/`PUT /api/listen`: the noise gate), and with `--simulate` the simulated microphone
//! (`PUT /api/simulate/sound`).

use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use hyper::http::request::Parts;
use hyper::{Response, StatusCode};
use serde_json::{Map, Value, json};

use crate::audio::room::{Room, RoomChange};
use crate::config::{AudioSource, GateConfig, LISTEN_BITRATE_KBPS, LISTEN_SAMPLE_RATE};
use crate::media::Source;
use crate::serve::http::server::Connection;
use crate::serve::http::{AppState, Body, json};
use crate::settings::Refused;

/// `GET /api/listen.aac`: ADTS AAC for as long as the client reads.
pub(in crate::serve::http) fn stream(state: &AppState, head: &Parts) -> Response<Body> {
    let config = state.config();
    if !state.camera.has_audio {
        return json::error(StatusCode::NOT_FOUND, "the camera has no microphone");
    }
    let connection = head.extensions.get::<Arc<Connection>>();
    let stall = Duration::from_secs(config.listen.stall_s);
    let listen = &state.hub.listen;
    let mut listener = match listen.join(
        config.listen.max_listeners,
        stall,
        connection.map(|c| Arc::clone(&c.hangup)),
    ) {
        Ok(listener) => listener,
        Err(refused) => {
            let mut r = json::error(StatusCode::SERVICE_UNAVAILABLE, refused);
            r.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("10"));
            return r;
        }
    };
    // After the listener has its place, so that the capture, told of the demand, sees it and
    // opens the listen valve.
    listener.keep(state.hub.demand_of(&[Source::Audio]));
    if let Some(c) = connection {
        c.hold_little(stall);
    }
    let mut r = Response::new(listener.boxed());
    let headers = r.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("audio/aac"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    r
}

fn settings_json(state: &AppState) -> Value {
    let config = state.config();
    let gate = config.listen.gate;
    json!({
        "gate": {"enabled": gate.enabled, "threshold_db": gate.threshold_db, "hold_s": gate.hold_s},
        "gate_open": state.hub.listen.gate_open(),
        "listeners": state.hub.listen.count(),
        "max_listeners": config.listen.max_listeners,
        "stall_s": config.listen.stall_s,
        "bitrate_kbps": LISTEN_BITRATE_KBPS,
        "sample_rate": LISTEN_SAMPLE_RATE,
    })
}

/// `GET /api/listen`.
pub(in crate::serve::http) fn get(state: &AppState) -> Response<Body> {
    json::ok(settings_json(state))
}

/// `PUT /api/listen` with `{"gate": {"enabled": true, "threshold_db": 10, "hold_s": 2}}`;
/// any of them may be left out. Stored with the other run-time settings.
pub(in crate::serve::http) fn put(state: &AppState, body: &[u8]) -> Response<Body> {
    let patch = match gate_patch(body) {
        Ok(patch) => patch,
        Err((field, message)) => {
            return json::error(StatusCode::BAD_REQUEST, format!("{field}: {message}"));
        }
    };
    let changed = state.settings.change(|stored, current| {
        let mut gate = stored.listen_gate.unwrap_or(current.listen.gate);
        patch.apply(&mut gate);
        if let Some((field, message)) = gate.problem("gate") {
            return Err(Refused { field, message });
        }
        stored.listen_gate = Some(gate);
        Ok(())
    });
    match changed {
        Ok(()) => json::ok(settings_json(state)),
        Err(e) if e.field == "state" => json::error(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(e) => json::error(StatusCode::BAD_REQUEST, e),
    }
}

/// The gate's fields a request sets.
#[derive(Debug, Default, PartialEq)]
struct GatePatch {
    enabled: Option<bool>,
    threshold_db: Option<f32>,
    hold_s: Option<f32>,
}

impl GatePatch {
    fn apply(&self, gate: &mut GateConfig) {
        if let Some(v) = self.enabled {
            gate.enabled = v;
        }
        if let Some(v) = self.threshold_db {
            gate.threshold_db = v;
        }
        if let Some(v) = self.hold_s {
            gate.hold_s = v;
        }
    }
}

fn object(body: &[u8]) -> Result<Map<String, Value>, (String, String)> {
    let body = if body.is_empty() { b"{}" } else { body };
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(("body".into(), "must be a JSON object".into())),
        Err(e) => Err(("body".into(), format!("is not JSON: {e}"))),
    }
}

fn unknown(map: &Map<String, Value>, known: &[&str], prefix: &str) -> Result<(), (String, String)> {
    match map.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err((
            format!("{prefix}{k}"),
            format!("is not a setting here (known: {})", known.join(", ")),
        )),
        None => Ok(()),
    }
}

fn number(value: &Value, field: &str) -> Result<f32, (String, String)> {
    value
        .as_f64()
        .map(|v| v as f32)
        .filter(|v| v.is_finite())
        .ok_or_else(|| (field.to_string(), "must be a number".to_string()))
}

fn boolean(value: &Value, field: &str) -> Result<bool, (String, String)> {
    value
        .as_bool()
        .ok_or_else(|| (field.to_string(), "must be true or false".to_string()))
}

fn gate_patch(body: &[u8]) -> Result<GatePatch, (String, String)> {
    let top = object(body)?;
    unknown(&top, &["gate"], "")?;
    let Some(gate) = top.get("gate") else {
        return Ok(GatePatch::default());
    };
    let Value::Object(gate) = gate else {
        return Err(("gate".into(), "must be an object".into()));
    };
    unknown(gate, &["enabled", "threshold_db", "hold_s"], "gate.")?;
    Ok(GatePatch {
        enabled: gate
            .get("enabled")
            .map(|v| boolean(v, "gate.enabled"))
            .transpose()?,
        threshold_db: gate
            .get("threshold_db")
            .map(|v| number(v, "gate.threshold_db"))
            .transpose()?,
        hold_s: gate
            .get("hold_s")
            .map(|v| number(v, "gate.hold_s"))
            .transpose()?,
    })
}

fn room_change(body: &[u8]) -> Result<RoomChange, (String, String)> {
    let map = object(body)?;
    unknown(&map, &["cry_s", "noise_db", "failing", "tick"], "")?;
    let change = RoomChange {
        noise_db: match map.get("noise_db") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(v) => Some(Some(number(v, "noise_db")?)),
        },
        tick: map.get("tick").map(|v| boolean(v, "tick")).transpose()?,
        cry_s: map.get("cry_s").map(|v| number(v, "cry_s")).transpose()?,
        failing: map
            .get("failing")
            .map(|v| boolean(v, "failing"))
            .transpose()?,
    };
    if let Some((field, message)) = change.problem() {
        return Err((field.into(), message));
    }
    Ok(change)
}

/// The simulated microphone, if this camera has one now.
fn simulated(state: &AppState) -> Option<&Arc<Room>> {
    state
        .sim_mic
        .as_ref()
        .filter(|_| state.config().audio.source == AudioSource::Test)
}

/// `PUT /api/simulate/sound` with `{"cry_s": 10}` (a baby cries that long), `{"noise_db": -40}`
/// (steady pink room noise; `null`: none), `{"tick": false}` (no tick), `{"failing": true}`
/// (the microphone fails, the capture's silence stands in; `false` recovers).
pub(in crate::serve::http) fn simulate(state: &AppState, body: &[u8]) -> Response<Body> {
    let Some(room) = simulated(state) else {
        return json::error(
            StatusCode::NOT_FOUND,
            "only the simulated camera's test microphone has this",
        );
    };
    let change = match room_change(body) {
        Ok(change) => change,
        Err((field, message)) => {
            return json::error(StatusCode::BAD_REQUEST, format!("{field}: {message}"));
        }
    };
    room.change(&change);
    let sound = room.sound();
    let crying_s = sound
        .cry_until
        .and_then(|t| t.checked_duration_since(std::time::Instant::now()))
        .map_or(0.0, |d| d.as_secs_f64());
    json::ok(json!({
        "noise_db": sound.noise_db,
        "tick": sound.tick,
        "crying_s": (crying_s * 10.0).round() / 10.0,
        "failing": sound.failing,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_changes_name_the_wrong_field() {
        assert_eq!(gate_patch(b"").expect("empty"), GatePatch::default());
        let p = gate_patch(br#"{"gate": {"threshold_db": 15}}"#).expect("partial");
        assert_eq!(p.threshold_db, Some(15.0));
        assert_eq!(p.enabled, None);
        for (body, field) in [
            (
                &br#"{"gate": {"threshold_db": "loud"}}"#[..],
                "gate.threshold_db",
            ),
            (br#"{"gate": {"enabled": 1}}"#, "gate.enabled"),
            (br#"{"gate": {"hold": 2}}"#, "gate.hold"),
            (br#"{"gat": {}}"#, "gat"),
            (br#"{"gate": 3}"#, "gate"),
            (br#"[1]"#, "body"),
            (br#"{"#, "body"),
        ] {
            let (got, message) = gate_patch(body).expect_err("refused");
            assert_eq!(got, field, "{message}");
        }
    }

    #[test]
    fn room_changes_are_checked() {
        let c = room_change(br#"{"noise_db": null, "cry_s": 5}"#).expect("ok");
        assert_eq!(c.noise_db, Some(None));
        assert_eq!(c.cry_s, Some(5.0));
        for (body, field) in [
            (&br#"{"noise_db": 3}"#[..], "noise_db"),
            (br#"{"noise_db": "x"}"#, "noise_db"),
            (br#"{"cry_s": -1}"#, "cry_s"),
            (br#"{"cry_s": 1e9}"#, "cry_s"),
            (br#"{"failing": "yes"}"#, "failing"),
            (br#"{"crying": true}"#, "crying"),
        ] {
            assert_eq!(room_change(body).expect_err("refused").0, field);
        }
    }
}
