//! `[events]`: ONVIF event subscriptions and what each may hold.

use serde::Deserialize;

use super::Problems;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// Pull points and push (webhook) subscriptions kept at once; one more is refused.
    pub max_subscriptions: usize,
    /// Subscriptions one user may hold; a new one past that ends the user's least used.
    pub max_subscriptions_per_user: usize,
    /// Messages waiting per subscription; past that the oldest are dropped (and counted).
    pub queue_size: usize,
    /// Longest a subscription may be asked to live (seconds) before it must be renewed.
    pub max_termination_s: u64,
    /// A subscription created without a termination time lives this long.
    pub default_termination_s: u64,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            max_subscriptions: 32,
            max_subscriptions_per_user: 8,
            queue_size: 256,
            max_termination_s: 3600,
            default_termination_s: 600,
        }
    }
}

impl EventsConfig {
    pub(super) fn check(&self, p: &mut Problems) {
        p.range("events.max_subscriptions", self.max_subscriptions, 1, 1000);
        p.range(
            "events.max_subscriptions_per_user",
            self.max_subscriptions_per_user,
            1,
            1000,
        );
        p.range("events.queue_size", self.queue_size, 8, 100_000);
        p.range(
            "events.max_termination_s",
            self.max_termination_s,
            10,
            86_400,
        );
        p.range(
            "events.default_termination_s",
            self.default_termination_s,
            10,
            self.max_termination_s.max(10),
        );
    }
}
