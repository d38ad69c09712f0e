//! Accepting connections: each gets a place under the connection limits, its opening is read to
//! tell an RTSP tunnel from HTTP, and every phase has a time limit (the opening, the request
//! head, the body, a client that stops reading), so no client holds a place for ever.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::AppState;
use super::routes::route;
use super::stream::Stream;
use super::tunnel::{self, Opening};
use crate::serve::gate::Full;

/// Time to send a whole request head, and to send the next one on a kept-alive connection.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a write may wait on a client that does not read.
const WRITE_STALL: Duration = Duration::from_secs(30);
/// Pauses after a failed accept (out of descriptors, most likely): trying again at once would
/// spin on the same error.
const ACCEPT_BACKOFF: (Duration, Duration) = (Duration::from_millis(20), Duration::from_secs(1));

/// Serves until `shutdown` turns true, then gives open connections a moment to finish.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = tokio::task::JoinSet::new();
    let sweeper = tokio::spawn(super::api::whep::sweep(
        Arc::clone(&state),
        shutdown.clone(),
    ));
    let mut backoff = ACCEPT_BACKOFF.0;
    let mut last_warning: Option<Instant> = None;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => {
                        backoff = ACCEPT_BACKOFF.0;
                        accepted
                    }
                    Err(e) => {
                        if last_warning.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
                            warn!("HTTP server cannot accept a connection: {e}");
                            last_warning = Some(Instant::now());
                        }
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(ACCEPT_BACKOFF.1);
                        continue;
                    }
                };
                let state = Arc::clone(&state);
                let conn_shutdown = shutdown.clone();
                connections.spawn(async move {
                    let limits = state.config().http.clone();
                    let permit = match state
                        .connections
                        .admit(peer.ip(), limits.max_connections, limits.max_connections_per_address)
                        .await
                    {
                        Ok(permit) => permit,
                        Err(full) => {
                            // Closing costs the least; the client sees a reset and may retry.
                            debug!(%peer, "connection refused: {}", match full {
                                Full::Server => "the server holds its maximum",
                                Full::Address => "this address holds its maximum",
                            });
                            return;
                        }
                    };
                    connection(stream, peer, state, conn_shutdown).await;
                    drop(permit);
                });
            }
            _ = shutdown.changed() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    info!("HTTP server stopping");
    let _ = sweeper.await;
    let _ = tokio::time::timeout(Duration::from_secs(4), async {
        while connections.join_next().await.is_some() {}
    })
    .await;
}

async fn connection(
    mut stream: TcpStream,
    peer: std::net::SocketAddr,
    state: Arc<AppState>,
    mut shutdown: watch::Receiver<bool>,
) {
    let head = match tunnel::open(&mut stream).await {
        Opening::Closed => return,
        Opening::Tunnel(head) => {
            tunnel::relay(stream, &head, state.rtsp_addr, peer).await;
            return;
        }
        Opening::Http(head) => head,
    };
    let service = service_fn(move |req| {
        let state = Arc::clone(&state);
        async move { Ok::<_, Infallible>(route(state, req, peer).await) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_buf_size(64 * 1024)
        .serve_connection(
            TokioIo::new(Stream::new(stream, head, WRITE_STALL)),
            service,
        )
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = shutdown.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(3), conn).await;
        }
    }
}
