//! How many connections a server (HTTP, RTSP) holds at once, in all and from one address, so
//! that one client (or a flood of them) cannot take every descriptor the daemon has.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

#[derive(Default)]
struct Counts {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
    /// Connections accepted but not served yet, waiting for a place.
    waiting: usize,
}

/// Counts open connections; a [`Permit`] is one of them and gives its place back when dropped.
#[derive(Default)]
pub struct Gate {
    counts: Arc<Mutex<Counts>>,
    freed: Arc<Notify>,
    refused: AtomicU64,
}

/// Why a connection was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// The server holds its maximum.
    Server,
    /// This address holds its maximum.
    Address,
}

pub struct Permit {
    counts: Arc<Mutex<Counts>>,
    freed: Arc<Notify>,
    address: IpAddr,
}

/// How long a connection over its address's limit may wait for a place: a client that opens
/// many connections at once (a script, a busy NVR) is served in turn rather than cut off.
const WAIT: Duration = Duration::from_secs(5);

impl Gate {
    /// Takes a place for a connection from `address`, waiting a little for one if the limits
    /// are reached and fewer than `total` connections wait already; else says which limit it hit.
    pub async fn admit(
        &self,
        address: IpAddr,
        total: usize,
        per_address: usize,
    ) -> Result<Permit, Full> {
        let full = match self.try_admit(address, total, per_address) {
            Ok(permit) => return Ok(permit),
            Err(full) => full,
        };
        {
            let mut c = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
            if c.waiting >= total {
                drop(c);
                self.refused.fetch_add(1, Ordering::Relaxed);
                return Err(full);
            }
            c.waiting += 1;
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        let result = loop {
            // Registered before trying, so that a place freed in between is not missed.
            let freed = self.freed.notified();
            match self.try_admit(address, total, per_address) {
                Ok(permit) => break Ok(permit),
                Err(full) => {
                    if tokio::time::timeout_at(deadline, freed).await.is_err() {
                        break Err(full);
                    }
                }
            }
        };
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .waiting -= 1;
        if result.is_err() {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    /// Takes a place at once, or says which limit it hit (nothing is counted as refused).
    pub fn try_admit(
        &self,
        address: IpAddr,
        total: usize,
        per_address: usize,
    ) -> Result<Permit, Full> {
        let mut c = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let mine = c.by_address.get(&address).copied().unwrap_or(0);
        let full = if c.total >= total {
            Some(Full::Server)
        } else if mine >= per_address {
            Some(Full::Address)
        } else {
            None
        };
        if let Some(full) = full {
            return Err(full);
        }
        c.total += 1;
        *c.by_address.entry(address).or_default() += 1;
        Ok(Permit {
            counts: Arc::clone(&self.counts),
            freed: Arc::clone(&self.freed),
            address,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .total
    }

    /// Counts a connection turned away by a caller of [`Gate::try_admit`].
    pub fn count_refusal(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Connections turned away since start.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut c = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.by_address.get_mut(&self.address) {
            *n -= 1;
            if *n == 0 {
                c.by_address.remove(&self.address);
            }
        }
        drop(c);
        self.freed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn one_address_cannot_take_every_place() {
        let gate = Gate::default();
        let a: Vec<_> = (0..2)
            .map(|_| gate.try_admit(A, 3, 2).expect("room"))
            .collect();
        assert_eq!(gate.try_admit(A, 3, 2).err(), Some(Full::Address));
        let b = gate.try_admit(B, 3, 2).expect("another address has room");
        assert_eq!(gate.try_admit(B, 3, 2).err(), Some(Full::Server));
        assert_eq!(gate.open(), 3);
        drop(a);
        drop(b);
        assert_eq!(gate.open(), 0);
        assert!(
            gate.try_admit(A, 3, 2).is_ok(),
            "places come back when closed"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_over_the_limit_waits_for_a_place_then_gives_up() {
        let gate = Arc::new(Gate::default());
        let first = gate.admit(A, 2, 1).await.expect("room");
        let waiter = {
            let gate = Arc::clone(&gate);
            tokio::spawn(async move { gate.admit(A, 2, 1).await.is_ok() })
        };
        tokio::time::sleep(Duration::from_secs(1)).await;
        drop(first);
        assert!(
            waiter.await.expect("waiter"),
            "served once the place was free"
        );
        let _held = gate.admit(A, 2, 1).await.expect("room");
        assert_eq!(
            gate.admit(A, 2, 1).await.err(),
            Some(Full::Address),
            "after the wait"
        );
        assert_eq!(gate.refused(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn only_so_many_wait() {
        let gate = Arc::new(Gate::default());
        let _held = gate.admit(A, 1, 1).await.expect("room");
        let waiting = {
            let gate = Arc::clone(&gate);
            tokio::spawn(async move { gate.admit(B, 1, 1).await.is_ok() })
        };
        tokio::task::yield_now().await;
        let started = tokio::time::Instant::now();
        assert_eq!(gate.admit(B, 1, 1).await.err(), Some(Full::Server));
        assert_eq!(started.elapsed(), Duration::ZERO, "refused at once");
        assert!(!waiting.await.expect("waiter"));
    }
}
