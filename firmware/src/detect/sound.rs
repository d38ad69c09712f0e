//! Tells a crying baby from the rest of a nursery's sounds.
//!
//! The microphone's samples (16 kHz mono) are cut into 32 ms frames. Each frame gets a level
//! (dBFS) and a pitch check: a baby's cry is voiced, with a fundamental between roughly 250
//! and 750 Hz, so its autocorrelation has a strong peak at that period. The room's noise floor
//! follows the quiet frames quickly and the loud ones slowly, so a fan or white noise becomes
//! the floor. Crying comes in bursts (a wail, a breath, a wail): the detector counts voiced
//! bursts of a plausible length and raises the alarm once they add up to `min_duration_s`
//! within `window_s`. A steady tone is one endless "burst" and never counts; a cough is short
//! and unvoiced. In `any` mode every loud frame counts, pitched or not.

use std::collections::VecDeque;

use crate::config::{SoundConfig, SoundMode};

pub const SAMPLE_RATE: u32 = 16_000;
pub const FRAME: usize = 512;
const FRAME_S: f32 = FRAME as f32 / SAMPLE_RATE as f32;
/// Below this nothing counts, however quiet the room (dBFS).
const SILENCE_DB: f32 = -62.0;
/// Pitch range searched, as autocorrelation lags at 16 kHz.
const MIN_LAG: usize = (SAMPLE_RATE / 750) as usize;
const MAX_LAG: usize = (SAMPLE_RATE / 250) as usize;
/// Normalised autocorrelation a voiced frame reaches.
const VOICED: f32 = 0.55;
/// A cry burst lasts this long; longer is a tone, shorter a click.
const BURST_MIN_S: f32 = 0.2;
const BURST_MAX_S: f32 = 3.5;
/// Frames of quiet that end a burst (a breath).
const GAP_FRAMES: u32 = 3;

/// The quietest level reported (digital silence has none).
const FLOOR_DB: f32 = -90.0;

/// How the microphone sounds now, for the status page and metrics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame {
    /// Over about the last second (a single 32 ms frame jumps around too much to read).
    pub level_db: f32,
    pub floor_db: f32,
    pub voiced: bool,
}

pub struct SoundDetector {
    config: SoundConfig,
    pending: Vec<f32>,
    floor_db: Option<f32>,
    /// Seconds since start, counted in frames.
    clock: f32,
    /// Current run of counting frames: (start, frames), and quiet frames after it.
    burst: Option<(f32, u32)>,
    quiet: u32,
    /// Counting seconds with the time they ended, within the window.
    counted: VecDeque<(f32, f32)>,
    active: bool,
    last_activity: f32,
    last: Option<Frame>,
    /// Mean energy over about a second, for `Frame::level_db`.
    smoothed: f32,
}

impl SoundDetector {
    pub fn new(config: SoundConfig) -> Self {
        Self {
            config,
            pending: Vec::with_capacity(FRAME),
            floor_db: None,
            clock: 0.0,
            burst: None,
            quiet: 0,
            counted: VecDeque::new(),
            active: false,
            last_activity: f32::NEG_INFINITY,
            last: None,
            smoothed: 0.0,
        }
    }

    pub fn set_config(&mut self, config: SoundConfig) {
        self.config = config;
    }

    pub fn is_active(&self) -> bool {
        self.active
    }

    pub fn last_frame(&self) -> Option<Frame> {
        self.last
    }

    /// Feeds samples (-1..1); returns the new alarm state when it changed.
    pub fn push(&mut self, samples: &[f32]) -> Option<bool> {
        let mut change = None;
        for &s in samples {
            self.pending.push(s);
            if self.pending.len() == FRAME {
                let frame = std::mem::take(&mut self.pending);
                if let Some(c) = self.frame(&frame) {
                    change = Some(c);
                }
                self.pending = frame;
                self.pending.clear();
            }
        }
        change
    }

    /// Time passes without listening (the camera's own speaker plays): bursts in progress
    /// are forgotten, the floor keeps its value, and an alarm may still end.
    pub fn skip(&mut self, seconds: f32) -> Option<bool> {
        self.clock += seconds;
        self.burst = None;
        self.quiet = 0;
        self.settle()
    }

    fn frame(&mut self, samples: &[f32]) -> Option<bool> {
        self.clock += FRAME_S;
        let energy = samples.iter().map(|s| s * s).sum::<f32>() / samples.len() as f32;
        let level_db = 10.0 * energy.max(1e-12).log10() + 3.0;
        let floor = *self.floor_db.get_or_insert(level_db);
        // Down in about a second, up in about half a minute.
        let rate = if level_db < floor { 0.03 } else { 0.001 };
        let floor = floor + (level_db - floor) * rate;
        self.floor_db = Some(floor);
        let loud = level_db > SILENCE_DB && level_db > floor + self.config.threshold_db;
        let voiced = loud && voiced(samples);
        self.smoothed += (energy - self.smoothed) * 0.03;
        let db = |e: f32| (10.0 * e.max(1e-12).log10() + 3.0).max(FLOOR_DB);
        self.last = Some(Frame {
            level_db: db(self.smoothed),
            floor_db: floor.max(FLOOR_DB),
            voiced,
        });
        let counts = match self.config.mode {
            SoundMode::Cry => voiced,
            SoundMode::Any => loud,
        };
        if counts {
            self.quiet = 0;
            match &mut self.burst {
                Some((_, frames)) => *frames += 1,
                None => self.burst = Some((self.clock, 1)),
            }
        } else if let Some((_, frames)) = self.burst {
            self.quiet += 1;
            if self.quiet >= GAP_FRAMES {
                self.burst = None;
                self.quiet = 0;
                self.end_burst(frames as f32 * FRAME_S);
            }
        }
        // In `any` mode a long sound counts while it lasts.
        if self.config.mode == SoundMode::Any
            && let Some((_, frames)) = self.burst
            && frames as f32 * FRAME_S >= self.config.min_duration_s
        {
            self.last_activity = self.clock;
            if !self.active {
                self.active = true;
                return Some(true);
            }
        }
        self.settle()
    }

    fn end_burst(&mut self, length: f32) {
        let plausible = match self.config.mode {
            SoundMode::Cry => (BURST_MIN_S..=BURST_MAX_S).contains(&length),
            SoundMode::Any => length >= BURST_MIN_S,
        };
        if plausible {
            self.counted.push_back((self.clock, length));
        }
    }

    /// Raises or ends the alarm from the bursts within the window and the hold time.
    fn settle(&mut self) -> Option<bool> {
        let window_start = self.clock - self.config.window_s;
        while self
            .counted
            .front()
            .is_some_and(|(at, _)| *at < window_start)
        {
            self.counted.pop_front();
        }
        let total: f32 = self.counted.iter().map(|(_, l)| l).sum();
        if total >= self.config.min_duration_s && self.counted.len() >= 2 {
            self.last_activity = self.counted.back().map_or(self.clock, |(at, _)| *at);
            if !self.active {
                self.active = true;
                return Some(true);
            }
        }
        if self.active && self.clock - self.last_activity > self.config.hold_s {
            self.active = false;
            self.counted.clear();
            return Some(false);
        }
        None
    }
}

/// Whether a frame has a clear pitch in the cry range.
fn voiced(samples: &[f32]) -> bool {
    let energy: f32 = samples.iter().map(|s| s * s).sum();
    if energy <= f32::EPSILON {
        return false;
    }
    let n = samples.len();
    (MIN_LAG..=MAX_LAG.min(n / 2)).any(|lag| {
        let (a, b) = (&samples[..n - lag], &samples[lag..]);
        let cross: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        let norm =
            (a.iter().map(|x| x * x).sum::<f32>() * b.iter().map(|y| y * y).sum::<f32>()).sqrt();
        norm > 0.0 && cross / norm > VOICED
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A deterministic noise source (no crate needed for a test signal).
    pub(crate) struct Noise(u32);
    impl Noise {
        pub(crate) fn next(&mut self) -> f32 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 17;
            self.0 ^= self.0 << 5;
            (self.0 as f32 / u32::MAX as f32) * 2.0 - 1.0
        }
    }

    /// `seconds` of sound from `f(t)` plus quiet room noise.
    fn render(seconds: f32, f: impl Fn(f32) -> f32) -> Vec<f32> {
        let mut noise = Noise(12345);
        (0..(seconds * SAMPLE_RATE as f32) as usize)
            .map(|i| {
                let t = i as f32 / SAMPLE_RATE as f32;
                f(t) + 0.002 * noise.next()
            })
            .collect()
    }

    /// A cry: 0.9 s wails at a wavering 420-520 Hz with harmonics, 0.4 s breaths between.
    pub(crate) fn cry(t: f32) -> f32 {
        let cycle = t % 1.3;
        if cycle > 0.9 {
            return 0.0;
        }
        let f0 = 470.0 + 50.0 * (t * 3.0).sin();
        let phase = 2.0 * std::f32::consts::PI * f0 * t;
        let envelope = (cycle / 0.9 * std::f32::consts::PI).sin();
        0.3 * envelope * (phase.sin() + 0.5 * (2.0 * phase).sin() + 0.25 * (3.0 * phase).sin())
    }

    fn run(config: SoundConfig, samples: &[f32]) -> Vec<(f32, bool)> {
        let mut d = SoundDetector::new(config);
        let mut changes = Vec::new();
        for (i, chunk) in samples.chunks(1600).enumerate() {
            if let Some(c) = d.push(chunk) {
                changes.push((i as f32 * 0.1, c));
            }
        }
        changes
    }

    fn config() -> SoundConfig {
        SoundConfig {
            hold_s: 3.0,
            ..Default::default()
        }
    }

    #[test]
    fn crying_raises_the_alarm_and_quiet_ends_it() {
        let mut samples = render(5.0, |_| 0.0);
        samples.extend(render(8.0, cry));
        samples.extend(render(8.0, |_| 0.0));
        let changes = run(config(), &samples);
        assert_eq!(changes.len(), 2, "{changes:?}");
        let (on, off) = (changes[0], changes[1]);
        assert!(on.1 && (6.0..10.0).contains(&on.0), "{changes:?}");
        assert!(!off.1 && off.0 > 13.0, "{changes:?}");
    }

    #[test]
    fn a_steady_tone_is_not_crying() {
        let mut samples = render(3.0, |_| 0.0);
        samples.extend(render(20.0, |t| {
            0.3 * (2.0 * std::f32::consts::PI * 440.0 * t).sin()
        }));
        assert_eq!(run(config(), &samples), vec![]);
    }

    #[test]
    fn fan_noise_is_not_crying() {
        let mut noise = Noise(99);
        let mut samples = render(3.0, |_| 0.0);
        samples.extend((0..20 * SAMPLE_RATE).map(|_| 0.2 * noise.next()));
        assert_eq!(run(config(), &samples), vec![]);
    }

    #[test]
    fn a_single_cough_is_not_crying() {
        let mut noise = Noise(7);
        let mut samples = render(3.0, |_| 0.0);
        samples.extend((0..SAMPLE_RATE * 3 / 10).map(|_| 0.5 * noise.next()));
        samples.extend(render(10.0, |_| 0.0));
        assert_eq!(run(config(), &samples), vec![]);
    }

    #[test]
    fn any_mode_takes_a_long_loud_noise() {
        let mut noise = Noise(5);
        let mut samples = render(3.0, |_| 0.0);
        samples.extend((0..4 * SAMPLE_RATE).map(|_| 0.3 * noise.next()));
        let changes = run(
            SoundConfig {
                mode: SoundMode::Any,
                ..config()
            },
            &samples,
        );
        assert_eq!(changes.first().map(|c| c.1), Some(true), "{changes:?}");
    }
}
