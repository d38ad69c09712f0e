//! The outgoing queue: what waits for the broker. Bounded, so a slow or absent broker costs a
//! fixed amount of memory and never blocks the parts that publish.
//!
//! A retained state (a sensor, a discovery config, the snapshot) replaces its own older value
//! still waiting, since only the newest value matters: states are bounded by the camera's fixed
//! set of topics and are never dropped, or Home Assistant would keep a stale value, or never
//! learn of an entity, until it next changes. Events (alerts) are bounded by the capacity: when
//! it is reached the oldest event goes, counted.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, PoisonError};

use bytes::Bytes;
use tokio::sync::Notify;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub topic: String,
    pub payload: Bytes,
    pub retain: bool,
}

pub struct Queue {
    items: Mutex<VecDeque<Message>>,
    capacity: usize,
    ready: Notify,
    pub dropped: AtomicU64,
}

impl Queue {
    pub fn new(capacity: usize) -> Self {
        Self {
            items: Mutex::new(VecDeque::with_capacity(capacity.min(1024))),
            capacity: capacity.max(1),
            ready: Notify::new(),
            dropped: AtomicU64::new(0),
        }
    }

    pub fn push(&self, message: Message) {
        let mut items = self.items.lock().unwrap_or_else(PoisonError::into_inner);
        if message.retain {
            if let Some(old) = items
                .iter_mut()
                .find(|m| m.retain && m.topic == message.topic)
            {
                *old = message;
                return;
            }
        } else if items.iter().filter(|m| !m.retain).count() >= self.capacity
            && let Some(oldest) = items.iter().position(|m| !m.retain)
        {
            items.remove(oldest);
            self.dropped.fetch_add(1, Relaxed);
        }
        items.push_back(message);
        drop(items);
        self.ready.notify_one();
    }

    /// The oldest message, waiting for one.
    pub async fn pop(&self) -> Message {
        loop {
            let ready = self.ready.notified();
            if let Some(m) = self
                .items
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop_front()
            {
                return m;
            }
            ready.await;
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.items
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(topic: &str, payload: &str, retain: bool) -> Message {
        Message {
            topic: topic.into(),
            payload: Bytes::copy_from_slice(payload.as_bytes()),
            retain,
        }
    }

    #[tokio::test]
    async fn a_full_queue_drops_the_oldest_event_and_a_state_keeps_only_its_newest_value() {
        let q = Queue::new(2);
        q.push(msg("a/alert", "1", false));
        q.push(msg("a/temperature", "20.0", true));
        q.push(msg("a/temperature", "20.5", true));
        assert_eq!(q.len(), 2);
        q.push(msg("a/alert", "2", false));
        q.push(msg("a/alert", "3", false));
        assert_eq!(q.dropped.load(Relaxed), 1);
        // More states than the capacity: each waits, none is lost.
        q.push(msg("a/humidity", "50", true));
        q.push(msg("a/pressure", "1000", true));
        assert_eq!(q.dropped.load(Relaxed), 1);
        assert_eq!(q.pop().await, msg("a/temperature", "20.5", true));
        assert_eq!(q.pop().await, msg("a/alert", "2", false));
        assert_eq!(q.pop().await, msg("a/alert", "3", false));
        assert_eq!(q.pop().await, msg("a/humidity", "50", true));
        assert_eq!(q.pop().await, msg("a/pressure", "1000", true));
        assert_eq!(q.len(), 0);
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(50), q.pop()).await;
        assert!(waiting.is_err(), "pop waits while the queue is empty");
    }
}
