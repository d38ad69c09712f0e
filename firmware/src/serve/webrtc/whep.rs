//! The WHEP viewers: at most `max_viewers` at a time, each ended by DELETE, by its browser going
//! away, or by never connecting.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tracing::info;

use super::offer::{self, OfferError};
use super::peer::{Health, Peer, PeerError};
use crate::media::Hub;

#[derive(Debug, thiserror::Error)]
pub enum WhepError {
    #[error(transparent)]
    Offer(#[from] OfferError),
    #[error("{0} live viewers already watch (the limit is [web] max_viewers); try again later")]
    Full(usize),
    #[error(transparent)]
    Peer(#[from] PeerError),
}

#[derive(Default)]
struct Viewers {
    peers: HashMap<String, Peer>,
    /// Offers being answered now: they hold a place too.
    negotiating: usize,
}

pub struct Whep {
    hub: Arc<Hub>,
    with_audio: bool,
    /// The address the camera listens on; ICE offers no other.
    listen: std::net::IpAddr,
    viewers: Mutex<Viewers>,
}

/// Frees a reserved place if the negotiation fails (or panics).
struct Reservation<'a>(Option<&'a Whep>);

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if let Some(whep) = self.0 {
            whep.lock().negotiating -= 1;
        }
    }
}

impl Whep {
    pub fn new(hub: Arc<Hub>, with_audio: bool, listen: std::net::IpAddr) -> Self {
        Self {
            hub,
            with_audio,
            listen,
            viewers: Mutex::new(Viewers::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Viewers> {
        self.viewers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn count(&self) -> usize {
        let v = self.lock();
        v.peers.len() + v.negotiating
    }

    /// Answers a browser's offer; returns the new viewer's id and the SDP answer. Blocks while
    /// webrtcbin negotiates (up to a few seconds): call it off the async threads.
    pub fn start(&self, body: &[u8], max_viewers: usize) -> Result<(String, String), WhepError> {
        let offer = offer::parse(body)?;
        {
            let mut v = self.lock();
            let n = v.peers.len() + v.negotiating;
            if n >= max_viewers {
                return Err(WhepError::Full(n));
            }
            v.negotiating += 1;
        }
        let mut reservation = Reservation(Some(self));
        let (peer, answer) = Peer::answer(offer, &self.hub, self.with_audio, self.listen)?;
        let id = uuid::Uuid::new_v4().simple().to_string();
        {
            // The place passes from the negotiation to the viewer in one step.
            let mut v = self.lock();
            v.peers.insert(id.clone(), peer);
            v.negotiating -= 1;
            reservation.0 = None;
        }
        info!(viewer = id, viewers = self.count(), "WebRTC viewer joined");
        Ok((id, answer))
    }

    /// Ends a viewer; false if there was none by that id.
    pub fn stop(&self, id: &str) -> bool {
        let peer = self.lock().peers.remove(id);
        let found = peer.is_some();
        if found {
            info!(viewer = id, "WebRTC viewer left");
        }
        // Dropped outside the lock: stopping a pipeline takes a moment.
        drop(peer);
        found
    }

    /// Ends every viewer (the daemon is stopping).
    pub fn stop_all(&self) {
        let peers: Vec<Peer> = self.lock().peers.drain().map(|(_, p)| p).collect();
        drop(peers);
    }

    /// Ends viewers that failed, closed, or did not connect within `connect_timeout`.
    pub fn sweep(&self, connect_timeout: Duration) {
        let gone: Vec<(String, Peer)> = {
            let mut v = self.lock();
            let ids: Vec<String> = v
                .peers
                .iter()
                .filter(|(_, p)| match p.health() {
                    Health::Gone => true,
                    Health::Connecting => p.created.elapsed() > connect_timeout,
                    Health::Connected => false,
                })
                .map(|(id, _)| id.clone())
                .collect();
            ids.into_iter()
                .filter_map(|id| v.peers.remove(&id).map(|p| (id, p)))
                .collect()
        };
        for (id, peer) in gone {
            info!(viewer = id, "WebRTC viewer gone");
            drop(peer);
        }
    }
}
