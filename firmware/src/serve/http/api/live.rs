//! `GET /api/live.ws`: the fallback live view for when WebRTC cannot connect (a network that
//! blocks UDP, a browser without H.264): JPEG pictures over a WebSocket, which every browser
//! shows without plug-ins. No sound; a few hundred ms of delay.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use hyper::body::Incoming;
use hyper::header::{CONNECTION, HeaderValue, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, UPGRADE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tracing::{debug, info};

use crate::media::{JpegEncoder, clock_now};
use crate::serve::http::server::Connection;
use crate::serve::http::{AppState, Body, text};

pub(in crate::serve::http) const PATH: &str = "/api/live.ws";

/// The page sends nothing but its close (and browsers' pings): a few KiB is plenty, and a
/// message or frame above it closes the socket (1009) before it is buffered, where
/// tungstenite's defaults would take 64 MiB messages.
const MAX_MESSAGE: usize = 4 * 1024;

fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE))
}

pub(in crate::serve::http) fn serve(
    state: &Arc<AppState>,
    mut req: Request<Incoming>,
) -> Response<Body> {
    let upgrade = req
        .headers()
        .get(UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let Some(key) = req.headers().get(SEC_WEBSOCKET_KEY).filter(|_| upgrade) else {
        return text(StatusCode::BAD_REQUEST, "this is a WebSocket\n");
    };
    let accept = derive_accept_key(key.as_bytes());
    let web = &state.web;
    let max = state.config().web.fallback_max_viewers;
    if web.fallback_viewers.fetch_add(1, Relaxed) >= max {
        web.fallback_viewers.fetch_sub(1, Relaxed);
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "{max} pages already watch the fallback live view ([web] fallback_max_viewers); try again later\n"
            ),
        );
    }
    // The upgraded connection leaves the HTTP server's hands: it closes itself when the login
    // it was opened with ends.
    let connection = req.extensions().get::<Arc<Connection>>().cloned();
    let mut ended = state.auth.ended_logins();
    let state = Arc::clone(state);
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        if let Ok(upgraded) = on_upgrade.await {
            let ws = WebSocketStream::from_raw_socket(
                TokioIo::new(upgraded),
                Role::Server,
                Some(config()),
            )
            .await;
            info!("fallback live view started");
            let login_ended = async move {
                match connection {
                    Some(connection) => connection.login_ended(&mut ended).await,
                    None => std::future::pending().await,
                }
            };
            stream(&state, ws, login_ended).await;
            info!("fallback live view ended");
        }
        state.web.fallback_viewers.fetch_sub(1, Relaxed);
    });
    let mut r = text(StatusCode::SWITCHING_PROTOCOLS, "");
    let h = r.headers_mut();
    h.remove(hyper::header::CONTENT_TYPE);
    h.insert(UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(SEC_WEBSOCKET_ACCEPT, v);
    }
    r
}

/// Sends pictures until the page goes, or until `login_ended`: then it is told why (1008).
async fn stream<S>(
    state: &Arc<AppState>,
    ws: WebSocketStream<S>,
    login_ended: impl std::future::Future<Output = ()>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let config = state.config();
    let main = &config.video.main;
    let (width, height) = JpegEncoder::size_for(
        (main.width, main.height),
        config.web.fallback_width.min(main.width),
    );
    let encoder = state.jpeg;
    let interval = Duration::from_millis(1000 / u64::from(config.web.fallback_fps.max(1)));
    let timeout = Duration::from_secs(config.media.start_timeout_s);
    let _demand = state.hub.demand();
    let (mut tx, mut rx) = ws.split();
    // Reading is only for noticing that the page closed, or sent more than a page would: that
    // is answered 1009 (too big).
    let closed = tokio::spawn(async move {
        while let Some(m) = rx.next().await {
            match m {
                Ok(m) if m.is_close() => break,
                Ok(_) => {}
                Err(WsError::Capacity(e)) => {
                    debug!("fallback live view: {e}");
                    return Some(CloseFrame {
                        code: CloseCode::Size,
                        reason: format!("at most {MAX_MESSAGE} bytes a message").into(),
                    });
                }
                Err(_) => break,
            }
        }
        None
    });
    let pictures = async {
        while !closed.is_finished() {
            let started = Instant::now();
            let hub = Arc::clone(&state.hub);
            let jpeg = tokio::task::spawn_blocking(move || {
                let frame = hub.frame_since(clock_now(), timeout)?;
                let jpeg = encoder
                    .encode(&frame, width, height, Duration::from_secs(2))
                    .ok()?;
                Some(Bytes::from(jpeg))
            })
            .await;
            match jpeg {
                Ok(Some(bytes)) => {
                    if tx.send(Message::Binary(bytes)).await.is_err() {
                        break;
                    }
                }
                Ok(None) => debug!("fallback live view: no picture"),
                Err(_) => break,
            }
            if let Some(rest) = interval.checked_sub(started.elapsed()) {
                tokio::time::sleep(rest).await;
            }
        }
    };
    let logged_out = tokio::select! {
        () = pictures => false,
        () = login_ended => true,
    };
    let why = if logged_out {
        info!("fallback live view closed: its login ended");
        closed.abort();
        Some(CloseFrame {
            code: CloseCode::Policy,
            reason: "the login ended".into(),
        })
    } else if closed.is_finished() {
        closed.await.ok().flatten()
    } else {
        closed.abort();
        None
    };
    let _ = tx.send(Message::Close(why)).await;
    let _ = tx.close().await;
}
