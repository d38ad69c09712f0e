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

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt as _;
use tokio::sync::{Semaphore, SemaphorePermit};
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
    let q = super::query::pairs(req.uri().query());
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
        // Before the body is read: a refused upload costs no disk and no decoder.
        let Ok(permit) = UPLOADS.try_acquire() else {
            let mut r = error(
                StatusCode::SERVICE_UNAVAILABLE,
                "other clip uploads are being checked; try again in a few seconds",
            );
            r.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("5"));
            return r;
        };
        let file = Upload {
            path: audio.clips.upload_path(),
            _permit: permit,
        };
        match read_upload(req, audio.max_upload(), &file.path).await {
            Ok(0) => return error(StatusCode::BAD_REQUEST, "the body must be the audio file"),
            Ok(_) => Some(file),
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
        None
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
        (Method::POST, ["clips"]) => match body {
            Some(file) => {
                let name = param(&q, "name").unwrap_or("Clip").to_string();
                add_clip(audio, name, file).await
            }
            None => error(StatusCode::BAD_REQUEST, "the body must be the audio file"),
        },
        (Method::GET, ["clips", token]) => {
            match audio.sounds().iter().find(|s| s.token == *token) {
                Some(s) => reply(
                    StatusCode::OK,
                    &clip_json(&s.token, &s.name, s.builtin, s.duration_s, s.playable),
                ),
                None => error(StatusCode::NOT_FOUND, format!("no clip {token}")),
            }
        }
        (Method::PUT | Method::POST, ["clips", token]) => match body {
            Some(file) => upload_clip(audio, token.to_string(), file).await,
            None => error(StatusCode::BAD_REQUEST, "the body must be the audio file"),
        },
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

/// Uploads being read or checked at once: each may hold a decoder process, and the camera has
/// few cores and little memory to spare for them.
const MAX_UPLOADS: usize = 2;
static UPLOADS: Semaphore = Semaphore::const_new(MAX_UPLOADS);
/// An upload body that sends nothing for this long is given up...
const BODY_IDLE: Duration = Duration::from_secs(10);
/// ...and so is one that has not ended after this long (20 MB at 1.5 Mbit/s).
const BODY_TOTAL: Duration = Duration::from_secs(120);

/// An upload on its way: the file it is written to, removed when done with whatever happens
/// (a refusal, a client gone mid-body), and its place among [`MAX_UPLOADS`].
struct Upload {
    path: PathBuf,
    _permit: SemaphorePermit<'static>,
}

impl Drop for Upload {
    fn drop(&mut self) {
        // Stored clips were renamed away: then there is nothing to remove.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Streams an upload to `path`, refusing one that is too large before reading it (by its
/// length) or as soon as it passes the limit (a chunked one), and one that stalls or drags
/// on ([`BODY_IDLE`], [`BODY_TOTAL`]). Returns its size. The body time limit lives here until
/// the server has a general one.
async fn read_upload(
    req: Request<Incoming>,
    max: usize,
    path: &Path,
) -> Result<u64, Box<Response<Body>>> {
    let refuse = |status: StatusCode, message: String| {
        let mut r = error(status, message);
        // The rest of the body is not read: the connection cannot carry another request.
        r.headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
        Box::new(r)
    };
    let too_large = || {
        refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the file is larger than {} MB", max / (1024 * 1024)),
        )
    };
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let storage = |e: std::io::Error| {
        tracing::warn!(file = %path.display(), "cannot write an upload: {e}");
        Box::new(error(
            StatusCode::INSUFFICIENT_STORAGE,
            "the upload cannot be written to the camera's storage",
        ))
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
                return Err(refuse(
                    StatusCode::BAD_REQUEST,
                    "the upload was cut short".into(),
                ));
            }
            Err(_) if left <= BODY_IDLE => {
                return Err(refuse(
                    StatusCode::REQUEST_TIMEOUT,
                    format!(
                        "the upload took longer than {} s; try a smaller file",
                        BODY_TOTAL.as_secs()
                    ),
                ));
            }
            Err(_) => {
                return Err(refuse(
                    StatusCode::REQUEST_TIMEOUT,
                    format!("the upload stalled for {} s", BODY_IDLE.as_secs()),
                ));
            }
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        size += data.len() as u64;
        if size > max as u64 {
            return Err(too_large());
        }
        file.write_all(&data).await.map_err(storage)?;
    }
    file.flush().await.map_err(storage)?;
    Ok(size)
}

async fn add_clip(audio: Arc<Audio>, name: String, file: Upload) -> Response<Body> {
    let done = tokio::task::spawn_blocking(move || {
        // Held to the end of the decode, even if the client has gone.
        let file = file;
        let clip = audio.clips.create(&name)?;
        audio.upload(&clip.token, &file.path).inspect_err(|_| {
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

async fn upload_clip(audio: Arc<Audio>, token: String, file: Upload) -> Response<Body> {
    let done = tokio::task::spawn_blocking(move || {
        let file = file;
        audio.upload(&token, &file.path)
    })
    .await;
    match done {
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
