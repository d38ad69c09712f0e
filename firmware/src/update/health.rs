//! The health check after a boot: the daemon answers HTTP, the RTSP server answers, and the
//! camera gives pictures, all within `[update] health_s`. A new version that fails it is not
//! kept; the watchdog covers one that hangs instead of failing.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::media::{Hub, Source};

/// What the check reaches.
pub struct Targets {
    pub http: SocketAddr,
    pub rtsp: SocketAddr,
    pub hub: Arc<Hub>,
}

/// Which part did not come up, for the page and the log.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Unhealthy {
    #[error("the web server did not answer within {0} s")]
    Http(u64),
    #[error("the RTSP server did not answer within {0} s")]
    Rtsp(u64),
    #[error("the camera gave no picture within {0} s")]
    Camera(u64),
}

/// The serving side only (HTTP and RTSP): enough to keep a version that was kept before.
pub async fn serving(t: &Targets, within: Duration) -> Result<(), Unhealthy> {
    let deadline = Instant::now() + within;
    let secs = within.as_secs();
    retry(deadline, || {
        ask(
            t.http,
            b"GET /healthz HTTP/1.0\r\n\r\n",
            b"HTTP/1.",
            b" 200",
        )
    })
    .await
    .then_some(())
    .ok_or(Unhealthy::Http(secs))?;
    retry(deadline, || {
        ask(
            t.rtsp,
            b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n",
            b"RTSP/1.0",
            b"",
        )
    })
    .await
    .then_some(())
    .ok_or(Unhealthy::Rtsp(secs))
}

/// Everything: serving, and a picture from the camera.
pub async fn full(t: &Targets, within: Duration) -> Result<(), Unhealthy> {
    let started = Instant::now();
    serving(t, within).await?;
    let left = within.saturating_sub(started.elapsed());
    let hub = Arc::clone(&t.hub);
    let picture = tokio::task::spawn_blocking(move || {
        // Keeps the camera running for the check, as a viewer would.
        let _demand = hub.demand_of(&[Source::Video]);
        hub.frame_since(crate::media::clock_now(), left).is_some()
    })
    .await
    .unwrap_or(false);
    picture
        .then_some(())
        .ok_or(Unhealthy::Camera(within.as_secs()))
}

async fn retry<F, Fut>(deadline: Instant, mut attempt: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        if tokio::time::timeout(left, attempt()).await == Ok(true) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(500).min(left)).await;
    }
}

/// Sends `request` and sees whether the answer starts with `start` and contains `has`.
async fn ask(addr: SocketAddr, request: &[u8], start: &[u8], has: &[u8]) -> bool {
    let Ok(mut s) = TcpStream::connect(addr).await else {
        return false;
    };
    if s.write_all(request).await.is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    let mut got = 0;
    while got < buf.len() {
        match s.read(&mut buf[got..]).await {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
        if buf[..got].starts_with(start) && (has.is_empty() || contains(&buf[..got], has)) {
            return true;
        }
    }
    false
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
