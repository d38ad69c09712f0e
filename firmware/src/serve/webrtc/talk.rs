//! Push-to-talk from the web page: the browser's microphone as a WebRTC Opus track, decoded into
//! a talk input of the speaker's mixer (the same input, and the same one-talker-at-a-time floor,
//! as the ONVIF backchannel).
//!
//! A connection of its own (WHIP-like: the browser sends, the camera receives) rather than a
//! second direction of the WHEP viewer: the microphone is asked for only when a parent first
//! presses Talk, watching accounts are refused without touching their picture, and a talk
//! connection that fails never takes the live view with it. The page keeps the connection open
//! and enables its track only while the button is held; a disabled track sends silence, and
//! silence takes no floor, so nothing reaches the speaker then.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use gst::prelude::*;
use gst_webrtc::{WebRTCPeerConnectionState, WebRTCRTPTransceiverDirection};
use tracing::{debug, info, warn};

use super::offer::MAX_OFFER;
use crate::audio::{Output, talk_sink};

/// Talk connections open at once (one is heard at a time; the others wait for the floor).
pub const MAX_TALKERS: usize = 4;
/// A sending browser reports (RTCP) every second or so; this long without and it is gone.
const SILENCE: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TalkError {
    #[error("the offer is larger than {MAX_OFFER} bytes")]
    TooLarge,
    #[error("the offer is not SDP: {0}")]
    NotSdp(&'static str),
    #[error("the offer sends no Opus audio (a microphone track, sendonly or sendrecv)")]
    NoOpus,
    #[error("the offer cannot connect: {0}")]
    Unconnectable(&'static str),
    #[error("{0} pages already hold a talk connection; try again later")]
    Full(usize),
    #[error("cannot build the talk pipeline: {0}")]
    Pipeline(String),
    #[error("the offer was refused by webrtcbin: {0}")]
    Negotiation(String),
}

/// A browser's talk offer: the payload type of the Opus it sends.
pub struct TalkOffer {
    pub payload: u8,
    pub sdp: gst_sdp::SDPMessage,
}

pub fn parse(body: &[u8]) -> Result<TalkOffer, TalkError> {
    if body.len() > MAX_OFFER {
        return Err(TalkError::TooLarge);
    }
    let text = std::str::from_utf8(body).map_err(|_| TalkError::NotSdp("not UTF-8 text"))?;
    if !text.trim_start().starts_with("v=0") {
        return Err(TalkError::NotSdp("it does not start with v=0"));
    }
    let sdp = gst_sdp::SDPMessage::parse_buffer(text.as_bytes())
        .map_err(|_| TalkError::NotSdp("it does not parse"))?;
    let payload = sdp
        .medias()
        .filter(|m| m.media() == Some("audio"))
        .filter(|m| {
            !m.attributes()
                .any(|a| matches!(a.key(), "recvonly" | "inactive"))
        })
        .find_map(|m| {
            m.attributes().find_map(|a| {
                let (pt, codec) = a.value()?.split_once(' ')?;
                (a.key() == "rtpmap" && codec.to_ascii_uppercase().starts_with("OPUS/48000"))
                    .then(|| pt.parse::<u8>().ok())?
            })
        })
        .ok_or(TalkError::NoOpus)?;
    super::offer::check_connectable(&sdp).map_err(TalkError::Unconnectable)?;
    Ok(TalkOffer { payload, sdp })
}

fn now_into(heard: &Mutex<Instant>) {
    *heard.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now();
}

/// One page's talk connection: webrtcbin receiving Opus, decoded into a talk input.
struct TalkPeer {
    pipeline: gst::Pipeline,
    webrtc: gst::Element,
    created: Instant,
    heard: Arc<Mutex<Instant>>,
    bye: Arc<AtomicBool>,
}

impl TalkPeer {
    fn answer(
        offer: TalkOffer,
        output: &Arc<Output>,
        who: &str,
        listen: std::net::IpAddr,
    ) -> Result<(Self, String), TalkError> {
        let pipeline = gst::Pipeline::new();
        let webrtc = gst::ElementFactory::make("webrtcbin")
            .property_from_str("bundle-policy", "max-bundle")
            .property("latency", 0u32)
            .build()
            .map_err(|e| TalkError::Pipeline(e.to_string()))?;
        pipeline
            .add(&webrtc)
            .map_err(|e| TalkError::Pipeline(e.to_string()))?;
        let caps = gst::Caps::builder("application/x-rtp")
            .field("media", "audio")
            .field("encoding-name", "OPUS")
            .field("clock-rate", 48000i32)
            .field("payload", i32::from(offer.payload))
            .build();
        webrtc.emit_by_name::<gst_webrtc::WebRTCRTPTransceiver>(
            "add-transceiver",
            &[&WebRTCRTPTransceiverDirection::Recvonly, &caps],
        );
        // The microphone's RTP arrives on a new pad once the browser sends: decode it into a
        // talk input, which lives as long as its sink element (that is, this connection).
        let weak = pipeline.downgrade();
        let output = Arc::clone(output);
        let who = who.to_string();
        webrtc.connect_pad_added(move |_, pad| {
            if pad.direction() != gst::PadDirection::Src {
                return;
            }
            let Some(pipeline) = weak.upgrade() else {
                return;
            };
            if let Err(e) = decode_into_talk(&pipeline, pad, &output, &who) {
                warn!("talk-back from the web page cannot be played: {e:#}");
            }
        });
        let heard = Arc::new(Mutex::new(Instant::now()));
        let bye = Arc::new(AtomicBool::new(false));
        let heard_on_connect = Arc::clone(&heard);
        webrtc.connect_notify(Some("connection-state"), move |webrtc, _| {
            if webrtc.property::<WebRTCPeerConnectionState>("connection-state")
                == WebRTCPeerConnectionState::Connected
            {
                now_into(&heard_on_connect);
            }
        });
        if let Some(rtpbin) = webrtc
            .downcast_ref::<gst::Bin>()
            .and_then(|b| b.by_name("rtpbin"))
        {
            let heard_rtcp = Arc::clone(&heard);
            rtpbin.connect("on-ssrc-active", false, move |_| {
                now_into(&heard_rtcp);
                None
            });
            let bye_rtcp = Arc::clone(&bye);
            rtpbin.connect("on-bye-ssrc", false, move |_| {
                bye_rtcp.store(true, Ordering::Relaxed);
                None
            });
        }
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| TalkError::Pipeline(e.to_string()))?;
        let peer = Self {
            pipeline,
            webrtc,
            created: Instant::now(),
            heard,
            bye,
        };
        let answer = peer.negotiate(offer.sdp, listen)?;
        Ok((peer, answer))
    }

    fn negotiate(
        &self,
        sdp: gst_sdp::SDPMessage,
        listen: std::net::IpAddr,
    ) -> Result<String, TalkError> {
        let text =
            super::negotiate::answer(&self.webrtc, sdp, listen).map_err(TalkError::Negotiation)?;
        let audio = text.split("m=").find(|m| m.starts_with("audio"));
        if audio.is_none_or(|m| !m.contains("a=recvonly")) {
            return Err(TalkError::Negotiation("no Opus could be agreed on".into()));
        }
        Ok(text)
    }

    fn gone(&self, connect_timeout: Duration) -> bool {
        if let Some(bus) = self.pipeline.bus()
            && let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error, gst::MessageType::Eos])
        {
            debug!(?msg, "talk pipeline ended");
            return true;
        }
        match self
            .webrtc
            .property::<WebRTCPeerConnectionState>("connection-state")
        {
            WebRTCPeerConnectionState::Connected => {
                let heard = *self.heard.lock().unwrap_or_else(PoisonError::into_inner);
                self.bye.load(Ordering::Relaxed) || heard.elapsed() > SILENCE
            }
            WebRTCPeerConnectionState::Failed | WebRTCPeerConnectionState::Closed => true,
            _ => self.created.elapsed() > connect_timeout,
        }
    }
}

impl Drop for TalkPeer {
    fn drop(&mut self) {
        // The talk sink goes with the pipeline, and its talk input with it: the floor is free.
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

fn decode_into_talk(
    pipeline: &gst::Pipeline,
    pad: &gst::Pad,
    output: &Arc<Output>,
    who: &str,
) -> anyhow::Result<()> {
    let decode = gst::parse::bin_from_description(
        "queue max-size-time=200000000 leaky=downstream ! rtpopusdepay ! opusdec plc=true",
        true,
    )?;
    let sink = talk_sink(output, who)?;
    pipeline.add_many([decode.upcast_ref::<gst::Element>(), &sink])?;
    decode.link(&sink)?;
    decode.sync_state_with_parent()?;
    sink.sync_state_with_parent()?;
    let target = decode
        .static_pad("sink")
        .ok_or_else(|| anyhow::anyhow!("the decoder has no sink pad"))?;
    pad.link(&target)?;
    info!(who, "talk-back from the web page connected");
    Ok(())
}

#[derive(Default)]
struct Open {
    peers: HashMap<String, TalkPeer>,
    negotiating: usize,
}

/// The pages' talk connections, at most [`MAX_TALKERS`].
pub struct Talks {
    open: Mutex<Open>,
    /// The address the camera listens on; ICE offers no other.
    listen: std::net::IpAddr,
}

struct Reservation<'a>(Option<&'a Talks>);

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if let Some(t) = self.0 {
            t.lock().negotiating -= 1;
        }
    }
}

impl Talks {
    pub fn new(listen: std::net::IpAddr) -> Self {
        Self {
            open: Mutex::default(),
            listen,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn count(&self) -> usize {
        let o = self.lock();
        o.peers.len() + o.negotiating
    }

    /// Answers a page's talk offer for `who`; returns the connection's id and the SDP answer.
    /// Blocks while webrtcbin negotiates: call it off the async threads.
    pub fn start(
        &self,
        body: &[u8],
        output: &Arc<Output>,
        who: &str,
    ) -> Result<(String, String), TalkError> {
        let offer = parse(body)?;
        {
            let mut o = self.lock();
            let n = o.peers.len() + o.negotiating;
            if n >= MAX_TALKERS {
                return Err(TalkError::Full(n));
            }
            o.negotiating += 1;
        }
        let mut reservation = Reservation(Some(self));
        let (peer, answer) = TalkPeer::answer(offer, output, who, self.listen)?;
        let id = uuid::Uuid::new_v4().simple().to_string();
        {
            let mut o = self.lock();
            o.peers.insert(id.clone(), peer);
            o.negotiating -= 1;
            reservation.0 = None;
        }
        info!(talk = id, who, "talk connection opened");
        Ok((id, answer))
    }

    /// Ends a talk connection; false if there was none by that id.
    pub fn stop(&self, id: &str) -> bool {
        let peer = self.lock().peers.remove(id);
        let found = peer.is_some();
        if found {
            info!(talk = id, "talk connection closed");
        }
        drop(peer);
        found
    }

    pub fn stop_all(&self) {
        let peers: Vec<TalkPeer> = self.lock().peers.drain().map(|(_, p)| p).collect();
        drop(peers);
    }

    /// Ends connections that failed, went silent, or did not connect within `connect_timeout`.
    pub fn sweep(&self, connect_timeout: Duration) {
        let gone: Vec<TalkPeer> = {
            let mut o = self.lock();
            let ids: Vec<String> = o
                .peers
                .iter()
                .filter(|(_, p)| p.gone(connect_timeout))
                .map(|(id, _)| id.clone())
                .collect();
            ids.iter().filter_map(|id| o.peers.remove(id)).collect()
        };
        if !gone.is_empty() {
            info!(count = gone.len(), "talk connections gone");
        }
        drop(gone);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trimmed from a Chromium talk offer (one sendonly microphone track).
    const CHROMIUM: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
a=group:BUNDLE 0\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111 63 0\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\n\
a=ice-ufrag:Xa2f\r\na=ice-pwd:q7SJmS3Wvq9dvM0UxH5cY1Zb\r\n\
a=fingerprint:sha-256 6B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08\r\n\
a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n\
a=rtpmap:63 red/48000/2\r\na=rtpmap:0 PCMU/8000\r\n";

    #[test]
    fn finds_the_microphones_opus() {
        gst::init().expect("gstreamer");
        assert_eq!(parse(CHROMIUM.as_bytes()).expect("offer").payload, 111);
    }

    #[test]
    fn refusals_say_why() {
        gst::init().expect("gstreamer");
        assert!(matches!(parse(b"hello"), Err(TalkError::NotSdp(_))));
        let receive_only = CHROMIUM.replace("a=sendonly", "a=recvonly");
        assert!(matches!(
            parse(receive_only.as_bytes()),
            Err(TalkError::NoOpus)
        ));
        let pcmu_only = CHROMIUM.replace("opus/48000/2", "PCMA/8000");
        assert!(matches!(
            parse(pcmu_only.as_bytes()),
            Err(TalkError::NoOpus)
        ));
        let big = format!("{CHROMIUM}{}", "a=x-padding\r\n".repeat(4000));
        assert!(matches!(parse(big.as_bytes()), Err(TalkError::TooLarge)));
    }
}
