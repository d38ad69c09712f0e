//! `/snapshot.jpg`: a JPEG of the current picture from the same capture pipeline.

use std::time::Duration;

use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};
use tracing::warn;

use crate::media::snapshot::{self, SnapshotError};
use crate::serve::http::routes::Call;
use crate::serve::http::{Body, text};

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
    let main = (main.width, main.height);
    let timeout = Duration::from_secs(config.media.start_timeout_s);
    match snapshot::take(&state.hub, state.jpeg, main, width, timeout).await {
        Ok(bytes) => {
            let mut r = Response::new(crate::serve::http::full(bytes));
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
            r.headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(e @ SnapshotError::Task) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
        Err(e) => {
            warn!(reason = %e, "snapshot failed");
            text(StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n"))
        }
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
