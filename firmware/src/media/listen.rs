//! The listen stream's fan-out: every ADTS frame the listen encoder makes goes to each
//! listener through a small bounded channel of its own. A listener that cannot keep up skips
//! frames (whole frames, so what it gets still decodes) and memory never grows; one whose
//! channel stays full for its stall time is dropped, and its connection closed.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{Notify, mpsc};
use tracing::info;

use super::hub::DemandGuard;
use crate::metrics_text::{Exposition, Kind};

/// Frames a listener's channel holds: about a second of sound (an ADTS frame is 1024 samples,
/// 64 ms at 16 kHz). The socket and TLS buffers behind it hold more; this only smooths over a
/// scheduler's hiccup.
const CHANNEL_FRAMES: usize = 16;

/// A listener's connection as the fan-out sees it: it can close it, and learns when the
/// connection was lost (the client stopped acknowledging or reading, and the socket gave up).
#[derive(Default)]
pub struct Hangup {
    kill: Notify,
    lost: AtomicBool,
}

impl Hangup {
    /// Closes the connection now.
    pub fn close(&self) {
        self.kill.notify_one();
    }

    /// Resolves once [`Hangup::close`] was called (also if it was before).
    pub async fn closed(&self) {
        self.kill.notified().await;
    }

    /// The connection failed because its client stopped taking what was sent.
    pub fn mark_lost(&self) {
        self.lost.store(true, Relaxed);
    }
}

/// One listener's place in the fan-out.
struct Slot {
    id: u64,
    tx: mpsc::Sender<Bytes>,
    /// Since when its channel has been full (it takes nothing).
    full_since: Option<Instant>,
    stall: Duration,
    /// Closes its connection when it is dropped for not reading.
    kill: Option<Arc<Hangup>>,
}

#[derive(Default)]
pub struct ListenStats {
    pub total: AtomicU64,
    pub refused: AtomicU64,
    pub dropped: AtomicU64,
    pub frames_skipped: AtomicU64,
    pub frames: AtomicU64,
    pub bytes: AtomicU64,
}

/// Everyone listening now, and whether the noise gate lets sound through.
pub struct Listen {
    slots: Mutex<Vec<Slot>>,
    next_id: AtomicU64,
    gate_open: AtomicBool,
    pub stats: ListenStats,
}

impl Default for Listen {
    fn default() -> Self {
        Self {
            slots: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
            // Closed until the room has been measured (see `noise_gate`).
            gate_open: AtomicBool::new(false),
            stats: ListenStats::default(),
        }
    }
}

/// Why a listener was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("{0} phones are listening already ([listen] max_listeners); try again later")]
    Full(usize),
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Listen {
    /// Takes a place for a listener, unless `max` listen already. `stall`: how long its channel
    /// may stay full before it is dropped; `kill` closes its connection then.
    pub fn join(
        self: &Arc<Self>,
        max: usize,
        stall: Duration,
        kill: Option<Arc<Hangup>>,
    ) -> Result<Listener, Refused> {
        let mut slots = lock(&self.slots);
        if slots.len() >= max {
            self.stats.refused.fetch_add(1, Relaxed);
            return Err(Refused::Full(max));
        }
        let id = self.next_id.fetch_add(1, Relaxed);
        let (tx, rx) = mpsc::channel(CHANNEL_FRAMES);
        slots.push(Slot {
            id,
            tx,
            full_since: None,
            stall,
            kill: kill.clone(),
        });
        self.stats.total.fetch_add(1, Relaxed);
        Ok(Listener {
            id,
            rx,
            hangup: kill,
            listen: Arc::clone(self),
            demand: None,
        })
    }

    pub fn count(&self) -> usize {
        lock(&self.slots).len()
    }

    pub fn has_listeners(&self) -> bool {
        !lock(&self.slots).is_empty()
    }

    pub fn gate_open(&self) -> bool {
        self.gate_open.load(Relaxed)
    }

    pub fn set_gate_open(&self, open: bool) {
        self.gate_open.store(open, Relaxed);
    }

    /// One ADTS frame from the listen encoder, for everyone (on a streaming thread).
    pub(crate) fn publish(&self, frame: Bytes) {
        self.publish_at(frame, Instant::now());
    }

    fn publish_at(&self, frame: Bytes, now: Instant) {
        self.stats.frames.fetch_add(1, Relaxed);
        self.stats.bytes.fetch_add(frame.len() as u64, Relaxed);
        let mut slots = lock(&self.slots);
        slots.retain_mut(|slot| match slot.tx.try_send(frame.clone()) {
            Ok(()) => {
                slot.full_since = None;
                true
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                let since = *slot.full_since.get_or_insert(now);
                if now.duration_since(since) < slot.stall {
                    self.stats.frames_skipped.fetch_add(1, Relaxed);
                    return true;
                }
                info!(
                    listener = slot.id,
                    "a listener took no sound for {} s: dropped",
                    slot.stall.as_secs()
                );
                self.stats.dropped.fetch_add(1, Relaxed);
                if let Some(kill) = &slot.kill {
                    kill.close();
                }
                false
            }
            // Its connection is gone already.
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        });
    }

    /// A listener's body is dropped: its place goes, if it still has one. `lost`: its
    /// connection failed on a client that stopped taking sound (the socket's own time limits
    /// saw it before the fan-out did), which counts as dropped too.
    fn leave(&self, id: u64, lost: bool) {
        let mut slots = lock(&self.slots);
        let before = slots.len();
        slots.retain(|s| s.id != id);
        if lost && slots.len() < before {
            info!(listener = id, "a listener's connection was lost: dropped");
            self.stats.dropped.fetch_add(1, Relaxed);
        }
    }

    pub fn render(&self, e: &mut Exposition) {
        e.single(
            "listeners",
            Kind::Gauge,
            "Phones on the listen stream now.",
            self.count(),
        );
        for (name, help, counter) in [
            (
                "listeners_total",
                "Listeners served since start.",
                &self.stats.total,
            ),
            (
                "listeners_refused_total",
                "Listeners refused: [listen] max_listeners were listening.",
                &self.stats.refused,
            ),
            (
                "listeners_dropped_total",
                "Listeners dropped because they took no sound for [listen] stall_s.",
                &self.stats.dropped,
            ),
            (
                "listen_frames_skipped_total",
                "Listen stream frames a slow listener did not get.",
                &self.stats.frames_skipped,
            ),
            (
                "listen_frames_total",
                "Listen stream frames encoded.",
                &self.stats.frames,
            ),
            (
                "listen_bytes_total",
                "Listen stream bytes encoded (ADTS).",
                &self.stats.bytes,
            ),
        ] {
            e.single(name, Kind::Counter, help, counter.load(Relaxed));
        }
        e.single(
            "listen_gate_open",
            Kind::Gauge,
            "Whether the listen stream's noise gate lets sound through.",
            u8::from(self.gate_open()),
        );
    }
}

/// One listener: its frames, as an HTTP body. Dropping it gives its place back.
pub struct Listener {
    id: u64,
    rx: mpsc::Receiver<Bytes>,
    hangup: Option<Arc<Hangup>>,
    listen: Arc<Listen>,
    /// Keeps the microphone running. Dropped after the place is given back (fields drop after
    /// `Drop::drop`), so the valve closes once the last one has gone.
    demand: Option<DemandGuard>,
}

impl Listener {
    /// Keeps the microphone running while this listener listens.
    pub fn keep(&mut self, demand: DemandGuard) {
        self.demand = Some(demand);
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let lost = self.hangup.as_ref().is_some_and(|h| h.lost.load(Relaxed));
        self.listen.leave(self.id, lost);
    }
}

impl hyper::body::Body for Listener {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        self.rx
            .poll_recv(cx)
            .map(|f| f.map(|b| Ok(hyper::body::Frame::data(b))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::Hub;

    fn hub() -> Arc<Hub> {
        let (tx, _rx) = std::sync::mpsc::channel();
        Arc::new(Hub::new(tx))
    }

    fn join(hub: &Arc<Hub>, listen: &Arc<Listen>, max: usize) -> Result<Listener, Refused> {
        let kill = Arc::new(Hangup::default());
        let mut listener = listen.join(max, Duration::from_secs(5), Some(kill))?;
        listener.keep(hub.demand_of(&[crate::media::Source::Audio]));
        Ok(listener)
    }

    #[test]
    fn places_are_limited_and_given_back() {
        let (hub, listen) = (hub(), Arc::new(Listen::default()));
        let held: Vec<_> = (0..3)
            .map(|_| join(&hub, &listen, 3).expect("room"))
            .collect();
        assert_eq!(join(&hub, &listen, 3).err(), Some(Refused::Full(3)));
        assert_eq!(listen.stats.refused.load(Relaxed), 1);
        assert_eq!(listen.count(), 3);
        drop(held);
        assert!(!listen.has_listeners());
        assert!(
            !hub.is_wanted(crate::media::Source::Audio),
            "demand given back"
        );
    }

    #[test]
    fn a_slow_listener_skips_frames_then_is_dropped_and_killed() {
        let (hub, listen) = (hub(), Arc::new(Listen::default()));
        let kill = Arc::new(Hangup::default());
        let mut slow = listen
            .join(4, Duration::from_secs(5), Some(Arc::clone(&kill)))
            .expect("room");
        let mut fast = join(&hub, &listen, 4).expect("room");
        let start = Instant::now();
        let frame = |i: usize| Bytes::from(vec![i as u8; 4]);
        for i in 0..CHANNEL_FRAMES * 2 {
            listen.publish_at(frame(i), start);
            assert_eq!(
                fast.rx.try_recv().ok(),
                Some(frame(i)),
                "the fast one gets all"
            );
        }
        assert_eq!(
            listen.stats.frames_skipped.load(Relaxed),
            CHANNEL_FRAMES as u64
        );
        // Still there just before its stall time, gone at it.
        listen.publish_at(frame(0), start + Duration::from_millis(4900));
        assert_eq!(listen.count(), 2);
        listen.publish_at(frame(0), start + Duration::from_secs(5));
        assert_eq!(listen.count(), 1);
        assert_eq!(listen.stats.dropped.load(Relaxed), 1);
        // The kill switch holds its permit for the connection to see.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(1), kill.closed())
                .await
                .expect("the connection is told to close");
        });
        // What it had queued is still whole frames, then the end.
        assert_eq!(slow.rx.try_recv().ok(), Some(frame(0)));
        drop(slow);
        assert_eq!(listen.stats.dropped.load(Relaxed), 1, "counted once");
        // A connection the socket gave up on counts as dropped when its body goes.
        let hangup = Arc::new(Hangup::default());
        let lost = listen
            .join(4, Duration::from_secs(5), Some(Arc::clone(&hangup)))
            .expect("room");
        hangup.mark_lost();
        drop(lost);
        assert_eq!(listen.stats.dropped.load(Relaxed), 2);
        drop(fast);
        assert_eq!(
            listen.stats.dropped.load(Relaxed),
            2,
            "leaving is not being dropped"
        );
    }
}
