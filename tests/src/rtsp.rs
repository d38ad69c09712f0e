//! RTSP clients for the tests: retina (Rust) for frames and timestamps, and raw sockets.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt;
use retina::client::{
    PlayOptions, Session, SessionOptions, SetupOptions, TcpTransportOptions, Transport,
    UdpTransportOptions,
};
use retina::codec::CodecItem;

#[derive(Debug, Clone, Copy)]
pub enum Via {
    Tcp,
    Udp,
}

/// What a viewer received.
#[derive(Debug, Default)]
pub struct Received {
    /// (RTP timestamp in seconds since the first frame, key frame?) of every video frame.
    pub video: Vec<(f64, bool)>,
    pub audio_frames: usize,
    pub audio_clock_rate: u32,
    pub video_size: Option<(u32, u32)>,
    pub video_bytes: usize,
    /// RTCP sender reports received (on any stream).
    pub sender_reports: usize,
    /// When the first video frame arrived, measured from the start of DESCRIBE.
    pub first_frame_after: Option<Duration>,
}

/// DESCRIBE, SETUP every stream over `via`, PLAY: the demuxed session, and for each stream
/// 0 if it is video, 1 otherwise.
async fn play(url: &str, via: Via) -> anyhow::Result<(retina::client::Demuxed, Vec<usize>)> {
    let parsed = url::Url::parse(url)?;
    let creds = (!parsed.username().is_empty()).then(|| retina::client::Credentials {
        username: urlencoding_decode(parsed.username()),
        password: urlencoding_decode(parsed.password().unwrap_or_default()),
    });
    let mut clean = parsed.clone();
    let _ = clean.set_username("");
    let _ = clean.set_password(None);
    let mut session = Session::describe(
        clean,
        SessionOptions::default()
            .creds(creds)
            .user_agent("babymonitor-e2e".into()),
    )
    .await
    .context("DESCRIBE")?;
    let kinds: Vec<usize> = session
        .streams()
        .iter()
        .map(|s| usize::from(s.media() != "video"))
        .collect();
    for i in 0..kinds.len() {
        let transport = match via {
            Via::Tcp => Transport::Tcp(TcpTransportOptions::default()),
            Via::Udp => Transport::Udp(UdpTransportOptions::default()),
        };
        session
            .setup(i, SetupOptions::default().transport(transport))
            .await
            .context("SETUP")?;
    }
    let session = session
        .play(PlayOptions::default())
        .await
        .context("PLAY")?
        .demuxed()?;
    Ok((session, kinds))
}

/// DESCRIBE, SETUP every stream, PLAY, and collect for `duration` (or until `max_frames`).
pub async fn watch(
    url: &str,
    via: Via,
    duration: Duration,
    max_frames: usize,
) -> anyhow::Result<Received> {
    let started = Instant::now();
    let (mut session, _) = play(url, via).await?;
    let mut got = Received::default();
    let deadline = tokio::time::Instant::now() + duration;
    let mut first_ts: Option<i64> = None;
    loop {
        let item = match tokio::time::timeout_at(deadline, session.next()).await {
            Err(_) => break,
            Ok(None) => bail!("stream ended"),
            Ok(Some(item)) => item.context("receiving")?,
        };
        match item {
            CodecItem::VideoFrame(frame) => {
                if got.first_frame_after.is_none() {
                    got.first_frame_after = Some(started.elapsed());
                }
                let ts = frame.timestamp();
                let first = *first_ts.get_or_insert(ts.elapsed());
                let secs = (ts.elapsed() - first) as f64 / f64::from(ts.clock_rate().get());
                got.video.push((secs, frame.is_random_access_point()));
                got.video_bytes += frame.data().len();
                if got.video_size.is_none()
                    && let Some(retina::codec::ParametersRef::Video(p)) =
                        session.streams()[frame.stream_id()].parameters()
                {
                    got.video_size = Some(p.pixel_dimensions());
                }
                if got.video.len() >= max_frames {
                    break;
                }
            }
            CodecItem::AudioFrame(frame) => {
                got.audio_frames += 1;
                got.audio_clock_rate = frame.timestamp().clock_rate().get();
            }
            CodecItem::Rtcp(rtcp) => {
                got.sender_reports += rtcp
                    .pkts()
                    .filter(|p| matches!(p.as_sender_report(), Ok(Some(_))))
                    .count();
            }
            _ => {}
        }
    }
    Ok(got)
}

/// Where a session's first frames lie on the time lines the server announces.
#[derive(Debug, Default)]
pub struct Timing {
    /// Seconds from the PLAY response's RTP-Info `rtptime` to the first frame, per stream
    /// (video, audio).
    pub first_after_rtp_info: [Option<f64>; 2],
    /// The first frame's wall-clock time (seconds, NTP) by the stream's first RTCP sender
    /// report, which maps RTP time to NTP: what players use to put sound and picture together.
    pub first_by_sender_report: [Option<f64>; 2],
}

/// Plays `url` over TCP for `duration` and reads the first frames' timestamps against RTP-Info
/// and the first sender report of each stream (index 0 video, 1 audio).
pub async fn first_timestamps(url: &str, duration: Duration) -> anyhow::Result<Timing> {
    // Retina requires RTP-Info's rtptime for every stream when there are several.
    let (mut session, kinds) = play(url, Via::Tcp).await?;
    // (elapsed since rtptime, extended RTP timestamp, clock rate) of each stream's first frame.
    let mut first: [Option<(f64, i64, f64)>; 2] = [None, None];
    let mut timing = Timing::default();
    let deadline = tokio::time::Instant::now() + duration;
    loop {
        let item = match tokio::time::timeout_at(deadline, session.next()).await {
            Err(_) => break,
            Ok(None) => bail!("stream ended"),
            Ok(Some(item)) => item.context("receiving")?,
        };
        let (stream, ts) = match &item {
            CodecItem::VideoFrame(f) => (f.stream_id(), f.timestamp()),
            CodecItem::AudioFrame(f) => (f.stream_id(), f.timestamp()),
            CodecItem::Rtcp(rtcp) => {
                let kind = kinds[rtcp.stream_id()];
                let (Some(ts), Some((_, first_ts, rate))) = (rtcp.rtp_timestamp(), first[kind])
                else {
                    continue;
                };
                if timing.first_by_sender_report[kind].is_some() {
                    continue;
                }
                let Some(Ok(Some(sr))) = rtcp.pkts().next().map(|p| p.as_sender_report()) else {
                    continue;
                };
                let ntp = sr.ntp_timestamp().0 as f64 / 4_294_967_296.0;
                timing.first_by_sender_report[kind] =
                    Some(ntp - (ts.timestamp() - first_ts) as f64 / rate);
                continue;
            }
            _ => continue,
        };
        let kind = kinds[stream];
        if first[kind].is_none() {
            first[kind] = Some((
                ts.elapsed_secs(),
                ts.timestamp(),
                f64::from(ts.clock_rate().get()),
            ));
            timing.first_after_rtp_info[kind] = Some(ts.elapsed_secs());
        }
        if timing.first_by_sender_report.iter().all(Option::is_some) {
            break;
        }
    }
    Ok(timing)
}

fn urlencoding_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Sends raw bytes on a fresh connection and returns what came back before the server closed
/// or `wait` passed.
pub async fn raw_exchange(port: u16, request: &[u8], wait: Duration) -> anyhow::Result<Vec<u8>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    stream.write_all(request).await?;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) | Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
        if out.windows(4).any(|w| w == b"\r\n\r\n") && !out.starts_with(b"$") {
            // A complete response head; bodies here are small and follow at once.
            tokio::time::sleep(Duration::from_millis(50)).await;
            if let Ok(Ok(n)) =
                tokio::time::timeout(Duration::from_millis(50), stream.read(&mut buf)).await
            {
                out.extend_from_slice(&buf[..n]);
            }
            break;
        }
    }
    Ok(out)
}

/// The status code of the first RTSP response in `bytes`.
pub fn status_of(bytes: &[u8]) -> Option<u16> {
    let text = String::from_utf8_lossy(bytes);
    let line = text.lines().next()?;
    let mut parts = line.split_whitespace();
    (parts.next()? == "RTSP/1.0").then_some(())?;
    parts.next()?.parse().ok()
}

/// An RTSP connection that writes requests by hand (for requests real clients never send),
/// answering Digest challenges like a client would.
pub struct RawRtsp {
    stream: tokio::net::TcpStream,
    cseq: u32,
    creds: (String, String),
    authorization: Option<(String, String)>, // (realm, nonce)
    pending: Vec<u8>,
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl RawRtsp {
    pub async fn connect(port: u16, creds: (&str, &str)) -> anyhow::Result<Self> {
        Ok(Self {
            stream: tokio::net::TcpStream::connect(("127.0.0.1", port)).await?,
            cseq: 0,
            creds: (creds.0.to_string(), creds.1.to_string()),
            authorization: None,
            pending: Vec::new(),
        })
    }

    fn auth_header(&self, method: &str, uri: &str) -> Option<String> {
        use md5::{Digest, Md5};
        let (realm, nonce) = self.authorization.as_ref()?;
        let h = |s: String| hex::encode(Md5::digest(s.as_bytes()));
        let ha1 = h(format!("{}:{realm}:{}", self.creds.0, self.creds.1));
        let ha2 = h(format!("{method}:{uri}"));
        let response = h(format!("{ha1}:{nonce}:{ha2}"));
        Some(format!(
            "Digest username=\"{}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{response}\"",
            self.creds.0
        ))
    }

    /// Sends a request (with CSeq and credentials added) and reads the response.
    pub async fn request(
        &mut self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<Response> {
        for _ in 0..2 {
            self.cseq += 1;
            let mut req = format!(
                "{method} {uri} RTSP/1.0\r\nCSeq: {}\r\nUser-Agent: babymonitor-e2e-raw\r\n",
                self.cseq
            );
            for (k, v) in headers {
                req.push_str(&format!("{k}: {v}\r\n"));
            }
            if let Some(a) = self.auth_header(method, uri) {
                req.push_str(&format!("Authorization: {a}\r\n"));
            }
            req.push_str("\r\n");
            let response = self.send_raw(req.as_bytes()).await?;
            if response.status == 401 && self.authorization.is_none() {
                let challenge = response
                    .header("WWW-Authenticate")
                    .context("401 without challenge")?;
                let field = |name: &str| {
                    let start = challenge.find(&format!("{name}=\""))? + name.len() + 2;
                    let end = challenge[start..].find('"')? + start;
                    Some(challenge[start..end].to_string())
                };
                self.authorization = Some((
                    field("realm").context("realm")?,
                    field("nonce").context("nonce")?,
                ));
                continue;
            }
            return Ok(response);
        }
        bail!("still unauthorized")
    }

    /// Writes bytes as they are, expecting no answer (interleaved RTP, say).
    pub async fn write_raw(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        use tokio::io::AsyncWriteExt;
        self.stream.write_all(bytes).await?;
        Ok(())
    }

    /// Writes bytes as they are and reads one response.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> anyhow::Result<Response> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        self.stream.write_all(bytes).await?;
        let mut buf = [0u8; 8192];
        loop {
            // Skip interleaved RTP ($ channel len data) that may precede the response.
            while self.pending.first() == Some(&b'$') && self.pending.len() >= 4 {
                let len = usize::from(u16::from_be_bytes([self.pending[2], self.pending[3]]));
                if self.pending.len() < 4 + len {
                    break;
                }
                self.pending.drain(..4 + len);
            }
            if let Some(end) = self.pending.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.pending[..end]).into_owned();
                let mut lines = head.lines();
                let status = lines
                    .next()
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|s| s.parse().ok())
                    .context("no status line")?;
                let headers: Vec<(String, String)> = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                    .collect();
                let len: usize = headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0);
                while self.pending.len() < end + 4 + len {
                    let n =
                        tokio::time::timeout(Duration::from_secs(10), self.stream.read(&mut buf))
                            .await??;
                    if n == 0 {
                        bail!("closed in the middle of a body");
                    }
                    self.pending.extend_from_slice(&buf[..n]);
                }
                let body =
                    String::from_utf8_lossy(&self.pending[end + 4..end + 4 + len]).into_owned();
                self.pending.drain(..end + 4 + len);
                return Ok(Response {
                    status,
                    headers,
                    body,
                });
            }
            let n =
                tokio::time::timeout(Duration::from_secs(10), self.stream.read(&mut buf)).await??;
            if n == 0 {
                bail!("connection closed");
            }
            self.pending.extend_from_slice(&buf[..n]);
        }
    }
}
