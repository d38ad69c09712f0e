//! Reading request bodies: bounded in size and in time, so that a client that announces a body
//! and then sends it slowly (or never) cannot hold a connection, a task and a buffer open.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::StatusCode;
use hyper::header::{CONNECTION, HeaderValue};

use super::{Body, text};

/// Why a body could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BodyError {
    #[error("request body too large")]
    TooLarge,
    #[error("request body too slow")]
    TooSlow,
    #[error("request body broken off")]
    Broken,
}

impl BodyError {
    /// The answer to the client; the connection is closed, since the rest of the body (if any)
    /// is still on it and was not read.
    pub fn response(&self) -> hyper::Response<Body> {
        let status = match self {
            BodyError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::TooSlow => StatusCode::REQUEST_TIMEOUT,
            BodyError::Broken => StatusCode::BAD_REQUEST,
        };
        let mut r = text(status, format!("{self}\n"));
        r.headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
        r
    }
}

/// Reads a whole body of at most `max` bytes within `within`. A `Content-Length` over `max`
/// is refused without keeping a byte.
pub async fn read<B>(mut body: B, max: usize, within: Duration) -> Result<Bytes, BodyError>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
{
    if body.size_hint().lower() > max as u64 {
        drain(body).await;
        return Err(BodyError::TooLarge);
    }
    let deadline = tokio::time::Instant::now() + within;
    let mut collected = bytes::BytesMut::new();
    loop {
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => return Err(BodyError::TooSlow),
            Ok(None) => return Ok(collected.freeze()),
            Ok(Some(Err(_))) => return Err(BodyError::Broken),
            Ok(Some(Ok(frame))) => {
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                if collected.len() + data.len() > max {
                    drain(body).await;
                    return Err(BodyError::TooLarge);
                }
                collected.extend_from_slice(&data);
            }
        }
    }
}

/// Reads and drops what is left of a refused body, up to a bound: a client still sending
/// when the connection closes gets a reset instead of the answer that says why.
async fn drain<B>(mut body: B)
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
{
    const DRAIN_LIMIT: usize = 4 * 1024 * 1024;
    const DRAIN_TIME: Duration = Duration::from_secs(3);
    let deadline = tokio::time::Instant::now() + DRAIN_TIME;
    let mut drained = 0;
    while drained < DRAIN_LIMIT {
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Ok(Some(Ok(frame))) => {
                drained += frame.data_ref().map_or(0, |d| d.len());
            }
            _ => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{Full, StreamBody};

    #[tokio::test]
    async fn a_small_body_is_read_whole() {
        let body = Full::new(Bytes::from_static(b"hello"));
        assert_eq!(
            read(body, 10, Duration::from_secs(1)).await,
            Ok(Bytes::from_static(b"hello"))
        );
    }

    #[tokio::test]
    async fn a_body_that_grows_past_the_limit_is_refused() {
        let chunks = futures_util::stream::iter((0..4).map(|_| {
            Ok::<_, std::convert::Infallible>(hyper::body::Frame::data(Bytes::from(vec![1u8; 4])))
        }));
        assert_eq!(
            read(StreamBody::new(chunks), 10, Duration::from_secs(1)).await,
            Err(BodyError::TooLarge)
        );
    }

    #[tokio::test]
    async fn a_big_body_is_refused() {
        let body = Full::new(Bytes::from(vec![0u8; 11]));
        assert_eq!(
            read(body, 10, Duration::from_secs(1)).await,
            Err(BodyError::TooLarge)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_never_ends_times_out() {
        let (tx, rx) = tokio::sync::mpsc::channel::<
            Result<hyper::body::Frame<Bytes>, std::convert::Infallible>,
        >(1);
        tx.send(Ok(hyper::body::Frame::data(Bytes::from_static(b"par"))))
            .await
            .expect("send");
        let stream =
            futures_util::stream::unfold(
                rx,
                |mut rx| async move { rx.recv().await.map(|f| (f, rx)) },
            );
        let result = read(
            StreamBody::new(Box::pin(stream)),
            100,
            Duration::from_secs(10),
        )
        .await;
        drop(tx);
        assert_eq!(result, Err(BodyError::TooSlow));
    }
}
