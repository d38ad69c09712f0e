//! The detectors behind the parent's alerts: crying or sound from the microphone, motion from
//! the camera's small grey frames. They run on the capture's streaming threads (the work per
//! frame is tiny) and publish their states on the event bus.

pub mod motion;
pub mod sound;

use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use tracing::{info, warn};

use crate::config::{Config, MotionConfig, SoundConfig};
use crate::events::{Bus, flag, topics};
use crate::media::{DemandGuard, Hub, Source};
use motion::MotionDetector;
use sound::SoundDetector;

/// What the camera itself is doing, which changes the picture without anything moving.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CameraView {
    pub moving: bool,
    pub zoom: f32,
    pub night: bool,
}

/// Seconds the picture needs to settle after the camera moved or zoomed ...
const SETTLE_AFTER_MOVE: f64 = 1.5;
/// ... and after night vision switched (the filter clicks, the exposure adapts).
const SETTLE_AFTER_NIGHT: f64 = 3.0;
/// Seconds after the speaker stops before listening again (echo, the mixer's tail).
const SPEAKER_TAIL: f32 = 1.0;

type ViewFn = Box<dyn Fn() -> CameraView + Send + Sync>;
type BusyFn = Box<dyn Fn() -> bool + Send + Sync>;

struct MotionState {
    detector: MotionDetector,
    view: Option<CameraView>,
    settle_until: f64,
}

struct SoundState {
    detector: SoundDetector,
    /// Whether its changes are alerts. Off, it still measures the room whenever the microphone
    /// runs (for the listen stream's noise gate) but raises nothing.
    alerts: bool,
    /// Whether the camera's speaker was playing at the last samples, and when it stopped.
    speaker_until: Option<Instant>,
    last: Instant,
}

/// Levels for the status page.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Levels {
    pub sound_db: Option<f32>,
    pub noise_floor_db: Option<f32>,
    pub motion_share: Option<f32>,
}

pub struct Detectors {
    bus: Arc<Bus>,
    started: Instant,
    motion: Mutex<Option<MotionState>>,
    sound: Mutex<Option<SoundState>>,
    view: ViewFn,
    speaker_busy: Mutex<Option<BusyFn>>,
    /// Keeps the camera and microphone running while a detector is on.
    demand: Mutex<Vec<DemandGuard>>,
    hub: Arc<Hub>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Detectors {
    /// Starts the detectors the configuration asks for. `with_audio`: a microphone pipeline
    /// exists (sound detection needs one).
    pub fn start(
        config: &Config,
        with_audio: bool,
        hub: &Arc<Hub>,
        bus: &Arc<Bus>,
        view: impl Fn() -> CameraView + Send + Sync + 'static,
    ) -> Arc<Self> {
        let me = Arc::new(Self {
            bus: Arc::clone(bus),
            started: Instant::now(),
            motion: Mutex::new(None),
            sound: Mutex::new(None),
            view: Box::new(view),
            speaker_busy: Mutex::new(None),
            demand: Mutex::new(Vec::new()),
            hub: Arc::clone(hub),
        });
        let weak: Weak<Self> = Arc::downgrade(&me);
        hub.on_gray(Box::new(move |pixels, w, h| {
            if let Some(d) = weak.upgrade() {
                d.gray(pixels, w, h);
            }
        }));
        let weak: Weak<Self> = Arc::downgrade(&me);
        hub.on_sound(Box::new(move |samples| {
            if let Some(d) = weak.upgrade() {
                d.samples(samples);
            }
        }));
        me.apply(config, with_audio);
        me
    }

    /// The camera's own speaker: while it plays, the microphone hears it, not the baby.
    pub fn set_speaker(&self, busy: impl Fn() -> bool + Send + Sync + 'static) {
        *lock(&self.speaker_busy) = Some(Box::new(busy));
    }

    /// Applies (new) settings: detectors switched on or off, thresholds changed.
    pub fn apply(&self, config: &Config, with_audio: bool) {
        let sound_on = config.sound.enabled && with_audio;
        if config.sound.enabled && !with_audio {
            warn!("sound alerts need a microphone with an AAC encoder: they are off");
        }
        self.apply_sound(with_audio.then(|| (config.sound.clone(), sound_on)));
        self.apply_motion(config.motion.enabled.then(|| config.motion.clone()));
        let mut demand = lock(&self.demand);
        demand.clear();
        if sound_on {
            demand.push(self.hub.demand_of(&[Source::Audio]));
        }
        if config.motion.enabled {
            demand.push(self.hub.demand_of(&[Source::Video]));
        }
    }

    /// `config`: the microphone's detector with its settings and whether it raises alerts, or
    /// none without a microphone.
    fn apply_sound(&self, config: Option<(SoundConfig, bool)>) {
        let mut sound = lock(&self.sound);
        match (config, sound.as_mut()) {
            (Some((c, alerts)), Some(s)) if s.alerts == alerts => s.detector.set_config(c),
            (Some((c, alerts)), _) => {
                let had_alerts = sound.as_ref().is_some_and(|s| s.alerts);
                if alerts {
                    info!(mode = ?c.mode, "sound alerts on");
                } else if had_alerts {
                    info!("sound alerts off");
                }
                // Afresh: a detector that listened without raising alerts may be mid-alarm.
                *sound = Some(SoundState {
                    detector: SoundDetector::new(c),
                    alerts,
                    speaker_until: None,
                    last: Instant::now(),
                });
                if alerts || had_alerts {
                    self.publish_sound(false);
                }
            }
            (None, Some(s)) => {
                if s.alerts {
                    info!("sound alerts off");
                    self.publish_sound(false);
                }
                *sound = None;
            }
            (None, None) => {}
        }
    }

    fn apply_motion(&self, config: Option<MotionConfig>) {
        let mut motion = lock(&self.motion);
        match (config, motion.as_mut()) {
            (Some(c), Some(m)) => m.detector.set_config(c),
            (Some(c), None) => {
                info!("motion alerts on");
                *motion = Some(MotionState {
                    detector: MotionDetector::new(c),
                    view: None,
                    settle_until: 0.0,
                });
                self.publish_motion(false);
            }
            (None, Some(_)) => {
                info!("motion alerts off");
                *motion = None;
                self.publish_motion(false);
            }
            (None, None) => {}
        }
    }

    pub fn levels(&self) -> Levels {
        let sound = lock(&self.sound);
        let frame = sound.as_ref().and_then(|s| s.detector.last_frame());
        Levels {
            sound_db: frame.map(|f| f.level_db),
            noise_floor_db: frame.map(|f| f.floor_db),
            motion_share: lock(&self.motion).as_ref().map(|m| m.detector.last_share()),
        }
    }

    fn gray(&self, pixels: &[u8], w: usize, h: usize) {
        let now = self.started.elapsed().as_secs_f64();
        let view = (self.view)();
        let change = {
            let mut motion = lock(&self.motion);
            let Some(m) = motion.as_mut() else {
                return;
            };
            if let Some(before) = m.view {
                let settle = if before.night != view.night {
                    SETTLE_AFTER_NIGHT
                } else if view.moving || (before.zoom - view.zoom).abs() > 0.01 {
                    SETTLE_AFTER_MOVE
                } else {
                    0.0
                };
                m.settle_until = m.settle_until.max(now + settle);
            }
            m.view = Some(view);
            if now < m.settle_until {
                m.detector.rest(now)
            } else {
                m.detector.frame(pixels, w, h, now)
            }
        };
        if let Some(on) = change {
            info!(motion = on, "motion alert");
            self.publish_motion(on);
        }
    }

    fn samples(&self, samples: &[f32]) {
        let busy = lock(&self.speaker_busy).as_ref().is_some_and(|f| f());
        let (change, alerts) = {
            let mut sound = lock(&self.sound);
            let Some(s) = sound.as_mut() else {
                return;
            };
            let alerts = s.alerts;
            let now = Instant::now();
            let elapsed = now.duration_since(s.last).as_secs_f32();
            s.last = now;
            if busy {
                s.speaker_until = Some(now + std::time::Duration::from_secs_f32(SPEAKER_TAIL));
            }
            let change = if s.speaker_until.is_some_and(|until| now < until) {
                s.detector.skip(elapsed)
            } else {
                s.speaker_until = None;
                s.detector.push(samples)
            };
            (change, alerts)
        };
        if let Some(on) = change.filter(|_| alerts) {
            info!(sound = on, "sound alert");
            self.publish_sound(on);
        }
    }

    fn publish_motion(&self, on: bool) {
        self.bus.set(
            topics::MOTION_ALARM,
            &[("Source", topics::VIDEO_SOURCE)],
            &[("State", flag(on))],
        );
        self.bus.set(
            topics::CELL_MOTION,
            &[
                ("VideoSourceConfigurationToken", topics::VIDEO_SOURCE_CONFIG),
                ("VideoAnalyticsConfigurationToken", topics::ANALYTICS),
                ("Rule", topics::MOTION_RULE),
            ],
            &[("IsMotion", flag(on))],
        );
    }

    fn publish_sound(&self, on: bool) {
        self.bus.set(
            topics::DETECTED_SOUND,
            &[
                ("AudioSourceConfigurationToken", topics::AUDIO_SOURCE_CONFIG),
                ("AudioAnalyticsConfigurationToken", topics::ANALYTICS),
                ("Rule", topics::SOUND_RULE),
            ],
            &[("IsSoundDetected", flag(on))],
        );
    }
}
