//! `/api/update`: firmware updates.
//!
//! - `GET /api/update`: what the update does now (as `/api/status`'s `update`).
//! - `POST /api/update?force=`: the bundle (`.raucb`) as the body. Streamed to the data
//!   partition (never held in memory), checked and installed; the answer comes when RAUC is
//!   done, and `/api/status` shows the progress meanwhile. `force=true` installs an older
//!   version. One at a time: another is 409.
//! - `POST`/`PUT /api/update/upload/{token}`: the same, at the one-time address ONVIF's
//!   StartFirmwareUpgrade hands out.
//!
//! Installing is for admins ([`table`]); the routes are HTTPS only, like the rest of the API.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper::header::{CONNECTION, CONTENT_LENGTH, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde::Deserialize;
use tokio::io::AsyncWriteExt as _;

use crate::serve::http::Body;
use crate::serve::http::json::{error, ok, reply};
use crate::serve::http::routes::{Call, Need, Route, now, row, streaming};
use crate::update::Updater;
use crate::update::refusal::{Reason, Refusal};

/// An upload that sends nothing for this long is given up.
const BODY_IDLE: Duration = Duration::from_secs(30);
/// ...and one that has not ended after this long (600 MB at 3 Mbit/s).
const BODY_TOTAL: Duration = Duration::from_secs(30 * 60);

pub(in crate::serve::http) fn table() -> Vec<Route> {
    use Method as M;
    use Need::{Admin, Viewer};
    vec![
        row(M::GET, "/api/update", Viewer, |c| {
            now(ok(c.state.camera.update.status_json()))
        }),
        streaming(Some(M::POST), "/api/update", Admin, |c| {
            Box::pin(upload(c, false))
        }),
        streaming(Some(M::POST), "/api/update/upload/{token}", Admin, |c| {
            Box::pin(upload(c, true))
        }),
        streaming(Some(M::PUT), "/api/update/upload/{token}", Admin, |c| {
            Box::pin(upload(c, true))
        }),
    ]
}

#[derive(Deserialize, Default)]
struct Query {
    force: Option<bool>,
}

fn refusal(r: &Refusal) -> Response<Body> {
    let status = match r.reason {
        Reason::Busy => StatusCode::CONFLICT,
        Reason::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Reason::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        Reason::Truncated => StatusCode::BAD_REQUEST,
        Reason::Failed => StatusCode::INTERNAL_SERVER_ERROR,
        Reason::NotABundle | Reason::Signature | Reason::Compatible | Reason::Older => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
    };
    let mut r = reply(
        status,
        &serde_json::json!({ "error": r.message, "reason": r.reason }),
    );
    if status == StatusCode::BAD_REQUEST || status == StatusCode::PAYLOAD_TOO_LARGE {
        // The rest of the body was not read: the connection cannot carry another request.
        r.headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    r
}

async fn upload(call: Call, with_token: bool) -> Response<Body> {
    let update = Arc::clone(&call.state.camera.update);
    if with_token && !update.take_token(call.param("token")) {
        return error(
            StatusCode::NOT_FOUND,
            "this upload address is unknown, used or expired; ask for a new one",
        );
    }
    let force = match call.query::<Query>() {
        Ok(q) => q.force.unwrap_or(false),
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let ticket = match update.begin() {
        Ok(t) => t,
        Err(r) => return refusal(&r),
    };
    let req = match call.into_request() {
        Ok(r) => r,
        Err(r) => return *r,
    };
    if let Err(r) = receive(req, &ticket.path, &update).await {
        update.refused(&r);
        return refusal(&r);
    }
    // Its own task: a client that leaves does not stop an install half-way.
    let installing = {
        let update = Arc::clone(&update);
        tokio::spawn(async move { update.install(ticket, force).await })
    };
    match installing.await {
        Ok(Ok(_)) => ok(update.status_json()),
        Ok(Err(r)) => refusal(&r),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "the install task failed"),
    }
}

/// Streams the body to `path`, within the size limit and in time; fsynced at the end.
async fn receive(req: Request<Incoming>, path: &Path, update: &Updater) -> Result<(), Refusal> {
    let max = update.max_bytes();
    let too_large = || {
        Refusal::new(
            Reason::TooLarge,
            format!("the file is larger than {} MB", max / (1024 * 1024)),
        )
    };
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(too_large());
    }
    let storage = |e: std::io::Error| {
        Refusal::new(
            Reason::Failed,
            format!("the update cannot be written to the camera's storage: {e}"),
        )
    };
    let mut file = tokio::fs::File::create(path).await.map_err(storage)?;
    let mut body = req.into_body();
    let started = Instant::now();
    let mut size: u64 = 0;
    loop {
        let left = BODY_TOTAL.saturating_sub(started.elapsed());
        let frame = match tokio::time::timeout(BODY_IDLE.min(left), body.frame()).await {
            Ok(Some(Ok(frame))) => frame,
            Ok(None) => break,
            Ok(Some(Err(_))) => {
                let of = declared.map_or(String::new(), |n| format!(" of {n}"));
                return Err(Refusal::new(
                    Reason::Truncated,
                    format!(
                        "the upload was cut short after {size}{of} bytes; nothing was installed"
                    ),
                ));
            }
            Err(_) => {
                return Err(Refusal::new(
                    Reason::Truncated,
                    format!(
                        "the upload stalled after {size} bytes (nothing for {} s); nothing was installed",
                        BODY_IDLE.as_secs()
                    ),
                ));
            }
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        size += data.len() as u64;
        if size > max {
            return Err(too_large());
        }
        file.write_all(&data).await.map_err(storage)?;
        update.received(size, declared);
    }
    if size == 0 {
        return Err(Refusal::new(
            Reason::NotABundle,
            "the body must be the update file (.raucb)",
        ));
    }
    file.sync_all().await.map_err(storage)?;
    Ok(())
}
