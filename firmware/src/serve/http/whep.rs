//! `POST /api/whep` (WHEP, RFC 9725 without trickle): the browser's SDP offer in, the answer
//! out with `201 Created` and the viewer's `Location`; `DELETE` on that location ends it.
//! Push-to-talk (`talk.rs`) is served the same way, by [`connection`].

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::header::{CONTENT_TYPE, HeaderValue, LOCATION, RETRY_AFTER};
use hyper::{HeaderMap, Method, Response, StatusCode};
use tokio::sync::watch;
use tracing::warn;

use super::{AppState, Body, text};
use crate::serve::webrtc::offer::OfferError;
use crate::serve::webrtc::peer::PeerError;
use crate::serve::webrtc::{Kind, StartError};

pub(super) const PREFIX: &str = "/api/whep";

const VIEW: Endpoint = Endpoint {
    prefix: PREFIX,
    kind: Kind::View,
    name: "WHEP",
    ended: "viewer ended\n",
    unknown: "no such viewer\n",
    trickle: true,
};

pub(super) async fn serve(
    state: &Arc<AppState>,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let max = state.config().web.max_viewers;
    let start = || Ok(move |st: &AppState, body: &[u8]| st.web.connections.start_view(body, max));
    connection(state, &VIEW, method, path, headers, body, start).await
}

/// A WebRTC endpoint of the page: where it is and what its answers say.
pub(super) struct Endpoint {
    pub prefix: &'static str,
    pub kind: Kind,
    /// What its offers are called in answers and logs.
    pub name: &'static str,
    pub ended: &'static str,
    pub unknown: &'static str,
    /// WHEP clients may try trickle ICE on the connection's address: they are told why not.
    pub trickle: bool,
}

/// Serves one WebRTC endpoint: `POST` an offer, `DELETE` a connection. `start` is asked on
/// `POST` only: it refuses with its own answer, or gives what answers the offer (off the async
/// threads).
pub(super) async fn connection<S>(
    state: &Arc<AppState>,
    endpoint: &Endpoint,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: Bytes,
    start: impl FnOnce() -> Result<S, Box<Response<Body>>>,
) -> Response<Body>
where
    S: FnOnce(&AppState, &[u8]) -> Result<(String, String), StartError> + Send + 'static,
{
    match (method, path.strip_prefix(endpoint.prefix)) {
        (&Method::POST, Some("")) => match start() {
            Ok(start) => offer(state, endpoint, headers, body, start).await,
            Err(refused) => *refused,
        },
        (&Method::DELETE, Some(id)) if id.len() > 1 => {
            if state.web.connections.stop(endpoint.kind, &id[1..]) {
                text(StatusCode::OK, endpoint.ended)
            } else {
                text(StatusCode::NOT_FOUND, endpoint.unknown)
            }
        }
        // WHEP's trickle ICE: the answer already carries every candidate of the camera.
        (&Method::PATCH, Some(id)) if id.len() > 1 && endpoint.trickle => text(
            StatusCode::METHOD_NOT_ALLOWED,
            "trickle ICE is not supported: send the offer with its candidates\n",
        ),
        (_, Some("")) => text(StatusCode::METHOD_NOT_ALLOWED, "POST an SDP offer\n"),
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

async fn offer(
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
    let mut r = Response::new(super::full(answer));
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
pub(super) async fn sweep(state: Arc<AppState>, mut shutdown: watch::Receiver<bool>) {
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
