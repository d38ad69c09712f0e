//! RTSP tunnelled in HTTP, on the HTTP port: clients that can only reach port 80 (or that ONVIF
//! told to use `RtspOverHttp`) open the GET and POST halves here, and both are passed through
//! to the RTSP server, which pairs them by their `x-sessioncookie` and asks for credentials.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;
use tracing::debug;

/// How much of a request head is looked at, and for how long, before deciding.
const PEEK_LIMIT: usize = 8 * 1024;
const PEEK_TIME: Duration = Duration::from_secs(5);

/// Whether a request head opens an RTSP-over-HTTP tunnel half.
fn is_tunnel(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    (text.starts_with("get ") || text.starts_with("post "))
        && (text.contains("\r\nx-sessioncookie:") || text.contains("application/x-rtsp-tunnelled"))
}

/// Looks at the start of a connection without consuming it; true if it is a tunnel half.
pub(super) async fn detect(stream: &TcpStream) -> bool {
    let mut buf = vec![0u8; PEEK_LIMIT];
    let deadline = tokio::time::Instant::now() + PEEK_TIME;
    let mut last = 0;
    loop {
        let n = match tokio::time::timeout_at(deadline, stream.peek(&mut buf)).await {
            Ok(Ok(n)) => n,
            _ => return false,
        };
        let head = &buf[..n];
        if n == 0
            || !(head.starts_with(b"GET ")
                || head.starts_with(b"POST ")
                || b"GET ".starts_with(head)
                || b"POST ".starts_with(head))
        {
            return false;
        }
        if head.windows(4).any(|w| w == b"\r\n\r\n") || n == PEEK_LIMIT {
            return is_tunnel(head);
        }
        if n == last {
            // Nothing new yet: wait a little rather than spin on the same bytes.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        last = n;
    }
}

/// Splices the connection to the RTSP server until either side closes.
pub(super) async fn relay(mut client: TcpStream, rtsp: SocketAddr, peer: SocketAddr) {
    match TcpStream::connect(rtsp).await {
        Ok(mut server) => {
            debug!(%peer, "RTSP over HTTP tunnel half");
            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
        }
        Err(e) => debug!(%peer, "RTSP server unreachable for a tunnel: {e}"),
    }
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
