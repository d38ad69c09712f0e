//! The live view (WHEP): a `webrtcbin` fed with the hub's H.264 access units as they are (no
//! second encode) and the hub's AAC decoded and encoded again as Opus, the only sound codec
//! every browser takes over WebRTC.

use std::sync::Arc;

use gst::prelude::*;
use gst_webrtc::WebRTCRTPTransceiverDirection;

use super::negotiate::Agreed;
use super::offer::Offer;
use super::peer::{Peer, PeerError};
use crate::media::{Feed, Hub, Track};

const AGREED: Agreed = Agreed {
    media: "video",
    direction: "a=sendonly",
    refusal: "no video could be agreed on",
};

/// Builds the viewer's pipeline, answers `offer` and returns the answer with the camera's ICE
/// candidates in it (WHEP without trickle). Blocks for up to a few seconds.
pub(super) fn answer(
    offer: Offer,
    hub: &Arc<Hub>,
    with_audio: bool,
    listen: std::net::IpAddr,
) -> Result<(Peer, String), PeerError> {
    let aac = aac_decoder().filter(|_| {
        with_audio && offer.audio.is_some() && gst::ElementFactory::find("opusenc").is_some()
    });
    let pipeline = launch(&pipeline_description(&offer, aac))?;
    let webrtc = element(&pipeline, "webrtc")?;
    let video = appsrc(&pipeline, "video")?;
    let audio = aac.map(|_| appsrc(&pipeline, "audio")).transpose()?;
    forward_key_unit_requests(&video, hub);
    send_only(&webrtc);
    // What went out before DTLS was up is lost: start the picture afresh once connected.
    let on_connect = Arc::downgrade(hub);
    let mut peer = Peer::new(pipeline, webrtc, move || {
        if let Some(hub) = on_connect.upgrade() {
            hub.request_keyframe(Track::Main);
        }
    });
    let answer = peer.answer(offer.sdp, listen, &AGREED)?;
    let feed = Arc::new(Feed::new(Track::Main, video, audio, hub.demand()));
    peer.attach_feed(hub, feed.id());
    hub.add_feed(feed);
    Ok((peer, answer))
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

fn launch(description: &str) -> Result<gst::Pipeline, PeerError> {
    let pipeline = gst::parse::launch(description)
        .map_err(PeerError::pipeline)?
        .downcast::<gst::Pipeline>()
        .map_err(|_| PeerError::pipeline("not a pipeline"))?;
    // The hub's timestamps are system-clock times: the feed maps them onto this clock.
    pipeline.use_clock(Some(&gst::SystemClock::obtain()));
    Ok(pipeline)
}

fn element(pipeline: &gst::Pipeline, name: &str) -> Result<gst::Element, PeerError> {
    pipeline
        .by_name(name)
        .ok_or_else(|| PeerError::pipeline(format!("no element {name}")))
}

fn appsrc(pipeline: &gst::Pipeline, name: &str) -> Result<gst_app::AppSrc, PeerError> {
    element(pipeline, name)?
        .downcast::<gst_app::AppSrc>()
        .map_err(|_| PeerError::pipeline(format!("{name} is no appsrc")))
}

/// A browser that lost a picture asks for a key frame (PLI); the encoder makes it.
fn forward_key_unit_requests(video: &gst_app::AppSrc, hub: &Arc<Hub>) {
    let Some(pad) = video.static_pad("src") else {
        return;
    };
    let hub = Arc::downgrade(hub);
    pad.add_probe(gst::PadProbeType::EVENT_UPSTREAM, move |_, info| {
        if let Some(ev) = info.event()
            && gst_video::UpstreamForceKeyUnitEvent::parse(ev).is_ok()
            && let Some(hub) = hub.upgrade()
        {
            hub.request_keyframe(Track::Main);
        }
        gst::PadProbeReturn::Ok
    });
}

/// The camera only sends on the live view, on every transceiver of the pipeline's sources.
fn send_only(webrtc: &gst::Element) {
    for pad in webrtc.sink_pads() {
        if let Some(t) = pad.property::<Option<gst_webrtc::WebRTCRTPTransceiver>>("transceiver") {
            t.set_property("direction", WebRTCRTPTransceiverDirection::Sendonly);
        }
    }
}
