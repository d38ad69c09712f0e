//! The parent's web page: login sessions, live view over WebRTC (WHEP) and push-to-talk.

mod connections;
mod negotiate;
pub mod offer;
pub mod peer;
pub mod session;
pub mod talk;
mod whep;

pub use connections::{Connections, Kind, StartError};
pub use session::Sessions;

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use crate::history::History;
use crate::media::Hub;

/// Everything the web page's routes share.
pub struct Web {
    /// The pages' live views and push-to-talk connections.
    pub connections: Connections,
    /// Pages watching the fallback live view (JPEG over a WebSocket) now.
    pub fallback_viewers: AtomicUsize,
    /// The climate chart's samples; the sensor task records into the same one.
    pub history: Arc<History>,
}

impl Web {
    /// `listen`: the address the camera listens on, the only one WebRTC hands out.
    pub fn new(
        hub: Arc<Hub>,
        with_audio: bool,
        history: Arc<History>,
        listen: std::net::IpAddr,
    ) -> Self {
        Self {
            connections: Connections::new(hub, with_audio, listen),
            fallback_viewers: AtomicUsize::new(0),
            history,
        }
    }
}
