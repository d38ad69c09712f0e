//! The answering side of a WebRTC offer in webrtcbin, shared by the live view (WHEP) and
//! push-to-talk: set the offer, create and set the answer, wait for every ICE candidate (the
//! camera does not trickle), and return the answer's SDP text.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use gst::prelude::*;
use gst_webrtc::{WebRTCICEGatheringState, WebRTCSDPType, WebRTCSessionDescription};
use tracing::warn;

/// How long ICE gathering may take before the answer goes out with what was found.
const GATHERING: Duration = Duration::from_secs(3);

fn wait(promise: &gst::Promise) -> Result<Option<gst::Structure>, String> {
    match promise.wait() {
        gst::PromiseResult::Replied => Ok(promise.get_reply().map(|s| s.to_owned())),
        other => Err(format!("{other:?}")),
    }
}

/// The media section an answer must agree on, or the connection has nothing to carry: webrtcbin
/// answers "inactive" when the codec parameters do not match.
pub(super) struct Agreed {
    /// `video`, `audio`.
    pub media: &'static str,
    /// The camera's direction on it, `a=sendonly` or `a=recvonly`.
    pub direction: &'static str,
    /// What the refusal says when it is missing.
    pub refusal: &'static str,
}

/// Answers `offer` on `webrtc` and checks that the answer agrees on `agreed`; blocks for up to
/// a few seconds. The error says what failed. With a `listen` address other than "any", ICE
/// gathers only on it: a camera told to listen on one address must not hand out its others.
pub(super) fn answer(
    webrtc: &gst::Element,
    offer: gst_sdp::SDPMessage,
    listen: IpAddr,
    agreed: &Agreed,
) -> Result<String, String> {
    gather_only_on(webrtc, listen)?;
    set_remote(webrtc, offer)?;
    let answer = create_answer(webrtc)?;
    let promise = gst::Promise::new();
    webrtc.emit_by_name::<()>("set-local-description", &[&answer, &promise]);
    wait(&promise)?;
    let text = gathered_answer(webrtc)?;
    let section = text.split("m=").find(|m| m.starts_with(agreed.media));
    if section.is_none_or(|m| !m.contains(agreed.direction)) {
        return Err(agreed.refusal.into());
    }
    if !text.contains("a=candidate") {
        warn!("WebRTC answer without ICE candidates: the camera has no usable address");
    }
    Ok(text)
}

fn gather_only_on(webrtc: &gst::Element, listen: IpAddr) -> Result<(), String> {
    if listen.is_unspecified() {
        return Ok(());
    }
    let agent = webrtc.property::<gst::glib::Object>("ice-agent");
    if agent.emit_by_name::<bool>("add-local-ip-address", &[&listen.to_string()]) {
        Ok(())
    } else {
        Err(format!("ICE cannot use the address {listen}"))
    }
}

fn set_remote(webrtc: &gst::Element, offer: gst_sdp::SDPMessage) -> Result<(), String> {
    let remote = WebRTCSessionDescription::new(WebRTCSDPType::Offer, offer);
    let promise = gst::Promise::new();
    webrtc.emit_by_name::<()>("set-remote-description", &[&remote, &promise]);
    wait(&promise).map(drop)
}

fn create_answer(webrtc: &gst::Element) -> Result<WebRTCSessionDescription, String> {
    let promise = gst::Promise::new();
    webrtc.emit_by_name::<()>("create-answer", &[&None::<gst::Structure>, &promise]);
    let reply = wait(&promise)?.ok_or("no answer")?;
    if let Ok(error) = reply.get::<gst::glib::Error>("error") {
        return Err(error.to_string());
    }
    reply
        .get::<WebRTCSessionDescription>("answer")
        .map_err(|_| "no answer".into())
}

/// The local description once ICE gathering is complete, or when it has taken too long.
fn gathered_answer(webrtc: &gst::Element) -> Result<String, String> {
    let deadline = Instant::now() + GATHERING;
    while webrtc.property::<WebRTCICEGatheringState>("ice-gathering-state")
        != WebRTCICEGatheringState::Complete
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let local = webrtc
        .property::<Option<WebRTCSessionDescription>>("local-description")
        .ok_or("no local description")?;
    local.sdp().as_text().map_err(|e| e.to_string())
}
