//! Alerts as ntfy push notifications (<https://ntfy.sh>, or a self-hosted server): one HTTP
//! request per alert to the topic URL of `[ntfy]`, with the snapshot of the moment attached.
//!
//! Two stages in one task, joined by a bounded queue: the first takes the alerts as they go
//! out, keeps the configured user's, applies the rate limit and takes the snapshot; the second
//! publishes, retrying with back-off. A dead or slow server only fills the queue (what does
//! not fit is dropped and counted): the alerts task, streaming and the page never wait for it.
//!
//! The request is ntfy's publish API: with a snapshot a `PUT` with the JPEG as the body and
//! `Filename: snapshot.jpg` (an attachment), the text in the `Message` header; without one a
//! `POST` with the text as the body. `Title`, `Priority` and `Tags` are headers; values that
//! are not ASCII (a room named "Kinderzimmer", "°C") are RFC 2047 encoded words, which ntfy
//! decodes. The token goes as `Authorization: Bearer` and is never logged; neither is the
//! topic URL (on ntfy.sh the topic's name is the secret), only its host.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::{broadcast, mpsc};
use tracing::{debug, info, warn};

use super::{RateLimit, backoff, follower, follows};
use crate::alerts::{Alert, Alerts, Kind};
use crate::config::NtfyConfig;
use crate::media::{Hub, JpegEncoder, snapshot};
use crate::metrics_text::{Exposition, Kind as MetricKind};
use crate::settings::Settings;

/// Alerts waiting for the server (each with its JPEG, ~100 KB): enough for a burst while a
/// request is retried, small enough that a dead server holds little memory.
const QUEUE: usize = 8;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// One attempt, from connecting to the end of the answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The snapshot's width at most: a phone's notification needs no more.
const SNAPSHOT_WIDTH: u32 = 1280;
/// What is read of an error answer (ntfy's are a line of JSON).
const MAX_ERROR_BODY: usize = 4096;

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The ntfy channel: its counters and last error, for `/metrics` and `/api/status`.
pub struct Ntfy {
    settings: Arc<Settings>,
    sent: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    /// Why the last push was given up; cleared by the next that goes through.
    last_error: Mutex<Option<String>>,
}

/// An alert on its way, with its snapshot when one is sent.
struct Push {
    alert: Arc<Alert>,
    snapshot: Option<Bytes>,
}

impl Ntfy {
    pub fn new(settings: Arc<Settings>) -> Arc<Self> {
        Arc::new(Self {
            settings,
            sent: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            last_error: Mutex::new(None),
        })
    }

    /// The task that pushes alerts; it ends when the alerts channel closes, or is aborted.
    /// It runs whether `[ntfy]` is enabled or not, so that a reload can turn it on.
    pub fn spawn(
        self: &Arc<Self>,
        alerts: &Alerts,
        hub: Arc<Hub>,
        jpeg: JpegEncoder,
    ) -> tokio::task::JoinHandle<()> {
        // Subscribed before the task runs: no alert falls between.
        let rx = alerts.subscribe();
        let ntfy = Arc::clone(self);
        tokio::spawn(async move { ntfy.run(rx, hub, jpeg).await })
    }

    async fn run(&self, rx: broadcast::Receiver<Arc<Alert>>, hub: Arc<Hub>, jpeg: JpegEncoder) {
        let (tx, queue) = mpsc::channel(QUEUE);
        tokio::join!(self.take(rx, tx, &hub, jpeg), self.deliver(queue));
    }

    pub fn render_metrics(&self, e: &mut Exposition) {
        e.single(
            "ntfy_sent_total",
            MetricKind::Counter,
            "Alerts pushed to ntfy.",
            self.sent.load(Relaxed),
        );
        e.single(
            "ntfy_failed_total",
            MetricKind::Counter,
            "Alerts not pushed to ntfy: refused, or given up after every retry.",
            self.failed.load(Relaxed),
        );
        e.single(
            "ntfy_dropped_total",
            MetricKind::Counter,
            "Alerts not pushed to ntfy: over max_per_hour, or the queue was full.",
            self.dropped.load(Relaxed),
        );
    }

    /// For `/api/status`: whether it is on and how it goes (never the URL or the token).
    pub fn status(&self) -> serde_json::Value {
        serde_json::json!({
            "enabled": self.settings.current().ntfy.enabled,
            "sent": self.sent.load(Relaxed),
            "failed": self.failed.load(Relaxed),
            "last_error": self.last_error(),
        })
    }

    fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_last_error(&self, error: Option<String>) {
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = error;
    }

    /// The first stage: which alerts go, within the rate limit, each with its snapshot.
    async fn take(
        &self,
        mut rx: broadcast::Receiver<Arc<Alert>>,
        tx: mpsc::Sender<Push>,
        hub: &Arc<Hub>,
        jpeg: JpegEncoder,
    ) {
        let mut limit = RateLimit::new(Duration::from_secs(3600));
        // The missing user last warned about, so that it is said once, not at every alert.
        let mut warned: Option<String> = None;
        loop {
            let alert = match rx.recv().await {
                Ok(a) => a,
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    // Whose they were is lost; at most this many were ours.
                    if self.settings.current().ntfy.enabled {
                        warn!(missed, "ntfy fell behind the alerts");
                        self.dropped.fetch_add(missed, Relaxed);
                    }
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            };
            // Read per alert: a reload (SIGHUP) applies to the next one.
            let config = self.settings.current();
            let ntfy = &config.ntfy;
            if !ntfy.enabled {
                continue;
            }
            if follower(&ntfy.user, &config.users).is_none() {
                if warned.as_deref() != Some(ntfy.user.as_str()) {
                    let whom = if ntfy.user.is_empty() {
                        "an admin"
                    } else {
                        "a user"
                    };
                    warn!(
                        user = ntfy.user,
                        "ntfy.user is not {whom}: nothing is pushed"
                    );
                    warned = Some(ntfy.user.clone());
                }
                continue;
            }
            warned = None;
            if !follows(&alert, &ntfy.user, &ntfy.kinds, &config.users) {
                continue;
            }
            let kind = alert.kind.as_str();
            // A place in the queue first, so that a full queue does not use up the hour.
            let Ok(permit) = tx.try_reserve() else {
                warn!(
                    kind,
                    id = alert.id,
                    "ntfy: the queue is full (the server is slow or away): dropped"
                );
                self.dropped.fetch_add(1, Relaxed);
                continue;
            };
            if !limit.allow(ntfy.max_per_hour, Instant::now()) {
                warn!(
                    kind,
                    id = alert.id,
                    max_per_hour = ntfy.max_per_hour,
                    "ntfy: over the rate limit: dropped"
                );
                self.dropped.fetch_add(1, Relaxed);
                continue;
            }
            let snapshot = if ntfy.snapshot {
                let main = &config.video.main;
                let timeout = Duration::from_secs(config.media.start_timeout_s);
                let width = main.width.min(SNAPSHOT_WIDTH);
                match snapshot::take(hub, jpeg, (main.width, main.height), width, timeout).await {
                    Ok(bytes) => Some(bytes),
                    Err(e) => {
                        // The words still matter more than the picture.
                        warn!(kind, id = alert.id, reason = %e, "ntfy: no snapshot: sending the text alone");
                        None
                    }
                }
            } else {
                None
            };
            permit.send(Push { alert, snapshot });
        }
    }

    /// The second stage: one push at a time, each tried `1 + retries` times.
    async fn deliver(&self, mut queue: mpsc::Receiver<Push>) {
        // Made at the first push: a camera that pushes nothing holds no TLS roots.
        let mut client = None;
        while let Some(push) = queue.recv().await {
            let config = self.settings.current();
            if !config.ntfy.enabled {
                self.dropped.fetch_add(1, Relaxed);
                continue;
            }
            let client = match &mut client {
                Some(c) => c,
                None => match new_client() {
                    Ok(c) => client.insert(c),
                    Err(e) => {
                        warn!("ntfy: no HTTP client: {e}");
                        self.failed.fetch_add(1, Relaxed);
                        self.set_last_error(Some(format!("no HTTP client: {e}")));
                        continue;
                    }
                },
            };
            self.publish(client, &config.ntfy, push).await;
        }
    }

    async fn publish(&self, client: &HttpsClient, config: &NtfyConfig, mut push: Push) {
        let (kind, id) = (push.alert.kind.as_str(), push.alert.id);
        let host = config
            .url
            .parse::<Uri>()
            .ok()
            .and_then(|u| u.host().map(str::to_string))
            .unwrap_or_default();
        let attempts = 1 + config.retries;
        let mut attempt = 1;
        let error = loop {
            let result = send(client, config, &push).await;
            let error = match result {
                Ok(()) => {
                    info!(kind, id, host, attempt, "ntfy: pushed");
                    self.sent.fetch_add(1, Relaxed);
                    self.set_last_error(None);
                    return;
                }
                Err(e) => e,
            };
            if error.too_large() && push.snapshot.is_some() {
                // The server takes no attachment this big (or none at all): the text alone, at
                // once, and not counted as a retry (it is another request).
                warn!(
                    kind,
                    id, host, "ntfy: the snapshot is refused as too large: sending the text alone"
                );
                push.snapshot = None;
                continue;
            }
            if attempt >= attempts || !error.transient() {
                break error;
            }
            let wait = error.retry_after().unwrap_or_else(|| backoff(attempt));
            debug!(kind, id, host, attempt, error = %error, wait_s = wait.as_secs_f32(), "ntfy: attempt failed, retrying");
            tokio::time::sleep(wait).await;
            attempt += 1;
        };
        warn!(kind, id, host, attempts = attempt, error = %error, "ntfy: push given up");
        self.failed.fetch_add(1, Relaxed);
        self.set_last_error(Some(error.to_string()));
    }
}

#[derive(Debug, thiserror::Error)]
enum PushError {
    #[error("the request cannot be made: {0}")]
    Request(String),
    #[error("cannot reach the server: {0}")]
    Connect(String),
    #[error("no answer within {} s", REQUEST_TIMEOUT.as_secs())]
    Timeout,
    #[error("the server answered {status}{}", if message.is_empty() { String::new() } else { format!(": {message}") })]
    Status {
        status: StatusCode,
        message: String,
        retry_after: Option<Duration>,
    },
}

impl PushError {
    /// Whether trying again may help: the network, a timeout, a server error or "too many
    /// requests". Not a refusal (a wrong token, a topic the token may not write to).
    fn transient(&self) -> bool {
        match self {
            PushError::Request(_) => false,
            PushError::Connect(_) | PushError::Timeout => true,
            PushError::Status { status, .. } => {
                status.is_server_error()
                    || *status == StatusCode::TOO_MANY_REQUESTS
                    || *status == StatusCode::REQUEST_TIMEOUT
            }
        }
    }

    fn too_large(&self) -> bool {
        matches!(self, PushError::Status { status, .. } if *status == StatusCode::PAYLOAD_TOO_LARGE)
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            PushError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// One attempt: the request, and the answer read within [`REQUEST_TIMEOUT`].
async fn send(client: &HttpsClient, config: &NtfyConfig, push: &Push) -> Result<(), PushError> {
    let request = request(config, push)?;
    let answer = async {
        let response = client
            .request(request)
            .await
            .map_err(|e| PushError::Connect(error_chain(&e)))?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        // Read to the end either way: the connection can then be used again.
        let mut body = response.into_body();
        let mut text = Vec::new();
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { break };
            if let Ok(data) = frame.into_data()
                && text.len() < MAX_ERROR_BODY
            {
                text.extend_from_slice(&data[..data.len().min(MAX_ERROR_BODY - text.len())]);
            }
        }
        if status.is_success() {
            return Ok(());
        }
        Err(PushError::Status {
            status,
            message: error_message(&text),
            retry_after,
        })
    };
    tokio::time::timeout(REQUEST_TIMEOUT, answer)
        .await
        .map_err(|_| PushError::Timeout)?
}

/// The publish request for `push`.
fn request(config: &NtfyConfig, push: &Push) -> Result<Request<Full<Bytes>>, PushError> {
    let uri: Uri = config
        .url
        .parse()
        .map_err(|_| PushError::Request("ntfy.url is no URL".into()))?;
    let alert = &push.alert;
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: &str| -> Result<(), PushError> {
        let value = HeaderValue::from_str(&header_text(value))
            .map_err(|_| PushError::Request(format!("{name} cannot be a header")))?;
        headers.insert(HeaderName::from_static(name), value);
        Ok(())
    };
    set("title", &alert.title)?;
    set("priority", priority(alert.kind))?;
    set("tags", tags(alert.kind))?;
    let (method, body) = match &push.snapshot {
        Some(jpeg) => {
            set("message", &alert.body)?;
            set("filename", "snapshot.jpg")?;
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
            (Method::PUT, jpeg.clone())
        }
        None => {
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            (Method::POST, Bytes::from(alert.body.clone()))
        }
    };
    headers.insert(
        USER_AGENT,
        HeaderValue::from_static(concat!("babymonitor/", env!("CARGO_PKG_VERSION"))),
    );
    if !config.token.is_empty() {
        let mut value = HeaderValue::from_str(&format!("Bearer {}", config.token))
            .map_err(|_| PushError::Request("ntfy.token cannot be a header".into()))?;
        // Kept out of hyper's debug output.
        value.set_sensitive(true);
        headers.insert(AUTHORIZATION, value);
    }
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Full::new(body))
        .map_err(|e| PushError::Request(e.to_string()))?;
    *request.headers_mut() = headers;
    Ok(request)
}

/// ntfy's priority for each kind: a cry is high (a sound and a pop-up on the phone), the
/// camera no longer hearing the nursery is urgent (it may be missing a cry), motion is low
/// (it is often only the baby turning over), the climate is the default.
pub fn priority(kind: Kind) -> &'static str {
    match kind {
        Kind::Microphone => "urgent",
        Kind::Cry => "high",
        Kind::Motion => "low",
        Kind::TooHot | Kind::TooCold | Kind::TooHumid | Kind::TooDry => "default",
    }
}

/// ntfy's tags: an emoji (ntfy shows a tag that names one as the emoji) and the kind, for
/// filtering.
pub fn tags(kind: Kind) -> &'static str {
    match kind {
        Kind::Cry => "baby,cry",
        Kind::Motion => "eyes,motion",
        Kind::TooHot => "hot_face,too_hot",
        Kind::TooCold => "cold_face,too_cold",
        Kind::TooHumid => "droplet,too_humid",
        Kind::TooDry => "cactus,too_dry",
        Kind::Microphone => "warning,microphone",
    }
}

/// An encoded word carries at most this many bytes of text: base64 makes 60 characters of
/// them, 72 with `=?UTF-8?B?` and `?=`, within RFC 2047's 75.
const WORD_BYTES: usize = 45;

/// `text` as a header value: ASCII as it is, anything else as RFC 2047 encoded words
/// (`=?UTF-8?B?...?=`, split at characters, separated by spaces, which decoders drop between
/// words). Line breaks and other control characters become spaces: a header is one line.
pub fn header_text(text: &str) -> String {
    let text: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    // A literal "=?" would be taken for the start of an encoded word: encoded too.
    if text.is_ascii() && !text.contains("=?") {
        return text;
    }
    let engine = base64::engine::general_purpose::STANDARD;
    let mut words = Vec::new();
    let mut start = 0;
    let mut end = 0;
    for (i, c) in text.char_indices() {
        if i + c.len_utf8() - start > WORD_BYTES {
            words.push(format!("=?UTF-8?B?{}?=", engine.encode(&text[start..end])));
            start = i;
        }
        end = i + c.len_utf8();
    }
    if end > start {
        words.push(format!("=?UTF-8?B?{}?=", engine.encode(&text[start..end])));
    }
    words.join(" ")
}

/// `Retry-After` in seconds (ntfy sends it with 429), at most [`super::MAX_BACKOFF`].
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs: u64 = headers
        .get(hyper::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs).min(super::MAX_BACKOFF))
}

/// What an error answer says: ntfy's JSON `error`, else the start of the text.
fn error_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct NtfyError {
        error: String,
    }
    if let Ok(e) = serde_json::from_slice::<NtfyError>(body) {
        return e.error;
    }
    let text = String::from_utf8_lossy(body);
    let line = text.lines().next().unwrap_or("").trim();
    line.chars().filter(|c| !c.is_control()).take(200).collect()
}

/// An error and its causes, on one line ("client error (Connect): tcp connect error:
/// Connection refused").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// An HTTP/1.1 client for http:// and https:// topic URLs. TLS trusts the Mozilla roots built
/// in (whatever the system has) and the system's (a self-hosted server under a private CA
/// installed there).
fn new_client() -> Result<HttpsClient, rustls::Error> {
    use crate::platform::trust;
    let tls = Arc::unwrap_or_clone(trust::client_config(trust::public_roots())?);
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    http.set_nodelay(true);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(1)
        .build(https))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(value: &str) -> String {
        let engine = base64::engine::general_purpose::STANDARD;
        if !value.starts_with("=?") {
            return value.to_string();
        }
        let mut bytes = Vec::new();
        for word in value.split(' ') {
            let inner = word
                .strip_prefix("=?UTF-8?B?")
                .and_then(|w| w.strip_suffix("?="))
                .expect("an encoded word");
            bytes.extend(engine.decode(inner).expect("base64"));
        }
        String::from_utf8(bytes).expect("UTF-8")
    }

    #[test]
    fn ascii_goes_as_it_is_and_the_rest_as_encoded_words() {
        assert_eq!(header_text("Too hot"), "Too hot");
        assert_eq!(header_text("line one\r\nline two"), "line one  line two");
        let plain = "Nursery is too hot (25.0 °C).";
        let encoded = header_text(plain);
        assert_eq!(
            encoded,
            "=?UTF-8?B?TnVyc2VyeSBpcyB0b28gaG90ICgyNS4wIMKwQyku?="
        );
        assert_eq!(decode(&encoded), plain);
        // Long text: several words, none longer than RFC 2047's 75 characters, no character
        // cut in two.
        let long = "Das Kinderzimmer von Zoë und Jürgen ist zu warm (25.0 °C), bitte nachsehen 👶.";
        let encoded = header_text(long);
        let words: Vec<_> = encoded.split(' ').collect();
        assert!(words.len() > 1, "{encoded}");
        assert!(words.iter().all(|w| w.len() <= 75), "{encoded}");
        assert_eq!(decode(&encoded), long);
        assert!(HeaderValue::from_str(&encoded).is_ok());
        // What looks like an encoded word is encoded, so it arrives as written.
        let tricky = "=?UTF-8?B?eA==?=";
        assert_eq!(decode(&header_text(tricky)), tricky);
        assert_eq!(header_text(""), "");
    }

    #[test]
    fn every_kind_has_a_priority_and_tags() {
        for kind in Kind::ALL {
            assert!(
                ["min", "low", "default", "high", "urgent"].contains(&priority(kind)),
                "{kind:?}"
            );
            assert!(tags(kind).ends_with(kind.as_str()), "{kind:?}");
        }
        assert_eq!(priority(Kind::Cry), "high");
        assert_eq!(priority(Kind::Motion), "low");
    }

    #[test]
    fn which_errors_are_retried() {
        let status = |s: u16| PushError::Status {
            status: StatusCode::from_u16(s).expect("status"),
            message: String::new(),
            retry_after: None,
        };
        assert!(PushError::Timeout.transient());
        assert!(PushError::Connect("refused".into()).transient());
        assert!(status(500).transient() && status(503).transient() && status(429).transient());
        assert!(!status(401).transient() && !status(403).transient() && !status(404).transient());
        assert!(!PushError::Request("x".into()).transient());
        assert!(status(413).too_large() && !status(413).transient());
        let mut headers = HeaderMap::new();
        headers.insert(hyper::header::RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(hyper::header::RETRY_AFTER, HeaderValue::from_static("3600"));
        assert_eq!(retry_after(&headers), Some(super::super::MAX_BACKOFF));
        assert_eq!(
            error_message(br#"{"code":40101,"http":401,"error":"unauthorized"}"#),
            "unauthorized"
        );
        assert_eq!(error_message(b"<html>\nBad Gateway"), "<html>");
    }

    #[test]
    fn the_request_carries_the_headers_the_snapshot_and_the_token() {
        let config = NtfyConfig {
            enabled: true,
            url: "https://ntfy.example/nursery-x7".into(),
            token: "tk_secret".into(),
            ..NtfyConfig::default()
        };
        let alert = Arc::new(Alert {
            user: "ann".into(),
            id: 3,
            kind: Kind::TooHot,
            title: "Too hot".into(),
            body: "Zoë's room is too hot (25.0 °C).".into(),
            time: "2026-01-01T00:00:00Z".into(),
            sound: true,
            vibrate: true,
            notify: true,
        });
        let jpeg = Bytes::from_static(&[0xff, 0xd8, 0xff, 0xd9]);
        let push = Push {
            alert: Arc::clone(&alert),
            snapshot: Some(jpeg.clone()),
        };
        let r = request(&config, &push).expect("request");
        assert_eq!(r.method(), Method::PUT);
        assert_eq!(r.uri(), "https://ntfy.example/nursery-x7");
        let h = r.headers();
        assert_eq!(h["title"], "Too hot");
        assert_eq!(h["filename"], "snapshot.jpg");
        assert_eq!(h["priority"], "default");
        assert_eq!(h["tags"], "hot_face,too_hot");
        assert_eq!(h["content-type"], "image/jpeg");
        assert_eq!(decode(h["message"].to_str().expect("ascii")), alert.body);
        assert_eq!(h["authorization"], "Bearer tk_secret");
        assert!(h["authorization"].is_sensitive());
        assert!(!format!("{r:?}").contains("tk_secret"));

        let text = Push {
            alert: Arc::clone(&alert),
            snapshot: None,
        };
        let config = NtfyConfig {
            token: String::new(),
            ..config
        };
        let r = request(&config, &text).expect("request");
        assert_eq!(r.method(), Method::POST);
        assert!(r.headers().get("message").is_none() && r.headers().get("filename").is_none());
        assert!(r.headers().get("authorization").is_none());
        assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
    }
}

/// [`Ntfy::publish`] against a real local HTTP server that answers from a script.
#[cfg(test)]
mod publish_tests {
    use std::collections::VecDeque;

    use hyper::service::service_fn;
    use hyper::{Response, body::Incoming};
    use hyper_util::rt::TokioIo;

    use super::*;
    use crate::config::Config;

    /// What the server saw of one request: the method and whether it had an attachment.
    type Seen = Arc<Mutex<Vec<(Method, bool)>>>;

    /// Serves `answers` (status, Retry-After) in turn, then 200s; returns the topic URL.
    async fn server(answers: Vec<(u16, Option<&'static str>)>) -> (String, Seen) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/topic", listener.local_addr().expect("addr"));
        let seen: Seen = Arc::default();
        let answers = Arc::new(Mutex::new(VecDeque::from(answers)));
        let log = Arc::clone(&seen);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (log, answers) = (Arc::clone(&log), Arc::clone(&answers));
                let service = service_fn(move |r: hyper::Request<Incoming>| {
                    let (log, answers) = (Arc::clone(&log), Arc::clone(&answers));
                    async move {
                        let attached = r.headers().contains_key("filename");
                        log.lock()
                            .expect("log")
                            .push((r.method().clone(), attached));
                        let _ = r.into_body().collect().await;
                        let (status, retry_after) = answers
                            .lock()
                            .expect("answers")
                            .pop_front()
                            .unwrap_or((200, None));
                        let mut response = Response::new(Full::new(Bytes::from_static(
                            br#"{"code":0,"error":"scripted"}"#,
                        )));
                        *response.status_mut() = StatusCode::from_u16(status).expect("status");
                        if let Some(s) = retry_after {
                            response
                                .headers_mut()
                                .insert("retry-after", HeaderValue::from_static(s));
                        }
                        Ok::<_, std::convert::Infallible>(response)
                    }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        (url, seen)
    }

    fn ntfy() -> (Arc<Ntfy>, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let settings = Settings::new(None, Config::default(), dir.path(), None).expect("settings");
        (Ntfy::new(Arc::new(settings)), dir)
    }

    fn push(snapshot: bool) -> Push {
        Push {
            alert: Arc::new(Alert {
                user: "ann".into(),
                id: 1,
                kind: Kind::Cry,
                title: "Crying".into(),
                body: "The baby is crying in Nursery.".into(),
                time: "2026-01-01T00:00:00Z".into(),
                sound: true,
                vibrate: true,
                notify: true,
            }),
            snapshot: snapshot.then(|| Bytes::from_static(&[0xff, 0xd8, 0xff, 0xd9])),
        }
    }

    async fn publish(
        answers: Vec<(u16, Option<&'static str>)>,
        retries: u32,
        snapshot: bool,
    ) -> (Arc<Ntfy>, Vec<(Method, bool)>) {
        let (url, seen) = server(answers).await;
        let (ntfy, _dir) = ntfy();
        let config = NtfyConfig {
            enabled: true,
            url,
            retries,
            ..NtfyConfig::default()
        };
        let client = new_client().expect("client");
        ntfy.publish(&client, &config, push(snapshot)).await;
        let seen = seen.lock().expect("seen").clone();
        (ntfy, seen)
    }

    fn counts(ntfy: &Ntfy) -> (u64, u64) {
        (ntfy.sent.load(Relaxed), ntfy.failed.load(Relaxed))
    }

    #[tokio::test]
    async fn an_attachment_too_large_goes_again_as_text_at_once() {
        let (ntfy, seen) = publish(vec![(413, None)], 0, true).await;
        assert_eq!(seen, [(Method::PUT, true), (Method::POST, false)]);
        assert_eq!(counts(&ntfy), (1, 0));
        assert_eq!(ntfy.last_error(), None);
    }

    #[tokio::test]
    async fn a_refusal_is_not_retried_and_is_the_last_error() {
        let (ntfy, seen) = publish(vec![(401, None)], 3, false).await;
        assert_eq!(seen, [(Method::POST, false)]);
        assert_eq!(counts(&ntfy), (0, 1));
        let error = ntfy.last_error().expect("an error");
        assert!(
            error.contains("401") && error.contains("scripted"),
            "{error}"
        );
        assert_eq!(ntfy.status()["failed"], 1);
    }

    #[tokio::test]
    async fn too_many_requests_waits_as_long_as_the_server_says() {
        let start = Instant::now();
        let (ntfy, seen) = publish(vec![(429, Some("0")), (503, Some("0"))], 2, true).await;
        assert_eq!(seen.len(), 3, "{seen:?}");
        assert!(seen.iter().all(|s| *s == (Method::PUT, true)));
        assert_eq!(counts(&ntfy), (1, 0));
        // Retry-After: 0 instead of the back-off's 1 s and 2 s.
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "{:?}",
            start.elapsed()
        );
        // And the retries stop at `retries`.
        let (ntfy, seen) = publish(vec![(503, Some("0")); 3], 1, false).await;
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert_eq!(counts(&ntfy), (0, 1));
    }
}

/// The whole task, fed alerts by hand, against a server that never answers.
#[cfg(test)]
mod task_tests {
    use super::*;
    use crate::config::{Config, Role, User};

    fn user(name: &str, role: Role) -> User {
        User {
            name: name.into(),
            password: "pw-123456".into(),
            role,
        }
    }

    fn alert(id: u64, user: &str, notify: bool) -> Arc<Alert> {
        Arc::new(Alert {
            user: user.into(),
            id,
            kind: Kind::TooHot,
            title: "Too hot".into(),
            body: "Nursery is too hot.".into(),
            time: "2026-01-01T00:00:00Z".into(),
            sound: true,
            vibrate: true,
            notify,
        })
    }

    async fn until(what: &str, check: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !check() {
            assert!(Instant::now() < deadline, "{what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn a_server_that_never_answers_fills_the_queue_and_the_rest_is_dropped() {
        // Takes connections and never answers them.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/topic", listener.local_addr().expect("addr"));
        let held = Arc::new(Mutex::new(Vec::new()));
        let holding = Arc::clone(&held);
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                holding.lock().expect("held").push(stream);
            }
        });
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config {
            users: vec![user("viewer", Role::User), user("ann", Role::Admin)],
            ..Config::default()
        };
        config.ntfy = NtfyConfig {
            enabled: true,
            url,
            snapshot: false,
            retries: 0,
            max_per_hour: 100,
            ..NtfyConfig::default()
        };
        let settings = Settings::new(None, config, dir.path(), None).expect("settings");
        let ntfy = Ntfy::new(Arc::new(settings));
        let (tx, rx) = broadcast::channel(64);
        let (hub_tx, _hub_rx) = std::sync::mpsc::channel();
        let hub = Arc::new(Hub::new(hub_tx));
        let task = {
            let ntfy = Arc::clone(&ntfy);
            tokio::spawn(async move { ntfy.run(rx, hub, JpegEncoder::Software).await })
        };
        let held_count = || held.lock().expect("held").len();

        // The first admin's alert goes out and hangs.
        tx.send(alert(1, "ann", true)).expect("send");
        until("the first request", || held_count() == 1).await;
        // Others' alerts and the admin's with notify off take no place.
        for id in 2..20 {
            tx.send(alert(id, "viewer", true)).expect("send");
        }
        tx.send(alert(20, "ann", false)).expect("send");
        // The queue holds QUEUE more; the rest is dropped, at once.
        for id in 0..QUEUE as u64 + 3 {
            tx.send(alert(100 + id, "ann", true)).expect("send");
        }
        until("three dropped", || ntfy.dropped.load(Relaxed) == 3).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(ntfy.dropped.load(Relaxed), 3);
        assert_eq!((ntfy.sent.load(Relaxed), ntfy.failed.load(Relaxed)), (0, 0));
        assert_eq!(held_count(), 1, "one request at a time");
        task.abort();
        server.abort();
    }
}
