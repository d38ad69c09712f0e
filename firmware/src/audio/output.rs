//! The one mixer in front of the speaker: talk-back and the player (a clip, a lullaby or a
//! noise) are summed every 20 ms on the mixer's own thread, at real time, and handed to the
//! speaker. Talk-back ducks the music; the sleep timer fades it out.
//!
//! The mixing is done here rather than in a GStreamer `audiomixer`: the floor rule, ducking,
//! fades and the "is it playing" answer for the sound detector all need to see every frame,
//! and talk inputs come and go with RTSP sessions (a pad per session on a running live mixer
//! is where timestamps and latency go wrong). GStreamer still decodes the inputs and drives
//! the real speaker.
//!
//! Only one talker is heard at a time: the first one that sends sound holds the floor until it
//! has been quiet for [`FLOOR_RELEASE`]; the others wait (what they send meanwhile is dropped,
//! so nobody hears stale speech later).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use super::source::{Repeat, Source};
use crate::config::SpeakerConfig;
use crate::platform::hardware::{AtomicF32, Speaker};

/// One mixer step.
const FRAME: Duration = Duration::from_millis(20);
/// The speaker counts as playing this long after its last audible sample (room echo), so the
/// sound detector does not take the tail of a lullaby for the baby.
pub const ECHO_TAIL: Duration = Duration::from_secs(1);
/// A talker that has been quiet this long gives the floor to the next one.
pub const FLOOR_RELEASE: Duration = Duration::from_millis(1500);
/// Talk-back is held back this much before it starts, so network jitter does not stutter.
const JITTER: Duration = Duration::from_millis(60);
/// Talk queued beyond this is dropped (oldest first): latency stays bounded.
const MAX_TALK_QUEUE: Duration = Duration::from_millis(500);
/// RMS below this (about -60 dBFS) is silence.
const AUDIBLE: f32 = 0.001;
/// "Stop" fades out over this instead of clicking.
const STOP_FADE: Duration = Duration::from_millis(300);

/// Volumes as factors (0-1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Volumes {
    pub master: f32,
    pub talk: f32,
    pub music: f32,
    /// Music factor while someone talks.
    pub duck: f32,
}

impl Volumes {
    pub fn from_config(c: &SpeakerConfig) -> Self {
        Self {
            master: percent(c.volume),
            talk: percent(c.talk_volume),
            music: percent(c.music_volume),
            duck: percent(c.duck_percent),
        }
    }
}

pub fn percent(v: u32) -> f32 {
    v.min(100) as f32 / 100.0
}

/// A clip (or built-in sound) started or stopped playing: `tns1:Media/AudioClip/State`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClipStateChange {
    /// The clip's token (built-in sounds have theirs, e.g. `white-noise`).
    pub token: String,
    pub playing: bool,
}

/// What the player plays now.
#[derive(Debug, Clone, PartialEq)]
pub struct Playing {
    pub token: String,
    pub name: String,
    /// This play's own volume (0-1), under the music volume.
    pub volume: f32,
    /// When the sleep timer ends it (the fade ends then).
    pub ends_at: Option<Instant>,
    /// How often it was asked to play.
    pub repeat: Repeat,
}

struct Program {
    info: Playing,
    source: Box<dyn Source>,
    fade: Duration,
    /// Set by `stop`: fades out from here over [`STOP_FADE`].
    stopping: Option<Instant>,
    gain: f32,
}

impl Program {
    /// The fade factor now; `None` when the program is over.
    fn fade_gain(&self, now: Instant) -> Option<f32> {
        let mut g: f32 = 1.0;
        if let Some(since) = self.stopping {
            let t = now.saturating_duration_since(since).as_secs_f32();
            g = g.min(1.0 - t / STOP_FADE.as_secs_f32());
        }
        if let Some(end) = self.info.ends_at {
            let left = end.saturating_duration_since(now).as_secs_f32();
            let fade = self.fade.as_secs_f32();
            g = g.min(if fade > 0.0 {
                left / fade
            } else if left > 0.0 {
                1.0
            } else {
                0.0
            });
        }
        (g > 0.0).then_some(g.clamp(0.0, 1.0))
    }
}

struct Talker {
    id: u64,
    who: String,
    queue: VecDeque<f32>,
    buffering: bool,
    last_audible: Instant,
}

struct Mix {
    volumes: Volumes,
    fade: Duration,
    talkers: Vec<Talker>,
    floor: Option<u64>,
    program: Option<Program>,
    duck_gain: f32,
    talk_gain: f32,
    /// Clip state changes not yet told: the mixer thread tells them all, in order.
    events: Vec<ClipStateChange>,
}

type Listener = Arc<dyn Fn(&ClipStateChange) + Send + Sync>;

struct Shared {
    rate: u32,
    mix: Mutex<Mix>,
    wake: Condvar,
    epoch: Instant,
    /// Milliseconds since `epoch` of the last audible frame, plus one (0: never).
    last_audible_ms: AtomicU64,
    level: AtomicF32,
    stop: AtomicBool,
    next_talker: AtomicU64,
    listeners: Mutex<Vec<Listener>>,
}

impl Shared {
    fn mix(&self) -> MutexGuard<'_, Mix> {
        self.mix.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn emit(&self, events: &[ClipStateChange]) {
        if events.is_empty() {
            return;
        }
        let listeners = self
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for e in events {
            debug!(token = e.token, playing = e.playing, "clip state");
            for l in &listeners {
                l(e);
            }
        }
    }
}

/// The speaker's mixer. Cheap to share (`Arc<Output>`); every method is thread-safe.
pub struct Output {
    shared: Arc<Shared>,
    thread: crate::platform::worker::Worker,
}

impl Output {
    pub fn start(config: &SpeakerConfig, speaker: Box<dyn Speaker>) -> anyhow::Result<Self> {
        let shared = Arc::new(Shared {
            rate: config.sample_rate,
            mix: Mutex::new(Mix {
                volumes: Volumes::from_config(config),
                fade: Duration::from_secs(u64::from(config.fade_s)),
                talkers: Vec::new(),
                floor: None,
                program: None,
                duck_gain: 1.0,
                talk_gain: 0.0,
                events: Vec::new(),
            }),
            wake: Condvar::new(),
            epoch: Instant::now(),
            last_audible_ms: AtomicU64::new(0),
            level: AtomicF32::default(),
            stop: AtomicBool::new(false),
            next_talker: AtomicU64::new(1),
            listeners: Mutex::new(Vec::new()),
        });
        let thread_shared = Arc::clone(&shared);
        let thread = crate::platform::worker::Worker::spawn("speaker", move || {
            run(&thread_shared, speaker)
        })?;
        Ok(Self { shared, thread })
    }

    pub fn sample_rate(&self) -> u32 {
        self.shared.rate
    }

    /// Whether the speaker is audibly playing now, or was less than [`ECHO_TAIL`] ago. The
    /// sound detector ignores what it hears meanwhile. Lock-free.
    pub fn is_playing(&self) -> bool {
        let last = self.shared.last_audible_ms.load(Relaxed);
        last != 0
            && (self.shared.epoch.elapsed().as_millis() as u64).saturating_sub(last - 1)
                < ECHO_TAIL.as_millis() as u64
    }

    /// RMS of the last frame sent to the speaker (0-1, full scale = 1). Lock-free.
    pub fn level(&self) -> f32 {
        self.shared.level.load()
    }

    /// Called with every clip state change, in order, from the mixer thread (within a frame,
    /// 20 ms, of the change): keep it short, hand it to a channel or the event bus.
    pub fn subscribe(&self, f: impl Fn(&ClipStateChange) + Send + Sync + 'static) {
        self.shared
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::new(f));
    }

    pub fn volumes(&self) -> Volumes {
        self.shared.mix().volumes
    }

    pub fn set_volumes(&self, volumes: Volumes) {
        self.shared.mix().volumes = volumes;
    }

    pub fn set_fade(&self, fade: Duration) {
        self.shared.mix().fade = fade;
    }

    /// Plays `source` in place of whatever played; `timer` ends it (with the fade) after so long.
    pub fn play(
        &self,
        token: &str,
        name: &str,
        source: Box<dyn Source>,
        volume: f32,
        repeat: Repeat,
        timer: Option<Duration>,
    ) -> Playing {
        let info = Playing {
            token: token.to_string(),
            name: name.to_string(),
            volume: volume.clamp(0.0, 1.0),
            ends_at: timer.map(|t| Instant::now() + t),
            repeat,
        };
        let old = {
            let mut mix = self.shared.mix();
            let fade = mix.fade;
            let old = mix.program.replace(Program {
                info: info.clone(),
                source,
                fade,
                stopping: None,
                gain: 0.0,
            });
            if let Some(old) = &old {
                mix.events.push(ClipStateChange {
                    token: old.info.token.clone(),
                    playing: false,
                });
            }
            mix.events.push(ClipStateChange {
                token: info.token.clone(),
                playing: true,
            });
            self.shared.wake.notify_all();
            old
        };
        info!(token, name, volume, ?timer, "playing");
        // Tearing down a decoder takes a moment: not under the lock.
        drop(old);
        info
    }

    /// Fades the player out quickly. Returns what was playing.
    pub fn stop(&self) -> Option<Playing> {
        let mut mix = self.shared.mix();
        let program = mix.program.as_mut()?;
        if program.stopping.is_none() {
            program.stopping = Some(Instant::now());
        }
        Some(program.info.clone())
    }

    /// Stops the player if it plays `token`.
    pub fn stop_token(&self, token: &str) -> bool {
        let playing = self.playing();
        if playing.is_some_and(|p| p.token == token) {
            self.stop().is_some()
        } else {
            false
        }
    }

    /// What the player plays (not counting a stop's fade-out).
    pub fn playing(&self) -> Option<Playing> {
        let mix = self.shared.mix();
        mix.program
            .as_ref()
            .filter(|p| p.stopping.is_none())
            .map(|p| p.info.clone())
    }

    /// Sets or clears the sleep timer of what plays now.
    pub fn set_timer(&self, timer: Option<Duration>) -> Option<Playing> {
        let mut mix = self.shared.mix();
        let program = mix.program.as_mut().filter(|p| p.stopping.is_none())?;
        program.info.ends_at = timer.map(|t| Instant::now() + t);
        Some(program.info.clone())
    }

    /// A new talk-back input (a backchannel, the web page's microphone). Push samples into it
    /// as they arrive; dropping it leaves the floor.
    pub fn talk(&self, who: &str) -> Talk {
        let id = self.shared.next_talker.fetch_add(1, Relaxed);
        self.shared.mix().talkers.push(Talker {
            id,
            who: who.to_string(),
            queue: VecDeque::new(),
            buffering: true,
            last_audible: Instant::now(),
        });
        debug!(talker = id, who, "talk-back input opened");
        Talk {
            id,
            shared: Arc::downgrade(&self.shared),
        }
    }

    /// Who holds the floor (talks) now, if anyone.
    pub fn talker(&self) -> Option<String> {
        let mix = self.shared.mix();
        let floor = mix.floor?;
        mix.talkers
            .iter()
            .find(|t| t.id == floor)
            .map(|t| t.who.clone())
    }

    pub fn shutdown(&self) {
        self.shared.stop.store(true, Relaxed);
        self.shared.wake.notify_all();
        self.thread.join();
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// One talk-back input into the mixer.
pub struct Talk {
    id: u64,
    shared: Weak<Shared>,
}

impl Talk {
    /// Mono samples at the mixer's rate (see [`Output::sample_rate`]), S16.
    pub fn push_s16(&self, samples: &[i16]) {
        let f: Vec<f32> = samples.iter().map(|s| f32::from(*s) / 32768.0).collect();
        self.push(&f);
    }

    /// Mono samples at the mixer's rate, -1..1.
    pub fn push(&self, samples: &[f32]) {
        let Some(shared) = self.shared.upgrade() else {
            return;
        };
        let audible = rms(samples) > AUDIBLE;
        let max = (shared.rate as f32 * MAX_TALK_QUEUE.as_secs_f32()) as usize;
        let mut mix = shared.mix();
        let floor = mix.floor;
        let Some(t) = mix.talkers.iter_mut().find(|t| t.id == self.id) else {
            return;
        };
        if audible {
            t.last_audible = Instant::now();
        }
        match floor {
            Some(holder) if holder != self.id => return,
            Some(_) => {}
            None if audible => {
                info!(talker = self.id, who = t.who, "talk-back starts");
                mix.floor = Some(self.id);
            }
            None => return,
        }
        let Some(t) = mix.talkers.iter_mut().find(|t| t.id == self.id) else {
            return;
        };
        t.queue.extend(samples);
        let excess = t.queue.len().saturating_sub(max);
        t.queue.drain(..excess);
        shared.wake.notify_all();
    }

    /// Whether this input is the one being heard.
    pub fn has_floor(&self) -> bool {
        self.shared
            .upgrade()
            .is_some_and(|s| s.mix().floor == Some(self.id))
    }
}

impl Drop for Talk {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.upgrade() {
            let mut mix = shared.mix();
            mix.talkers.retain(|t| t.id != self.id);
            if mix.floor == Some(self.id) {
                mix.floor = None;
            }
            debug!(talker = self.id, "talk-back input closed");
        }
    }
}

fn rms(samples: &[f32]) -> f32 {
    if samples.is_empty() {
        return 0.0;
    }
    (samples.iter().map(|s| s * s).sum::<f32>() / samples.len() as f32).sqrt()
}

/// Moves `current` toward `target` by at most `step`.
fn approach(current: f32, target: f32, step: f32) -> f32 {
    if current < target {
        (current + step).min(target)
    } else {
        (current - step).max(target)
    }
}

impl Mix {
    fn active(&self) -> bool {
        self.program.is_some() || self.floor.is_some()
    }

    /// Renders one frame into `out`; returns the events and a finished program (to be dropped
    /// outside the lock: tearing down a decoder takes time).
    fn render(
        &mut self,
        now: Instant,
        out: &mut [f32],
        music: &mut [f32],
    ) -> (Vec<ClipStateChange>, Option<Program>) {
        out.fill(0.0);
        let mut events = std::mem::take(&mut self.events);
        self.take_talk(now, out);
        let duck = self.duck(self.floor.is_some());
        let finished = self.add_music(now, out, music, duck, &mut events);
        for o in out.iter_mut() {
            *o = o.clamp(-1.0, 1.0);
        }
        (events, finished)
    }

    /// The talker who has the floor, at the talk-back volume (the floor is released after a
    /// silence); its queue is played only once it holds enough against network jitter.
    fn take_talk(&mut self, now: Instant, out: &mut [f32]) {
        let n = out.len();
        let rate = n as f32 / FRAME.as_secs_f32();
        if let Some(holder) = self.floor {
            match self.talkers.iter_mut().find(|t| t.id == holder) {
                Some(t) if now.duration_since(t.last_audible) > FLOOR_RELEASE => {
                    info!(talker = t.id, who = t.who, "talk-back ends");
                    t.queue.clear();
                    t.buffering = true;
                    self.floor = None;
                }
                Some(t) => {
                    if t.buffering && t.queue.len() as f32 >= rate * JITTER.as_secs_f32() {
                        t.buffering = false;
                    }
                    if !t.buffering {
                        let take = t.queue.len().min(n);
                        for (o, s) in out.iter_mut().zip(t.queue.drain(..take)) {
                            *o = s;
                        }
                        if t.queue.is_empty() {
                            t.buffering = true;
                        }
                    }
                }
                None => self.floor = None,
            }
        }
        let (t0, t1) = (self.talk_gain, self.volumes.talk * self.volumes.master);
        self.talk_gain = t1;
        for (i, o) in out.iter_mut().enumerate() {
            *o *= t0 + (t1 - t0) * i as f32 / n as f32;
        }
    }

    /// The music's ducking gain over this frame, from and to: down in about 100 ms while
    /// someone talks, back up in about 500 ms.
    fn duck(&mut self, talking: bool) -> (f32, f32) {
        let target = if talking { self.volumes.duck } else { 1.0 };
        let step = if target < self.duck_gain { 0.2 } else { 0.04 };
        let (d0, d1) = (self.duck_gain, approach(self.duck_gain, target, step));
        self.duck_gain = d1;
        (d0, d1)
    }

    /// The player's clip, faded and ducked, onto `out`; the program once its clip has ended.
    fn add_music(
        &mut self,
        now: Instant,
        out: &mut [f32],
        music: &mut [f32],
        (d0, d1): (f32, f32),
        events: &mut Vec<ClipStateChange>,
    ) -> Option<Program> {
        let n = out.len();
        let v = self.volumes;
        let p = self.program.as_mut()?;
        let fade = p.fade_gain(now);
        let written = if fade.is_some() {
            p.source.fill(music)
        } else {
            0
        };
        let g0 = p.gain;
        let g1 = fade.unwrap_or(0.0) * p.info.volume * v.music * v.master;
        p.gain = g1;
        for (i, (o, m)) in out.iter_mut().zip(music.iter()).take(written).enumerate() {
            let t = i as f32 / n as f32;
            *o += m * (g0 + (g1 - g0) * t) * (d0 + (d1 - d0) * t);
        }
        if written < n {
            let finished = self.program.take()?;
            events.push(ClipStateChange {
                token: finished.info.token.clone(),
                playing: false,
            });
            info!(token = finished.info.token, "finished playing");
            return Some(finished);
        }
        None
    }
}

fn run(shared: &Shared, mut speaker: Box<dyn Speaker>) {
    let n = (shared.rate as f32 * FRAME.as_secs_f32()) as usize;
    let mut out = vec![0.0f32; n];
    let mut music = vec![0.0f32; n];
    let mut pcm = vec![0i16; n];
    let mut next = Instant::now();
    let mut last_error: Option<Instant> = None;
    let tail_frames = (ECHO_TAIL.as_millis() / FRAME.as_millis()) as u32;
    let mut quiet_frames = tail_frames;
    while !shared.stop.load(Relaxed) {
        {
            let mut mix = shared.mix();
            // Idle: nothing to play, and the last sound has died away.
            if !mix.active() && quiet_frames >= tail_frames {
                drop(mix);
                if let Err(e) = speaker.pause() {
                    warn!("speaker: {e:#}");
                }
                shared.level.store(0.0);
                mix = shared.mix();
                while !mix.active() && !shared.stop.load(Relaxed) {
                    mix = shared
                        .wake
                        .wait_timeout(mix, Duration::from_secs(1))
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
                next = Instant::now();
                continue;
            }
        }
        let (events, finished) = shared.mix().render(Instant::now(), &mut out, &mut music);
        drop(finished);
        shared.emit(&events);
        let level = rms(&out);
        shared.level.store(level);
        if level > AUDIBLE {
            quiet_frames = 0;
            shared
                .last_audible_ms
                .store(shared.epoch.elapsed().as_millis() as u64 + 1, Relaxed);
        } else {
            quiet_frames = quiet_frames.saturating_add(1);
        }
        for (p, o) in pcm.iter_mut().zip(&out) {
            *p = (o * 32767.0) as i16;
        }
        if let Err(e) = speaker.write(&pcm) {
            // Logged at most every 10 s: a speaker that is gone must not flood the log.
            if last_error.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
                warn!("speaker: {e:#}");
                last_error = Some(Instant::now());
            }
        }
        next += FRAME;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else if now - next > Duration::from_millis(200) {
            // Fell far behind (a stalled disk, a suspended machine): start afresh.
            next = now;
        }
    }
    let _ = speaker.pause();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A speaker that keeps what it is given.
    struct Memory(Arc<Mutex<Vec<i16>>>);

    impl Speaker for Memory {
        fn write(&mut self, samples: &[i16]) -> anyhow::Result<()> {
            self.0.lock().expect("lock").extend_from_slice(samples);
            Ok(())
        }
        fn pause(&mut self) -> anyhow::Result<()> {
            Ok(())
        }
    }

    struct Constant(f32, usize);

    impl Source for Constant {
        fn fill(&mut self, out: &mut [f32]) -> usize {
            let n = out.len().min(self.1);
            out[..n].fill(self.0);
            self.1 -= n;
            n
        }
    }

    fn mix() -> Mix {
        Mix {
            volumes: Volumes {
                master: 1.0,
                talk: 1.0,
                music: 1.0,
                duck: 0.25,
            },
            fade: Duration::from_secs(1),
            talkers: Vec::new(),
            floor: None,
            program: None,
            duck_gain: 1.0,
            talk_gain: 1.0,
            events: Vec::new(),
        }
    }

    fn program(level: f32, samples: usize) -> Program {
        Program {
            info: Playing {
                token: "t".into(),
                name: "t".into(),
                volume: 1.0,
                ends_at: None,
                repeat: Repeat::Times(1),
            },
            source: Box::new(Constant(level, samples)),
            fade: Duration::from_secs(1),
            stopping: None,
            gain: 1.0,
        }
    }

    #[test]
    fn talk_ducks_the_music() {
        let mut m = mix();
        m.program = Some(program(0.5, usize::MAX));
        let (mut out, mut music) = (vec![0.0; 160], vec![0.0; 160]);
        m.render(Instant::now(), &mut out, &mut music);
        assert!((out[159] - 0.5).abs() < 1e-3, "{}", out[159]);
        m.talkers.push(Talker {
            id: 1,
            who: "nvr".into(),
            queue: VecDeque::new(),
            buffering: false,
            last_audible: Instant::now(),
        });
        m.floor = Some(1);
        for _ in 0..10 {
            m.render(Instant::now(), &mut out, &mut music);
        }
        assert!(
            (out[159] - 0.125).abs() < 1e-3,
            "ducked to 25 %: {}",
            out[159]
        );
    }

    #[test]
    fn the_sleep_timer_fades_then_ends() {
        let mut m = mix();
        let start = Instant::now();
        let mut p = program(0.5, usize::MAX);
        p.info.ends_at = Some(start + Duration::from_secs(2));
        m.program = Some(p);
        let (mut out, mut music) = (vec![0.0; 160], vec![0.0; 160]);
        m.render(start, &mut out, &mut music);
        assert!((out[159] - 0.5).abs() < 1e-3);
        m.render(start + Duration::from_millis(1500), &mut out, &mut music);
        assert!(
            (out[159] - 0.25).abs() < 1e-2,
            "half way down: {}",
            out[159]
        );
        let (events, finished) = m.render(start + Duration::from_secs(2), &mut out, &mut music);
        assert!(finished.is_some());
        assert_eq!(
            events,
            vec![ClipStateChange {
                token: "t".into(),
                playing: false
            }]
        );
        assert!(m.program.is_none());
    }

    #[test]
    fn subscribers_hear_clips_start_and_end() {
        let config = SpeakerConfig {
            sample_rate: 8000,
            ..Default::default()
        };
        let store = Arc::new(Mutex::new(Vec::new()));
        let output = Output::start(&config, Box::new(Memory(Arc::clone(&store)))).expect("start");
        let (tx, rx) = std::sync::mpsc::channel();
        output.subscribe(move |c| {
            let _ = tx.send(c.clone());
        });
        output.play(
            "a",
            "A",
            Box::new(Constant(0.2, 800)),
            1.0,
            Repeat::Times(1),
            None,
        );
        let timeout = Duration::from_secs(5);
        let started = rx.recv_timeout(timeout).expect("start event");
        assert_eq!((started.token.as_str(), started.playing), ("a", true));
        let ended = rx.recv_timeout(timeout).expect("end event");
        assert_eq!((ended.token.as_str(), ended.playing), ("a", false));
        output.shutdown();
    }

    #[test]
    fn a_gstreamer_source_can_talk() {
        use gst::prelude::*;
        gst::init().expect("gst");
        let config = SpeakerConfig {
            sample_rate: 16000,
            ..Default::default()
        };
        let store = Arc::new(Mutex::new(Vec::new()));
        let output =
            Arc::new(Output::start(&config, Box::new(Memory(Arc::clone(&store)))).expect("start"));
        // What the web page will do with a browser's microphone: any raw audio in.
        let pipeline = gst::parse::launch(
            "audiotestsrc is-live=true freq=440 num-buffers=40 ! capsfilter name=out caps=audio/x-raw,rate=48000,channels=2",
        )
        .expect("pipeline")
        .downcast::<gst::Pipeline>()
        .expect("pipeline");
        let sink = super::super::talk_sink(&output, "web page").expect("talk sink");
        pipeline.add(&sink).expect("add");
        let src = pipeline.by_name("out").expect("source");
        src.link(&sink).expect("link");
        pipeline.set_state(gst::State::Playing).expect("play");
        std::thread::sleep(Duration::from_millis(600));
        assert_eq!(output.talker().as_deref(), Some("web page"));
        assert!(output.is_playing());
        let _ = pipeline.set_state(gst::State::Null);
        output.shutdown();
        let heard = store.lock().expect("lock");
        assert!(
            heard.iter().any(|s| s.abs() > 3000),
            "the tone reached the speaker"
        );
    }

    #[test]
    fn one_talker_at_a_time_and_the_floor_passes_on() {
        let store = Arc::new(Mutex::new(Vec::new()));
        let config = SpeakerConfig {
            sample_rate: 8000,
            ..Default::default()
        };
        let output = Output::start(&config, Box::new(Memory(Arc::clone(&store)))).expect("start");
        let (a, b) = (output.talk("a"), output.talk("b"));
        assert!(!output.is_playing());
        b.push(&[0.0; 160]);
        assert!(!b.has_floor(), "silence takes no floor");
        a.push(&[0.3; 800]);
        b.push(&[0.3; 800]);
        assert!(a.has_floor());
        assert!(!b.has_floor(), "the second waits");
        assert_eq!(output.talker().as_deref(), Some("a"));
        drop(a);
        b.push(&[0.3; 4000]);
        assert!(b.has_floor(), "the floor passes on");
        std::thread::sleep(Duration::from_millis(200));
        assert!(output.is_playing());
        assert!(output.level() > 0.1);
        output.shutdown();
        assert!(store.lock().expect("lock").iter().any(|s| *s > 5000));
    }
}
