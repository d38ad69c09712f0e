//! RTSP tunnelled in HTTP, on the HTTP port: clients that can only reach port 80 (or that ONVIF
//! told to use `RtspOverHttp`) open the GET and POST halves here, and both are passed through
//! to the RTSP server, which pairs them by their `x-sessioncookie` and asks for credentials.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tracing::debug;

/// How much of a request head is looked at, and for how long, before deciding.
const HEAD_LIMIT: usize = 8 * 1024;
const HEAD_TIME: Duration = Duration::from_secs(5);

/// What a new connection turned out to be.
pub(super) enum Opening {
    /// An RTSP-over-HTTP tunnel half; `head` is what was read of it.
    Tunnel(Vec<u8>),
    /// Anything else, for the HTTP server, which reads `head` first.
    Http(Vec<u8>),
    /// The client closed before sending a whole request head: nothing to answer.
    Closed,
}

/// Whether a request head opens an RTSP-over-HTTP tunnel half.
fn is_tunnel(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    (text.starts_with("get ") || text.starts_with("post "))
        && (text.contains("\r\nx-sessioncookie:") || text.contains("application/x-rtsp-tunnelled"))
}

/// Whether `head` can still become the start of a GET or POST request.
fn may_be_tunnel(head: &[u8]) -> bool {
    [b"GET ".as_slice(), b"POST "]
        .iter()
        .any(|m| head.starts_with(m) || m.starts_with(head))
}

/// What the bytes read so far of a connection make it; `None`: not clear yet, read on.
#[doc(hidden)]
pub fn classify(head: &[u8]) -> Option<bool> {
    if !may_be_tunnel(head) {
        return Some(false);
    }
    if head.windows(4).any(|w| w == b"\r\n\r\n") || head.len() >= HEAD_LIMIT {
        return Some(is_tunnel(head));
    }
    None
}

/// Reads the start of a connection until it is clear what it is. The bytes are read, not
/// peeked: a peek cannot tell a client that closed after a partial line from one that is still
/// typing, and such half-closed sockets were never released.
pub(super) async fn open(stream: &mut (impl AsyncRead + Unpin)) -> Opening {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 2048];
    let deadline = tokio::time::Instant::now() + HEAD_TIME;
    loop {
        let n = match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Opening::Closed,
            Ok(Ok(n)) => n,
            // Slow, but maybe a real client on a bad link: the HTTP server's own header
            // timeout has the last word.
            Err(_) => return Opening::Http(head),
        };
        head.extend_from_slice(&buf[..n]);
        match classify(&head) {
            Some(true) => return Opening::Tunnel(head),
            Some(false) => return Opening::Http(head),
            None => {}
        }
    }
}

/// Splices the connection to the RTSP server until either side closes, registered as
/// `peer`'s so that RTSP throttles and logs the client, not this host. The client's side may
/// be TLS: the RTSP server behind sees plain RTSP either way.
pub(super) async fn relay(
    client: impl AsyncRead + AsyncWrite + Unpin,
    head: &[u8],
    rtsp: SocketAddr,
    peer: SocketAddr,
) {
    debug!(%peer, "RTSP over HTTP tunnel half");
    let client_peer = crate::serve::rtsp::Peer {
        addr: peer,
        tls: false,
    };
    crate::serve::rtsp::relay(client, head, rtsp, client_peer).await;
}

#[cfg(test)]
mod tests {
    use super::is_tunnel;

    #[test]
    fn recognises_both_halves_and_nothing_else() {
        assert!(is_tunnel(b"GET /stream HTTP/1.0\r\nx-sessioncookie: abc\r\nAccept: application/x-rtsp-tunnelled\r\n\r\n"));
        assert!(is_tunnel(b"POST /stream HTTP/1.0\r\nX-SessionCookie: abc\r\nContent-Type: application/x-rtsp-tunnelled\r\n\r\n"));
        assert!(!is_tunnel(
            b"GET /snapshot.jpg HTTP/1.1\r\nHost: cam\r\n\r\n"
        ));
        assert!(!is_tunnel(b"POST /onvif/device_service HTTP/1.1\r\nContent-Type: application/soap+xml\r\n\r\n<x-sessioncookie:/>"));
    }
}
