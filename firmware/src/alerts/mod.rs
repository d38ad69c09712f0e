//! Alerts for the parents' phones: each user's rules (`rules.rs`, stored with the run-time
//! settings), the evaluator that decides when an alert fires (`evaluator.rs`), and the task
//! that feeds it from the event bus and the microphone's health and sends the alerts out.
//!
//! Every channel (the page's `/api/events` now; MQTT or push later) subscribes to
//! [`Alerts::subscribe`] and only passes on what comes out: none decides alerts itself.

pub mod evaluator;
pub mod rules;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use onvif::events::Notification;
use serde::Serialize;
use tokio::sync::broadcast;
use tracing::{info, warn};

pub use evaluator::{Evaluator, Kind, Moment, Signal};
pub use rules::{RuleError, Rules};

use crate::events::{Bus, topics};
use crate::media::Hub;
use crate::metrics_text::{Exposition, Kind as MetricKind};
use crate::settings::Settings;

/// How often the clock ticks: sleep-training delays end and the microphone is looked at.
const TICK: Duration = Duration::from_millis(500);
/// The microphone counts as working again once its silence stand-in has been off this long:
/// a failing microphone that the capture retries (on, off, on...) is one failure, not many.
const MIC_RECOVERY: Duration = Duration::from_secs(10);

/// One alert, for one user.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// Whose it is: channels pass it to this user only.
    #[serde(skip)]
    pub user: String,
    pub id: u64,
    pub kind: Kind,
    pub title: String,
    pub body: String,
    /// UTC, `YYYY-MM-DDTHH:MM:SSZ`.
    pub time: String,
    /// How the user wants to be told (their rule's switches for this kind).
    pub sound: bool,
    pub vibrate: bool,
    pub notify: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum AlertsError {
    #[error(transparent)]
    Invalid(#[from] RuleError),
    #[error("cannot store the alert rules: {0}")]
    Storage(String),
}

/// The alerts: rules, the microphone's health, and the channel alerts go out on.
pub struct Alerts {
    settings: Arc<Settings>,
    sent: broadcast::Sender<Arc<Alert>>,
    mic_failed: AtomicBool,
    /// Alerts sent, by [`Kind`].
    counts: [AtomicU64; Kind::ALL.len()],
    next_id: AtomicU64,
}

impl Alerts {
    pub fn new(settings: Arc<Settings>) -> Arc<Self> {
        Arc::new(Self {
            settings,
            sent: broadcast::channel(64).0,
            mic_failed: AtomicBool::new(false),
            counts: Default::default(),
            next_id: AtomicU64::new(1),
        })
    }

    /// `user`'s rules: what they stored, else the defaults.
    pub fn rules(&self, user: &str) -> Rules {
        stored_rules(&self.settings, user)
    }

    /// Replaces `user`'s rules and stores them.
    pub fn set_rules(&self, user: &str, rules: Rules) -> Result<(), AlertsError> {
        rules.validate()?;
        self.settings
            .change(|state, _| {
                state.alerts.insert(user.to_string(), rules.clone());
                Ok(())
            })
            .map_err(|e| AlertsError::Storage(e.to_string()))?;
        info!(user, "alert rules changed");
        Ok(())
    }

    /// Every alert as it goes out, for every user: a channel passes on its user's.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Alert>> {
        self.sent.subscribe()
    }

    /// Whether the camera hears the nursery (its microphone has not failed).
    pub fn mic_ok(&self) -> bool {
        !self.mic_failed.load(Relaxed)
    }

    pub fn render_metrics(&self, e: &mut Exposition) {
        let mut f = e.family(
            "alerts_total",
            MetricKind::Counter,
            "Alerts sent to users, by kind (one per user told).",
        );
        for kind in Kind::ALL {
            f.sample(
                &[("kind", kind.as_str())],
                self.counts[kind as usize].load(Relaxed),
            );
        }
    }

    /// The task that evaluates every user's rules against what the camera senses; it ends when
    /// the runtime does (or is aborted).
    pub fn spawn(self: &Arc<Self>, bus: Arc<Bus>, hub: Arc<Hub>) -> tokio::task::JoinHandle<()> {
        let alerts = Arc::clone(self);
        tokio::spawn(async move { alerts.run(&bus, &hub).await })
    }

    async fn run(&self, bus: &Bus, hub: &Hub) {
        // Listening before the snapshot, so that nothing falls between them.
        let mut live = bus.listen();
        let start = Instant::now();
        let mut task = Task::new(start);
        for n in bus.snapshot() {
            if let Some(signal) = signal_of(&n) {
                self.send_all(bus, task.signal(&self.settings, signal));
            }
        }
        let mut mic = MicWatch::default();
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let fired = tokio::select! {
                n = live.recv() => match n {
                    Ok(n) => match signal_of(&n) {
                        Some(signal) => task.signal(&self.settings, signal),
                        None => continue,
                    },
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        // The bus keeps every property's value: what was missed is read back.
                        warn!(missed, "alerts fell behind the event bus");
                        let mut fired = Vec::new();
                        for n in bus.snapshot() {
                            if let Some(signal) = signal_of(&n) {
                                fired.extend(task.signal(&self.settings, signal));
                            }
                        }
                        fired
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = tick.tick() => {
                    let stand_in = hub.stats.audio.stand_in.load(Relaxed);
                    let failed = mic.observe(stand_in, start.elapsed());
                    let mut fired = Vec::new();
                    if failed != self.mic_failed.swap(failed, Relaxed) {
                        if failed {
                            warn!("the microphone failed: the camera cannot hear the nursery");
                        } else {
                            info!("the microphone works again");
                        }
                        fired.extend(task.signal(&self.settings, Signal {
                            kind: Kind::Microphone,
                            on: failed,
                        }));
                    }
                    fired.extend(task.tick(&self.settings));
                    fired
                }
            };
            self.send_all(bus, fired);
        }
    }

    fn send_all(&self, bus: &Bus, fired: Vec<(String, Rules, Kind)>) {
        for (user, rules, kind) in fired {
            let switches = kind.switches(&rules);
            let (title, body) = describe(kind, &self.settings.current().device.name, bus);
            let alert = Alert {
                user,
                id: self.next_id.fetch_add(1, Relaxed),
                kind,
                title,
                body,
                time: onvif::events::format_time(time::OffsetDateTime::now_utc()),
                sound: switches.sound,
                vibrate: switches.vibrate,
                notify: switches.notify,
            };
            info!(
                user = alert.user,
                kind = kind.as_str(),
                id = alert.id,
                "alert"
            );
            self.counts[kind as usize].fetch_add(1, Relaxed);
            // Nobody listening is no error: the alert is counted, and the page's heartbeat
            // carries what lasts (the microphone's state).
            let _ = self.sent.send(Arc::new(alert));
        }
    }
}

/// A user's stored rules, else the defaults (also for stored rules that no longer validate).
fn stored_rules(settings: &Settings, user: &str) -> Rules {
    match settings.state().alerts.remove(user) {
        Some(rules) => match rules.validate() {
            Ok(()) => rules,
            Err(e) => {
                warn!(
                    user,
                    "stored alert rules are unusable ({e}): using the defaults"
                );
                Rules::default()
            }
        },
        None => Rules::default(),
    }
}

/// Every user's evaluator, and what the camera senses now (to prime a user added later).
struct Task {
    start: Instant,
    users: HashMap<String, Evaluator>,
    present: HashMap<Kind, bool>,
}

impl Task {
    fn new(start: Instant) -> Self {
        Self {
            start,
            users: HashMap::new(),
            present: HashMap::new(),
        }
    }

    fn now(&self) -> Moment {
        Moment {
            since_start: self.start.elapsed(),
            minute_of_day: local_minute_of_day(),
        }
    }

    /// Runs `f` on the evaluator of every user there is now, with their rules; users who are
    /// gone are forgotten, new ones start from the present state.
    fn each(
        &mut self,
        settings: &Settings,
        mut f: impl FnMut(&mut Evaluator, &Rules, Moment) -> Option<Kind>,
    ) -> Vec<(String, Rules, Kind)> {
        let now = self.now();
        let config = settings.current();
        let mut stored = settings.state().alerts;
        self.users
            .retain(|name, _| config.users.iter().any(|u| &u.name == name));
        let present: Vec<Signal> = self
            .present
            .iter()
            .map(|(&kind, &on)| Signal { kind, on })
            .collect();
        let mut fired = Vec::new();
        for user in &config.users {
            let rules = match stored.remove(&user.name) {
                Some(r) if r.validate().is_ok() => r,
                _ => Rules::default(),
            };
            let e = self
                .users
                .entry(user.name.clone())
                .or_insert_with(|| Evaluator::primed(&present, now));
            if let Some(kind) = f(e, &rules, now) {
                fired.push((user.name.clone(), rules, kind));
            }
        }
        fired
    }

    fn signal(&mut self, settings: &Settings, signal: Signal) -> Vec<(String, Rules, Kind)> {
        let fired = self.each(settings, |e, rules, now| e.feed(rules, now, signal));
        self.present.insert(signal.kind, signal.on);
        fired
    }

    fn tick(&mut self, settings: &Settings) -> Vec<(String, Rules, Kind)> {
        self.each(settings, |e, rules, now| e.tick(rules, now))
    }
}

/// Minutes since local midnight. GLib reads the time zone (TZ, /etc/localtime) safely in a
/// threaded process, which the `time` crate will not.
fn local_minute_of_day() -> u16 {
    gst::glib::DateTime::now_local()
        .map(|t| (t.hour() * 60 + t.minute()).clamp(0, 1439) as u16)
        .unwrap_or(0)
}

/// What a bus message says about a condition alerts are about.
pub fn signal_of(n: &Notification) -> Option<Signal> {
    let (kind, item) = match n.topic.as_str() {
        topics::DETECTED_SOUND => (Kind::Cry, "IsSoundDetected"),
        topics::MOTION_ALARM => (Kind::Motion, "State"),
        topics::TEMPERATURE_HIGH => (Kind::TooHot, "State"),
        topics::TEMPERATURE_LOW => (Kind::TooCold, "State"),
        topics::HUMIDITY_HIGH => (Kind::TooHumid, "State"),
        topics::HUMIDITY_LOW => (Kind::TooDry, "State"),
        _ => return None,
    };
    let (_, value) = n.data.iter().find(|(k, _)| k == item)?;
    Some(Signal {
        kind,
        on: value == "true",
    })
}

/// An alert's title and text, in the parents' words.
fn describe(kind: Kind, room: &str, bus: &Bus) -> (String, String) {
    let reading = |topic: &str, unit: &str| {
        bus.value(topic, "Status")
            .map(|v| format!(" ({v} {unit})"))
            .unwrap_or_default()
    };
    let (title, body) = match kind {
        Kind::Cry => ("Crying", format!("The baby is crying in {room}.")),
        Kind::Motion => ("Movement", format!("Something moves in {room}.")),
        Kind::TooHot => (
            "Too hot",
            format!("{room} is too hot{}.", reading(topics::TEMPERATURE, "°C")),
        ),
        Kind::TooCold => (
            "Too cold",
            format!("{room} is too cold{}.", reading(topics::TEMPERATURE, "°C")),
        ),
        Kind::TooHumid => (
            "Too humid",
            format!("{room} is too humid{}.", reading(topics::HUMIDITY, "%")),
        ),
        Kind::TooDry => (
            "Too dry",
            format!("{room} is too dry{}.", reading(topics::HUMIDITY, "%")),
        ),
        Kind::Microphone => (
            "Microphone failed",
            format!("The camera cannot hear {room}: check its microphone."),
        ),
    };
    (title.to_string(), body)
}

/// The microphone's health from the capture's silence stand-in: failed as soon as the
/// stand-in runs, working again once it has been off for [`MIC_RECOVERY`].
#[derive(Debug, Default)]
struct MicWatch {
    failed: bool,
    /// Since when the stand-in has been off while the microphone counted as failed.
    off_since: Option<Duration>,
}

impl MicWatch {
    /// Whether the microphone counts as failed, given whether the stand-in runs at `now`.
    fn observe(&mut self, stand_in: bool, now: Duration) -> bool {
        if stand_in {
            self.failed = true;
            self.off_since = None;
        } else if self.failed {
            let since = *self.off_since.get_or_insert(now);
            if now.saturating_sub(since) >= MIC_RECOVERY {
                self.failed = false;
                self.off_since = None;
            }
        }
        self.failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Role, User};

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn a_microphone_that_the_capture_keeps_retrying_is_one_failure() {
        let mut m = MicWatch::default();
        assert!(!m.observe(false, secs(0)));
        assert!(m.observe(true, secs(1)));
        // Retried: the stand-in goes for a few seconds, comes back.
        assert!(m.observe(false, secs(2)));
        assert!(m.observe(false, secs(8)));
        assert!(m.observe(true, secs(9)));
        assert!(m.observe(false, secs(10)));
        assert!(m.observe(false, secs(19)));
        // Off for 10 s: it works again.
        assert!(!m.observe(false, secs(20)));
        assert!(!m.observe(false, secs(60)));
    }

    #[test]
    fn bus_messages_become_signals() {
        let n = |topic: &str, item: &str, value: &str| Notification {
            topic: topic.into(),
            utc: time::OffsetDateTime::UNIX_EPOCH,
            operation: None,
            source: vec![],
            data: vec![(item.into(), value.into())],
        };
        let on = |kind| Some(Signal { kind, on: true });
        assert_eq!(
            signal_of(&n(topics::DETECTED_SOUND, "IsSoundDetected", "true")),
            on(Kind::Cry)
        );
        assert_eq!(
            signal_of(&n(topics::MOTION_ALARM, "State", "true")),
            on(Kind::Motion)
        );
        assert_eq!(
            signal_of(&n(topics::TEMPERATURE_HIGH, "State", "true")),
            on(Kind::TooHot)
        );
        assert_eq!(
            signal_of(&n(topics::TEMPERATURE_LOW, "State", "true")),
            on(Kind::TooCold)
        );
        assert_eq!(
            signal_of(&n(topics::HUMIDITY_HIGH, "State", "false")),
            Some(Signal {
                kind: Kind::TooHumid,
                on: false
            })
        );
        assert_eq!(
            signal_of(&n(topics::HUMIDITY_LOW, "State", "true")),
            on(Kind::TooDry)
        );
        // The cell motion rule says the same as the motion alarm: counted once.
        assert_eq!(signal_of(&n(topics::CELL_MOTION, "IsMotion", "true")), None);
        assert_eq!(signal_of(&n(topics::TEMPERATURE, "Status", "25.0")), None);
        assert_eq!(signal_of(&n(topics::MOTION_ALARM, "Other", "true")), None);
    }

    fn user(name: &str, role: Role) -> User {
        User {
            name: name.into(),
            password: "pw-123456".into(),
            role,
        }
    }

    #[test]
    fn each_user_has_their_own_rules_and_evaluator_and_a_deleted_user_goes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = Config {
            users: vec![user("ann", Role::Admin), user("bob", Role::User)],
            ..Config::default()
        };
        let settings = Arc::new(Settings::new(None, base.clone(), dir.path(), None).expect("s"));
        let alerts = Alerts::new(Arc::clone(&settings));
        let mut quiet = Rules::default();
        quiet.cry.enabled = false;
        quiet.cry.sound = false;
        alerts.set_rules("bob", quiet.clone()).expect("set");
        assert_eq!(alerts.rules("bob"), quiet);
        assert_eq!(alerts.rules("ann"), Rules::default());
        let bad = Rules {
            link_alarm_s: 1,
            ..Rules::default()
        };
        let err = alerts.set_rules("ann", bad).expect_err("invalid");
        assert!(
            matches!(&err, AlertsError::Invalid(e) if e.field == "link_alarm_s"),
            "{err}"
        );

        let mut task = Task::new(Instant::now());
        let cry = Signal {
            kind: Kind::Cry,
            on: true,
        };
        let fired = task.signal(&settings, cry);
        let who: Vec<_> = fired.iter().map(|(u, _, k)| (u.as_str(), *k)).collect();
        assert_eq!(who, [("ann", Kind::Cry)]);

        // Stored across a restart.
        let again = Settings::new(None, base, dir.path(), None).expect("s");
        assert_eq!(stored_rules(&again, "bob"), quiet);

        // A deleted user's rules go with them.
        settings
            .create_users(&[crate::settings::UserChange {
                name: "cy".into(),
                password: Some("pw-123456".into()),
                role: Role::User,
            }])
            .expect("create");
        alerts.set_rules("cy", quiet.clone()).expect("set");
        settings.delete_users(&["bob".into()]).expect("delete");
        let stored = settings.state().alerts;
        assert!(!stored.contains_key("bob"), "{stored:?}");
        assert!(stored.contains_key("cy"));
        // And a new user, added while the baby cries, is not told of this episode.
        let fired = task.signal(&settings, cry);
        assert!(fired.is_empty(), "{fired:?}");
        assert!(!task.users.contains_key("bob"));
        assert!(task.users.contains_key("cy"));
    }

    #[tokio::test]
    async fn alerts_go_out_with_the_users_switches_and_are_counted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = Config {
            users: vec![user("ann", Role::Admin)],
            ..Config::default()
        };
        let settings = Arc::new(Settings::new(None, base, dir.path(), None).expect("s"));
        let alerts = Alerts::new(Arc::clone(&settings));
        let mut rules = Rules::default();
        rules.climate.vibrate = false;
        alerts.set_rules("ann", rules.clone()).expect("set");
        let mut rx = alerts.subscribe();
        let bus = Bus::new(crate::events::Subscriptions::new(Default::default()));
        bus.set(
            topics::TEMPERATURE,
            &[("SensorToken", "t")],
            &[("Status", "25.5")],
        );
        alerts.send_all(&bus, vec![("ann".into(), rules, Kind::TooHot)]);
        let got = rx.try_recv().expect("an alert");
        assert_eq!((got.user.as_str(), got.kind), ("ann", Kind::TooHot));
        assert!(got.sound && !got.vibrate && got.notify);
        assert!(got.body.contains("25.5 °C"), "{}", got.body);
        let json = serde_json::to_value(&*got).expect("json");
        for key in [
            "id", "kind", "title", "body", "time", "sound", "vibrate", "notify",
        ] {
            assert!(json.get(key).is_some(), "{key} missing: {json}");
        }
        assert!(json.get("user").is_none());
        let mut e = Exposition::default();
        alerts.render_metrics(&mut e);
        let text = e.finish();
        assert!(
            text.contains("babymonitor_alerts_total{kind=\"too_hot\"} 1"),
            "{text}"
        );
        assert!(text.contains("babymonitor_alerts_total{kind=\"cry\"} 0"));
    }
}
