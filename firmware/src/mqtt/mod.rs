//! The camera on an MQTT broker: Home Assistant finds it by MQTT discovery, shows its sensors
//! and controls, and gets its alerts. Streaming, detection and the page never wait for the
//! broker: what is published goes through a bounded queue ([`queue`]), the connection runs in
//! its own tasks and reconnects with back-off, and a changed `[mqtt]` section restarts it.
//!
//! Topics, under `<topic>` (default `babymonitor/<device id>`): `availability` (the last will),
//! one retained state per entity (`cry`, `temperature`, `night_mode`...), commands on
//! `<object>/set`, `snapshot` (JPEG), `alert` (JSON events).

pub mod commands;
pub mod discovery;
pub mod link;
pub mod queue;
pub mod state;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::json;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::config::{Config, MqttConfig};
use crate::media::{Hub, JpegEncoder, snapshot};
use crate::metrics_text::{Exposition, Kind as MetricKind};
use crate::settings::Settings;
use commands::{Command, Refusal, Targets};
use discovery::Device;
use queue::{Message, Queue};
pub use state::Sources;

/// How often states are compared with what was published.
const TICK: Duration = Duration::from_secs(1);
/// Sensors are published at least this often.
const SENSOR_REFRESH: Duration = Duration::from_secs(60);
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A connection up this long counts as working: the next failure backs off from the start.
const STABLE: Duration = Duration::from_secs(30);
/// The snapshot's width: enough for a dashboard tile, small enough for any broker.
const SNAPSHOT_WIDTH: u32 = 640;

/// Counters for `/metrics` and `/api/status`.
#[derive(Default)]
pub struct Stats {
    pub connected: AtomicBool,
    pub sent: AtomicU64,
    pub reconnects: AtomicU64,
    pub commands_done: AtomicU64,
    pub commands_refused: AtomicU64,
    pub commands_ignored: AtomicU64,
    pub last_error: Mutex<Option<String>>,
}

/// The camera's identity and page, fixed for the run.
#[derive(Debug, Clone)]
pub struct Identity {
    pub device_id: String,
    pub model: String,
    pub page: String,
}

/// The MQTT side: started once, follows `[mqtt]` changes, stopped at shutdown.
pub struct Mqtt {
    pub stats: Arc<Stats>,
    queue: Arc<Queue>,
    config: watch::Sender<MqttConfig>,
    stop: watch::Sender<bool>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// Everything a connection needs.
struct Shared {
    settings: Arc<Settings>,
    sources: Sources,
    targets: Targets,
    hub: Arc<Hub>,
    jpeg: JpegEncoder,
    identity: Identity,
    stats: Arc<Stats>,
    queue: Arc<Queue>,
}

/// The device id from the hardware id: `bm_` and lower-case letters and digits.
pub fn device_id(hardware_id: &str) -> String {
    let id: String = hardware_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    format!("bm_{}", if id.is_empty() { "camera" } else { &id })
}

impl Mqtt {
    /// Starts following `[mqtt]` (connecting when it is enabled), on the current runtime.
    pub fn start(
        settings: Arc<Settings>,
        sources: Sources,
        targets: Targets,
        snapshot: (Arc<Hub>, JpegEncoder),
        identity: Identity,
    ) -> Arc<Self> {
        let first = settings.current().mqtt.clone();
        let stats = Arc::new(Stats::default());
        let queue = Arc::new(Queue::new(first.queue));
        let (config, config_rx) = watch::channel(first);
        let (stop, stop_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            settings: Arc::clone(&settings),
            sources,
            targets,
            hub: snapshot.0,
            jpeg: snapshot.1,
            identity,
            stats: Arc::clone(&stats),
            queue: Arc::clone(&queue),
        });
        let mqtt = Arc::new(Self {
            stats,
            queue,
            config,
            stop,
            task: Mutex::new(None),
        });
        let weak = Arc::downgrade(&mqtt);
        settings.subscribe(move |new: &Config| {
            if let Some(m) = weak.upgrade() {
                m.config.send_if_modified(|c| {
                    let changed = *c != new.mqtt;
                    *c = new.mqtt.clone();
                    changed
                });
            }
        });
        let task = tokio::spawn(supervise(shared, config_rx, stop_rx));
        *mqtt.task.lock().unwrap_or_else(PoisonError::into_inner) = Some(task);
        mqtt
    }

    /// Says goodbye to the broker (`offline`) and ends the tasks; bounded in time.
    pub async fn stop(&self) {
        let _ = self.stop.send(true);
        let task = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            let _ = tokio::time::timeout(Duration::from_secs(3), task).await;
        }
    }

    pub fn status(&self) -> serde_json::Value {
        let config = self.config.borrow();
        json!({
            "enabled": config.enabled,
            "connected": self.stats.connected.load(Relaxed),
            "broker": config.broker,
            "last_error": *self.stats.last_error.lock().unwrap_or_else(PoisonError::into_inner),
        })
    }

    pub fn render_metrics(&self, e: &mut Exposition) {
        let s = &self.stats;
        e.family(
            "mqtt_connected",
            MetricKind::Gauge,
            "Whether the camera is connected to its MQTT broker.",
        )
        .sample(&[], u64::from(s.connected.load(Relaxed)));
        e.family(
            "mqtt_messages_sent_total",
            MetricKind::Counter,
            "MQTT messages handed to the broker connection.",
        )
        .sample(&[], s.sent.load(Relaxed));
        e.family(
            "mqtt_messages_dropped_total",
            MetricKind::Counter,
            "MQTT messages dropped because the broker was too slow or away.",
        )
        .sample(&[], self.queue.dropped.load(Relaxed));
        e.family(
            "mqtt_reconnects_total",
            MetricKind::Counter,
            "Times the MQTT connection was lost or could not be made.",
        )
        .sample(&[], s.reconnects.load(Relaxed));
        let mut f = e.family(
            "mqtt_commands_total",
            MetricKind::Counter,
            "Commands received over MQTT, by result.",
        );
        f.sample(&[("result", "done")], s.commands_done.load(Relaxed));
        f.sample(&[("result", "refused")], s.commands_refused.load(Relaxed));
        f.sample(&[("result", "ignored")], s.commands_ignored.load(Relaxed));
    }
}

/// Runs one connection per `[mqtt]` in force, a new one whenever it changes.
async fn supervise(
    shared: Arc<Shared>,
    mut config: watch::Receiver<MqttConfig>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let current = config.borrow_and_update().clone();
        if current.enabled {
            let (end_tx, end_rx) = watch::channel(false);
            let session = tokio::spawn(Arc::clone(&shared).session(current, end_rx));
            tokio::select! {
                _ = config.changed() => {
                    info!("the MQTT settings changed: reconnecting");
                    let _ = end_tx.send(true);
                    let _ = session.await;
                }
                _ = until(&mut stop) => {
                    let _ = end_tx.send(true);
                    let _ = session.await;
                    return;
                }
            }
        } else {
            shared.stats.connected.store(false, Relaxed);
            tokio::select! {
                r = config.changed() => if r.is_err() { return },
                _ = until(&mut stop) => return,
            }
        }
    }
}

/// The topics of one connection.
#[derive(Debug, Clone)]
struct Topics {
    base: String,
    prefix: String,
    availability: String,
    ha_status: String,
}

impl Topics {
    fn of(config: &MqttConfig, device_id: &str) -> Self {
        let base = if config.topic.is_empty() {
            format!("babymonitor/{device_id}")
        } else {
            config.topic.clone()
        };
        Self {
            availability: format!("{base}/availability"),
            ha_status: format!("{}/status", config.discovery_prefix),
            prefix: config.discovery_prefix.clone(),
            base,
        }
    }

    fn state(&self, object: &str) -> String {
        format!("{}/{object}", self.base)
    }
}

impl Shared {
    fn set_error(&self, e: Option<String>) {
        *self
            .stats
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = e;
    }

    fn push(&self, topic: String, payload: impl Into<Bytes>, retain: bool) {
        self.queue.push(Message {
            topic,
            payload: payload.into(),
            retain,
        });
    }

    /// One connection until `end`: the event loop, the sender and the publisher.
    async fn session(self: Arc<Self>, config: MqttConfig, mut end: watch::Receiver<bool>) {
        let topics = Topics::of(&config, &self.identity.device_id);
        let client_id = if config.client_id.is_empty() {
            format!("babymonitor-{}", self.identity.device_id)
        } else {
            config.client_id.clone()
        };
        let tls = match config.address() {
            Ok(a) if a.tls => match link::tls_config(&config) {
                Ok(tls) => Some(tls),
                Err(e) => {
                    warn!("MQTT: {e}; not connecting");
                    self.set_error(Some(e));
                    until(&mut end).await;
                    return;
                }
            },
            _ => None,
        };
        let options = link::Options {
            config: &config,
            client_id,
            will_topic: topics.availability.clone(),
            tls,
        };
        // Checked once: the address and options do not change during a session.
        let mut first = match link::open(&options) {
            Ok(pair) => Some(pair),
            Err(e) => {
                warn!("MQTT: {e}; not connecting");
                self.set_error(Some(e));
                until(&mut end).await;
                return;
            }
        };
        info!(broker = config.broker, protocol = ?config.protocol, "MQTT connecting");
        // Bumped at each connection and each time Home Assistant comes back: everything is
        // announced and published again.
        let (fresh_tx, fresh_rx) = watch::channel(0u64);
        let publisher =
            tokio::spawn(Arc::clone(&self).publish(topics.clone(), config.clone(), fresh_rx));
        let mut backoff = BACKOFF_MIN;
        let mut last_failure: Option<String> = None;
        loop {
            // A new client for every connection: rumqttc keeps state from a failed one (a
            // packet-id collision after a broker that never acked, bytebeamio/rumqtt#1056)
            // that can stall a clean session for good, and our queue is the one that keeps
            // what must still go out.
            let (client, events) = match first.take().map_or_else(|| link::open(&options), Ok) {
                Ok(pair) => pair,
                Err(e) => {
                    self.set_error(Some(e));
                    until(&mut end).await;
                    break;
                }
            };
            let Some((e, held)) = self
                .connection(&topics, &config, client, events, &fresh_tx, &mut end)
                .await
            else {
                break;
            };
            // The back-off starts again only after a connection that held: one the broker
            // drops at once (a login it refuses later, a message we cannot take) keeps
            // backing off.
            if held >= STABLE {
                backoff = BACKOFF_MIN;
            }
            self.stats.reconnects.fetch_add(1, Relaxed);
            if last_failure.as_deref() != Some(e.as_str()) {
                warn!(
                    broker = config.broker,
                    "MQTT connection failed: {e}; retrying"
                );
                last_failure = Some(e.clone());
            } else {
                debug!("MQTT still failing: {e}");
            }
            self.set_error(Some(e));
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = until(&mut end) => break,
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
        publisher.abort();
        info!("MQTT disconnected");
    }

    /// One connection with its own client: until it fails (the error, and how long it was
    /// up) or `end` (`None`, after saying goodbye).
    async fn connection(
        self: &Arc<Self>,
        topics: &Topics,
        config: &MqttConfig,
        client: link::Client,
        mut events: link::Events,
        fresh: &watch::Sender<u64>,
        end: &mut watch::Receiver<bool>,
    ) -> Option<(String, Duration)> {
        let (connected_tx, connected_rx) = watch::channel(false);
        let sender = tokio::spawn(Arc::clone(self).send(client.clone(), connected_rx));
        let mut connected_at: Option<Instant> = None;
        let failure = loop {
            let event = tokio::select! {
                e = events.next() => e,
                _ = until(end) => break None,
            };
            match event {
                Ok(link::Event::Connected) => {
                    info!(broker = config.broker, "MQTT connected");
                    self.stats.connected.store(true, Relaxed);
                    self.set_error(None);
                    connected_at = Some(Instant::now());
                    let _ = connected_tx.send(true);
                    // Commands and anything deeper than our own states: a state topic
                    // (`<base>/<object>`) is ours, and what else sits there, retained and
                    // perhaps too big to take, must not come at every connection.
                    let filters = [format!("{}/+/+/#", topics.base), topics.ha_status.clone()];
                    let c = client.clone();
                    tokio::spawn(async move {
                        if let Err(e) = c.subscribe(&filters).await {
                            warn!("MQTT: cannot subscribe: {e}");
                        }
                    });
                    fresh.send_modify(|n| *n += 1);
                }
                Ok(link::Event::Message {
                    topic,
                    payload,
                    retain,
                }) => {
                    if topic == topics.ha_status {
                        if payload.as_ref() == b"online" {
                            info!("Home Assistant is back: announcing the camera again");
                            fresh.send_modify(|n| *n += 1);
                        }
                    } else {
                        self.command(topics, config, &topic, &payload, retain).await;
                    }
                }
                Ok(link::Event::Other) => {}
                Err(e) => break Some((e, connected_at.map_or(Duration::ZERO, |t| t.elapsed()))),
            }
        };
        sender.abort();
        if self.stats.connected.swap(false, Relaxed) && failure.is_none() {
            // The goodbye only goes out while the loop runs.
            client.goodbye(&topics.availability).await;
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                while events.next().await.is_ok() {}
            })
            .await;
        }
        failure
    }

    /// Hands queued messages to the connection while it is up.
    async fn send(self: Arc<Self>, client: link::Client, mut connected: watch::Receiver<bool>) {
        loop {
            if !until(&mut connected).await {
                return;
            }
            let m = self.queue.pop().await;
            match client.publish(&m.topic, m.payload, m.retain).await {
                Ok(()) => {
                    self.stats.sent.fetch_add(1, Relaxed);
                }
                Err(e) => {
                    debug!("MQTT: cannot publish: {e}");
                    return;
                }
            }
        }
    }

    /// Publishes discovery, states, alerts and snapshots as they change.
    async fn publish(
        self: Arc<Self>,
        topics: Topics,
        config: MqttConfig,
        mut fresh: watch::Receiver<u64>,
    ) {
        let mut alerts = self.sources.alerts.subscribe();
        let mut bus = self.sources.bus.listen();
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut published: HashMap<String, String> = HashMap::new();
        let mut announced: HashMap<String, String> = HashMap::new();
        let mut sensors_at = Instant::now();
        let snapshot_every = (config.snapshot_interval_s > 0)
            .then(|| Duration::from_secs(config.snapshot_interval_s));
        let mut snapshot_at: Option<Instant> = None;
        let snapping = Arc::new(AtomicBool::new(false));
        let alerts_for = alerts_user(&self.settings, &config);
        // Nothing goes out before the first connection.
        if fresh.wait_for(|n| *n > 0).await.is_err() {
            return;
        }
        fresh.mark_changed();
        loop {
            let mut snap = false;
            tokio::select! {
                r = fresh.changed() => {
                    if r.is_err() { return }
                    published.clear();
                    announced.clear();
                    self.push(topics.availability.clone(), "online", true);
                    snap = true;
                }
                _ = tick.tick() => {}
                n = bus.recv() => {
                    if let Err(tokio::sync::broadcast::error::RecvError::Closed) = n { return }
                }
                a = alerts.recv() => match a {
                    Ok(alert) if Some(&alert.user) == alerts_for.as_ref() => {
                        let event = json!({
                            "event_type": alert.kind.as_str(),
                            "title": alert.title,
                            "body": alert.body,
                            "time": alert.time,
                            "id": alert.id,
                        });
                        self.push(topics.state("alert"), event.to_string(), false);
                        snap = true;
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                },
            }
            let options = self.sources.sound_options();
            self.announce(&topics, &options, &mut announced);
            let refresh = sensors_at.elapsed() >= SENSOR_REFRESH;
            if refresh {
                sensors_at = Instant::now();
            }
            for (object, value) in self.sources.states(&options) {
                let topic = topics.state(object);
                let again = refresh && state::SENSORS.contains(&object);
                let last = published.get(&topic).map(String::as_str);
                if again || state::worth_publishing(object, last, &value) {
                    self.push(topic.clone(), value.clone(), true);
                    published.insert(topic, value);
                }
            }
            if let Some(every) = snapshot_every
                && snapshot_at.is_none_or(|t| t.elapsed() >= every)
            {
                snap = true;
            }
            if snap && !snapping.swap(true, Relaxed) {
                snapshot_at = Some(Instant::now());
                let me = Arc::clone(&self);
                let (topic, busy) = (topics.state("snapshot"), Arc::clone(&snapping));
                tokio::spawn(async move {
                    me.snapshot(topic).await;
                    busy.store(false, Relaxed);
                });
            }
        }
    }

    /// Discovery configs that changed since they were last announced (all of them after a
    /// connection or Home Assistant's return).
    fn announce(
        &self,
        topics: &Topics,
        options: &[(String, String)],
        announced: &mut HashMap<String, String>,
    ) {
        let config = self.settings.current();
        let mut sounds = vec![discovery::NOTHING.to_string()];
        sounds.extend(options.iter().map(|(_, o)| o.clone()));
        let device = Device {
            id: self.identity.device_id.clone(),
            name: config.device.name.clone(),
            model: self.identity.model.clone(),
            version: env!("CARGO_PKG_VERSION").into(),
            page: self.identity.page.clone(),
            has_climate: self.sources.climate.is_some(),
            has_speaker: self.targets.audio.is_some(),
            has_night: self.sources.night.available(),
            has_microphone: self.sources.has_microphone,
            sounds,
        };
        for e in discovery::entities(&device, &topics.base) {
            let topic = discovery::config_topic(&topics.prefix, &device.id, &e);
            let payload = e.config.map(|c| c.to_string()).unwrap_or_default();
            if announced.get(&topic) != Some(&payload) {
                self.push(topic.clone(), payload.clone(), true);
                announced.insert(topic, payload);
            }
        }
    }

    async fn snapshot(&self, topic: String) {
        let config = self.settings.current();
        let main = (config.video.main.width, config.video.main.height);
        let width = SNAPSHOT_WIDTH.min(main.0);
        let timeout = Duration::from_secs(config.media.start_timeout_s);
        match snapshot::take(&self.hub, self.jpeg, main, width, timeout).await {
            Ok(jpeg) => self.push(topic, jpeg, false),
            Err(e) => warn!("MQTT: no snapshot: {e}"),
        }
    }

    /// A message on one of our topics: a command, or our own state coming back.
    async fn command(
        &self,
        topics: &Topics,
        config: &MqttConfig,
        topic: &str,
        payload: &Bytes,
        retain: bool,
    ) {
        let Some(rest) = topic
            .strip_prefix(topics.base.as_str())
            .and_then(|r| r.strip_prefix('/'))
        else {
            return;
        };
        let Some(object) = rest.strip_suffix("/set") else {
            // Our own states (MQTT 3.1.1 sends them back), or something that is no command.
            if !is_own_topic(rest) {
                self.stats.commands_ignored.fetch_add(1, Relaxed);
                warn!(topic = %truncated(topic), "MQTT: not a topic of this camera; ignored");
            }
            return;
        };
        if retain {
            // A command kept by the broker would be carried out again at every reconnect.
            self.stats.commands_ignored.fetch_add(1, Relaxed);
            warn!(topic = %truncated(topic), "MQTT: a retained command is ignored (publish commands without retain)");
            return;
        }
        let command = match Command::parse(object, payload) {
            Ok(c) => c,
            Err(e) => {
                self.stats.commands_ignored.fetch_add(1, Relaxed);
                warn!(topic = %truncated(topic), "MQTT command ignored: {e}");
                return;
            }
        };
        if !command.allowed(config.commands) {
            self.stats.commands_refused.fetch_add(1, Relaxed);
            warn!(
                topic = %truncated(topic),
                role = config.commands.as_str(),
                "MQTT command refused: [mqtt] commands does not allow it"
            );
            return;
        }
        let options = self.sources.sound_options();
        let targets = Targets {
            night: Arc::clone(&self.targets.night),
            audio: self.targets.audio.clone(),
        };
        let ran = tokio::task::spawn_blocking(move || targets.run(&command, &options)).await;
        match ran {
            Ok(Ok(done)) => {
                self.stats.commands_done.fetch_add(1, Relaxed);
                info!(topic = %truncated(topic), "MQTT command: {done}");
            }
            Ok(Err(e @ Refusal::Ignored(_))) => {
                self.stats.commands_ignored.fetch_add(1, Relaxed);
                warn!(topic = %truncated(topic), "MQTT command ignored: {e}");
            }
            Ok(Err(e)) => {
                self.stats.commands_refused.fetch_add(1, Relaxed);
                warn!(topic = %truncated(topic), "MQTT command refused: {e}");
            }
            Err(_) => warn!("MQTT command task failed"),
        }
    }
}

/// Until `flag` is true; false if its sender is gone. The guard `wait_for` returns is dropped
/// here, before any other await.
async fn until(flag: &mut watch::Receiver<bool>) -> bool {
    flag.wait_for(|f| *f).await.is_ok()
}

/// The topics the camera publishes under its base (what comes back of them is no command).
fn is_own_topic(rest: &str) -> bool {
    matches!(rest, "availability" | "snapshot" | "alert")
        || state::SENSORS.contains(&rest)
        || matches!(
            rest,
            "cry"
                | "motion"
                | "too_hot"
                | "too_cold"
                | "too_dry"
                | "too_humid"
                | "sensor_failure"
                | "microphone_failure"
                | "night"
                | "night_mode"
                | "sound"
                | "volume"
        )
}

/// A topic for the log: someone else's topic may be long.
fn truncated(topic: &str) -> String {
    topic.chars().take(120).collect()
}

/// Whose alerts go out as events: `alerts_for`, else the first admin (the same choice the
/// push channel makes, with a warning when the name is of nobody).
fn alerts_user(settings: &Settings, config: &MqttConfig) -> Option<String> {
    let users = &settings.current().users;
    let named = crate::notify::follower(&config.alerts_for, users);
    if named.is_none() && !config.alerts_for.is_empty() {
        warn!(
            user = config.alerts_for,
            "MQTT: [mqtt] alerts_for names no user; alerts go to the first admin's rules"
        );
    }
    named
        .or_else(|| crate::notify::follower("", users))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_device_id_is_stable_and_plain() {
        assert_eq!(device_id("B827EB123456"), "bm_b827eb123456");
        assert_eq!(device_id("b8:27:eb:12:34:56"), "bm_b827eb123456");
        assert_eq!(device_id(""), "bm_camera");
    }

    #[test]
    fn own_states_are_told_from_foreign_topics() {
        for own in ["temperature", "cry", "volume", "availability", "snapshot"] {
            assert!(is_own_topic(own), "{own}");
        }
        for foreign in ["reboot", "volume/x", "cry/state", ""] {
            assert!(!is_own_topic(foreign), "{foreign}");
        }
        let t = Topics::of(&MqttConfig::default(), "bm_x");
        assert_eq!(t.base, "babymonitor/bm_x");
        assert_eq!(t.availability, "babymonitor/bm_x/availability");
        assert_eq!(t.ha_status, "homeassistant/status");
    }
}
