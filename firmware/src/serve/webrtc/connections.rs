//! The pages' WebRTC connections, live views and talk-back alike, in one registry: each kind
//! has its own limit, an offer being answered holds a place, and a connection ends by DELETE,
//! by its browser going away, by never connecting, or with the daemon.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tracing::info;

use super::offer::{self, OfferError};
use super::peer::{Peer, PeerError};
use super::talk::MAX_TALKERS;
use crate::audio::Output;
use crate::media::Hub;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The live view (WHEP): the camera sends.
    View,
    /// Push-to-talk: the page's microphone, the camera receives.
    Talk,
}

impl Kind {
    /// What the logs call one.
    fn noun(self) -> &'static str {
        match self {
            Kind::View => "WebRTC viewer",
            Kind::Talk => "talk connection",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Offer(#[from] OfferError),
    #[error("{}", full(*.kind, *.open))]
    Full { kind: Kind, open: usize },
    #[error(transparent)]
    Peer(#[from] PeerError),
}

fn full(kind: Kind, open: usize) -> String {
    match kind {
        Kind::View => format!(
            "{open} live viewers already watch (the limit is [web] max_viewers); try again later"
        ),
        Kind::Talk => format!("{open} pages already hold a talk connection; try again later"),
    }
}

/// An open connection: its kind, the account that opened it, the peer.
type Entry = (Kind, String, Peer);

#[derive(Default)]
struct Open {
    peers: HashMap<String, Entry>,
    /// Offers being answered now: they hold a place too.
    negotiating: HashMap<Kind, usize>,
}

impl Open {
    fn count(&self, kind: Kind) -> usize {
        let open = self.peers.values().filter(|(k, _, _)| *k == kind).count();
        open + self.negotiating.get(&kind).copied().unwrap_or(0)
    }

    fn negotiating(&mut self, kind: Kind) -> &mut usize {
        self.negotiating.entry(kind).or_default()
    }
}

pub struct Connections {
    hub: Arc<Hub>,
    with_audio: bool,
    /// The address the camera listens on; ICE offers no other.
    listen: std::net::IpAddr,
    open: Mutex<Open>,
}

/// A place held for an offer being answered; freed if the negotiation fails (or panics).
struct Reservation<'a> {
    connections: Option<&'a Connections>,
    kind: Kind,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.connections {
            *c.lock().negotiating(self.kind) -= 1;
        }
    }
}

impl Connections {
    pub fn new(hub: Arc<Hub>, with_audio: bool, listen: std::net::IpAddr) -> Self {
        Self {
            hub,
            with_audio,
            listen,
            open: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Connections of `kind`, open or being answered.
    pub fn count(&self, kind: Kind) -> usize {
        self.lock().count(kind)
    }

    /// Answers `user`'s live-view offer, at most `max_viewers` at once; returns the new
    /// viewer's id and the SDP answer. Blocks while webrtcbin negotiates (up to a few seconds):
    /// call it off the async threads.
    pub fn start_view(
        &self,
        body: &[u8],
        max_viewers: usize,
        user: &str,
    ) -> Result<(String, String), StartError> {
        let offer = offer::parse(body)?;
        let reservation = self.reserve(Kind::View, max_viewers)?;
        let (peer, answer) = super::whep::answer(offer, &self.hub, self.with_audio, self.listen)?;
        let id = self.admit(reservation, user, peer);
        info!(
            viewer = id,
            viewers = self.count(Kind::View),
            "WebRTC viewer joined"
        );
        Ok((id, answer))
    }

    /// Answers `user`'s talk offer (`who` in the speaker's log), at most [`MAX_TALKERS`] at
    /// once; returns the connection's id and the SDP answer. Blocks like [`Self::start_view`].
    pub fn start_talk(
        &self,
        body: &[u8],
        output: &Arc<Output>,
        user: &str,
        who: &str,
    ) -> Result<(String, String), StartError> {
        let offer = offer::parse_talk(body)?;
        let reservation = self.reserve(Kind::Talk, MAX_TALKERS)?;
        let (peer, answer) = super::talk::answer(offer, output, who, self.listen)?;
        let id = self.admit(reservation, user, peer);
        info!(talk = id, who, "talk connection opened");
        Ok((id, answer))
    }

    fn reserve(&self, kind: Kind, limit: usize) -> Result<Reservation<'_>, StartError> {
        let mut o = self.lock();
        let open = o.count(kind);
        if open >= limit {
            return Err(StartError::Full { kind, open });
        }
        *o.negotiating(kind) += 1;
        Ok(Reservation {
            connections: Some(self),
            kind,
        })
    }

    /// The place passes from the negotiation to the connection in one step.
    fn admit(&self, mut reservation: Reservation<'_>, user: &str, peer: Peer) -> String {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let kind = reservation.kind;
        let mut o = self.lock();
        o.peers.insert(id.clone(), (kind, user.to_string(), peer));
        *o.negotiating(kind) -= 1;
        reservation.connections = None;
        id
    }

    /// Ends a connection of `kind`; false if there was none by that id.
    pub fn stop(&self, kind: Kind, id: &str) -> bool {
        let peer = {
            let mut o = self.lock();
            match o.peers.get(id) {
                Some((k, _, _)) if *k == kind => o.peers.remove(id),
                _ => None,
            }
        };
        let found = peer.is_some();
        if found {
            info!(id, "{} ended", kind.noun());
        }
        // Dropped outside the lock: stopping a pipeline takes a moment.
        drop(peer);
        found
    }

    /// Ends every connection `user` opened (its password changed, or it is gone); how many.
    pub fn stop_user(&self, user: &str) -> usize {
        let gone: Vec<Entry> = {
            let mut o = self.lock();
            let ids: Vec<String> = o
                .peers
                .iter()
                .filter(|(_, (_, u, _))| u == user)
                .map(|(id, _)| id.clone())
                .collect();
            ids.iter().filter_map(|id| o.peers.remove(id)).collect()
        };
        for (kind, _, _) in &gone {
            info!(user, "{} ended: its login ended", kind.noun());
        }
        gone.len()
    }

    /// Ends every connection (the daemon is stopping).
    pub fn stop_all(&self) {
        let peers: Vec<_> = self.lock().peers.drain().collect();
        drop(peers);
    }

    /// Ends connections that failed, closed, went silent, or did not connect within
    /// `connect_timeout`.
    pub fn sweep(&self, connect_timeout: Duration) {
        let gone: Vec<(String, Entry)> = {
            let mut o = self.lock();
            let ids: Vec<String> = o
                .peers
                .iter()
                .filter(|(_, (_, _, p))| p.ended(connect_timeout))
                .map(|(id, _)| id.clone())
                .collect();
            ids.into_iter()
                .filter_map(|id| o.peers.remove(&id).map(|p| (id, p)))
                .collect()
        };
        for (id, (kind, _, peer)) in gone {
            info!(id, "{} gone", kind.noun());
            drop(peer);
        }
    }
}
