//! The connection as the HTTP server sees it: the bytes already read while deciding what the
//! connection is (see `tunnel`) come first, and a client that stops reading our answers is cut
//! off instead of holding its connection (and whatever the answer holds) for ever.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;
use tracing::debug;

use super::server::AsTcp;

/// `S` is the connection under it: TCP for plain HTTP, TLS over TCP for HTTPS.
pub(super) struct Stream<S> {
    head: Vec<u8>,
    read: usize,
    inner: S,
    stall: Duration,
    /// Runs while a write waits on a client that does not read.
    stalled: Option<Pin<Box<Sleep>>>,
    /// A handler's request for a thin socket (see `Connection::hold_little`): its stall in
    /// seconds, applied at the next write.
    thin: Option<Arc<AtomicU64>>,
}

/// The send buffer of a thin stream's socket: a few seconds of the listen stream.
const THIN_SEND_BUFFER: usize = 8 * 1024;

impl<S: AsyncRead + AsyncWrite + AsTcp + Unpin> Stream<S> {
    /// `head` was read from `inner` already; `stall` is how long a write may wait.
    pub(super) fn new(inner: S, head: Vec<u8>, stall: Duration) -> Self {
        Self {
            head,
            read: 0,
            inner,
            stall,
            stalled: None,
            thin: None,
        }
    }

    /// Applies a handler's request for a thin socket, set in `thin`, at the next write.
    pub(super) fn thin_on_request(mut self, thin: Arc<AtomicU64>) -> Self {
        self.thin = Some(thin);
        self
    }

    fn apply_thin(&mut self) {
        let Some(stall) = self.thin.as_ref().map(|t| t.swap(0, Relaxed)) else {
            return;
        };
        if stall == 0 {
            return;
        }
        let socket = socket2::SockRef::from(self.inner.tcp());
        if let Err(e) = socket.set_send_buffer_size(THIN_SEND_BUFFER) {
            debug!("cannot shrink the send buffer: {e}");
        }
        if let Err(e) = socket.set_tcp_user_timeout(Some(Duration::from_secs(stall))) {
            debug!("cannot set TCP_USER_TIMEOUT: {e}");
        }
    }

    /// Polls a write, failing it once it has waited longer than the stall limit.
    fn guard<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: impl FnOnce(Pin<&mut S>, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        self.apply_thin();
        match poll(Pin::new(&mut self.inner), cx) {
            Poll::Ready(r) => {
                self.stalled = None;
                Poll::Ready(r)
            }
            Poll::Pending => {
                let stall = self.stall;
                let timer = self
                    .stalled
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(stall)));
                ready!(timer.as_mut().poll(cx));
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client stopped reading",
                )))
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + AsTcp + Unpin> AsyncRead for Stream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.read < this.head.len() {
            let n = buf.remaining().min(this.head.len() - this.read);
            buf.put_slice(&this.head[this.read..this.read + n]);
            this.read += n;
            if this.read == this.head.len() {
                this.head = Vec::new();
                this.read = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + AsTcp + Unpin> AsyncWrite for Stream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().guard(cx, |s, cx| s.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .guard(cx, |s, cx| s.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().guard(cx, |s, cx| s.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    async fn pair() -> (TcpStream, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("addr"))
            .await
            .expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        (client, server)
    }

    #[tokio::test]
    async fn the_head_is_read_again_before_the_rest() {
        let (mut client, server) = pair().await;
        client.write_all(b" /x HTTP/1.1").await.expect("write");
        drop(client);
        let mut s = Stream::new(server, b"GET".to_vec(), Duration::from_secs(1));
        let mut all = String::new();
        s.read_to_string(&mut all).await.expect("read");
        assert_eq!(all, "GET /x HTTP/1.1");
    }

    #[tokio::test]
    async fn a_client_that_does_not_read_is_cut_off() {
        let (_client, server) = pair().await;
        let mut s = Stream::new(server, Vec::new(), Duration::from_millis(300));
        let chunk = vec![0u8; 1 << 20];
        let err = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                if let Err(e) = s.write_all(&chunk).await {
                    return e;
                }
            }
        })
        .await
        .expect("the write fails rather than waits for ever");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }
}
