//! `/metrics` in the Prometheus text format.

use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};

use super::{AppState, Body, text};

pub(super) fn serve(state: &AppState) -> Response<Body> {
    let mut out = String::with_capacity(4096);
    out.push_str("# TYPE babymonitor_build_info gauge\n");
    out.push_str(&format!(
        "babymonitor_build_info{{version=\"{}\"}} 1\n",
        env!("CARGO_PKG_VERSION")
    ));
    state.hub.stats.render(&mut out);
    if let Some((mode, night)) = state.camera.night_state() {
        out.push_str("# HELP babymonitor_night_vision Whether the picture is in night mode (IR-cut filter out, IR LEDs on).\n# TYPE babymonitor_night_vision gauge\n");
        out.push_str(&format!(
            "babymonitor_night_vision{{mode=\"{}\"}} {}\n",
            format!("{mode:?}").to_lowercase(),
            u8::from(night)
        ));
    }
    if let Some(ptz) = state.camera.ptz_status() {
        out.push_str("# HELP babymonitor_ptz_position Pan and tilt in ONVIF's generic space (-1 to 1).\n# TYPE babymonitor_ptz_position gauge\n");
        out.push_str(&format!("babymonitor_ptz_position{{axis=\"pan\"}} {}\nbabymonitor_ptz_position{{axis=\"tilt\"}} {}\n", ptz.pan, ptz.tilt));
        out.push_str(&format!(
            "# TYPE babymonitor_ptz_moving gauge\nbabymonitor_ptz_moving {}\n",
            u8::from(ptz.moving)
        ));
    }
    if let Some(audio) = &state.audio {
        audio.render_metrics(&mut out);
    }
    out.push_str(&format!(
        "# HELP babymonitor_web_viewers Web pages watching live, over WebRTC or the JPEG fallback.\n# TYPE babymonitor_web_viewers gauge\n\
         babymonitor_web_viewers{{kind=\"webrtc\"}} {}\nbabymonitor_web_viewers{{kind=\"fallback\"}} {}\n",
        state.web.whep.count(),
        state.web.fallback_viewers.load(std::sync::atomic::Ordering::Relaxed)
    ));
    out.push_str(&format!(
        "# HELP babymonitor_http_connections HTTP connections open now.\n# TYPE babymonitor_http_connections gauge\nbabymonitor_http_connections {}\n\
         # HELP babymonitor_http_connections_refused_total HTTP connections closed at once: the server or their address held its maximum.\n# TYPE babymonitor_http_connections_refused_total counter\nbabymonitor_http_connections_refused_total {}\n",
        state.connections.open(),
        state.connections.refused()
    ));
    if let Some(b) = state.hub.brightness(std::time::Duration::from_secs(5)) {
        out.push_str(&format!("# HELP babymonitor_scene_brightness Mean brightness of the picture (0-1).\n# TYPE babymonitor_scene_brightness gauge\nbabymonitor_scene_brightness {b:.3}\n"));
    }
    alerts(state, &mut out);
    let mut r = text(StatusCode::OK, out);
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

/// The nursery and the alerts: readings, detector states, event subscriptions.
fn alerts(state: &AppState, out: &mut String) {
    use std::fmt::Write as _;
    use std::sync::atomic::Ordering::Relaxed;

    use crate::events::topics;
    let mut gauge = |name: &str, help: &str, value: f64| {
        let _ = write!(
            out,
            "# HELP babymonitor_{name} {help}\n# TYPE babymonitor_{name} gauge\nbabymonitor_{name} {value}\n"
        );
    };
    if let Some(climate) = &state.climate {
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
    let subs = state.bus.subscriptions();
    gauge(
        "event_subscriptions",
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
        let _ = write!(
            out,
            "# HELP babymonitor_{name} {help}\n# TYPE babymonitor_{name} counter\nbabymonitor_{name} {}\n",
            value.load(Relaxed)
        );
    }
}
