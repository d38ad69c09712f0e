//! How many connections the HTTP server holds at once, in all and from one address, so that one
//! client (or a flood of them) cannot take every descriptor and every task the daemon has.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

#[derive(Default)]
struct Counts {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

/// Counts open connections; a [`Permit`] is one of them and gives its place back when dropped.
#[derive(Default)]
pub struct Gate {
    counts: Arc<Mutex<Counts>>,
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
    address: IpAddr,
}

impl Gate {
    /// Takes a place for a connection from `address`, or says which limit it hit.
    pub fn admit(&self, address: IpAddr, total: usize, per_address: usize) -> Result<Permit, Full> {
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
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(full);
        }
        c.total += 1;
        *c.by_address.entry(address).or_default() += 1;
        Ok(Permit {
            counts: Arc::clone(&self.counts),
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
        let a: Vec<_> = (0..2).map(|_| gate.admit(A, 3, 2).expect("room")).collect();
        assert_eq!(gate.admit(A, 3, 2).err(), Some(Full::Address));
        let b = gate.admit(B, 3, 2).expect("another address has room");
        assert_eq!(gate.admit(B, 3, 2).err(), Some(Full::Server));
        assert_eq!(gate.open(), 3);
        assert_eq!(gate.refused(), 2);
        drop(a);
        drop(b);
        assert_eq!(gate.open(), 0);
        assert!(gate.admit(A, 3, 2).is_ok(), "places come back when closed");
    }
}
