//! RTSPS: TLS ends here (rustls, the camera's certificate) and the RTSP inside is relayed to
//! the plain RTSP server over this host, registered as the real client's. The media stays in
//! the TLS connection: RTSPS clients get only interleaved transport.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tracing::debug;

use super::peers::{self, Peer};

/// A client that has not finished its TLS handshake by then is dropped.
const HANDSHAKE_TIME: Duration = Duration::from_secs(10);
/// RTSPS connections at once, handshaking or relayed, in all and from one address (as on the
/// plain port, so that one machine cannot hold every place).
const MAX_CONNECTIONS: usize = 64;
const MAX_PER_ADDRESS: usize = 16;

/// Serves RTSPS on `listener` until the runtime ends, relaying to the RTSP server at `rtsp`.
pub(super) async fn serve(
    listener: std::net::TcpListener,
    config: rustls::ServerConfig,
    rtsp: SocketAddr,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("RTSPS listener: {e}");
            return;
        }
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let gate = crate::serve::gate::Gate::default();
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors, say: waiting lets connections end.
                debug!("accepting an RTSPS connection: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        // As on HTTPS: no handshake record waits for the client's delayed ACK.
        let _ = stream.set_nodelay(true);
        let slot = match gate.try_admit(addr.ip(), MAX_CONNECTIONS, MAX_PER_ADDRESS) {
            Ok(slot) => slot,
            Err(full) => {
                gate.count_refusal();
                debug!(peer = %addr, ?full, "too many RTSPS connections: closing a new one");
                continue;
            }
        };
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let tls = match tokio::time::timeout(HANDSHAKE_TIME, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    debug!(peer = %addr, "RTSPS handshake failed: {e}");
                    return;
                }
                Err(_) => {
                    debug!(peer = %addr, "RTSPS handshake too slow");
                    return;
                }
            };
            peers::relay(tls, b"", rtsp, Peer { addr, tls: true }).await;
        });
    }
}
