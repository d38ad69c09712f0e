//! `POST /api/whep` (WHEP, RFC 9725 without trickle): the browser's SDP offer in, the answer
//! out with `201 Created` and the viewer's `Location`; `DELETE` on that location ends it.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::header::{CONTENT_TYPE, HeaderValue, LOCATION, RETRY_AFTER};
use hyper::{HeaderMap, Response, StatusCode};
use tokio::sync::watch;
use tracing::warn;

use crate::serve::http::{AppState, Body, text};
use crate::serve::webrtc::WhepError;
use crate::serve::webrtc::offer::OfferError;
use crate::serve::webrtc::peer::PeerError;

pub(in crate::serve::http) const PREFIX: &str = "/api/whep";

/// `DELETE /api/whep/<id>`: the viewer leaves.
pub(in crate::serve::http) fn stop(state: &AppState, id: &str) -> Response<Body> {
    ended(state.web.whep.stop(id), "viewer")
}

/// The answer to a DELETE of a WebRTC connection (a viewer, a talk): whether it was there.
pub(in crate::serve::http) fn ended(stopped: bool, what: &str) -> Response<Body> {
    if stopped {
        text(StatusCode::OK, format!("{what} ended\n"))
    } else {
        text(StatusCode::NOT_FOUND, format!("no such {what}\n"))
    }
}

/// `PATCH /api/whep/<id>`, WHEP's trickle ICE: the answer already carries every candidate of
/// the camera.
pub(in crate::serve::http) fn trickle() -> Response<Body> {
    text(
        StatusCode::METHOD_NOT_ALLOWED,
        "trickle ICE is not supported: send the offer with its candidates\n",
    )
}

/// `201 Created` with the SDP answer, and the connection's own address to DELETE it (WHEP's and
/// WHIP's answer; push-to-talk answers the same way).
pub(in crate::serve::http) fn answered(prefix: &str, id: &str, answer: String) -> Response<Body> {
    let mut r = Response::new(crate::serve::http::full(answer));
    *r.status_mut() = StatusCode::CREATED;
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/sdp"));
    if let Ok(v) = HeaderValue::from_str(&format!("{prefix}/{id}")) {
        h.insert(LOCATION, v);
    }
    r
}

pub(in crate::serve::http) async fn offer(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type.starts_with("application/sdp") {
        return text(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "a WHEP offer is sent as Content-Type: application/sdp\n",
        );
    }
    let max = state.config().web.max_viewers;
    let st = Arc::clone(state);
    let result = tokio::task::spawn_blocking(move || st.web.whep.start(&body, max)).await;
    let result = match result {
        Ok(r) => r,
        Err(_) => return text(StatusCode::INTERNAL_SERVER_ERROR, "WHEP task failed\n"),
    };
    match result {
        Ok((id, answer)) => super::whep::answered(PREFIX, &id, answer),
        Err(e) => {
            let status = match &e {
                WhepError::Offer(OfferError::TooLarge) => StatusCode::PAYLOAD_TOO_LARGE,
                WhepError::Offer(_) => StatusCode::BAD_REQUEST,
                WhepError::Full(_) => StatusCode::SERVICE_UNAVAILABLE,
                // webrtcbin refusing the offer is the offer's fault, said with its reason.
                WhepError::Peer(PeerError::Negotiation(_)) => StatusCode::BAD_REQUEST,
                WhepError::Peer(_) => StatusCode::INTERNAL_SERVER_ERROR,
            };
            warn!("WHEP offer refused: {e}");
            let mut r = text(status, format!("{e}\n"));
            if matches!(e, WhepError::Full(_)) {
                r.headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from_static("10"));
            }
            r
        }
    }
}

/// Ends viewers (and talk connections) that went away without a DELETE, until the server
/// stops; then ends them all.
pub(in crate::serve::http) async fn sweep(
    state: Arc<AppState>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.changed() => break,
        }
        let timeout = Duration::from_secs(state.config().web.connect_timeout_s);
        let st = Arc::clone(&state);
        let _ = tokio::task::spawn_blocking(move || {
            st.web.whep.sweep(timeout);
            st.web.talk.sweep(timeout);
        })
        .await;
    }
    let _ = tokio::task::spawn_blocking(move || {
        state.web.whep.stop_all();
        state.web.talk.stop_all();
    })
    .await;
}
