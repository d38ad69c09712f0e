//! The event bus: detectors, the climate sensor and night vision publish here; ONVIF
//! subscriptions (pull points and webhooks), `/api/events` and `/api/status` read from it.
//!
//! Most events are properties (motion on/off, a temperature): the bus keeps each one's current
//! value, so that a new subscriber and `SetSynchronizationPoint` get the present state.

pub mod push;
mod subscriptions;
pub mod topics;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use onvif::events::{Notification, PropertyOperation};
use time::OffsetDateTime;

pub use subscriptions::{Kind, PullOutcome, Subscriptions};

type Items = Vec<(String, String)>;

fn items(pairs: &[(&str, &str)]) -> Items {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The bus. Cheap to share; publishing never blocks on a slow reader.
pub struct Bus {
    /// Current value of every property, by topic and source.
    properties: Mutex<BTreeMap<(String, Items), Notification>>,
    subscriptions: Arc<Subscriptions>,
    /// For `/api/events`: readers that fall behind skip ahead (they are told how many they missed).
    live: tokio::sync::broadcast::Sender<Notification>,
}

impl Bus {
    pub fn new(subscriptions: Arc<Subscriptions>) -> Arc<Self> {
        Arc::new(Self {
            properties: Mutex::new(BTreeMap::new()),
            subscriptions,
            live: tokio::sync::broadcast::channel(256).0,
        })
    }

    pub fn subscriptions(&self) -> &Arc<Subscriptions> {
        &self.subscriptions
    }

    /// Sets a property; a message goes out only if its value changed (or it is new).
    pub fn set(&self, topic: &str, source: &[(&str, &str)], data: &[(&str, &str)]) {
        self.update(topic, source, data, false);
    }

    /// Sets a property and sends it even if unchanged (a measurement's periodic report).
    pub fn report(&self, topic: &str, source: &[(&str, &str)], data: &[(&str, &str)]) {
        self.update(topic, source, data, true);
    }

    fn update(&self, topic: &str, source: &[(&str, &str)], data: &[(&str, &str)], always: bool) {
        let source = items(source);
        let data = items(data);
        let message = {
            let mut properties = lock(&self.properties);
            let key = (topic.to_string(), source.clone());
            let operation = match properties.get(&key) {
                Some(old) if old.data == data && !always => return,
                Some(_) => PropertyOperation::Changed,
                None => PropertyOperation::Initialized,
            };
            let message = Notification {
                topic: topic.to_string(),
                utc: OffsetDateTime::now_utc(),
                operation: Some(operation),
                source,
                data,
            };
            properties.insert(key, message.clone());
            message
        };
        tracing::debug!(topic, data = ?message.data, "event");
        self.subscriptions.deliver(&message);
        let _ = self.live.send(message);
    }

    /// The value of a property, by topic (the first source that has it).
    pub fn value(&self, topic: &str, item: &str) -> Option<String> {
        lock(&self.properties)
            .values()
            .find(|n| n.topic == topic)
            .and_then(|n| n.data.iter().find(|(k, _)| k == item))
            .map(|(_, v)| v.clone())
    }

    /// Every property as it is now, as `Initialized` messages (what a new subscriber gets).
    pub fn snapshot(&self) -> Vec<Notification> {
        lock(&self.properties)
            .values()
            .map(|n| Notification {
                operation: Some(PropertyOperation::Initialized),
                ..n.clone()
            })
            .collect()
    }

    pub fn listen(&self) -> tokio::sync::broadcast::Receiver<Notification> {
        self.live.subscribe()
    }
}

/// `"true"`/`"false"` as the messages spell booleans.
pub fn flag(on: bool) -> &'static str {
    if on { "true" } else { "false" }
}
