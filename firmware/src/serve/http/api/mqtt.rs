//! `GET`/`PUT /api/mqtt` (admin): the MQTT broker and its login as the page sets them, and how
//! the connection is doing. The password is written, never read back.

use hyper::{Response, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::info;

use crate::config::{MqttLink, MqttProtocol, Role};
use crate::serve::http::{AppState, Body, json};
use crate::settings::Refused;

fn settings_json(state: &AppState) -> Value {
    let config = state.config();
    let m = &config.mqtt;
    let mut v = json!({
        "enabled": m.enabled,
        "broker": m.broker,
        "user": m.user,
        "password_set": !m.password.is_empty(),
        "protocol": m.protocol,
        "commands": m.commands,
        "discovery_prefix": m.discovery_prefix,
    });
    if let Value::Object(status) = state.mqtt.status() {
        v["connected"] = status["connected"].clone();
        v["last_error"] = status["last_error"].clone();
    }
    v
}

pub(in crate::serve::http) fn get(state: &AppState) -> Response<Body> {
    json::ok(settings_json(state))
}

/// The fields a request sets; the others keep their value. An empty `password` removes it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Patch {
    enabled: Option<bool>,
    broker: Option<String>,
    user: Option<String>,
    password: Option<String>,
    protocol: Option<MqttProtocol>,
    commands: Option<Role>,
}

pub(in crate::serve::http) fn put(state: &AppState, who: &str, body: &[u8]) -> Response<Body> {
    let patch: Patch = match json::body(body) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let changed = state.settings.change(|stored, current| {
        let mut link = stored
            .mqtt
            .clone()
            .unwrap_or_else(|| MqttLink::of(&current.mqtt));
        if let Some(v) = patch.enabled {
            link.enabled = v;
        }
        if let Some(v) = &patch.broker {
            link.broker = v.trim().to_string();
        }
        if let Some(v) = &patch.user {
            link.user = v.clone();
        }
        if let Some(v) = &patch.password {
            link.password = v.clone();
        }
        if let Some(v) = patch.protocol {
            link.protocol = v;
        }
        if let Some(v) = patch.commands {
            link.commands = v;
        }
        if link.user.len() > 256 || link.password.len() > 256 || link.broker.len() > 256 {
            return Err(Refused {
                field: "mqtt".into(),
                message: "the broker, user and password are at most 256 bytes each".into(),
            });
        }
        stored.mqtt = Some(link);
        Ok(())
    });
    match changed {
        Ok(()) => {
            info!(user = who, "MQTT settings changed");
            json::ok(settings_json(state))
        }
        Err(e) if e.field == "state" => json::error(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(e) => json::error(StatusCode::BAD_REQUEST, e),
    }
}
