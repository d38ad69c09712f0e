//! `POST /api/talk`: the page's push-to-talk connection (WHIP-like: the browser's SDP offer with
//! its microphone in, the answer out with `201 Created` and a `Location`; `DELETE` ends it).
//! Talking needs an operator or admin, as every other change to the speaker does.

use std::sync::Arc;

use bytes::Bytes;
use hyper::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use hyper::{HeaderMap, Response, StatusCode};
use tracing::warn;

use crate::serve::http::auth::AuthedUser;
use crate::serve::http::{AppState, Body, text};
use crate::serve::webrtc::talk::TalkError;

pub(in crate::serve::http) const PREFIX: &str = "/api/talk";

/// `DELETE /api/talk/<id>`: the talk ends.
pub(in crate::serve::http) fn stop(state: &AppState, id: &str) -> Response<Body> {
    super::whep::ended(state.web.talk.stop(id), "talk")
}

pub(in crate::serve::http) async fn offer(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    user: &AuthedUser,
    body: Bytes,
) -> Response<Body> {
    let Some(output) = state.audio.as_ref().map(|a| Arc::clone(&a.output)) else {
        return text(StatusCode::NOT_FOUND, "this camera has no speaker\n");
    };
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type.starts_with("application/sdp") {
        return text(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "a talk offer is sent as Content-Type: application/sdp\n",
        );
    }
    let who = format!("web page ({})", user.name);
    let st = Arc::clone(state);
    let result = tokio::task::spawn_blocking(move || st.web.talk.start(&body, &output, &who)).await;
    let Ok(result) = result else {
        return text(StatusCode::INTERNAL_SERVER_ERROR, "talk task failed\n");
    };
    match result {
        Ok((id, answer)) => super::whep::answered(PREFIX, &id, answer),
        Err(e) => {
            let status = match &e {
                TalkError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
                // webrtcbin refusing the offer is the offer's fault, said with its reason.
                TalkError::NotSdp(_)
                | TalkError::NoOpus
                | TalkError::Unconnectable(_)
                | TalkError::Negotiation(_) => StatusCode::BAD_REQUEST,
                TalkError::Full(_) => StatusCode::SERVICE_UNAVAILABLE,
                TalkError::Pipeline(_) => StatusCode::INTERNAL_SERVER_ERROR,
            };
            warn!("talk offer refused: {e}");
            let mut r = text(status, format!("{e}\n"));
            if matches!(e, TalkError::Full(_)) {
                r.headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from_static("10"));
            }
            r
        }
    }
}
