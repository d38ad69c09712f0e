//! The web page's files, built into the binary: the nursery may have no internet, so nothing
//! comes from a CDN. Served without login (they hold no secrets; the API behind them does).

use bytes::Bytes;
use hyper::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode, Uri};

use super::{Body, text};

pub(super) const FILES: &[(&str, &str, &[u8])] = &[
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
        "/listen.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../../web/listen.js"),
    ),
    (
        "/sleep.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../../web/sleep.js"),
    ),
    (
        "/update.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../../web/update.js"),
    ),
    (
        "/clips.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../../web/clips.js"),
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
    // The installed app: its manifest, the PNG icons phones want on a home screen, and the
    // service worker that keeps the shell for when the camera is gone.
    (
        "/manifest.webmanifest",
        "application/manifest+json",
        include_bytes!("../../../web/manifest.webmanifest"),
    ),
    (
        "/icon-192.png",
        "image/png",
        include_bytes!("../../../web/icon-192.png"),
    ),
    (
        "/icon-512.png",
        "image/png",
        include_bytes!("../../../web/icon-512.png"),
    ),
    (
        "/icon-maskable-512.png",
        "image/png",
        include_bytes!("../../../web/icon-maskable-512.png"),
    ),
    (
        "/sw.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../../web/sw.js"),
    ),
];

/// The page's file at `uri` (a trailing `/` left off).
pub(super) fn serve(uri: &Uri) -> Response<Body> {
    let path = super::routes::normalized(uri.path());
    let Some((_, kind, bytes)) = FILES.iter().find(|(p, _, _)| *p == path) else {
        return text(StatusCode::NOT_FOUND, "not found\n");
    };
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
    r
}
