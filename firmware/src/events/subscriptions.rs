//! ONVIF subscriptions: pull points that NVRs poll, and push subscriptions whose messages are
//! POSTed to a consumer. Each has a bounded queue (the oldest message goes first when it is
//! full, and is counted) and a termination time; abandoned ones end by themselves.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use onvif::events::{self, Expiry, Notification, TopicFilter};
use onvif::soap::Fault;
use time::OffsetDateTime;
use tokio::sync::Notify;

use super::lock;
use crate::config::EventsConfig;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Pull,
    Push { consumer: String },
}

struct Subscription {
    kind: Kind,
    /// The user who made it: only they (or an admin) may use it.
    owner: String,
    /// When it was last made, pulled or renewed: the least used goes first when room is needed.
    used: std::time::Instant,
    filter: TopicFilter,
    expires: OffsetDateTime,
    /// How far a pull extends it: an NVR that keeps polling keeps its pull point.
    lifetime: Duration,
    queue: VecDeque<Notification>,
    wake: Arc<Notify>,
}

/// What a PullMessages returns.
#[derive(Debug)]
pub struct PullOutcome {
    pub now: OffsetDateTime,
    pub termination: OffsetDateTime,
    pub messages: Vec<Notification>,
}

#[derive(Default)]
pub struct Counters {
    pub created: AtomicU64,
    pub expired: AtomicU64,
    pub refused: AtomicU64,
    /// Ended early to make room for a newer subscription.
    pub displaced: AtomicU64,
    pub dropped: AtomicU64,
    pub delivered: AtomicU64,
}

pub struct Subscriptions {
    config: Mutex<EventsConfig>,
    subs: Mutex<HashMap<u64, Subscription>>,
    pub counters: Counters,
}

/// Pull waits longer than this are shortened (the NVR simply pulls again).
pub(crate) const MAX_PULL_WAIT: Duration = Duration::from_secs(120);
/// Messages one pull may take, whatever it asks for.
pub(crate) const MAX_PULL_MESSAGES: u32 = 1000;

impl Subscriptions {
    pub fn new(config: EventsConfig) -> Arc<Self> {
        Arc::new(Self {
            config: Mutex::new(config),
            subs: Mutex::new(HashMap::new()),
            counters: Counters::default(),
        })
    }

    pub fn set_config(&self, config: EventsConfig) {
        *lock(&self.config) = config;
    }

    pub fn max(&self) -> usize {
        lock(&self.config).max_subscriptions
    }

    pub fn count(&self) -> usize {
        lock(&self.subs).len()
    }

    /// When a subscription asked to end at `expiry` ends, within the camera's limits.
    fn termination(
        &self,
        expiry: Option<Expiry>,
        now: OffsetDateTime,
    ) -> Result<OffsetDateTime, Fault> {
        let config = lock(&self.config).clone();
        let wanted = expiry.map_or(
            now + Duration::from_secs(config.default_termination_s),
            |e| e.resolve(now),
        );
        if wanted <= now {
            return Err(events::unacceptable_termination(
                "the termination time is not in the future",
            ));
        }
        Ok(wanted.min(now + Duration::from_secs(config.max_termination_s)))
    }

    /// Who made subscription `id`.
    pub fn owner(&self, id: u64) -> Option<String> {
        lock(&self.subs).get(&id).map(|s| s.owner.clone())
    }

    /// The subscription to end so that `owner` can make one more, if one must end: the
    /// owner's own least used when they hold their share, else, when the camera is full, the
    /// least used of whoever holds the most (if they hold more than `owner` will).
    fn to_displace(
        subs: &HashMap<u64, Subscription>,
        owner: &str,
        max: usize,
        per_user: usize,
    ) -> Result<Option<u64>, ()> {
        let mut held: HashMap<&str, usize> = HashMap::new();
        for s in subs.values() {
            *held.entry(s.owner.as_str()).or_default() += 1;
        }
        let least_used_of = |who: &str| {
            subs.iter()
                .filter(|(_, s)| s.owner == who)
                .min_by_key(|(_, s)| s.used)
                .map(|(id, _)| *id)
        };
        let mine = held.get(owner).copied().unwrap_or(0);
        if mine >= per_user {
            return Ok(least_used_of(owner));
        }
        if subs.len() < max {
            return Ok(None);
        }
        let (most, count) = held
            .iter()
            .max_by_key(|(who, n)| (**n, std::cmp::Reverse(**who)))
            .map(|(w, n)| (w.to_string(), *n))
            .unwrap_or_default();
        if count > mine + 1 {
            Ok(least_used_of(&most))
        } else {
            Err(())
        }
    }

    /// Makes a subscription for `owner` that starts with `initial` in its queue; returns its
    /// id, the time now and its termination time.
    pub fn create(
        &self,
        owner: &str,
        kind: Kind,
        filter: TopicFilter,
        expiry: Option<Expiry>,
        initial: Vec<Notification>,
    ) -> Result<(u64, OffsetDateTime, OffsetDateTime), Fault> {
        let now = OffsetDateTime::now_utc();
        let termination = self.termination(expiry, now)?;
        let (max, per_user) = {
            let c = lock(&self.config);
            let max = c.max_subscriptions;
            (max, c.max_subscriptions_per_user.min(max))
        };
        let mut subs = lock(&self.subs);
        match Self::to_displace(&subs, owner, max, per_user) {
            Ok(None) => {}
            Ok(Some(old)) => {
                if let Some(sub) = subs.remove(&old) {
                    tracing::info!(
                        subscription = old,
                        user = sub.owner,
                        "event subscription ended to make room for a newer one"
                    );
                    sub.wake.notify_one();
                    self.counters.displaced.fetch_add(1, Relaxed);
                }
            }
            Err(()) => {
                self.counters.refused.fetch_add(1, Relaxed);
                return Err(events::too_many_subscriptions(max));
            }
        }
        // Random ids: the address is handed to one NVR, and another must not guess it.
        let id = loop {
            let id = rand::random::<u64>() >> 1;
            if id != 0 && !subs.contains_key(&id) {
                break id;
            }
        };
        let queue = initial
            .into_iter()
            .filter(|n| filter.matches(&n.topic))
            .collect();
        let lifetime = (termination - now)
            .try_into()
            .unwrap_or(Duration::from_secs(60));
        subs.insert(
            id,
            Subscription {
                kind,
                owner: owner.to_string(),
                used: std::time::Instant::now(),
                filter,
                expires: termination,
                lifetime,
                queue,
                wake: Arc::new(Notify::new()),
            },
        );
        self.counters.created.fetch_add(1, Relaxed);
        Ok((id, now, termination))
    }

    pub fn kind(&self, id: u64) -> Option<Kind> {
        lock(&self.subs).get(&id).map(|s| s.kind.clone())
    }

    /// Hands a message to every subscription whose filter takes it.
    pub fn deliver(&self, message: &Notification) {
        let cap = lock(&self.config).queue_size;
        let mut subs = lock(&self.subs);
        for sub in subs.values_mut() {
            if !sub.filter.matches(&message.topic) {
                continue;
            }
            sub.queue.push_back(message.clone());
            while sub.queue.len() > cap {
                sub.queue.pop_front();
                self.counters.dropped.fetch_add(1, Relaxed);
            }
            sub.wake.notify_one();
        }
    }

    /// PullMessages: what is queued at once, else waits up to `timeout` for something.
    pub async fn pull(&self, id: u64, timeout: Duration, limit: u32) -> Result<PullOutcome, Fault> {
        if limit == 0 {
            return Err(Fault::invalid_arg(
                "InvalidMessageLimit",
                "MessageLimit must be at least 1",
            ));
        }
        let limit = limit.min(MAX_PULL_MESSAGES) as usize;
        let deadline = tokio::time::Instant::now() + timeout.min(MAX_PULL_WAIT);
        let mut waited_out = false;
        loop {
            let wake = {
                let mut subs = lock(&self.subs);
                let sub = subs.get_mut(&id).ok_or_else(events::unknown_subscription)?;
                sub.used = std::time::Instant::now();
                if !sub.queue.is_empty() || waited_out {
                    let now = OffsetDateTime::now_utc();
                    sub.expires = sub.expires.max(now + sub.lifetime);
                    let take = sub.queue.len().min(limit);
                    let messages: Vec<Notification> = sub.queue.drain(..take).collect();
                    self.counters
                        .delivered
                        .fetch_add(messages.len() as u64, Relaxed);
                    return Ok(PullOutcome {
                        now,
                        termination: sub.expires,
                        messages,
                    });
                }
                Arc::clone(&sub.wake)
            };
            if tokio::time::timeout_at(deadline, wake.notified())
                .await
                .is_err()
            {
                waited_out = true;
            }
        }
    }

    pub fn renew(
        &self,
        id: u64,
        expiry: Option<Expiry>,
    ) -> Result<(OffsetDateTime, OffsetDateTime), Fault> {
        let now = OffsetDateTime::now_utc();
        let termination = self.termination(expiry, now)?;
        let mut subs = lock(&self.subs);
        let sub = subs.get_mut(&id).ok_or_else(events::unknown_subscription)?;
        sub.expires = termination;
        sub.used = std::time::Instant::now();
        sub.lifetime = (termination - now).try_into().unwrap_or(sub.lifetime);
        Ok((now, termination))
    }

    pub fn unsubscribe(&self, id: u64) -> Result<(), Fault> {
        let sub = lock(&self.subs)
            .remove(&id)
            .ok_or_else(events::unknown_subscription)?;
        sub.wake.notify_one();
        Ok(())
    }

    /// SetSynchronizationPoint: queues the current state of every property again, for one
    /// subscription or (posted to the Events service) for all.
    pub fn synchronize(&self, id: Option<u64>, state: &[Notification]) -> Result<(), Fault> {
        let cap = lock(&self.config).queue_size;
        let mut subs = lock(&self.subs);
        let targets: Vec<u64> = match id {
            Some(id) if subs.contains_key(&id) => vec![id],
            Some(_) => return Err(events::unknown_subscription()),
            None => subs.keys().copied().collect(),
        };
        for id in targets {
            if let Some(sub) = subs.get_mut(&id) {
                for n in state.iter().filter(|n| sub.filter.matches(&n.topic)) {
                    sub.queue.push_back(n.clone());
                }
                while sub.queue.len() > cap {
                    sub.queue.pop_front();
                    self.counters.dropped.fetch_add(1, Relaxed);
                }
                sub.wake.notify_one();
            }
        }
        Ok(())
    }

    /// Ends every subscription past its termination time; returns how many ended.
    pub fn expire(&self) -> usize {
        let now = OffsetDateTime::now_utc();
        let mut subs = lock(&self.subs);
        let before = subs.len();
        subs.retain(|id, s| {
            let alive = s.expires > now;
            if !alive {
                tracing::info!(subscription = id, "event subscription expired");
                s.wake.notify_one();
            }
            alive
        });
        let ended = before - subs.len();
        self.counters.expired.fetch_add(ended as u64, Relaxed);
        ended
    }

    /// For a push subscription's sender: up to `max` queued messages (None once it ended).
    pub(super) fn take(&self, id: u64, max: usize) -> Option<(Vec<Notification>, Arc<Notify>)> {
        let mut subs = lock(&self.subs);
        let sub = subs.get_mut(&id)?;
        let take = sub.queue.len().min(max);
        Some((sub.queue.drain(..take).collect(), Arc::clone(&sub.wake)))
    }

    /// Puts back messages a consumer did not take, in front, within the queue's bound.
    pub(super) fn give_back(&self, id: u64, messages: Vec<Notification>) {
        let cap = lock(&self.config).queue_size;
        let mut subs = lock(&self.subs);
        if let Some(sub) = subs.get_mut(&id) {
            for m in messages.into_iter().rev() {
                sub.queue.push_front(m);
            }
            while sub.queue.len() > cap {
                sub.queue.pop_front();
                self.counters.dropped.fetch_add(1, Relaxed);
            }
        }
    }

    pub(super) fn delivered(&self, n: usize) {
        self.counters.delivered.fetch_add(n as u64, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use onvif::events::PropertyOperation;

    fn message(topic: &str) -> Notification {
        Notification {
            topic: topic.into(),
            utc: OffsetDateTime::now_utc(),
            operation: Some(PropertyOperation::Changed),
            source: vec![],
            data: vec![("State".into(), "true".into())],
        }
    }

    fn config() -> EventsConfig {
        EventsConfig {
            max_subscriptions: 2,
            queue_size: 8,
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn a_pull_returns_at_once_when_messages_wait() {
        let subs = Subscriptions::new(config());
        let (id, ..) = subs
            .create("admin", Kind::Pull, TopicFilter::everything(), None, vec![])
            .expect("created");
        subs.deliver(&message("tns1:A"));
        let out = subs
            .pull(id, Duration::from_secs(60), 10)
            .await
            .expect("pulled");
        assert_eq!(out.messages.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_pull_waits_for_the_next_message_or_its_timeout() {
        let subs = Subscriptions::new(config());
        let (id, ..) = subs
            .create("admin", Kind::Pull, TopicFilter::everything(), None, vec![])
            .expect("created");
        let empty = subs
            .pull(id, Duration::from_secs(5), 10)
            .await
            .expect("pulled");
        assert!(empty.messages.is_empty());
        let waiting = {
            let subs = Arc::clone(&subs);
            tokio::spawn(async move { subs.pull(id, Duration::from_secs(50), 10).await })
        };
        tokio::time::sleep(Duration::from_secs(1)).await;
        subs.deliver(&message("tns1:B"));
        let out = waiting.await.expect("task").expect("pulled");
        assert_eq!(out.messages[0].topic, "tns1:B");
    }

    #[test]
    fn queues_are_bounded_and_drop_the_oldest() {
        let subs = Subscriptions::new(config());
        let (id, ..) = subs
            .create("admin", Kind::Pull, TopicFilter::everything(), None, vec![])
            .expect("created");
        for i in 0..20 {
            subs.deliver(&message(&format!("tns1:T{i}")));
        }
        let (queued, _) = subs.take(id, 100).expect("alive");
        assert_eq!(queued.len(), 8);
        assert_eq!(queued[0].topic, "tns1:T12");
        assert_eq!(subs.counters.dropped.load(Relaxed), 12);
    }

    #[test]
    fn beyond_the_maximum_subscriptions_are_refused() {
        // Two users with one each fill the camera: a third has nobody to take a place from.
        let subs = Subscriptions::new(config());
        for who in ["a", "b"] {
            subs.create(who, Kind::Pull, TopicFilter::everything(), None, vec![])
                .expect("created");
        }
        let err = subs
            .create("c", Kind::Pull, TopicFilter::everything(), None, vec![])
            .unwrap_err();
        assert!(err.subcodes.contains(&"TooManySubscriptions"));
        assert_eq!(subs.counters.refused.load(Relaxed), 1);
    }

    #[test]
    fn one_user_cannot_hold_every_subscription() {
        let subs = Subscriptions::new(EventsConfig {
            max_subscriptions: 6,
            max_subscriptions_per_user: 4,
            ..Default::default()
        });
        let pull = |who: &str| {
            subs.create(who, Kind::Pull, TopicFilter::everything(), None, vec![])
                .map(|(id, ..)| id)
        };
        // Abandoned pull points: each past the user's share ends that user's least used.
        let first = pull("mallory").expect("created");
        for _ in 0..9 {
            pull("mallory").expect("a new one replaces an old one");
        }
        assert_eq!(subs.count(), 4);
        assert!(subs.owner(first).is_none(), "the least used went first");
        // Others still get in, up to the camera's maximum...
        let nvr = pull("nvr").expect("room for another user");
        pull("parent").expect("room for another user");
        // ...and past it a newcomer takes a place from whoever holds the most.
        pull("grandma").expect("mallory gives up a place");
        assert_eq!(subs.count(), 6);
        assert_eq!(subs.owner(nvr).as_deref(), Some("nvr"));
        let held = |who: &str| lock(&subs.subs).values().filter(|s| s.owner == who).count();
        assert_eq!(held("mallory"), 3);
        assert_eq!(subs.counters.displaced.load(Relaxed), 7);
    }

    #[test]
    fn past_termination_times_are_refused_and_long_ones_shortened() {
        let subs = Subscriptions::new(config());
        let past = Expiry::At(OffsetDateTime::now_utc() - Duration::from_secs(5));
        assert!(
            subs.create(
                "admin",
                Kind::Pull,
                TopicFilter::everything(),
                Some(past),
                vec![]
            )
            .is_err()
        );
        let (_, now, end) = subs
            .create(
                "admin",
                Kind::Pull,
                TopicFilter::everything(),
                Some(Expiry::After(Duration::from_secs(1_000_000))),
                vec![],
            )
            .expect("created");
        assert_eq!((end - now).whole_seconds(), 3600);
    }

    #[test]
    fn ended_subscriptions_are_unknown() {
        let subs = Subscriptions::new(config());
        let (id, ..) = subs
            .create(
                "admin",
                Kind::Pull,
                TopicFilter::everything(),
                Some(Expiry::At(
                    OffsetDateTime::now_utc() + Duration::from_millis(10),
                )),
                vec![],
            )
            .expect("created");
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(subs.expire(), 1);
        assert!(subs.renew(id, None).is_err());
        assert!(subs.unsubscribe(id).is_err());
    }
}
