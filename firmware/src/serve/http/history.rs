//! `GET /api/history[?since=<unix seconds>]`: the climate chart's samples, oldest first.

use hyper::{Response, StatusCode};
use serde_json::json;

use super::{AppState, Body, json};
use crate::history::{RESOLUTION_S, WINDOW_S};

pub(super) fn serve(state: &AppState, query: Option<&str>) -> Response<Body> {
    #[derive(serde::Deserialize)]
    struct Query {
        #[serde(default)]
        since: u64,
    }
    let Ok(Query { since }) = super::query::parse(query) else {
        return json::error(
            StatusCode::BAD_REQUEST,
            "since must be a time in Unix seconds",
        );
    };
    json::ok(json!({
        "resolution_s": RESOLUTION_S,
        "window_s": WINDOW_S,
        "samples": state.web.history.samples(since),
    }))
}
