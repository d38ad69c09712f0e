//! `/snapshot.jpg`: a JPEG of the current picture from the same capture pipeline.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use bytes::Bytes;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};
use tracing::warn;

use crate::media::{JpegEncoder, clock_now};
use crate::serve::http::routes::Call;
use crate::serve::http::{Body, text};

/// A picture this recent counts as "now" (one frame at 15 fps is 67 ms).
const FRESH: Duration = Duration::from_millis(500);

pub(in crate::serve::http) async fn serve(call: &Call) -> Response<Body> {
    let state = &call.state;
    let config = state.config();
    let main = &config.video.main;
    let width = match query_width(call) {
        Ok(Some(w)) if (16..=main.width).contains(&w) => w,
        Ok(Some(w)) => {
            return text(
                StatusCode::BAD_REQUEST,
                format!("width must be between 16 and {} (got {w})\n", main.width),
            );
        }
        Ok(None) => main.width,
        Err(()) => return text(StatusCode::BAD_REQUEST, "width must be a whole number\n"),
    };
    let (width, height) = JpegEncoder::size_for((main.width, main.height), width);

    let demand = state.hub.demand_of(&[crate::media::Source::Video]);
    let hub = std::sync::Arc::clone(&state.hub);
    let jpeg_encoder = state.jpeg;
    let timeout = Duration::from_secs(config.media.start_timeout_s);
    let jpeg = tokio::task::spawn_blocking(move || {
        let not_before = clock_now().saturating_sub(FRESH.as_nanos() as u64);
        let frame = hub
            .frame_since(not_before, timeout)
            .ok_or("no picture from the camera")?;
        let jpeg = jpeg_encoder.encode(&frame, width, height, Duration::from_secs(5))?;
        Ok::<_, &'static str>(Bytes::from(jpeg))
    })
    .await;
    drop(demand);
    match jpeg {
        Ok(Ok(bytes)) => {
            state.hub.stats.snapshots.fetch_add(1, Relaxed);
            let mut r = Response::new(crate::serve::http::full(bytes));
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
            r.headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Ok(Err(reason)) => {
            warn!(reason, "snapshot failed");
            text(StatusCode::SERVICE_UNAVAILABLE, format!("{reason}\n"))
        }
        Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "snapshot task failed\n"),
    }
}

/// `?width=`, the size a client wants (the height follows the picture's shape).
fn query_width(call: &Call) -> Result<Option<u32>, ()> {
    #[derive(serde::Deserialize)]
    struct Query {
        width: Option<u32>,
    }
    call.query::<Query>().map(|q| q.width).map_err(|_| ())
}
