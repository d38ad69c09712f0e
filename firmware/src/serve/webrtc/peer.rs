//! One browser viewer over WebRTC: a `webrtcbin` fed with the hub's H.264 access units as they
//! are (no second encode) and the hub's AAC decoded and encoded again as Opus, the only sound
//! codec every browser takes over WebRTC.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gst::prelude::*;
use gst_webrtc::{WebRTCPeerConnectionState, WebRTCRTPTransceiverDirection};
use tracing::{debug, warn};

use super::offer::Offer;
use crate::media::{Feed, Hub, Track};

/// A browser sends RTCP reports every second or so; this long without any and it is gone
/// (webrtcbin 1.22 has no ICE consent checks, so a vanished browser never "fails").
const SILENCE: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("cannot build the WebRTC pipeline: {0}")]
    Pipeline(String),
    #[error("the offer was refused by webrtcbin: {0}")]
    Negotiation(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Connecting,
    Connected,
    /// Failed, closed, or its feed was stopped: the viewer is gone.
    Gone,
}

pub struct Peer {
    pipeline: gst::Pipeline,
    webrtc: gst::Element,
    hub: Arc<Hub>,
    feed: u64,
    pub created: Instant,
    /// When the browser last sent RTCP (or connected).
    heard: Arc<std::sync::Mutex<Instant>>,
    /// The browser said goodbye (RTCP BYE).
    bye: Arc<std::sync::atomic::AtomicBool>,
}

fn now_into(heard: &std::sync::Mutex<Instant>) {
    *heard
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Instant::now();
}

/// The first AAC decoder installed: libav's on a PC, fdk-aac's on the SD-card image.
fn aac_decoder() -> Option<&'static str> {
    ["avdec_aac", "fdkaacdec"]
        .into_iter()
        .find(|name| gst::ElementFactory::find(name).is_some())
}

/// `aac`: the AAC decoder for the browser's Opus sound, if there is sound.
fn pipeline_description(offer: &Offer, aac: Option<&str>) -> String {
    let caps = crate::media::H264_CAPS;
    let v = &offer.video;
    let mut desc = format!(
        "webrtcbin name=webrtc bundle-policy=max-bundle latency=0 \
         appsrc name=video is-live=true format=time do-timestamp=false min-latency=0 max-bytes=0 caps=\"{caps}\" \
         ! rtph264pay aggregate-mode=zero-latency config-interval=-1 mtu=1200 \
         ! application/x-rtp,media=video,encoding-name=H264,clock-rate=90000,payload={pt},packetization-mode=(string)1,profile-level-id=(string){plid} \
         ! webrtc. ",
        pt = v.payload,
        plid = v.profile_level_id,
    );
    if let (Some(aac), Some(pt)) = (aac, offer.audio) {
        desc.push_str(&format!(
            "appsrc name=audio is-live=true format=time do-timestamp=false min-latency=0 max-bytes=0 \
             ! {aac} ! audioconvert ! audioresample ! audio/x-raw,rate=48000 \
             ! opusenc bitrate=32000 frame-size=20 ! rtpopuspay pt={pt} \
             ! application/x-rtp,media=audio,encoding-name=OPUS,clock-rate=48000,payload={pt} ! webrtc."
        ));
    }
    desc
}

impl Peer {
    /// Builds the viewer's pipeline, answers `offer` and returns the answer with the camera's
    /// ICE candidates in it (WHEP without trickle). Blocks for up to a few seconds.
    pub fn answer(
        offer: Offer,
        hub: &Arc<Hub>,
        with_audio: bool,
        listen: std::net::IpAddr,
    ) -> Result<(Self, String), PeerError> {
        let aac = aac_decoder().filter(|_| {
            with_audio && offer.audio.is_some() && gst::ElementFactory::find("opusenc").is_some()
        });
        let audio = aac.is_some();
        let desc = pipeline_description(&offer, aac);
        let pipeline = gst::parse::launch(&desc)
            .map_err(|e| PeerError::Pipeline(e.to_string()))?
            .downcast::<gst::Pipeline>()
            .map_err(|_| PeerError::Pipeline("not a pipeline".into()))?;
        // The hub's timestamps are system-clock times: the feed maps them onto this clock.
        pipeline.use_clock(Some(&gst::SystemClock::obtain()));
        let by_name = |n: &str| {
            pipeline
                .by_name(n)
                .ok_or_else(|| PeerError::Pipeline(format!("no element {n}")))
        };
        let webrtc = by_name("webrtc")?;
        let appsrc = |n: &str| {
            by_name(n).and_then(|e| {
                e.downcast::<gst_app::AppSrc>()
                    .map_err(|_| PeerError::Pipeline(format!("{n} is no appsrc")))
            })
        };
        let video = appsrc("video")?;
        let audio_src = if audio { Some(appsrc("audio")?) } else { None };
        // A browser that lost a picture asks for a key frame (PLI); the encoder makes it.
        if let Some(pad) = video.static_pad("src") {
            let hub_for_pli = Arc::downgrade(hub);
            pad.add_probe(gst::PadProbeType::EVENT_UPSTREAM, move |_, info| {
                if let Some(ev) = info.event()
                    && gst_video::UpstreamForceKeyUnitEvent::parse(ev).is_ok()
                    && let Some(hub) = hub_for_pli.upgrade()
                {
                    hub.request_keyframe(Track::Main);
                }
                gst::PadProbeReturn::Ok
            });
        }
        for pad in webrtc.sink_pads() {
            if let Some(t) = pad.property::<Option<gst_webrtc::WebRTCRTPTransceiver>>("transceiver")
            {
                t.set_property("direction", WebRTCRTPTransceiverDirection::Sendonly);
            }
        }
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| PeerError::Pipeline(e.to_string()))?;
        let heard = Arc::new(std::sync::Mutex::new(Instant::now()));
        let bye = Arc::new(std::sync::atomic::AtomicBool::new(false));
        // What went out before DTLS was up is lost: start the picture afresh once connected.
        let hub_on_connect = Arc::downgrade(hub);
        let heard_on_connect = Arc::clone(&heard);
        webrtc.connect_notify(Some("connection-state"), move |webrtc, _| {
            if webrtc.property::<WebRTCPeerConnectionState>("connection-state")
                == WebRTCPeerConnectionState::Connected
            {
                now_into(&heard_on_connect);
                if let Some(hub) = hub_on_connect.upgrade() {
                    hub.request_keyframe(Track::Main);
                }
            }
        });
        // webrtcbin's own rtpbin tells when the browser's RTCP arrives and when it says BYE.
        match webrtc
            .downcast_ref::<gst::Bin>()
            .and_then(|b| b.by_name("rtpbin"))
        {
            Some(rtpbin) => {
                let heard_rtcp = Arc::clone(&heard);
                rtpbin.connect("on-ssrc-active", false, move |_| {
                    now_into(&heard_rtcp);
                    None
                });
                let bye_rtcp = Arc::clone(&bye);
                rtpbin.connect("on-bye-ssrc", false, move |_| {
                    bye_rtcp.store(true, std::sync::atomic::Ordering::Relaxed);
                    None
                });
            }
            None => warn!("webrtcbin without its rtpbin: a vanished browser is not noticed"),
        }
        let mut peer = Self {
            pipeline,
            webrtc,
            hub: Arc::clone(hub),
            feed: 0,
            created: Instant::now(),
            heard,
            bye,
        };
        let answer = peer.negotiate(offer, listen)?;
        let feed = Arc::new(Feed::new(Track::Main, video, audio_src, hub.demand()));
        peer.feed = feed.id();
        hub.add_feed(feed);
        Ok((peer, answer))
    }

    fn negotiate(&self, offer: Offer, listen: std::net::IpAddr) -> Result<String, PeerError> {
        let text = super::negotiate::answer(&self.webrtc, offer.sdp, listen)
            .map_err(PeerError::Negotiation)?;
        let video_section = text.split("m=").find(|m| m.starts_with("video"));
        if video_section.is_none_or(|m| !m.contains("a=sendonly")) {
            // webrtcbin answers "inactive" when the codec parameters do not match.
            return Err(PeerError::Negotiation("no video could be agreed on".into()));
        }
        if !text.contains("a=candidate") {
            warn!("WebRTC answer without ICE candidates: the camera has no usable address");
        }
        Ok(text)
    }

    pub fn health(&self) -> Health {
        if let Some(bus) = self.pipeline.bus()
            && let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error, gst::MessageType::Eos])
        {
            debug!(?msg, "WebRTC viewer pipeline ended");
            return Health::Gone;
        }
        match self
            .webrtc
            .property::<WebRTCPeerConnectionState>("connection-state")
        {
            WebRTCPeerConnectionState::Connected => {
                let heard = *self
                    .heard
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if self.bye.load(std::sync::atomic::Ordering::Relaxed) {
                    debug!("WebRTC viewer said goodbye");
                    Health::Gone
                } else if heard.elapsed() > SILENCE {
                    debug!("WebRTC viewer silent for {:?}", heard.elapsed());
                    Health::Gone
                } else {
                    Health::Connected
                }
            }
            WebRTCPeerConnectionState::Failed | WebRTCPeerConnectionState::Closed => Health::Gone,
            _ => Health::Connecting,
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.hub.remove_feed(self.feed);
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}
