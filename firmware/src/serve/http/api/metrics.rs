//! `/metrics` in the Prometheus text format.

use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};

use std::sync::atomic::Ordering::Relaxed;

use crate::metrics_text::Exposition;
use crate::metrics_text::Kind::{Counter, Gauge};
use crate::serve::http::{AppState, Body, text};

pub(in crate::serve::http) fn serve(state: &AppState) -> Response<Body> {
    let mut e = Exposition::default();
    e.family("build_info", Gauge, "The firmware's version.")
        .sample(&[("version", state.camera.update.running_version())], 1);
    state.hub.stats.render(&mut e);
    state.alerts.render_metrics(&mut e);
    state.mqtt.render_metrics(&mut e);
    state.ntfy.render_metrics(&mut e);
    state.camera.update.render_metrics(&mut e);
    state.recordings.render_metrics(&mut e);
    state.hub.listen.render(&mut e);
    if let Some(crate::night::NightState { mode, night }) = state.night.state() {
        e.family(
            "night_vision",
            Gauge,
            "Whether the picture is in night mode (IR-cut filter out, IR LEDs on).",
        )
        .sample(
            &[("mode", &format!("{mode:?}").to_lowercase())],
            u8::from(night),
        );
    }
    if let Some(ptz) = state.ptz.status() {
        e.family(
            "ptz_position",
            Gauge,
            "Pan and tilt in ONVIF's generic space (-1 to 1).",
        )
        .sample(&[("axis", "pan")], ptz.pan)
        .sample(&[("axis", "tilt")], ptz.tilt);
        e.single(
            "ptz_moving",
            Gauge,
            "Whether the camera is moving.",
            u8::from(ptz.moving),
        );
    }
    if let Some(audio) = &state.audio {
        audio.render_metrics(&mut e);
    }
    e.family(
        "web_viewers",
        Gauge,
        "Web pages watching live, over WebRTC or the JPEG fallback.",
    )
    .sample(
        &[("kind", "webrtc")],
        state
            .web
            .connections
            .count(crate::serve::webrtc::Kind::View),
    )
    .sample(
        &[("kind", "fallback")],
        state.web.fallback_viewers.load(Relaxed),
    );
    e.single(
        "http_connections",
        Gauge,
        "HTTP connections open now.",
        state.connections.open(),
    );
    e.single(
        "http_connections_refused_total",
        Counter,
        "HTTP connections closed at once: the server or their address held its maximum.",
        state.connections.refused(),
    );
    if let Some(b) = state.hub.brightness(std::time::Duration::from_secs(5)) {
        e.single(
            "scene_brightness",
            Gauge,
            "Mean brightness of the picture (0-1).",
            format!("{b:.3}"),
        );
    }
    alerts(state, &mut e);
    let mut r = text(StatusCode::OK, e.finish());
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

/// The nursery and the alerts: readings, detector states, event subscriptions.
fn alerts(state: &AppState, e: &mut Exposition) {
    if let Some(climate) = &state.climate {
        nursery(climate, e);
    }
    detectors(state, e);
    subscriptions(state, e);
}

/// The climate sensor's readings and comfort alerts.
fn nursery(climate: &crate::climate::ClimateTask, e: &mut Exposition) {
    let mut gauge = |name: &str, help: &str, value: f64| e.single(name, Gauge, help, value);
    let now = climate.current();
    if let Some(r) = now.reading {
        gauge(
            "temperature_celsius",
            "The nursery's temperature.",
            f64::from(r.temperature_c),
        );
        gauge(
            "humidity_percent",
            "The nursery's relative humidity.",
            f64::from(r.humidity_pct),
        );
        gauge("pressure_hpa", "Air pressure.", f64::from(r.pressure_hpa));
    }
    gauge(
        "sensor_ok",
        "Whether the climate sensor reads.",
        f64::from(u8::from(!now.failing)),
    );
    gauge(
        "sensor_failures",
        "Failed climate readings since start.",
        now.failures as f64,
    );
    for (name, on) in [
        ("too_hot", now.too_hot),
        ("too_cold", now.too_cold),
        ("too_humid", now.too_humid),
        ("too_dry", now.too_dry),
    ] {
        gauge(
            &format!("alert_{name}"),
            "A comfort limit is passed.",
            f64::from(u8::from(on)),
        );
    }
}

/// What the sound and motion detectors sense now.
fn detectors(state: &AppState, e: &mut Exposition) {
    use crate::events::topics;
    let mut gauge = |name: &str, help: &str, value: f64| e.single(name, Gauge, help, value);
    let on = |topic: &str, item: &str| {
        f64::from(u8::from(
            state.bus.value(topic, item).as_deref() == Some("true"),
        ))
    };
    gauge(
        "sound_detected",
        "Whether crying (or sound) is detected now.",
        on(topics::DETECTED_SOUND, "IsSoundDetected"),
    );
    gauge(
        "motion_detected",
        "Whether motion is detected now.",
        on(topics::MOTION_ALARM, "State"),
    );
    let levels = state.detectors.levels();
    if let Some(db) = levels.sound_db {
        gauge("sound_level_dbfs", "The microphone's level.", f64::from(db));
    }
    if let Some(db) = levels.noise_floor_db {
        gauge(
            "noise_floor_dbfs",
            "The room's usual noise level.",
            f64::from(db),
        );
    }
}

/// ONVIF event subscriptions and their messages.
fn subscriptions(state: &AppState, e: &mut Exposition) {
    let subs = state.bus.subscriptions();
    e.single(
        "event_subscriptions",
        Gauge,
        "ONVIF event subscriptions now.",
        subs.count() as f64,
    );
    let c = &subs.counters;
    for (name, help, value) in [
        (
            "event_subscriptions_created_total",
            "Event subscriptions made.",
            &c.created,
        ),
        (
            "event_subscriptions_expired_total",
            "Event subscriptions that ended unrenewed.",
            &c.expired,
        ),
        (
            "event_subscriptions_refused_total",
            "Event subscriptions refused (too many).",
            &c.refused,
        ),
        (
            "event_subscriptions_displaced_total",
            "Event subscriptions ended early to make room (their user held its share, or the camera was full).",
            &c.displaced,
        ),
        (
            "event_messages_dropped_total",
            "Event messages dropped from full queues.",
            &c.dropped,
        ),
        (
            "event_messages_delivered_total",
            "Event messages pulled or pushed.",
            &c.delivered,
        ),
    ] {
        e.single(name, Counter, help, value.load(Relaxed));
    }
}
