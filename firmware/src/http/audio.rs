//! `/api/audio` and `/api/clips`: the speaker for scripts and the web page.
//!
//! - `GET /api/audio`: volumes, what plays, who talks.
//! - `POST /api/audio/volume?master=&talk=&music=` (0-100, any of them).
//! - `POST /api/audio/stop`; `POST /api/audio/timer?seconds=` (0 clears the sleep timer).
//! - `GET /api/clips`: built-in sounds and uploaded clips. `POST /api/clips?name=` with the
//!   file as the body adds one; `PUT /api/clips/<token>` replaces its audio (the ONVIF upload
//!   URI); `POST /api/clips/<token>/rename?name=`; `DELETE /api/clips/<token>`.
//! - `POST /api/clips/<token>/play?repeat=&loop=&volume=&timer=` (timer in seconds).
//!
//! Reading needs any user; changing anything needs an operator or admin.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use tracing::info;

use super::auth::AuthedUser;
use super::{AppState, Body};
use crate::audio::{Audio, ClipError, PlayError, PlayRequest, Playing, Repeat, Volumes, percent};
use crate::config::Role;

fn reply(status: StatusCode, value: &Value) -> Response<Body> {
    let mut r = Response::new(super::full(value.to_string() + "\n"));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn error(status: StatusCode, message: impl std::fmt::Display) -> Response<Body> {
    reply(status, &json!({ "error": message.to_string() }))
}

fn query(uri: &hyper::Uri) -> Vec<(String, String)> {
    uri.query()
        .map(|q| {
            q.split('&')
                .filter_map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    Some((decode(k)?, decode(v)?))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Percent-decoding of a query value (`+` is a space).
fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn param<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn number(q: &[(String, String)], name: &str, max: u32) -> Result<Option<u32>, String> {
    match param(q, name) {
        None => Ok(None),
        Some(v) => match v.parse::<u32>() {
            Ok(n) if n <= max => Ok(Some(n)),
            _ => Err(format!(
                "{name} must be a whole number from 0 to {max} (got {v:?})"
            )),
        },
    }
}

fn playing_json(p: &Option<Playing>) -> Value {
    match p {
        None => Value::Null,
        Some(p) => json!({
            "token": p.token,
            "name": p.name,
            "volume": (p.volume * 100.0).round(),
            "timer_left_s": p.ends_at.map(|t| t.saturating_duration_since(Instant::now()).as_secs()),
        }),
    }
}

fn status(audio: &Audio) -> Value {
    let v = audio.output.volumes();
    json!({
        "volume": (v.master * 100.0).round(),
        "talk_volume": (v.talk * 100.0).round(),
        "music_volume": (v.music * 100.0).round(),
        "playing": playing_json(&audio.output.playing()),
        "talking": audio.output.talker(),
        "audible": audio.output.is_playing(),
    })
}

fn clip_json(
    token: &str,
    name: &str,
    builtin: bool,
    duration: Option<f64>,
    playable: bool,
) -> Value {
    json!({
        "token": token,
        "name": name,
        "builtin": builtin,
        "duration_s": duration,
        "playable": playable,
    })
}

fn clip_error(e: &ClipError) -> Response<Body> {
    let status = match e {
        ClipError::NotFound(_) => StatusCode::NOT_FOUND,
        ClipError::BadAudio(_) => StatusCode::UNPROCESSABLE_ENTITY,
        ClipError::Full(_) => StatusCode::INSUFFICIENT_STORAGE,
        ClipError::BadName => StatusCode::BAD_REQUEST,
        ClipError::BuiltIn(_) => StatusCode::FORBIDDEN,
        ClipError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error(status, e)
}

/// Everything under `/api/audio` and `/api/clips`; the body is read here (uploads are large).
pub(super) async fn serve(
    state: &AppState,
    req: Request<Incoming>,
    user: &AuthedUser,
) -> Response<Body> {
    let Some(audio) = state.audio.clone() else {
        return error(StatusCode::NOT_FOUND, "this camera has no speaker");
    };
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let q = query(req.uri());
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').skip(2).collect();
    let writes = method != Method::GET && method != Method::HEAD;
    if writes && user.role == Role::User {
        return error(StatusCode::FORBIDDEN, "this account may only watch");
    }
    let upload = matches!(
        (&method, parts.as_slice()),
        (&Method::POST, ["clips"]) | (&Method::PUT | &Method::POST, ["clips", _])
    );
    let body = if upload {
        match read_upload(req, audio.max_upload()).await {
            Ok(b) => b,
            Err(r) => return *r,
        }
    } else {
        // Other routes take no body; a bounded drain keeps keep-alive working.
        if Limited::new(req.into_body(), 64 * 1024)
            .collect()
            .await
            .is_err()
        {
            return error(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
        }
        Bytes::new()
    };
    match (method, parts.as_slice()) {
        (Method::GET, ["audio"]) => reply(StatusCode::OK, &status(&audio)),
        (Method::POST | Method::PUT, ["audio", "volume"]) => set_volume(&audio, &q),
        (Method::POST, ["audio", "stop"]) => {
            let stopped = audio.stop();
            info!(user = user.name, "speaker stopped");
            reply(
                StatusCode::OK,
                &json!({ "stopped": playing_json(&stopped) }),
            )
        }
        (Method::POST, ["audio", "timer"]) => match number(&q, "seconds", 24 * 3600) {
            Ok(Some(s)) => {
                let timer = (s > 0).then(|| Duration::from_secs(u64::from(s)));
                match audio.output.set_timer(timer) {
                    Some(p) => reply(
                        StatusCode::OK,
                        &json!({ "playing": playing_json(&Some(p)) }),
                    ),
                    None => error(StatusCode::CONFLICT, "nothing is playing"),
                }
            }
            Ok(None) => error(StatusCode::BAD_REQUEST, "seconds is missing"),
            Err(e) => error(StatusCode::BAD_REQUEST, e),
        },
        (Method::GET, ["clips"]) => {
            let list: Vec<Value> = audio
                .sounds()
                .iter()
                .map(|s| clip_json(&s.token, &s.name, s.builtin, s.duration_s, s.playable))
                .collect();
            reply(StatusCode::OK, &Value::Array(list))
        }
        (Method::POST, ["clips"]) => {
            let name = param(&q, "name").unwrap_or("Clip").to_string();
            add_clip(audio, name, body).await
        }
        (Method::GET, ["clips", token]) => {
            match audio.sounds().iter().find(|s| s.token == *token) {
                Some(s) => reply(
                    StatusCode::OK,
                    &clip_json(&s.token, &s.name, s.builtin, s.duration_s, s.playable),
                ),
                None => error(StatusCode::NOT_FOUND, format!("no clip {token}")),
            }
        }
        (Method::PUT | Method::POST, ["clips", token]) => {
            let token = token.to_string();
            upload_clip(audio, token, body).await
        }
        (Method::DELETE, ["clips", token]) => match audio.delete(token) {
            Ok(()) => reply(StatusCode::OK, &json!({ "deleted": token })),
            Err(e) => clip_error(&e),
        },
        (Method::POST, ["clips", token, "rename"]) => match param(&q, "name") {
            Some(name) => match audio.clips.rename(token, name) {
                Ok(c) => reply(
                    StatusCode::OK,
                    &clip_json(
                        &c.token,
                        &c.name,
                        false,
                        c.has_audio().then_some(c.duration_s),
                        c.has_audio(),
                    ),
                ),
                Err(e) => clip_error(&e),
            },
            None => error(StatusCode::BAD_REQUEST, "name is missing"),
        },
        (Method::POST, ["clips", token, "play"]) => {
            let req = match play_request(&q) {
                Ok(r) => r,
                Err(e) => return error(StatusCode::BAD_REQUEST, e),
            };
            let token = token.to_string();
            let who = user.name.clone();
            let played = tokio::task::spawn_blocking(move || audio.play(&token, &req)).await;
            match played {
                Ok(Ok(p)) => {
                    info!(user = who, token = p.token, "play");
                    reply(
                        StatusCode::OK,
                        &json!({ "playing": playing_json(&Some(p)) }),
                    )
                }
                Ok(Err(e @ PlayError::NotFound(_))) => error(StatusCode::NOT_FOUND, e),
                Ok(Err(e @ PlayError::NoAudio(_))) => error(StatusCode::CONFLICT, e),
                Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
                Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "player task failed"),
            }
        }
        _ => error(StatusCode::NOT_FOUND, "not found"),
    }
}

fn play_request(q: &[(String, String)]) -> Result<PlayRequest, String> {
    let looped = matches!(param(q, "loop"), Some("1" | "true" | "yes"));
    let repeat = match number(q, "repeat", 1000)? {
        _ if looped => Repeat::Forever,
        Some(0) => Repeat::Forever,
        Some(n) => Repeat::Times(n),
        None => Repeat::Times(1),
    };
    Ok(PlayRequest {
        repeat,
        volume: number(q, "volume", 100)?,
        timer: number(q, "timer", 24 * 3600)?
            .filter(|s| *s > 0)
            .map(|s| Duration::from_secs(u64::from(s))),
    })
}

fn set_volume(audio: &Audio, q: &[(String, String)]) -> Response<Body> {
    let mut asked = Vec::new();
    for name in ["master", "talk", "music"] {
        match number(q, name, 100) {
            Ok(Some(n)) => asked.push((name, percent(n))),
            Ok(None) => {}
            Err(e) => return error(StatusCode::BAD_REQUEST, e),
        }
    }
    let edit = |v: &mut Volumes| {
        for (name, value) in asked {
            match name {
                "master" => v.master = value,
                "talk" => v.talk = value,
                _ => v.music = value,
            }
        }
    };
    if let Err(e) = audio.change_volumes(edit) {
        return error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}"));
    }
    reply(StatusCode::OK, &status(audio))
}

/// Reads an upload, refusing one that is too large before reading it (by its length) or as
/// soon as it passes the limit (a chunked one): nothing large is ever kept.
async fn read_upload(req: Request<Incoming>, max: usize) -> Result<Bytes, Box<Response<Body>>> {
    let too_large = || {
        Box::new(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the file is larger than {} MB", max / (1024 * 1024)),
        ))
    };
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    match Limited::new(req.into_body(), max).collect().await {
        Ok(b) => Ok(b.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(too_large())
        }
        Err(_) => Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            "the upload was cut short",
        ))),
    }
}

async fn add_clip(audio: Arc<Audio>, name: String, body: Bytes) -> Response<Body> {
    if body.is_empty() {
        return error(StatusCode::BAD_REQUEST, "the body must be the audio file");
    }
    let done = tokio::task::spawn_blocking(move || {
        let clip = audio.clips.create(&name)?;
        audio.upload(&clip.token, &body).inspect_err(|_| {
            let _ = audio.clips.delete(&clip.token);
        })
    })
    .await;
    match done {
        Ok(Ok(c)) => reply(
            StatusCode::CREATED,
            &clip_json(&c.token, &c.name, false, Some(c.duration_s), true),
        ),
        Ok(Err(e)) => clip_error(&e),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "upload task failed"),
    }
}

async fn upload_clip(audio: Arc<Audio>, token: String, body: Bytes) -> Response<Body> {
    if body.is_empty() {
        return error(StatusCode::BAD_REQUEST, "the body must be the audio file");
    }
    match tokio::task::spawn_blocking(move || audio.upload(&token, &body)).await {
        Ok(Ok(c)) => reply(
            StatusCode::OK,
            &clip_json(&c.token, &c.name, false, Some(c.duration_s), true),
        ),
        Ok(Err(e)) => clip_error(&e),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "upload task failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_decoded() {
        let uri: hyper::Uri = "/api/clips?name=Mum%27s+song&x".parse().expect("uri");
        let q = query(&uri);
        assert_eq!(param(&q, "name"), Some("Mum's song"));
        assert_eq!(param(&q, "x"), Some(""));
    }

    #[test]
    fn play_parameters_are_checked() {
        let q = vec![("volume".to_string(), "101".to_string())];
        assert!(play_request(&q).is_err());
        let q = vec![
            ("loop".to_string(), "true".to_string()),
            ("timer".to_string(), "600".to_string()),
        ];
        let r = play_request(&q).expect("valid");
        assert_eq!(r.repeat, Repeat::Forever);
        assert_eq!(r.timer, Some(Duration::from_secs(600)));
    }
}
