//! The simulated microphone (`[audio] source = "test"`): a soft tick every second, and on
//! request steady pink room noise, a baby's cry, or a microphone that fails. Tests and the
//! page set it through `PUT /api/simulate/sound`; the capture pipeline takes its samples from
//! an appsrc that [`feed`] fills in real time.

use std::f32::consts::TAU;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use gst::prelude::*;
use tracing::{debug, warn};

use super::source::{Repeat, Source};

/// The appsrc the capture pipeline reads the simulated microphone from.
pub const ROOM_SRC: &str = "room_src";
/// Samples per buffer pushed: 20 ms.
const CHUNK: Duration = Duration::from_millis(20);
/// The tick the test source always had (audiotestsrc `wave=ticks freq=660 volume=0.3
/// sine-periods-per-tick=40`): other tests and the page listen for it.
const TICK_HZ: f32 = 660.0;
const TICK_PERIODS: f32 = 40.0;
const TICK_VOLUME: f32 = 0.3;
/// Room noise levels the simulation takes, dBFS.
pub const NOISE_DB: (f32, f32) = (-90.0, 0.0);
/// The longest cry asked for at once.
pub const MAX_CRY_S: f32 = 600.0;

/// What the simulated room sounds like now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoomSound {
    /// Steady pink noise at this level (dBFS as the sound detector measures it: a full-scale
    /// sine is 0), or none.
    pub noise_db: Option<f32>,
    /// The tick every second.
    pub tick: bool,
    /// A baby cries until then.
    pub cry_until: Option<Instant>,
    /// The microphone fails: its pipeline errors and the capture's silence stands in.
    pub failing: bool,
}

impl Default for RoomSound {
    fn default() -> Self {
        Self {
            noise_db: None,
            tick: true,
            cry_until: None,
            failing: false,
        }
    }
}

/// The simulated room's sound, shared by the API that sets it and the feeder that plays it.
#[derive(Default)]
pub struct Room {
    sound: Mutex<RoomSound>,
}

/// A change asked for; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoomChange {
    /// `Some(None)`: no noise.
    pub noise_db: Option<Option<f32>>,
    pub tick: Option<bool>,
    /// Seconds from now; 0 stops a cry.
    pub cry_s: Option<f32>,
    pub failing: Option<bool>,
}

impl RoomChange {
    /// The field that is out of range, and why.
    pub fn problem(&self) -> Option<(&'static str, String)> {
        if let Some(Some(db)) = self.noise_db
            && !(db.is_finite() && (NOISE_DB.0..=NOISE_DB.1).contains(&db))
        {
            return Some((
                "noise_db",
                format!(
                    "must be between {} and {} dBFS, or null for none",
                    NOISE_DB.0, NOISE_DB.1
                ),
            ));
        }
        if let Some(s) = self.cry_s
            && !(s.is_finite() && (0.0..=MAX_CRY_S).contains(&s))
        {
            return Some((
                "cry_s",
                format!("must be between 0 and {MAX_CRY_S} seconds"),
            ));
        }
        None
    }
}

impl Room {
    pub fn sound(&self) -> RoomSound {
        *self.sound.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies a change that [`RoomChange::problem`] found nothing wrong with.
    pub fn change(&self, change: &RoomChange) {
        let mut sound = self.sound.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(noise) = change.noise_db {
            sound.noise_db = noise;
        }
        if let Some(tick) = change.tick {
            sound.tick = tick;
        }
        if let Some(s) = change.cry_s {
            sound.cry_until = (s > 0.0).then(|| Instant::now() + Duration::from_secs_f32(s));
        }
        if let Some(failing) = change.failing {
            sound.failing = failing;
        }
    }

    pub fn failing(&self) -> bool {
        self.sound().failing
    }
}

/// A cry as the sound detector's tests and the Python tests make it: wails of 0.9 s at a
/// wavering ~470 Hz with harmonics, a breath of 0.4 s between. `t` is seconds into the cry.
pub fn cry(t: f32) -> f32 {
    let cycle = t % 1.3;
    if cycle > 0.9 {
        return 0.0;
    }
    let f0 = 470.0 + 50.0 * (t * 3.0).sin();
    let phase = TAU * f0 * t;
    let envelope = (cycle / 0.9 * std::f32::consts::PI).sin();
    0.3 * envelope * (phase.sin() + 0.5 * (2.0 * phase).sin() + 0.25 * (3.0 * phase).sin())
}

/// Makes the room's samples, one buffer after the other.
pub struct Generator {
    rate: u32,
    /// Samples since start: where in its second the tick is.
    at: u64,
    noise: Box<dyn Source>,
    /// The pink noise's mean square at full gain, to scale it to a level.
    noise_power: f32,
    /// Samples into the current cry.
    crying: Option<u64>,
}

impl Generator {
    pub fn new(rate: u32) -> Self {
        let pink = || {
            super::synth::builtin("pink-noise")
                .map(|b| b.source(rate, Repeat::Forever))
                .unwrap_or_else(|| Box::new(Silence))
        };
        // The level is measured on a second of the same noise, so that `noise_db` is what the
        // detector will read.
        let mut probe = vec![0.0; rate as usize];
        pink().fill(&mut probe);
        let noise_power = probe.iter().map(|s| s * s).sum::<f32>() / probe.len().max(1) as f32;
        Self {
            rate,
            at: 0,
            noise: pink(),
            noise_power: noise_power.max(1e-12),
            crying: None,
        }
    }

    /// Fills `out` with what the room sounds like at `now`.
    pub fn fill(&mut self, out: &mut [f32], sound: &RoomSound, now: Instant) {
        let rate = self.rate as f32;
        match sound.noise_db {
            Some(db) => {
                self.noise.fill(out);
                let power = 10f32.powf((db - 3.0) / 10.0);
                let gain = (power / self.noise_power).sqrt();
                out.iter_mut().for_each(|s| *s *= gain);
            }
            None => out.fill(0.0),
        }
        let crying = sound.cry_until.is_some_and(|until| now < until);
        if !crying {
            self.crying = None;
        }
        let tick_len = (TICK_PERIODS / TICK_HZ * rate) as u64;
        for s in out.iter_mut() {
            let in_second = self.at % u64::from(self.rate);
            if sound.tick && in_second < tick_len {
                *s += TICK_VOLUME * (TAU * TICK_HZ * in_second as f32 / rate).sin();
            }
            if crying {
                let n = self.crying.get_or_insert(0);
                *s += cry(*n as f32 / rate);
                *n += 1;
            }
            *s = s.clamp(-1.0, 1.0);
            self.at += 1;
        }
    }
}

struct Silence;

impl Source for Silence {
    fn fill(&mut self, out: &mut [f32]) -> usize {
        out.fill(0.0);
        out.len()
    }
}

/// The caps the room's appsrc gives at `rate`.
pub fn caps(rate: u32) -> String {
    format!("audio/x-raw,format=F32LE,rate={rate},channels=1,layout=interleaved")
}

/// Fills `src` with the room's sound in real time on a thread of its own, until its pipeline
/// stops; when the room fails, posts an error (the capture then runs its stand-in).
pub fn feed(src: gst_app::AppSrc, room: Arc<Room>, rate: u32) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("room-mic".into())
        .spawn(move || {
            let mut generator = Generator::new(rate);
            let samples = (u64::from(rate) * CHUNK.as_millis() as u64 / 1000) as usize;
            let mut buf = vec![0.0f32; samples];
            let mut next = Instant::now();
            loop {
                let sound = room.sound();
                if sound.failing {
                    warn!("the simulated microphone fails");
                    src.post_error_message(gst::error_msg!(
                        gst::ResourceError::Read,
                        ["the simulated microphone failed"]
                    ));
                    return;
                }
                generator.fill(&mut buf, &sound, Instant::now());
                let bytes: Vec<u8> = buf.iter().flat_map(|s| s.to_le_bytes()).collect();
                if src.push_buffer(gst::Buffer::from_mut_slice(bytes)).is_err() {
                    // Flushing or at its end: the pipeline was stopped.
                    debug!("the simulated microphone's pipeline stopped");
                    return;
                }
                next += CHUNK;
                let now = Instant::now();
                match next.checked_duration_since(now) {
                    Some(wait) => std::thread::sleep(wait),
                    // Far behind (the machine was suspended): start afresh, not in a burst.
                    None if now - next > Duration::from_millis(200) => next = now,
                    None => {}
                }
            }
        })
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SoundConfig;
    use crate::detect::sound::{SAMPLE_RATE, SoundDetector};

    fn level_db(samples: &[f32]) -> f32 {
        let ms = samples.iter().map(|s| s * s).sum::<f32>() / samples.len() as f32;
        10.0 * ms.max(1e-12).log10() + 3.0
    }

    fn render(generator: &mut Generator, sound: &RoomSound, seconds: f32) -> Vec<f32> {
        let now = Instant::now();
        let mut out = vec![0.0; (seconds * generator.rate as f32) as usize];
        for chunk in out.chunks_mut(320) {
            generator.fill(chunk, sound, now);
        }
        out
    }

    #[test]
    fn the_noise_has_the_level_asked_for() {
        let mut g = Generator::new(SAMPLE_RATE);
        let sound = RoomSound {
            noise_db: Some(-40.0),
            tick: false,
            ..Default::default()
        };
        let db = level_db(&render(&mut g, &sound, 3.0));
        assert!((db + 40.0).abs() < 1.0, "{db}");
    }

    #[test]
    fn the_tick_comes_once_a_second() {
        let mut g = Generator::new(48_000);
        let samples = render(&mut g, &RoomSound::default(), 2.0);
        let loud: Vec<usize> = samples
            .chunks(4800)
            .enumerate()
            .filter(|(_, c)| level_db(c) > -30.0)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(loud, vec![0, 10], "the 100 ms slices with a tick");
    }

    #[test]
    fn the_detector_hears_the_simulated_cry_and_not_the_noise() {
        let config = SoundConfig {
            hold_s: 3.0,
            ..Default::default()
        };
        let mut d = SoundDetector::new(config);
        let mut g = Generator::new(SAMPLE_RATE);
        let noise = RoomSound {
            noise_db: Some(-45.0),
            ..Default::default()
        };
        let quiet = render(&mut g, &noise, 20.0);
        assert_eq!(d.push(&quiet), None, "ticks and room noise are not crying");
        let crying = RoomSound {
            cry_until: Some(Instant::now() + Duration::from_secs(60)),
            ..noise
        };
        let cry = render(&mut g, &crying, 8.0);
        assert_eq!(d.push(&cry), Some(true));
    }

    #[test]
    fn changes_are_checked_and_applied() {
        let bad = RoomChange {
            noise_db: Some(Some(5.0)),
            ..Default::default()
        };
        assert_eq!(bad.problem().map(|p| p.0), Some("noise_db"));
        let bad = RoomChange {
            cry_s: Some(-1.0),
            ..Default::default()
        };
        assert_eq!(bad.problem().map(|p| p.0), Some("cry_s"));
        let room = Room::default();
        room.change(&RoomChange {
            noise_db: Some(Some(-40.0)),
            cry_s: Some(10.0),
            ..Default::default()
        });
        let s = room.sound();
        assert_eq!(s.noise_db, Some(-40.0));
        assert!(s.cry_until.is_some() && s.tick && !s.failing);
        room.change(&RoomChange {
            noise_db: Some(None),
            cry_s: Some(0.0),
            ..Default::default()
        });
        assert_eq!(room.sound(), RoomSound::default());
    }
}
