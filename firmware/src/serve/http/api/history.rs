//! `GET /api/history[?since=<unix seconds>]`: the climate chart's samples, oldest first.

use hyper::{Response, StatusCode};
use serde_json::json;

use crate::history::{RESOLUTION_S, WINDOW_S};
use crate::serve::http::routes::Call;
use crate::serve::http::{Body, json};

pub(in crate::serve::http) fn serve(call: &Call) -> Response<Body> {
    #[derive(serde::Deserialize)]
    struct Query {
        #[serde(default)]
        since: u64,
    }
    let Ok(Query { since }) = call.query() else {
        return json::error(
            StatusCode::BAD_REQUEST,
            "since must be a time in Unix seconds",
        );
    };
    json::ok(json!({
        "resolution_s": RESOLUTION_S,
        "window_s": WINDOW_S,
        "samples": call.state.web.history.samples(since),
    }))
}
