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
    out.push_str(&format!(
        "# HELP babymonitor_web_viewers Web pages watching live, over WebRTC or the JPEG fallback.\n# TYPE babymonitor_web_viewers gauge\n\
         babymonitor_web_viewers{{kind=\"webrtc\"}} {}\nbabymonitor_web_viewers{{kind=\"fallback\"}} {}\n",
        state.web.whep.count(),
        state.web.fallback_viewers.load(std::sync::atomic::Ordering::Relaxed)
    ));
    if let Some(b) = state.hub.brightness(std::time::Duration::from_secs(5)) {
        out.push_str(&format!("# HELP babymonitor_scene_brightness Mean brightness of the picture (0-1).\n# TYPE babymonitor_scene_brightness gauge\nbabymonitor_scene_brightness {b:.3}\n"));
    }
    let mut r = text(StatusCode::OK, out);
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}
