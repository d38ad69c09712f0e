//! One browser's WebRTC connection, a viewer's or a talker's: its pipeline around a
//! `webrtcbin`, and whether the browser is still there.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use gst::prelude::*;
use gst_webrtc::WebRTCPeerConnectionState;
use tracing::{debug, warn};

use super::negotiate::{self, Agreed};
use crate::media::Hub;

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

impl PeerError {
    pub(super) fn pipeline(e: impl std::fmt::Display) -> Self {
        Self::Pipeline(e.to_string())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Connecting,
    Connected,
    /// Failed, closed, silent, or its pipeline ended: the browser is gone.
    Gone,
}

pub struct Peer {
    pipeline: gst::Pipeline,
    webrtc: gst::Element,
    /// The hub feed a viewer's pipeline is fed from.
    feed: Option<(Arc<Hub>, u64)>,
    pub created: Instant,
    /// When the browser last sent RTCP (or connected).
    heard: Arc<Mutex<Instant>>,
    /// The browser said goodbye (RTCP BYE).
    bye: Arc<AtomicBool>,
}

fn now_into(heard: &Mutex<Instant>) {
    *heard.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now();
}

impl Peer {
    /// Watches `webrtc` in `pipeline` for its browser; `on_connect` runs each time it connects.
    pub(super) fn new(
        pipeline: gst::Pipeline,
        webrtc: gst::Element,
        on_connect: impl Fn() + Send + Sync + 'static,
    ) -> Self {
        let peer = Self {
            pipeline,
            webrtc,
            feed: None,
            created: Instant::now(),
            heard: Arc::new(Mutex::new(Instant::now())),
            bye: Arc::new(AtomicBool::new(false)),
        };
        peer.hear_connecting(on_connect);
        peer.hear_rtcp();
        peer
    }

    fn hear_connecting(&self, on_connect: impl Fn() + Send + Sync + 'static) {
        let heard = Arc::clone(&self.heard);
        self.webrtc
            .connect_notify(Some("connection-state"), move |webrtc, _| {
                if webrtc.property::<WebRTCPeerConnectionState>("connection-state")
                    == WebRTCPeerConnectionState::Connected
                {
                    now_into(&heard);
                    on_connect();
                }
            });
    }

    /// webrtcbin's own rtpbin tells when the browser's RTCP arrives and when it says BYE.
    fn hear_rtcp(&self) {
        let Some(rtpbin) = self
            .webrtc
            .downcast_ref::<gst::Bin>()
            .and_then(|b| b.by_name("rtpbin"))
        else {
            warn!("webrtcbin without its rtpbin: a vanished browser is not noticed");
            return;
        };
        let heard = Arc::clone(&self.heard);
        rtpbin.connect("on-ssrc-active", false, move |_| {
            now_into(&heard);
            None
        });
        let bye = Arc::clone(&self.bye);
        rtpbin.connect("on-bye-ssrc", false, move |_| {
            bye.store(true, Ordering::Relaxed);
            None
        });
    }

    /// Starts the pipeline and answers `offer`, which must agree on `agreed`. Blocks for up to
    /// a few seconds; the answer carries the camera's ICE candidates (no trickle).
    pub(super) fn answer(
        &self,
        offer: gst_sdp::SDPMessage,
        listen: std::net::IpAddr,
        agreed: &Agreed,
    ) -> Result<String, PeerError> {
        self.pipeline
            .set_state(gst::State::Playing)
            .map_err(PeerError::pipeline)?;
        negotiate::answer(&self.webrtc, offer, listen, agreed).map_err(PeerError::Negotiation)
    }

    /// Ties `feed` of `hub` to this connection: it is removed when the connection ends.
    pub(super) fn attach_feed(&mut self, hub: &Arc<Hub>, feed: u64) {
        self.feed = Some((Arc::clone(hub), feed));
    }

    pub fn health(&self) -> Health {
        if let Some(bus) = self.pipeline.bus()
            && let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error, gst::MessageType::Eos])
        {
            debug!(?msg, "WebRTC pipeline ended");
            return Health::Gone;
        }
        match self
            .webrtc
            .property::<WebRTCPeerConnectionState>("connection-state")
        {
            WebRTCPeerConnectionState::Connected => self.heard_lately(),
            WebRTCPeerConnectionState::Failed | WebRTCPeerConnectionState::Closed => Health::Gone,
            _ => Health::Connecting,
        }
    }

    fn heard_lately(&self) -> Health {
        let heard = *self.heard.lock().unwrap_or_else(PoisonError::into_inner);
        if self.bye.load(Ordering::Relaxed) {
            debug!("WebRTC browser said goodbye");
            Health::Gone
        } else if heard.elapsed() > SILENCE {
            debug!("WebRTC browser silent for {:?}", heard.elapsed());
            Health::Gone
        } else {
            Health::Connected
        }
    }

    /// Gone, or still not connected after `connect_timeout`.
    pub fn ended(&self, connect_timeout: Duration) -> bool {
        match self.health() {
            Health::Gone => true,
            Health::Connecting => self.created.elapsed() > connect_timeout,
            Health::Connected => false,
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Some((hub, feed)) = self.feed.take() {
            hub.remove_feed(feed);
        }
        // A talker's sink goes with the pipeline, and its talk input with it: the floor is free.
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}
