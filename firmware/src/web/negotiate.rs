//! The answering side of a WebRTC offer in webrtcbin, shared by the live view (WHEP) and
//! push-to-talk: set the offer, create and set the answer, wait for every ICE candidate (the
//! camera does not trickle), and return the answer's SDP text.

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
pub(super) fn answer(webrtc: &gst::Element, offer: gst_sdp::SDPMessage) -> Result<String, String> {
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
