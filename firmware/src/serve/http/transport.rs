//! Plain HTTP's answer to a request that must be made over HTTPS: a browser's GET or HEAD is
//! sent to the same path on the HTTPS port (308), anything else is refused (403), saying why.
//!
//! No `Strict-Transport-Security` is ever sent: the camera's certificate is its own, not a
//! public authority's, and a browser that has seen HSTS for a host no longer lets its user
//! accept an unknown certificate, so the parent could never reach the page again.

use hyper::header::{HOST, HeaderValue, LOCATION};
use hyper::{Method, Request, Response, StatusCode};

use super::{Body, json, text};

const REASON: &str = "this is served over HTTPS only";

/// The answer to `req`, which came over plain HTTP, when `tls_port` is HTTPS's.
pub(super) fn to_https<B>(req: &Request<B>, tls_port: u16) -> Response<Body> {
    let browsing = matches!(*req.method(), Method::GET | Method::HEAD);
    let location = host(req).map(|host| {
        let port = if tls_port == 443 {
            String::new()
        } else {
            format!(":{tls_port}")
        };
        // Only the path and query: an absolute-form request target names a host of its own.
        let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
        format!("https://{host}{port}{path}")
    });
    match location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        Some(location) if browsing => {
            let mut r = text(
                StatusCode::PERMANENT_REDIRECT,
                format!("{REASON}: {}\n", location.to_str().unwrap_or_default()),
            );
            r.headers_mut().insert(LOCATION, location);
            r
        }
        _ => refused(req.uri().path(), tls_port),
    }
}

fn refused(path: &str, tls_port: u16) -> Response<Body> {
    let reason = format!("{REASON}: use https:// on port {tls_port}");
    if path.starts_with("/api/") {
        json::error(StatusCode::FORBIDDEN, reason)
    } else {
        text(StatusCode::FORBIDDEN, format!("{reason}\n"))
    }
}

/// The host the client asked for (without its port), if it is a plain name or address: what
/// the redirect may point to. Anything else (user info, odd characters) gets no redirect.
fn host<B>(req: &Request<B>) -> Option<String> {
    let value = req.headers().get(HOST)?.to_str().ok()?.trim();
    let authority: hyper::http::uri::Authority = value.parse().ok()?;
    if authority.as_str().contains('@') {
        return None;
    }
    let host = authority.host();
    if let Some(literal) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        // An IPv6 literal, perhaps with a zone (`fe80::1%eth0`, sent as `%25`).
        let (address, _zone) = literal.split_once("%25").unwrap_or((literal, ""));
        address.parse::<std::net::Ipv6Addr>().ok()?;
        return literal
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '.' | '%'))
            .then(|| format!("[{literal}]"));
    }
    let name = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_');
    (!host.is_empty() && host.chars().all(name)).then(|| host.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(method: Method, target: &str, host: Option<&str>) -> Response<Body> {
        let mut req = Request::builder().method(method).uri(target);
        if let Some(h) = host {
            req = req.header(HOST, h);
        }
        to_https(&req.body(()).expect("request"), 8443)
    }

    fn location(r: &Response<Body>) -> &str {
        r.headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    #[test]
    fn a_browser_is_sent_to_the_same_path_on_https() {
        let r = answer(Method::GET, "/app.js?v=2", Some("Cam.local:8080"));
        assert_eq!(r.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(location(&r), "https://cam.local:8443/app.js?v=2");
        let r = answer(Method::HEAD, "/", Some("[fe80::1]:80"));
        assert_eq!(location(&r), "https://[fe80::1]:8443/");
        let r = answer(Method::GET, "/", Some("10.0.0.5"));
        assert_eq!(location(&r), "https://10.0.0.5:8443/");
        let mut req = Request::get("/").header(HOST, "cam").body(()).expect("req");
        req.headers_mut()
            .insert(HOST, HeaderValue::from_static("cam"));
        assert_eq!(location(&to_https(&req, 443)), "https://cam/");
    }

    #[test]
    fn the_redirect_never_points_elsewhere() {
        // An absolute-form target names another host: only its path is kept.
        let r = answer(Method::GET, "http://evil.example/x", Some("cam:8080"));
        assert_eq!(location(&r), "https://cam:8443/x");
        let r = answer(Method::GET, "//evil.example/x", Some("cam:8080"));
        assert!(
            location(&r).starts_with("https://cam:8443/"),
            "{}",
            location(&r)
        );
        for bad in [
            "user@evil.example",
            "evil.example/x",
            "a b",
            "[not-v6]:80",
            "",
        ] {
            let r = answer(Method::GET, "/", Some(bad));
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{bad}");
            assert!(r.headers().get(LOCATION).is_none(), "{bad}");
        }
        let r = answer(Method::GET, "/", None);
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }

    #[test]
    fn other_methods_are_refused_naming_https() {
        let r = answer(Method::POST, "/api/login", Some("cam:8080"));
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(r.headers().get(LOCATION).is_none());
        assert_eq!(r.headers()["content-type"], "application/json");
    }
}
