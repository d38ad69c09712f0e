//! JSON replies and request bodies of the `/api/` routes.

use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};
use serde::de::DeserializeOwned;

use super::Body;

pub(super) fn reply(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let mut r = Response::new(super::full(value.to_string()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

pub(super) fn ok(value: serde_json::Value) -> Response<Body> {
    reply(StatusCode::OK, &value)
}

pub(super) fn error(status: StatusCode, message: impl std::fmt::Display) -> Response<Body> {
    reply(status, &serde_json::json!({ "error": message.to_string() }))
}

/// Parses a JSON body, or says what is wrong with it.
pub(super) fn body<T: DeserializeOwned>(body: &[u8]) -> Result<T, Box<Response<Body>>> {
    let body = if body.is_empty() {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            format!("bad JSON body: {e}"),
        ))
    })
}
