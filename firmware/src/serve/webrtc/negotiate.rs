//! The answering side of a WebRTC offer in webrtcbin, shared by the live view (WHEP) and
//! push-to-talk: set the offer, create and set the answer, wait for every ICE candidate (the
//! camera does not trickle), and return the answer's SDP text.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use gst::prelude::*;
use gst_webrtc::{WebRTCICEGatheringState, WebRTCSDPType, WebRTCSessionDescription};

/// How long ICE gathering may take before the answer goes out with what was found.
const GATHERING: Duration = Duration::from_secs(3);

fn wait(promise: &gst::Promise) -> Result<Option<gst::Structure>, String> {
    match promise.wait() {
        gst::PromiseResult::Replied => Ok(promise.get_reply().map(|s| s.to_owned())),
        other => Err(format!("{other:?}")),
    }
}

/// Answers `offer` on `webrtc`; blocks for up to a few seconds. The error says what failed.
/// With a `listen` address other than "any", ICE gathers only on it: a camera told to listen on
/// one address must not hand out its others.
pub(super) fn answer(
    webrtc: &gst::Element,
    offer: gst_sdp::SDPMessage,
    listen: IpAddr,
) -> Result<String, String> {
    if !listen.is_unspecified() {
        let agent = webrtc.property::<gst::glib::Object>("ice-agent");
        let added = agent.emit_by_name::<bool>("add-local-ip-address", &[&listen.to_string()]);
        if !added {
            return Err(format!("ICE cannot use the address {listen}"));
        }
    }
    let remote = WebRTCSessionDescription::new(WebRTCSDPType::Offer, offer);
    let promise = gst::Promise::new();
    webrtc.emit_by_name::<()>("set-remote-description", &[&remote, &promise]);
    wait(&promise)?;
    let promise = gst::Promise::new();
    webrtc.emit_by_name::<()>("create-answer", &[&None::<gst::Structure>, &promise]);
    let reply = wait(&promise)?.ok_or("no answer")?;
    if let Ok(error) = reply.get::<gst::glib::Error>("error") {
        return Err(error.to_string());
    }
    let answer = reply
        .get::<WebRTCSessionDescription>("answer")
        .map_err(|_| "no answer")?;
    let promise = gst::Promise::new();
    webrtc.emit_by_name::<()>("set-local-description", &[&answer, &promise]);
    wait(&promise)?;
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
