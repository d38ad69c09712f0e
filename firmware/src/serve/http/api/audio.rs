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
//! Reading needs any user; changing anything needs an operator or admin ([`table`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use hyper::{Method, Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt as _;
use tokio::sync::{Semaphore, SemaphorePermit};
use tracing::info;

use crate::audio::{
    Audio, Clip, ClipError, PlayError, PlayRequest, Playing, Repeat, Sound, Volumes, percent,
};
use crate::serve::http::Body;
use crate::serve::http::routes::{Call, Need, Route, now, row, streaming};

/// The speaker's routes.
pub(in crate::serve::http) fn table() -> Vec<Route> {
    use Method as M;
    use Need::{Operator, Viewer};
    vec![
        row(M::GET, "/api/audio", Viewer, |c| {
            now(with_speaker(&c, status_reply))
        }),
        row(M::POST, "/api/audio/volume", Operator, |c| {
            now(with_speaker(&c, set_volume))
        }),
        row(M::PUT, "/api/audio/volume", Operator, |c| {
            now(with_speaker(&c, set_volume))
        }),
        row(M::POST, "/api/audio/stop", Operator, |c| {
            now(with_speaker(&c, stop))
        }),
        row(M::POST, "/api/audio/timer", Operator, |c| {
            now(with_speaker(&c, set_timer))
        }),
        row(M::GET, "/api/clips", Viewer, |c| {
            now(with_speaker(&c, list))
        }),
        streaming(Some(M::POST), "/api/clips", Operator, |c| Box::pin(add(c))),
        row(M::GET, "/api/clips/{token}", Viewer, |c| {
            now(with_speaker(&c, one))
        }),
        // ONVIF's AddAudioClip hands these out as the upload address, to NVRs that may speak
        // plain HTTP only.
        streaming(Some(M::PUT), "/api/clips/{token}", Operator, |c| {
            Box::pin(replace(c))
        })
        .plain_too(),
        streaming(Some(M::POST), "/api/clips/{token}", Operator, |c| {
            Box::pin(replace(c))
        })
        .plain_too(),
        row(M::DELETE, "/api/clips/{token}", Operator, |c| {
            now(with_speaker(&c, delete))
        }),
        row(M::POST, "/api/clips/{token}/rename", Operator, |c| {
            now(with_speaker(&c, rename))
        }),
        row(M::POST, "/api/clips/{token}/play", Operator, |c| {
            Box::pin(play(c))
        }),
    ]
}

fn reply(status: StatusCode, value: &Value) -> Response<Body> {
    let mut r = Response::new(crate::serve::http::full(value.to_string() + "\n"));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn error(status: StatusCode, message: impl std::fmt::Display) -> Response<Body> {
    reply(status, &json!({ "error": message.to_string() }))
}

/// `value` if it is at most `max`, or what is wrong with it.
fn at_most(name: &str, value: Option<u32>, max: u32) -> Result<Option<u32>, String> {
    match value {
        Some(n) if n > max => Err(format!(
            "{name} must be a whole number from 0 to {max} (got {n})"
        )),
        v => Ok(v),
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

fn sound_json(s: &Sound) -> Value {
    clip_json(&s.token, &s.name, s.builtin, s.duration_s, s.playable)
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

/// The speaker, or 404 on a camera without one.
fn speaker(call: &Call) -> Result<Arc<Audio>, Box<Response<Body>>> {
    call.state
        .audio
        .clone()
        .ok_or_else(|| Box::new(error(StatusCode::NOT_FOUND, "this camera has no speaker")))
}

fn with_speaker(call: &Call, f: fn(&Call, &Audio) -> Response<Body>) -> Response<Body> {
    match speaker(call) {
        Ok(audio) => f(call, &audio),
        Err(r) => *r,
    }
}

fn status_reply(_: &Call, audio: &Audio) -> Response<Body> {
    reply(StatusCode::OK, &status(audio))
}

fn stop(call: &Call, audio: &Audio) -> Response<Body> {
    let stopped = audio.stop();
    info!(user = call.user.name, "speaker stopped");
    reply(
        StatusCode::OK,
        &json!({ "stopped": playing_json(&stopped) }),
    )
}

fn set_timer(call: &Call, audio: &Audio) -> Response<Body> {
    #[derive(Deserialize)]
    struct Query {
        seconds: Option<u32>,
    }
    let seconds = call
        .query::<Query>()
        .and_then(|q| at_most("seconds", q.seconds, 24 * 3600));
    match seconds {
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
    }
}

fn list(_: &Call, audio: &Audio) -> Response<Body> {
    let list: Vec<Value> = audio.sounds().iter().map(sound_json).collect();
    reply(StatusCode::OK, &Value::Array(list))
}

fn one(call: &Call, audio: &Audio) -> Response<Body> {
    let token = call.param("token");
    match audio.sounds().iter().find(|s| s.token == token) {
        Some(s) => reply(StatusCode::OK, &sound_json(s)),
        None => error(StatusCode::NOT_FOUND, format!("no clip {token}")),
    }
}

fn delete(call: &Call, audio: &Audio) -> Response<Body> {
    let token = call.param("token");
    match audio.delete(token) {
        Ok(()) => reply(StatusCode::OK, &json!({ "deleted": token })),
        Err(e) => clip_error(&e),
    }
}

#[derive(Deserialize)]
struct NameQuery {
    name: Option<String>,
}

fn rename(call: &Call, audio: &Audio) -> Response<Body> {
    let name = match call.query::<NameQuery>() {
        Ok(NameQuery { name: Some(name) }) => name,
        Ok(_) => return error(StatusCode::BAD_REQUEST, "name is missing"),
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    match audio.clips.rename(call.param("token"), &name) {
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
    }
}

#[derive(Deserialize, Default)]
struct PlayQuery {
    repeat: Option<u32>,
    #[serde(rename = "loop")]
    looped: Option<String>,
    volume: Option<u32>,
    timer: Option<u32>,
}

fn play_request(q: &PlayQuery) -> Result<PlayRequest, String> {
    let looped = matches!(q.looped.as_deref(), Some("1" | "true" | "yes"));
    let repeat = match at_most("repeat", q.repeat, 1000)? {
        _ if looped => Repeat::Forever,
        Some(0) => Repeat::Forever,
        Some(n) => Repeat::Times(n),
        None => Repeat::Times(1),
    };
    Ok(PlayRequest {
        repeat,
        volume: at_most("volume", q.volume, 100)?,
        timer: at_most("timer", q.timer, 24 * 3600)?
            .filter(|s| *s > 0)
            .map(|s| Duration::from_secs(u64::from(s))),
    })
}

async fn play(call: Call) -> Response<Body> {
    let audio = match speaker(&call) {
        Ok(audio) => audio,
        Err(r) => return *r,
    };
    let req = match call.query().and_then(|q| play_request(&q)) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let token = call.param("token").to_string();
    let played = tokio::task::spawn_blocking(move || audio.play(&token, &req)).await;
    match played {
        Ok(Ok(p)) => {
            info!(user = call.user.name, token = p.token, "play");
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

fn set_volume(call: &Call, audio: &Audio) -> Response<Body> {
    #[derive(Deserialize)]
    struct Query {
        master: Option<u32>,
        talk: Option<u32>,
        music: Option<u32>,
    }
    let q = match call.query::<Query>() {
        Ok(q) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let mut asked = Vec::new();
    for (name, value) in [("master", q.master), ("talk", q.talk), ("music", q.music)] {
        match at_most(name, value, 100) {
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

/// `POST /api/clips?name=`: a new clip from the body.
async fn add(call: Call) -> Response<Body> {
    let name = match call.query::<NameQuery>() {
        Ok(q) => q.name.unwrap_or_else(|| "Clip".to_string()),
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let (audio, file) = match receive(call).await {
        Ok(got) => got,
        Err(r) => return *r,
    };
    let done = tokio::task::spawn_blocking(move || {
        // Held to the end of the decode, even if the client has gone.
        let file = file;
        let clip = audio.clips.create(&name)?;
        audio.upload(&clip.token, &file.path).inspect_err(|_| {
            let _ = audio.clips.delete(&clip.token);
        })
    })
    .await;
    stored(StatusCode::CREATED, done)
}

/// `PUT /api/clips/<token>`: new audio for a clip.
async fn replace(call: Call) -> Response<Body> {
    let token = call.param("token").to_string();
    let (audio, file) = match receive(call).await {
        Ok(got) => got,
        Err(r) => return *r,
    };
    let done = tokio::task::spawn_blocking(move || {
        let file = file;
        audio.upload(&token, &file.path)
    })
    .await;
    stored(StatusCode::OK, done)
}

/// The answer to an upload that was decoded (or not).
fn stored(
    status: StatusCode,
    done: Result<Result<Clip, ClipError>, tokio::task::JoinError>,
) -> Response<Body> {
    match done {
        Ok(Ok(c)) => reply(
            status,
            &clip_json(&c.token, &c.name, false, Some(c.duration_s), true),
        ),
        Ok(Err(e)) => clip_error(&e),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "upload task failed"),
    }
}

/// An upload's body, in a file, with its place among [`MAX_UPLOADS`]. A refused upload costs
/// no disk and no decoder: the place is taken before the body is read.
async fn receive(call: Call) -> Result<(Arc<Audio>, Upload), Box<Response<Body>>> {
    let audio = speaker(&call)?;
    let Ok(permit) = UPLOADS.try_acquire() else {
        let mut r = error(
            StatusCode::SERVICE_UNAVAILABLE,
            "another clip upload is being checked; try again in a few seconds",
        );
        r.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("5"));
        return Err(Box::new(r));
    };
    let file = Upload {
        path: audio.clips.upload_path(),
        _permit: permit,
    };
    let req = call.into_request()?;
    match read_upload(req, audio.max_upload(), &file.path).await? {
        0 => Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            "the body must be the audio file",
        ))),
        _ => Ok((audio, file)),
    }
}

/// Uploads being read or checked at once: one. Each holds a file on the data partition and a
/// decoder process, the camera has few cores and little memory to spare, and a parent uploads
/// one lullaby at a time; another client is told to try again.
const MAX_UPLOADS: usize = 1;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn play_parameters_are_checked() {
        let q = PlayQuery {
            volume: Some(101),
            ..PlayQuery::default()
        };
        assert!(play_request(&q).is_err());
        let q: PlayQuery =
            crate::serve::http::query::parse(Some("loop=true&timer=600")).expect("query");
        let r = play_request(&q).expect("valid");
        assert_eq!(r.repeat, Repeat::Forever);
        assert_eq!(r.timer, Some(Duration::from_secs(600)));
    }
}
