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
    let mut r = text(StatusCode::OK, out);
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}
