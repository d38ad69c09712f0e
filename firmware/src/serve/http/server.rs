//! Accepting connections: each gets a place under the connection limits, its opening is read to
//! tell an RTSP tunnel from HTTP, and every phase has a time limit (the opening, the request
//! head, the body, a client that stops reading), so no client holds a place for ever. HTTPS
//! connections take the same path once their TLS handshake is done.

use std::convert::Infallible;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
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
/// Time to complete a TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// TLS records rustls holds for a client before a write waits: the kernel's send buffer does
/// the real buffering, and a bound here lets a stalled reader be seen in seconds on a stream
/// as thin as the listen stream (4 KB/s), where rustls' default (64 KiB) would hide it for 16.
const TLS_BUFFER: usize = 16 * 1024;
/// Pauses after a failed accept (out of descriptors, most likely): trying again at once would
/// spin on the same error.
const ACCEPT_BACKOFF: (Duration, Duration) = (Duration::from_millis(20), Duration::from_secs(1));

/// What the HTTP server listens on: plain HTTP, and HTTPS with the camera's certificate.
pub struct Listeners {
    pub plain: TcpListener,
    pub tls: Option<(TcpListener, TlsAcceptor)>,
}

/// A TLS acceptor serving `certificate`, offering HTTP/1.1 only (hyper serves no HTTP/2 here).
pub fn tls_acceptor(
    certificate: &crate::platform::certificate::Certificate,
) -> Result<TlsAcceptor, rustls::Error> {
    let mut config = certificate.server_config()?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serves until `shutdown` turns true, then gives open connections a moment to finish.
pub async fn serve(listeners: Listeners, state: Arc<AppState>, shutdown: watch::Receiver<bool>) {
    let sweeper = tokio::spawn(super::api::whep::sweep(
        Arc::clone(&state),
        shutdown.clone(),
    ));
    let plain = accept(listeners.plain, None, Arc::clone(&state), shutdown.clone());
    match listeners.tls {
        Some((listener, acceptor)) => {
            let tls = accept(listener, Some(acceptor), Arc::clone(&state), shutdown);
            tokio::join!(plain, tls);
        }
        None => plain.await,
    }
    let _ = sweeper.await;
}

/// How long a connection whose login ended may finish the answer it is sending.
const LOGIN_ENDED_GRACE: Duration = Duration::from_secs(2);

/// One listener's accept loop; with `tls`, each connection's handshake comes first.
async fn accept(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    state: Arc<AppState>,
    mut shutdown: watch::Receiver<bool>,
) {
    let scheme = if tls.is_some() { "HTTPS" } else { "HTTP" };
    let mut connections = tokio::task::JoinSet::new();
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
                            warn!("{scheme} server cannot accept a connection: {e}");
                            last_warning = Some(Instant::now());
                        }
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(ACCEPT_BACKOFF.1);
                        continue;
                    }
                };
                // Answers and TLS flights go out as written: Nagle would hold the second
                // record of a handshake for the client's delayed ACK (40 ms a handshake).
                let _ = stream.set_nodelay(true);
                let state = Arc::clone(&state);
                let conn_shutdown = shutdown.clone();
                let tls = tls.clone();
                connections.spawn(async move {
                    let limits = state.config().http.clone();
                    // The handshake holds its place too: TLS costs more than plain, and a flood
                    // of half-opened handshakes must hit the same limits.
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
                    let handle = Arc::new(Connection::default());
                    match tls {
                        None => connection(stream, peer, false, state, conn_shutdown, handle).await,
                        Some(acceptor) => {
                            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                                Ok(Ok(mut stream)) => {
                                    stream.get_mut().1.set_buffer_limit(Some(TLS_BUFFER));
                                    connection(stream, peer, true, state, conn_shutdown, handle).await;
                                }
                                Ok(Err(e)) => debug!(%peer, "TLS handshake failed: {e}"),
                                Err(_) => debug!(%peer, "TLS handshake took too long"),
                            }
                        }
                    }
                    drop(permit);
                });
            }
            _ = shutdown.changed() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    info!("{scheme} server stopping");
    let _ = tokio::time::timeout(Duration::from_secs(4), async {
        while connections.join_next().await.is_some() {}
    })
    .await;
}

/// One connection as its requests' handlers see it (in each request's extensions): a handler
/// whose answer streams for ever can close it, and ask for its socket to hold little.
#[derive(Default)]
pub(super) struct Connection {
    /// Closes the connection at once (a listener that stopped reading), and hears that it
    /// was lost.
    pub(super) hangup: Arc<crate::media::listen::Hangup>,
    /// Seconds of [`Connection::hold_little`]'s stall, for the connection's stream to apply to
    /// its socket at its next write; 0: nothing asked.
    pub(super) thin: Arc<std::sync::atomic::AtomicU64>,
    /// The accounts its requests logged in as.
    users: std::sync::Mutex<Vec<String>>,
}

impl Connection {
    /// A request on this connection logged in as `name`.
    pub(super) fn logged_in(&self, name: &str) {
        let mut users = self.users.lock().unwrap_or_else(PoisonError::into_inner);
        if !users.iter().any(|u| u == name) {
            users.push(name.to_string());
        }
    }

    fn carries(&self, name: &str) -> bool {
        let users = self.users.lock().unwrap_or_else(PoisonError::into_inner);
        users.iter().any(|u| u == name)
    }

    /// Resolves when the login of an account this connection used ends (its password
    /// changed, or it is gone): what it streams must stop then.
    pub(super) async fn login_ended(&self, ended: &mut tokio::sync::broadcast::Receiver<String>) {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            match ended.recv().await {
                Ok(name) if self.carries(&name) => return,
                Ok(_) => {}
                // More accounts changed at once than are kept: close whatever logged in.
                Err(RecvError::Lagged(_)) => {
                    if !self
                        .users
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .is_empty()
                    {
                        return;
                    }
                }
                Err(RecvError::Closed) => std::future::pending::<()>().await,
            }
        }
    }
    /// For a thin endless stream: the kernel is to hold little of it (so a client that stops
    /// reading blocks the writes within seconds, not minutes), and to give up on a client that
    /// acknowledges nothing for `stall` (a phone gone from the network).
    pub(super) fn hold_little(&self, stall: Duration) {
        self.thin
            .store(stall.as_secs().max(1), std::sync::atomic::Ordering::Relaxed);
    }
}

/// The TCP socket under a connection, plain or TLS, for its socket options.
pub(super) trait AsTcp {
    fn tcp(&self) -> &tokio::net::TcpStream;
}

impl AsTcp for tokio::net::TcpStream {
    fn tcp(&self) -> &tokio::net::TcpStream {
        self
    }
}

impl AsTcp for tokio_rustls::server::TlsStream<tokio::net::TcpStream> {
    fn tcp(&self) -> &tokio::net::TcpStream {
        self.get_ref().0
    }
}

/// One connection, plain or TLS (`tls`): an RTSP tunnel half, or HTTP.
async fn connection<S>(
    mut stream: S,
    peer: std::net::SocketAddr,
    tls: bool,
    state: Arc<AppState>,
    mut shutdown: watch::Receiver<bool>,
    handle: Arc<Connection>,
) where
    S: AsyncRead + AsyncWrite + AsTcp + Unpin + Send + 'static,
{
    let head = match tunnel::open(&mut stream).await {
        Opening::Closed => return,
        // With `require_tls`, a plain tunnel half is an HTTP request like any other, and is
        // answered as such (refused): its RTSP login would cross the network in the clear.
        Opening::Tunnel(head) if tls || !state.config().http.require_tls => {
            tunnel::relay(stream, &head, state.rtsp_addr, peer).await;
            return;
        }
        Opening::Tunnel(head) | Opening::Http(head) => head,
    };
    let hangup = Arc::clone(&handle.hangup);
    let thin = Arc::clone(&handle.thin);
    let mut ended = state.auth.ended_logins();
    let this = Arc::clone(&handle);
    let service = service_fn(move |mut req| {
        let state = Arc::clone(&state);
        req.extensions_mut().insert(Arc::clone(&handle));
        async move { Ok::<_, Infallible>(route(state, req, peer, tls).await) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_buf_size(64 * 1024)
        .serve_connection(
            TokioIo::new(Stream::new(stream, head, WRITE_STALL).thin_on_request(thin)),
            service,
        )
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        done = conn.as_mut() => {
            // Before the connection (and the answer it was sending) is dropped below.
            if done.as_ref().is_err_and(timed_out) {
                hangup.mark_lost();
            }
        }
        _ = hangup.closed() => debug!(%peer, "connection closed: its client stopped reading"),
        _ = this.login_ended(&mut ended) => {
            // The request that changed the password may be on this very connection (an
            // admin changing their own): its answer goes out first; a stream is cut.
            info!(%peer, "connection closing: its login ended");
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(LOGIN_ENDED_GRACE, conn).await;
        }
        _ = shutdown.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(3), conn).await;
        }
    }
}

/// Whether a connection failed on a client that stopped taking data: a write that waited too
/// long (`stream.rs`), or the socket's TCP_USER_TIMEOUT.
fn timed_out(e: &hyper::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        source = s.source();
    }
    false
}
