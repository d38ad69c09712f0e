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

/// A domain refusal as the API answers it: the status here, the reason from the domain.
pub(super) trait Refusal: std::fmt::Display {
    fn status(&self) -> StatusCode;
}

impl Refusal for crate::ptz::PtzError {
    fn status(&self) -> StatusCode {
        use crate::ptz::PtzError::*;
        match self {
            NotFinite(_) | OutOfRange(..) | UnknownPreset(_) => StatusCode::BAD_REQUEST,
            NoPtz => StatusCode::NOT_IMPLEMENTED,
            TooManyPresets(_) | Storage(_) => StatusCode::CONFLICT,
        }
    }
}

impl Refusal for crate::night::NightError {
    fn status(&self) -> StatusCode {
        use crate::night::NightError::*;
        match self {
            NoNightVision => StatusCode::NOT_IMPLEMENTED,
            Storage(_) => StatusCode::CONFLICT,
        }
    }
}

pub(super) fn refused(e: &impl Refusal) -> Response<Body> {
    let status = e.status();
    // What the camera lacks is worded as over ONVIF, whose fault says "... is not supported".
    if status == StatusCode::NOT_IMPLEMENTED {
        error(status, format!("{e} is not supported"))
    } else {
        error(status, e)
    }
}

/// `{}` on success, the refusal otherwise.
pub(super) fn done<E: Refusal>(r: Result<(), E>) -> Response<Body> {
    match r {
        Ok(()) => ok(serde_json::json!({})),
        Err(e) => refused(&e),
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt as _;

    use super::*;
    use crate::night::NightError;
    use crate::ptz::PtzError;

    async fn answer(r: Response<Body>) -> (u16, String) {
        let status = r.status().as_u16();
        let body = r.into_body().collect().await.expect("body").to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    /// The statuses and words the API has always answered with, whatever the domain calls them.
    #[tokio::test]
    async fn refusals_keep_their_status_and_words() {
        let cases = [
            (
                refused(&PtzError::OutOfRange("pan velocity", -1.0, 1.0)),
                400,
                "pan velocity must be between -1 and 1",
            ),
            (
                refused(&PtzError::UnknownPreset("nope".into())),
                400,
                "no preset \\\"nope\\\"",
            ),
            (
                refused(&PtzError::NoPtz),
                501,
                "the camera has no pan/tilt is not supported",
            ),
            (
                refused(&PtzError::TooManyPresets(8)),
                409,
                "at most 8 presets",
            ),
            (
                refused(&NightError::NoNightVision),
                501,
                "the camera has no night vision is not supported",
            ),
        ];
        for (response, status, message) in cases {
            let (got, body) = answer(response).await;
            assert_eq!(got, status, "{body}");
            assert_eq!(body, format!("{{\"error\":\"{message}\"}}"));
        }
    }
}
