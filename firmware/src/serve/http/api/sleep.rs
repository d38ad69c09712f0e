//! `GET /api/sleep[?nights=14]`: the sleep log's nights, newest first, with totals and
//! wake-ups; `GET /api/sleep.csv`: every night kept, one row per interval.

use hyper::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};
use serde_json::json;

use crate::config::SleepConfig;
use crate::serve::http::routes::Call;
use crate::serve::http::{Body, full, json};

const DEFAULT_NIGHTS: u32 = 14;

pub(in crate::serve::http) fn nights(call: &Call) -> Response<Body> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Query {
        nights: Option<u32>,
    }
    let (lo, hi) = SleepConfig::NIGHTS;
    let count = match call.query::<Query>() {
        Ok(Query { nights: None }) => DEFAULT_NIGHTS,
        Ok(Query { nights: Some(n) }) if (lo..=hi).contains(&n) => n,
        Ok(_) | Err(_) => {
            return json::error(
                StatusCode::BAD_REQUEST,
                format!("nights must be a whole number from {lo} to {hi} (the only parameter)"),
            );
        }
    };
    let config = call.state.config().sleep.clone();
    json::ok(json!({
        "enabled": config.enabled,
        "from": config.from,
        "to": config.to,
        "minute_s": config.minute_s,
        "nights": call.state.sleep.nights(count as usize),
    }))
}

pub(in crate::serve::http) fn csv(call: &Call) -> Response<Body> {
    let text = crate::sleep::csv(&call.state.sleep.all(), &gst::glib::TimeZone::local());
    let mut r = Response::new(full(text));
    let headers = r.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    headers.insert(
        CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"sleep-log.csv\""),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}
