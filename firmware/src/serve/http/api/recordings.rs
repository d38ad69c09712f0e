//! `/api/recordings`: the event clips, their MP4s (with Range requests, streamed from the card) and
//! thumbnails; deleting and keeping them.

use std::path::Path;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::header::{
    ACCEPT_RANGES, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, HeaderMap,
    HeaderValue, RANGE,
};
use hyper::{Response, StatusCode};
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::recordings::ClipError;
use crate::recordings::index::parse_utc;
use crate::serve::http::json::{self, Refusal};
use crate::serve::http::{AppState, Body};

/// How much of a clip is read from the card at a time.
const CHUNK: usize = 64 * 1024;

impl Refusal for ClipError {
    fn status(&self) -> StatusCode {
        match self {
            ClipError::NotFound => StatusCode::NOT_FOUND,
            ClipError::Recording => StatusCode::CONFLICT,
            ClipError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::serve::http) struct Filter {
    from: Option<String>,
    to: Option<String>,
    kind: Option<String>,
}

/// `GET /api/recordings?from=&to=&kind=`: newest first; times are RFC 3339.
pub(in crate::serve::http) fn list(
    state: &AppState,
    query: Result<Filter, String>,
) -> Response<Body> {
    let f = match query {
        Ok(f) => f,
        Err(e) => return json::error(StatusCode::BAD_REQUEST, e),
    };
    let time = |name: &str, v: &Option<String>| match v {
        None => Ok(None),
        Some(t) => parse_utc(t)
            .map(Some)
            .ok_or_else(|| format!("{name}: not an RFC 3339 time: {t:?}")),
    };
    let (from, to) = match (time("from", &f.from), time("to", &f.to)) {
        (Ok(from), Ok(to)) => (from, to),
        (Err(e), _) | (_, Err(e)) => return json::error(StatusCode::BAD_REQUEST, e),
    };
    if let Some(k) = &f.kind
        && !crate::config::CLIP_KINDS.contains(&k.as_str())
    {
        return json::error(
            StatusCode::BAD_REQUEST,
            format!("kind: one of {:?}", crate::config::CLIP_KINDS),
        );
    }
    let clips = state.recordings.list(from, to, f.kind.as_deref());
    json::ok(serde_json::json!({ "clips": clips }))
}

pub(in crate::serve::http) fn query(q: Option<&str>) -> Result<Filter, String> {
    crate::serve::http::query::parse(q)
}

/// `GET /api/recordings/{id}.mp4` and `GET /api/recordings/{id}.jpg`.
pub(in crate::serve::http) async fn file(
    state: &AppState,
    name: &str,
    headers: &HeaderMap,
) -> Response<Body> {
    let not_found = || json::error(StatusCode::NOT_FOUND, "no such clip");
    if let Some(id) = name.strip_suffix(".mp4") {
        match state.recordings.video_file(id) {
            Some(path) => serve_file(&path, "video/mp4", headers.get(RANGE)).await,
            None => not_found(),
        }
    } else if let Some(id) = name.strip_suffix(".jpg") {
        match state.recordings.thumbnail_file(id) {
            Some(path) => serve_file(&path, "image/jpeg", None).await,
            None => not_found(),
        }
    } else {
        not_found()
    }
}

/// `DELETE /api/recordings/{id}`.
pub(in crate::serve::http) fn delete(state: &AppState, id: &str) -> Response<Body> {
    json::done(state.recordings.delete(id))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Keep {
    keep: bool,
}

/// `PUT /api/recordings/{id}/keep` `{"keep": bool}`.
pub(in crate::serve::http) fn keep(state: &AppState, id: &str, body: &[u8]) -> Response<Body> {
    if state.recordings.get(id).is_none() {
        return json::refused(&ClipError::NotFound);
    }
    let keep: Keep = match json::body(body) {
        Ok(k) => k,
        Err(r) => return *r,
    };
    match state.recordings.set_keep(id, keep.keep) {
        Ok(clip) => json::ok(serde_json::json!(clip)),
        Err(e) => json::refused(&e),
    }
}

/// What a `Range` header asks of a file of `len` bytes (RFC 9110 §14).
#[derive(Debug, PartialEq, Eq)]
enum Wanted {
    /// The whole file: no Range, one this server does not take (several ranges, another unit)
    /// or one that does not parse, which a server may ignore.
    All,
    /// Bytes `start..=end`.
    Part(u64, u64),
    /// 416.
    Unsatisfiable,
}

fn wanted(range: Option<&HeaderValue>, len: u64) -> Wanted {
    let Some(spec) = range
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("bytes="))
    else {
        return Wanted::All;
    };
    if spec.contains(',') {
        return Wanted::All;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Wanted::All;
    };
    let number = |s: &str| {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        // A suffix: the last N bytes.
        return match number(last) {
            Some(0) => Wanted::Unsatisfiable,
            Some(_) if len == 0 => Wanted::Unsatisfiable,
            Some(n) => Wanted::Part(len.saturating_sub(n), len - 1),
            None => Wanted::All,
        };
    }
    let Some(start) = number(first) else {
        return Wanted::All;
    };
    let end = if last.is_empty() {
        None
    } else {
        match number(last) {
            Some(e) if e >= start => Some(e),
            // An end before the start is not a valid range: ignored.
            _ => return Wanted::All,
        }
    };
    if start >= len {
        return Wanted::Unsatisfiable;
    }
    Wanted::Part(start, end.map_or(len - 1, |e| e.min(len - 1)))
}

async fn serve_file(
    path: &Path,
    kind: &'static str,
    range: Option<&HeaderValue>,
) -> Response<Body> {
    let mut file = match tokio::fs::File::open(path).await {
        Ok(f) => f,
        Err(_) => return json::error(StatusCode::NOT_FOUND, "no such clip"),
    };
    let len = match file.metadata().await {
        Ok(m) => m.len(),
        Err(e) => return json::error(StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    let (status, start, count) = match wanted(range, len) {
        Wanted::All => (StatusCode::OK, 0, len),
        Wanted::Part(start, end) => (StatusCode::PARTIAL_CONTENT, start, end - start + 1),
        Wanted::Unsatisfiable => {
            let mut r = json::error(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable");
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                r.headers_mut().insert(CONTENT_RANGE, v);
            }
            r.headers_mut()
                .insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
            return r;
        }
    };
    if start > 0
        && let Err(e) = file.seek(std::io::SeekFrom::Start(start)).await
    {
        return json::error(StatusCode::INTERNAL_SERVER_ERROR, e);
    }
    // Read as the client takes it, a chunk at a time: a clip is never whole in memory. A clip
    // being recorded grows meanwhile; only the bytes announced go out.
    let chunks = futures_util::stream::unfold((file, count), |(mut file, left)| async move {
        if left == 0 {
            return None;
        }
        let mut buf = vec![0; CHUNK.min(usize::try_from(left).unwrap_or(CHUNK))];
        match file.read(&mut buf).await {
            Ok(0) | Err(_) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((
                    Ok::<_, std::convert::Infallible>(Frame::data(Bytes::from(buf))),
                    (file, left - n as u64),
                ))
            }
        }
    });
    let mut r = Response::new(StreamBody::new(chunks).boxed());
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    if let Ok(v) = HeaderValue::from_str(&count.to_string()) {
        h.insert(CONTENT_LENGTH, v);
    }
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{len}", start + count - 1))
    {
        h.insert(CONTENT_RANGE, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(range: &str, len: u64) -> Wanted {
        wanted(Some(&HeaderValue::from_str(range).expect("header")), len)
    }

    #[test]
    fn ranges_are_read_as_rfc_9110_says() {
        assert_eq!(wanted(None, 100), Wanted::All);
        assert_eq!(w("bytes=0-9", 100), Wanted::Part(0, 9));
        assert_eq!(w("bytes=50-", 100), Wanted::Part(50, 99));
        assert_eq!(w("bytes=90-200", 100), Wanted::Part(90, 99));
        assert_eq!(w("bytes=-10", 100), Wanted::Part(90, 99));
        assert_eq!(w("bytes=-1000", 100), Wanted::Part(0, 99));
        assert_eq!(w("bytes=100-", 100), Wanted::Unsatisfiable);
        assert_eq!(w("bytes=-0", 100), Wanted::Unsatisfiable);
        // What a server may ignore: the whole file.
        assert_eq!(w("bytes=0-1,5-6", 100), Wanted::All);
        assert_eq!(w("items=0-1", 100), Wanted::All);
        assert_eq!(w("bytes=9-3", 100), Wanted::All);
        assert_eq!(w("bytes=x-", 100), Wanted::All);
    }
}
