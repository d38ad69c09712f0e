//! `/api/status` (JSON: what the camera senses and does now), `/api/events` (the event bus, the
//! user's alerts and a heartbeat as server-sent events), and with `--simulate`
//! `/api/simulate/climate` to set the simulated room.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Frame;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};
use onvif::events::Notification;
use serde_json::{Value, json};

use crate::events::topics;
use crate::serve::http::{AppState, Body, text};

fn json_response(status: StatusCode, value: &Value) -> Response<Body> {
    let mut r = Response::new(crate::serve::http::full(value.to_string()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn is_true(state: &AppState, topic: &str, item: &str) -> Option<bool> {
    state.bus.value(topic, item).map(|v| v == "true")
}

pub(in crate::serve::http) fn status(state: &AppState) -> Response<Body> {
    let config = state.config();
    let climate = state.climate.as_ref().map(|c| {
        let now = c.current();
        json!({
            "temperature_c": now.reading.map(|r| round1(r.temperature_c)),
            "humidity_pct": now.reading.map(|r| round1(r.humidity_pct)),
            "pressure_hpa": now.reading.map(|r| round1(r.pressure_hpa)),
            "sensor_ok": !now.failing && now.reading.is_some(),
            "too_hot": now.too_hot,
            "too_cold": now.too_cold,
            "too_humid": now.too_humid,
            "too_dry": now.too_dry,
            "limits": {
                "temperature_c": [config.comfort.temperature_min_c, config.comfort.temperature_max_c],
                "humidity_pct": [config.comfort.humidity_min, config.comfort.humidity_max],
            },
        })
    });
    let levels = state.detectors.levels();
    let ptz = state
        .ptz
        .status()
        .map(|p| json!({"pan": p.pan, "tilt": p.tilt, "zoom": p.zoom_factor, "moving": p.moving}));
    let night = state
        .night
        .state()
        .map(|n| json!({"mode": format!("{:?}", n.mode).to_lowercase(), "night": n.night}));
    let stats = &state.hub.stats;
    let stream = |s: &crate::config::StreamConfig| json!({"width": s.width, "height": s.height, "framerate": s.framerate, "bitrate_kbps": s.bitrate_kbps});
    let body = json!({
        "device": {"name": config.device.name, "version": state.camera.update.running_version()},
        "climate": climate,
        "sound": {
            "enabled": config.sound.enabled,
            "detected": is_true(state, topics::DETECTED_SOUND, "IsSoundDetected").unwrap_or(false),
            "level_db": levels.sound_db.map(round1),
            "noise_floor_db": levels.noise_floor_db.map(round1),
        },
        "motion": {
            "enabled": config.motion.enabled,
            "detected": is_true(state, topics::MOTION_ALARM, "State").unwrap_or(false),
            "changed_share": levels.motion_share,
        },
        "night": night,
        "ptz": ptz,
        "streams": {"main": stream(&config.video.main), "sub": stream(&config.video.sub)},
        "clients": {
            "viewers": state.hub.viewers(),
            "event_subscriptions": state.bus.subscriptions().count(),
        },
        "capture": {
            "video": stats.video.running.load(std::sync::atomic::Ordering::Relaxed),
            "audio": stats.audio.running.load(std::sync::atomic::Ordering::Relaxed),
        },
        "microphone": {"ok": state.alerts.mic_ok()},
        "listen": {"listeners": state.hub.listen.count()},
        "mqtt": state.mqtt.status(),
        "ntfy": state.ntfy.status(),
        "sleep": state.sleep.status(),
        "update": state.camera.update.status_json(),
        "recordings": state.recordings.status(),
    });
    json_response(StatusCode::OK, &body)
}

fn round1(v: f32) -> f64 {
    (f64::from(v) * 10.0).round() / 10.0
}

/// A notification as JSON for scripts and the web page.
pub(crate) fn notification_json(n: &Notification) -> Value {
    let map = |items: &[(String, String)]| {
        items
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect::<serde_json::Map<_, _>>()
    };
    json!({
        "topic": n.topic,
        "time": onvif::events::format_time(n.utc),
        "operation": n.operation.map(|o| format!("{o:?}")),
        "source": map(&n.source),
        "data": map(&n.data),
    })
}

/// A body fed from a channel: the server-sent events stream.
struct ChannelBody(tokio::sync::mpsc::Receiver<Bytes>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
    }
}

/// How often the stream says the camera is alive: the page's link alarm goes off when these
/// stop coming (and `mic_ok` turns false when the camera cannot hear the nursery).
const HEARTBEAT: Duration = Duration::from_secs(2);

fn sse_event(n: &Notification) -> Bytes {
    Bytes::from(format!("event: onvif\ndata: {}\n\n", notification_json(n)))
}

fn alert_event(alert: &crate::alerts::Alert) -> Bytes {
    let data = serde_json::to_string(alert).unwrap_or_else(|_| "{}".into());
    Bytes::from(format!("event: alert\ndata: {data}\n\n"))
}

/// The listen streams playing now, for the heartbeat.
fn listeners(state: &AppState) -> u64 {
    state.hub.listen.count() as u64
}

fn heartbeat_event(state: &AppState) -> Bytes {
    let data = json!({
        "time": onvif::events::format_time(time::OffsetDateTime::now_utc()),
        "mic_ok": state.alerts.mic_ok(),
        "listeners": listeners(state),
    });
    Bytes::from(format!("event: heartbeat\ndata: {data}\n\n"))
}

/// `GET /api/events`: the current state of every property, then each event as it happens,
/// `user`'s alerts, and a heartbeat every [`HEARTBEAT`].
pub(in crate::serve::http) fn events(state: &Arc<AppState>, user: &str) -> Response<Body> {
    use tokio::sync::broadcast::error::RecvError;
    let mut live = state.bus.listen();
    let mut alerts = state.alerts.subscribe();
    let snapshot = state.bus.snapshot();
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    let (state, user) = (Arc::clone(state), user.to_string());
    tokio::spawn(async move {
        for n in &snapshot {
            if tx.send(sse_event(n)).await.is_err() {
                return;
            }
        }
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let chunk = tokio::select! {
                n = live.recv() => match n {
                    Ok(n) => sse_event(&n),
                    Err(RecvError::Lagged(missed)) => lagged(missed),
                    Err(RecvError::Closed) => return,
                },
                a = alerts.recv() => match a {
                    Ok(a) if a.user == user => alert_event(&a),
                    Ok(_) => continue,
                    Err(RecvError::Lagged(missed)) => lagged(missed),
                    Err(RecvError::Closed) => return,
                },
                // Also how a page that went away is noticed: the send fails.
                _ = heartbeat.tick() => heartbeat_event(&state),
            };
            if tx.send(chunk).await.is_err() {
                return;
            }
        }
    });
    let mut r = Response::new(ChannelBody(rx).boxed());
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn lagged(missed: u64) -> Bytes {
    Bytes::from(format!("event: lagged\ndata: {{\"missed\": {missed}}}\n\n"))
}

/// `PUT /api/simulate/climate` with `{"temperature_c": 25, "humidity_pct": 50}` holds the
/// simulated room there, `{"drift": true}` lets it drift again, `{"failing": true}` unplugs
/// the simulated sensor.
pub(in crate::serve::http) fn simulate_climate(state: &AppState, body: &[u8]) -> Response<Body> {
    let Some(room) = &state.sim_room else {
        return text(
            StatusCode::NOT_FOUND,
            "only the simulated camera has this\n",
        );
    };
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return text(StatusCode::BAD_REQUEST, "expected a JSON object\n");
    };
    if let Some(failing) = value.get("failing").and_then(Value::as_bool) {
        room.set_failing(failing);
    }
    if value.get("drift").and_then(Value::as_bool) == Some(true) {
        room.set(None);
    }
    let t = value.get("temperature_c").and_then(Value::as_f64);
    let h = value.get("humidity_pct").and_then(Value::as_f64);
    match (t, h) {
        (Some(t), Some(h)) if t.is_finite() && h.is_finite() && (0.0..=100.0).contains(&h) => {
            room.set(Some((t as f32, h as f32)));
        }
        (None, None) => {}
        _ => {
            return text(
                StatusCode::BAD_REQUEST,
                "temperature_c and humidity_pct (0-100) go together\n",
            );
        }
    }
    json_response(StatusCode::OK, &json!({"ok": true}))
}
