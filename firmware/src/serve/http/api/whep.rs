//! `POST /api/whep` (WHEP, RFC 9725 without trickle): the browser's SDP offer in, the answer
//! out with `201 Created` and the viewer's `Location`; `DELETE` on that location ends it.
//! Push-to-talk (`talk.rs`) is answered the same way, by [`answer`].

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::header::{CONTENT_TYPE, HeaderValue, LOCATION, RETRY_AFTER};
use hyper::{HeaderMap, Response, StatusCode};
use tokio::sync::watch;
use tracing::warn;

use crate::serve::http::auth::AuthedUser;
use crate::serve::http::{AppState, Body, text};
use crate::serve::webrtc::offer::OfferError;
use crate::serve::webrtc::peer::PeerError;
use crate::serve::webrtc::{Kind, StartError};

pub(in crate::serve::http) const PREFIX: &str = "/api/whep";

const VIEW: Endpoint = Endpoint {
    prefix: PREFIX,
    kind: Kind::View,
    name: "WHEP",
    ended: "viewer ended\n",
    unknown: "no such viewer\n",
};

/// `POST /api/whep`: a viewer's offer.
pub(in crate::serve::http) async fn offer(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    user: &AuthedUser,
    body: Bytes,
) -> Response<Body> {
    let max = state.config().web.max_viewers;
    let name = user.name.clone();
    let start = move |st: &AppState, body: &[u8]| st.web.connections.start_view(body, max, &name);
    answer(state, &VIEW, headers, body, start).await
}

/// `DELETE /api/whep/<id>`: the viewer leaves.
pub(in crate::serve::http) fn stop(state: &AppState, id: &str) -> Response<Body> {
    end(state, &VIEW, id)
}

/// `PATCH /api/whep/<id>`, WHEP's trickle ICE: the answer already carries every candidate of
/// the camera.
pub(in crate::serve::http) fn trickle() -> Response<Body> {
    text(
        StatusCode::METHOD_NOT_ALLOWED,
        "trickle ICE is not supported: send the offer with its candidates\n",
    )
}

/// A WebRTC endpoint of the page: where it is and what its answers say.
pub(in crate::serve::http) struct Endpoint {
    pub prefix: &'static str,
    pub kind: Kind,
    /// What its offers are called in answers and logs.
    pub name: &'static str,
    pub ended: &'static str,
    pub unknown: &'static str,
}

/// A DELETE on a connection's own address: it ends, if it is one of this endpoint's.
pub(in crate::serve::http) fn end(
    state: &AppState,
    endpoint: &Endpoint,
    id: &str,
) -> Response<Body> {
    if state.web.connections.stop(endpoint.kind, id) {
        text(StatusCode::OK, endpoint.ended)
    } else {
        text(StatusCode::NOT_FOUND, endpoint.unknown)
    }
}

/// Answers an offer to `endpoint`: `start` builds the connection off the async threads.
pub(in crate::serve::http) async fn answer(
    state: &Arc<AppState>,
    endpoint: &Endpoint,
    headers: &HeaderMap,
    body: Bytes,
    start: impl FnOnce(&AppState, &[u8]) -> Result<(String, String), StartError> + Send + 'static,
) -> Response<Body> {
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type.starts_with("application/sdp") {
        return text(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "a {} offer is sent as Content-Type: application/sdp\n",
                endpoint.name
            ),
        );
    }
    let st = Arc::clone(state);
    let Ok(result) = tokio::task::spawn_blocking(move || start(&st, &body)).await else {
        return text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{} task failed\n", endpoint.name),
        );
    };
    match result {
        Ok((id, answer)) => answered(endpoint.prefix, &id, answer),
        Err(e) => {
            warn!("{} offer refused: {e}", endpoint.name);
            refused(&e)
        }
    }
}

/// `201 Created` with the SDP answer, and the connection's own address to DELETE it (WHEP's and
/// WHIP's answer).
fn answered(prefix: &str, id: &str, answer: String) -> Response<Body> {
    let mut r = Response::new(crate::serve::http::full(answer));
    *r.status_mut() = StatusCode::CREATED;
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/sdp"));
    if let Ok(v) = HeaderValue::from_str(&format!("{prefix}/{id}")) {
        h.insert(LOCATION, v);
    }
    r
}

fn refused(e: &StartError) -> Response<Body> {
    let status = match e {
        StartError::Offer(OfferError::TooLarge) => StatusCode::PAYLOAD_TOO_LARGE,
        StartError::Offer(_) => StatusCode::BAD_REQUEST,
        StartError::Full { .. } => StatusCode::SERVICE_UNAVAILABLE,
        // webrtcbin refusing the offer is the offer's fault, said with its reason.
        StartError::Peer(PeerError::Negotiation(_)) => StatusCode::BAD_REQUEST,
        StartError::Peer(PeerError::Pipeline(_)) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let mut r = text(status, format!("{e}\n"));
    if matches!(e, StartError::Full { .. }) {
        r.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("10"));
    }
    r
}

/// Ends viewers and talk connections that went away without a DELETE, until the server stops;
/// then ends them all.
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
        let _ = tokio::task::spawn_blocking(move || st.web.connections.sweep(timeout)).await;
    }
    let _ = tokio::task::spawn_blocking(move || state.web.connections.stop_all()).await;
}
