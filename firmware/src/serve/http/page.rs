//! The web page's files, built into the binary: the nursery may have no internet, so nothing
//! comes from a CDN. Served without login (they hold no secrets; the API behind them does).

use bytes::Bytes;
use hyper::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Response};

use super::Body;

const FILES: &[(&str, &str, &[u8])] = &[
    (
        "/",
        "text/html; charset=utf-8",
        include_bytes!("../../../web/index.html"),
    ),
    (
        "/app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../../web/app.js"),
    ),
    (
        "/app.css",
        "text/css; charset=utf-8",
        include_bytes!("../../../web/app.css"),
    ),
    (
        "/icon.svg",
        "image/svg+xml",
        include_bytes!("../../../web/icon.svg"),
    ),
];

/// The page's file at `path`, if it is one.
pub(super) fn serve(method: &Method, path: &str) -> Option<Response<Body>> {
    if !matches!(*method, Method::GET | Method::HEAD) {
        return None;
    }
    let (_, kind, bytes) = FILES.iter().find(|(p, _, _)| *p == path)?;
    let mut r = Response::new(super::full(Bytes::from_static(bytes)));
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(kind));
    // Small files from a camera that may have just been updated: always ask again.
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'",
        ),
    );
    Some(r)
}
