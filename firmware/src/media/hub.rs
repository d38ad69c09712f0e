//! The one fan-out point between the capture pipelines and every consumer.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::capture::{Command, Source};
use super::feed::Feed;
use super::stats::Stats;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Track {
    Main,
    Sub,
}

impl Track {
    pub(crate) fn index(self) -> usize {
        match self {
            Track::Main => 0,
            Track::Sub => 1,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Track::Main => "main",
            Track::Sub => "sub",
        }
    }
}

/// Called with each small grey frame (width, height, pixels) on a streaming thread.
pub type GrayListener = Box<dyn Fn(&[u8], usize, usize) + Send + Sync>;
/// Called with the microphone's samples (16 kHz mono, -1..1) on a streaming thread.
pub type SoundListener = Box<dyn Fn(&[f32]) + Send + Sync>;

/// What takes one track's encoded pictures and the encoded sound besides the viewers (the
/// event recorder). Called on the streaming threads: it must not block.
pub trait Tap: Send + Sync {
    fn video(&self, sample: &gst::Sample, captured: u64);
    fn audio(&self, sample: &gst::Sample, captured: u64);
}

/// Keeps a [`Tap`] fed, and its track's encoder and the microphone running, while it lives.
pub struct TapGuard {
    hub: Arc<Hub>,
    id: u64,
    _demand: DemandGuard,
}

impl Drop for TapGuard {
    fn drop(&mut self) {
        lock(&self.hub.taps).retain(|(id, _, _)| *id != self.id);
        let _ = self.hub.commands.send(Command::DemandChanged);
    }
}

static NEXT_TAP: AtomicU64 = AtomicU64::new(1);

/// A tap's id, the track it takes and the tap.
type TapEntry = (u64, Track, Arc<dyn Tap>);

/// How much encoded sound the hub keeps, so that a new viewer's sound starts with its first
/// picture: that picture was captured an encoder's latency before it arrived, and the sound
/// captured meanwhile has gone out already.
const AUDIO_PREROLL_NS: u64 = 1_000_000_000;

/// A raw picture and the system-clock time it was captured at.
struct Frame {
    sample: gst::Sample,
    captured: u64,
}

pub struct Hub {
    pub stats: Stats,
    /// The listen stream's listeners and its noise gate.
    pub listen: Arc<super::listen::Listen>,
    /// Mean brightness (0-1) of the latest small grey frame, and when it was measured.
    brightness: Mutex<Option<(f32, Instant)>>,
    commands: Sender<Command>,
    feeds: Mutex<Vec<Arc<Feed>>>,
    taps: Mutex<Vec<TapEntry>>,
    /// Who needs each source now, by [`Source::index`].
    demand: [AtomicU64; 2],
    gray_listeners: Mutex<Vec<GrayListener>>,
    sound_listeners: Mutex<Vec<SoundListener>>,
    frame: Mutex<Option<Frame>>,
    frame_ready: Condvar,
    /// The last [`AUDIO_PREROLL_NS`] of encoded sound: (captured, sample), oldest first.
    recent_audio: Mutex<std::collections::VecDeque<(u64, gst::Sample)>>,
    /// When a key frame was last asked for and not yet delivered, per track, to merge a burst
    /// of joins into one request.
    keyframe_pending: Mutex<[Option<Instant>; 2]>,
}

/// Keeps capture pipelines running while it lives.
pub struct DemandGuard {
    hub: Arc<Hub>,
    sources: &'static [Source],
}

impl Drop for DemandGuard {
    fn drop(&mut self) {
        for s in self.sources {
            self.hub.demand[s.index()].fetch_sub(1, Relaxed);
        }
        let _ = self.hub.commands.send(Command::DemandChanged);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not take streaming down with it: the data stays usable.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Hub {
    pub(crate) fn new(commands: Sender<Command>) -> Self {
        Self {
            stats: Stats::default(),
            listen: Arc::default(),
            brightness: Mutex::new(None),
            commands,
            feeds: Mutex::new(Vec::new()),
            taps: Mutex::new(Vec::new()),
            demand: [AtomicU64::new(0), AtomicU64::new(0)],
            gray_listeners: Mutex::new(Vec::new()),
            sound_listeners: Mutex::new(Vec::new()),
            frame: Mutex::new(None),
            frame_ready: Condvar::new(),
            recent_audio: Mutex::new(std::collections::VecDeque::new()),
            keyframe_pending: Mutex::new([None, None]),
        }
    }

    /// Camera and microphone, for a viewer.
    pub fn demand(self: &Arc<Self>) -> DemandGuard {
        self.demand_of(&[Source::Video, Source::Audio])
    }

    /// Only the sources named: a snapshot needs the camera, sound detection the microphone.
    pub fn demand_of(self: &Arc<Self>, sources: &'static [Source]) -> DemandGuard {
        for s in sources {
            self.demand[s.index()].fetch_add(1, Relaxed);
        }
        let _ = self.commands.send(Command::DemandChanged);
        DemandGuard {
            hub: Arc::clone(self),
            sources,
        }
    }

    pub(crate) fn is_wanted(&self, source: Source) -> bool {
        self.demand[source.index()].load(Relaxed) > 0
    }

    /// Whether anyone watches (or records) this stream: its encoder has work to do.
    pub(crate) fn has_viewers(&self, track: Track) -> bool {
        lock(&self.feeds).iter().any(|f| f.track() == track)
            || lock(&self.taps).iter().any(|(_, t, _)| *t == track)
    }

    /// Feeds `tap` with `track`'s pictures and the sound until the guard is dropped; the
    /// camera, the microphone and that track's encoder run meanwhile.
    pub fn add_tap(self: &Arc<Self>, track: Track, tap: Arc<dyn Tap>) -> TapGuard {
        let demand = self.demand();
        let id = NEXT_TAP.fetch_add(1, Relaxed);
        lock(&self.taps).push((id, track, tap));
        let _ = self.commands.send(Command::DemandChanged);
        self.request_keyframe(track);
        TapGuard {
            hub: Arc::clone(self),
            id,
            _demand: demand,
        }
    }

    fn taps_of(&self, track: Option<Track>) -> Vec<Arc<dyn Tap>> {
        lock(&self.taps)
            .iter()
            .filter(|(_, t, _)| track.is_none_or(|track| *t == track))
            .map(|(_, _, tap)| Arc::clone(tap))
            .collect()
    }

    pub fn on_gray(&self, listener: GrayListener) {
        lock(&self.gray_listeners).push(listener);
    }

    pub fn on_sound(&self, listener: SoundListener) {
        lock(&self.sound_listeners).push(listener);
    }

    /// Raw microphone samples for the detectors.
    pub(crate) fn publish_sound(&self, sample: &gst::Sample) {
        let Some(buffer) = sample.buffer() else {
            return;
        };
        let Ok(map) = buffer.map_readable() else {
            return;
        };
        let samples: Vec<f32> = map
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        for listener in lock(&self.sound_listeners).iter() {
            listener(&samples);
        }
    }

    pub fn viewers(&self) -> usize {
        lock(&self.feeds).len()
    }

    pub fn add_feed(&self, feed: Arc<Feed>) {
        let track = feed.track();
        {
            let mut feeds = lock(&self.feeds);
            feeds.push(feed);
            self.stats.viewers.store(feeds.len() as u64, Relaxed);
        }
        self.stats.viewers_total.fetch_add(1, Relaxed);
        self.request_keyframe(track);
        let _ = self.commands.send(Command::DemandChanged);
    }

    pub fn remove_feed(&self, id: u64) {
        let mut feeds = lock(&self.feeds);
        feeds.retain(|f| f.id() != id);
        self.stats.viewers.store(feeds.len() as u64, Relaxed);
    }

    /// Asks the track's encoder for a key frame. Requests merge while one is on its way (a
    /// burst of joins costs one key frame), but never past the key frame that answers it: a
    /// viewer that comes just after gets its own. A request that got lost (it crossed an
    /// encoder restart) is repeated after 250 ms.
    pub fn request_keyframe(&self, track: Track) {
        let mut pending = lock(&self.keyframe_pending);
        let slot = &mut pending[track.index()];
        if slot.is_some_and(|t| t.elapsed() < Duration::from_millis(250)) {
            return;
        }
        *slot = Some(Instant::now());
        self.stats.keyframe_requests.fetch_add(1, Relaxed);
        let _ = self.commands.send(Command::Keyframe(track));
    }

    /// An encoded access unit from a video encoder; `captured` is system-clock time.
    pub(crate) fn publish_video(&self, track: Track, sample: &gst::Sample, captured: u64) {
        let Some(buffer) = sample.buffer() else {
            return;
        };
        self.stats.video_frames[track.index()].fetch_add(1, Relaxed);
        if !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT) {
            lock(&self.keyframe_pending)[track.index()] = None;
        }
        self.stats.video_bytes[track.index()].fetch_add(buffer.size() as u64, Relaxed);
        {
            let feeds = lock(&self.feeds);
            for feed in feeds.iter().filter(|f| f.track() == track) {
                feed.push_video(self, sample, captured);
            }
        }
        for tap in self.taps_of(Some(track)) {
            tap.video(sample, captured);
        }
    }

    pub(crate) fn publish_audio(&self, sample: &gst::Sample, captured: u64) {
        self.stats.audio_frames.fetch_add(1, Relaxed);
        {
            let mut recent = lock(&self.recent_audio);
            while recent
                .front()
                .is_some_and(|(t, _)| t + AUDIO_PREROLL_NS < captured)
            {
                recent.pop_front();
            }
            recent.push_back((captured, sample.clone()));
        }
        {
            let feeds = lock(&self.feeds);
            for feed in feeds.iter() {
                feed.push_audio(sample, captured);
            }
        }
        for tap in self.taps_of(None) {
            tap.audio(sample, captured);
        }
    }

    /// The sound captured at or after `since` that the hub still holds, oldest first.
    pub(crate) fn audio_since(&self, since: u64) -> Vec<(u64, gst::Sample)> {
        lock(&self.recent_audio)
            .iter()
            .filter(|(t, _)| *t >= since)
            .cloned()
            .collect()
    }

    /// A small grey frame: only its mean brightness is kept (night mode's AUTO reads it).
    pub(crate) fn publish_gray(&self, sample: &gst::Sample) {
        let Some(buffer) = sample.buffer() else {
            return;
        };
        let Ok(map) = buffer.map_readable() else {
            return;
        };
        if map.is_empty() {
            return;
        }
        let mean = map.iter().map(|&b| u64::from(b)).sum::<u64>() as f32 / map.len() as f32 / 255.0;
        *lock(&self.brightness) = Some((mean, Instant::now()));
        let (w, h) = super::describe::GRAY_SIZE;
        for listener in lock(&self.gray_listeners).iter() {
            listener(&map, w, h);
        }
    }

    /// The scene's brightness (0-1) if it was measured within `max_age`.
    pub fn brightness(&self, max_age: Duration) -> Option<f32> {
        lock(&self.brightness)
            .filter(|(_, at)| at.elapsed() <= max_age)
            .map(|(b, _)| b)
    }

    pub(crate) fn publish_frame(&self, sample: gst::Sample, captured: u64) {
        *lock(&self.frame) = Some(Frame { sample, captured });
        self.frame_ready.notify_all();
    }

    /// Waits for a raw picture captured at or after `not_before` (system-clock ns).
    pub fn frame_since(&self, not_before: u64, timeout: Duration) -> Option<gst::Sample> {
        let deadline = Instant::now() + timeout;
        let mut frame = lock(&self.frame);
        loop {
            if let Some(f) = frame.as_ref().filter(|f| f.captured >= not_before) {
                return Some(f.sample.clone());
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            frame = self
                .frame_ready
                .wait_timeout(frame, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Drops the last picture so that a stopped camera is never shown as if live.
    pub(crate) fn clear_frame(&self) {
        *lock(&self.frame) = None;
    }

    /// Refuses every viewer still waiting for its first picture.
    pub(crate) fn fail_waiting(&self, reason: &str) {
        let mut feeds = lock(&self.feeds);
        feeds.retain(|f| {
            if f.has_started() {
                return true;
            }
            f.fail(reason);
            self.stats.viewers_refused.fetch_add(1, Relaxed);
            false
        });
        self.stats.viewers.store(feeds.len() as u64, Relaxed);
    }

    /// Refuses viewers that have waited longer than `timeout`; returns when the next one would expire.
    pub(crate) fn expire_waiting(&self, timeout: Duration) -> Option<Instant> {
        let mut feeds = lock(&self.feeds);
        let now = Instant::now();
        let mut next: Option<Instant> = None;
        feeds.retain(|f| {
            if f.has_started() {
                return true;
            }
            let deadline = f.created() + timeout;
            if deadline <= now {
                f.fail("no picture from the camera in time");
                self.stats.viewers_refused.fetch_add(1, Relaxed);
                return false;
            }
            next = Some(next.map_or(deadline, |n| n.min(deadline)));
            true
        });
        self.stats.viewers.store(feeds.len() as u64, Relaxed);
        next
    }
}
