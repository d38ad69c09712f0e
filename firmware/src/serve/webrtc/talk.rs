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

use std::sync::Arc;

use gst::prelude::*;
use gst_webrtc::WebRTCRTPTransceiverDirection;
use tracing::{info, warn};

use super::negotiate::Agreed;
use super::offer::TalkOffer;
use super::peer::{Peer, PeerError};
use crate::audio::{Output, talk_sink};

/// Talk connections open at once (one is heard at a time; the others wait for the floor).
pub const MAX_TALKERS: usize = 4;

const AGREED: Agreed = Agreed {
    media: "audio",
    direction: "a=recvonly",
    refusal: "no Opus could be agreed on",
};

/// Builds a talk connection for `who`: webrtcbin receiving the offer's Opus, decoded into a talk
/// input of `output`. Returns it with the SDP answer; blocks for up to a few seconds.
pub(super) fn answer(
    offer: TalkOffer,
    output: &Arc<Output>,
    who: &str,
    listen: std::net::IpAddr,
) -> Result<(Peer, String), PeerError> {
    let (pipeline, webrtc) = receiving_pipeline(offer.payload)?;
    decode_when_sent(&pipeline, &webrtc, output, who);
    let peer = Peer::new(pipeline, webrtc, || {});
    let answer = peer.answer(offer.sdp, listen, &AGREED)?;
    Ok((peer, answer))
}

/// A pipeline of only a webrtcbin, ready to receive Opus in `payload`.
fn receiving_pipeline(payload: u8) -> Result<(gst::Pipeline, gst::Element), PeerError> {
    let pipeline = gst::Pipeline::new();
    let webrtc = gst::ElementFactory::make("webrtcbin")
        .property_from_str("bundle-policy", "max-bundle")
        .property("latency", 0u32)
        .build()
        .map_err(PeerError::pipeline)?;
    pipeline.add(&webrtc).map_err(PeerError::pipeline)?;
    let caps = gst::Caps::builder("application/x-rtp")
        .field("media", "audio")
        .field("encoding-name", "OPUS")
        .field("clock-rate", 48000i32)
        .field("payload", i32::from(payload))
        .build();
    webrtc.emit_by_name::<gst_webrtc::WebRTCRTPTransceiver>(
        "add-transceiver",
        &[&WebRTCRTPTransceiverDirection::Recvonly, &caps],
    );
    Ok((pipeline, webrtc))
}

/// The microphone's RTP arrives on a new pad once the browser sends: decode it into a talk
/// input, which lives as long as its sink element (that is, this connection).
fn decode_when_sent(
    pipeline: &gst::Pipeline,
    webrtc: &gst::Element,
    output: &Arc<Output>,
    who: &str,
) {
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
