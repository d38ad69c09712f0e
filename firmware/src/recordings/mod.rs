//! Event clips on the data partition: every cry (and motion, if chosen) becomes a fragmented
//! MP4 with sound and a thumbnail, cut from a stream the camera encodes anyway.
//!
//! While recording is enabled a [`Tape`] on the hub keeps the chosen stream's encoder running
//! and the last seconds in memory ([`preroll`]); the events decide when clips start and end
//! ([`trigger`]), one control thread writes them ([`writer`]), lists them ([`index`]) and keeps
//! the card within its budget and reserve ([`retention`]).

pub mod fmp4;
pub mod index;
pub mod preroll;
pub mod retention;
pub mod trigger;
pub mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;
use time::OffsetDateTime;
use tracing::{error, info, warn};

use crate::config::{RecordStream, RecordingsConfig};
use crate::events::{self, Bus, topics};
use crate::media::{self, Hub, JpegEncoder, Tap, Track};
use index::{Clip, Index};
use preroll::{Preroll, Unit};
use retention::Limits;
use trigger::{Action, Timing, Trigger};

/// The directory under the data directory that holds the clips and their index.
pub const DIR: &str = "recordings";
/// What the pre-roll may hold at most, whatever the bit rate.
const PREROLL_MAX_BYTES: usize = 24 << 20;
/// How often the control thread looks at the clock, the card and the writer.
const TICK: Duration = Duration::from_millis(500);
/// A clip gets this long to write its last fragment.
const FINISH_TIMEOUT: Duration = Duration::from_secs(10);
/// Width of the thumbnails.
const THUMBNAIL_WIDTH: u32 = 320;
/// Recording resumes once this much more than the reserve is free again, so that it does not
/// flap at the edge.
const RESUME_MARGIN: u64 = 1 << 20;
/// Old clips are looked for this often (and after each clip).
const AGE_CHECK: Duration = Duration::from_secs(600);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClipError {
    #[error("no such clip")]
    NotFound,
    #[error("the clip is being recorded")]
    Recording,
    #[error("cannot store the clip list: {0}")]
    Storage(String),
}

/// The last thing that went wrong, for `/api/status`.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub time: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub enabled: bool,
    pub clips: usize,
    pub bytes: u64,
    pub recording_now: bool,
    /// Recording waits for free space on the data partition.
    pub paused_for_space: bool,
    pub last_failure: Option<Failure>,
    pub failures_total: u64,
}

/// The pictures and sound the hub hands the recorder, and the clip they go to.
struct Tape {
    live: Mutex<Live>,
}

struct Live {
    preroll: Preroll<gst::Sample>,
    writer: Option<writer::Writer>,
}

fn size_of(sample: &gst::Sample) -> usize {
    sample.buffer().map_or(0, gst::BufferRef::size)
}

impl Tap for Tape {
    fn video(&self, sample: &gst::Sample, captured: u64) {
        let key = sample
            .buffer()
            .is_some_and(|b| !b.flags().contains(gst::BufferFlags::DELTA_UNIT));
        let mut live = lock(&self.live);
        if let Some(w) = &mut live.writer {
            w.push_video(sample, captured, key);
        }
        live.preroll.push_video(Unit {
            at: captured,
            key,
            bytes: size_of(sample),
            item: sample.clone(),
        });
    }

    fn audio(&self, sample: &gst::Sample, captured: u64) {
        let mut live = lock(&self.live);
        if let Some(w) = &mut live.writer {
            w.push_audio(sample, captured);
        }
        live.preroll.push_audio(Unit {
            at: captured,
            key: true,
            bytes: size_of(sample),
            item: sample.clone(),
        });
    }
}

enum Msg {
    Event { kind: &'static str, on: bool },
    Shutdown,
}

/// What the control thread needs besides the recordings.
pub struct Sources {
    pub hub: Arc<Hub>,
    pub bus: Arc<Bus>,
    pub jpeg: JpegEncoder,
    /// The main stream's size (the raw pictures the thumbnails are made from).
    pub main: (u32, u32),
    pub with_audio: bool,
}

pub struct Recordings {
    config: RecordingsConfig,
    dir: PathBuf,
    index: Mutex<Index>,
    /// The clip being written, if any.
    current: Mutex<Option<String>>,
    paused: AtomicBool,
    failures: AtomicU64,
    last_failure: Mutex<Option<Failure>>,
    control: Mutex<Option<(Sender<Msg>, std::thread::JoinHandle<()>)>>,
}

impl Recordings {
    /// The clips in `<data_dir>/recordings`; with recording enabled, the recorder starts too.
    pub fn start(
        config: &RecordingsConfig,
        data_dir: &Path,
        sources: Sources,
    ) -> anyhow::Result<Arc<Self>> {
        let dir = data_dir.join(DIR);
        // A card that cannot hold clips must not keep the camera from streaming.
        let (index, broken) = match Index::open(&dir) {
            Ok(index) => (index, None),
            Err(e) => (Index::empty(&dir), Some(format!("{e:#}"))),
        };
        let recordings = Arc::new(Self {
            config: config.clone(),
            dir,
            index: Mutex::new(index),
            current: Mutex::new(None),
            paused: AtomicBool::new(false),
            failures: AtomicU64::new(0),
            last_failure: Mutex::new(None),
            control: Mutex::new(None),
        });
        if let Some(reason) = broken {
            recordings.fail(format!("no event clips: {reason}"));
            return Ok(recordings);
        }
        recordings.apply_retention(None);
        if config.enabled {
            recordings.spawn(sources)?;
        }
        Ok(recordings)
    }

    fn spawn(self: &Arc<Self>, sources: Sources) -> anyhow::Result<()> {
        let (tx, rx) = std::sync::mpsc::channel();
        let span = u64::from(self.config.pre_s) * 1_000_000_000;
        let tape = Arc::new(Tape {
            live: Mutex::new(Live {
                preroll: Preroll::new(span, PREROLL_MAX_BYTES),
                writer: None,
            }),
        });
        let track = match self.config.stream {
            RecordStream::Sub => Track::Sub,
            RecordStream::Main => Track::Main,
        };
        sources.bus.set(
            topics::STORAGE_FAILURE,
            &[("StorageToken", STORAGE_TOKEN)],
            &[("Failed", events::flag(false))],
        );
        let mut events = sources.bus.listen();
        let forward = tx.clone();
        std::thread::Builder::new()
            .name("clip-events".into())
            .spawn(move || {
                use tokio::sync::broadcast::error::RecvError;
                loop {
                    let n = match events.blocking_recv() {
                        Ok(n) => n,
                        Err(RecvError::Lagged(_)) => continue,
                        Err(RecvError::Closed) => return,
                    };
                    let Some(signal) = crate::alerts::signal_of(&n) else {
                        continue;
                    };
                    let kind = signal.kind.as_str();
                    if forward
                        .send(Msg::Event {
                            kind,
                            on: signal.on,
                        })
                        .is_err()
                    {
                        return;
                    }
                }
            })
            .context("starting the clip event thread")?;
        let me = Arc::clone(self);
        let handle = std::thread::Builder::new()
            .name("clips".into())
            .spawn(move || {
                let guard = sources
                    .hub
                    .add_tap(track, Arc::clone(&tape) as Arc<dyn Tap>);
                Control::new(me, tape, sources).run(rx);
                drop(guard);
            })
            .context("starting the recorder")?;
        *lock(&self.control) = Some((tx, handle));
        info!(
            stream = track.name(),
            pre_s = self.config.pre_s,
            kinds = ?self.config.kinds,
            "recording event clips"
        );
        Ok(())
    }

    /// Ends the clip being written (it is finished properly) and stops the recorder.
    pub fn shutdown(&self) {
        let Some((tx, handle)) = lock(&self.control).take() else {
            return;
        };
        let _ = tx.send(Msg::Shutdown);
        let _ = handle.join();
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Clips overlapping `from..=to` (UTC seconds) of `kind`, newest first.
    pub fn list(&self, from: Option<i64>, to: Option<i64>, kind: Option<&str>) -> Vec<Clip> {
        let index = lock(&self.index);
        let mut clips: Vec<Clip> = index
            .clips()
            .iter()
            .filter(|c| from.is_none_or(|f| c.end.unwrap_or(i64::MAX) >= f))
            .filter(|c| to.is_none_or(|t| c.start <= t))
            .filter(|c| kind.is_none_or(|k| c.kind == k))
            .cloned()
            .collect();
        clips.reverse();
        clips
    }

    pub fn get(&self, id: &str) -> Option<Clip> {
        index::parse_id(id)?;
        lock(&self.index).get(id).cloned()
    }

    /// The clip's MP4, if it is listed.
    pub fn video_file(&self, id: &str) -> Option<PathBuf> {
        self.get(id).map(|c| Index::video_path(&self.dir, &c.id))
    }

    /// The clip's thumbnail, if it is listed and has one.
    pub fn thumbnail_file(&self, id: &str) -> Option<PathBuf> {
        self.get(id)
            .filter(|c| c.thumbnail)
            .map(|c| Index::thumbnail_path(&self.dir, &c.id))
    }

    pub fn delete(&self, id: &str) -> Result<(), ClipError> {
        index::parse_id(id).ok_or(ClipError::NotFound)?;
        if lock(&self.current).as_deref() == Some(id) {
            return Err(ClipError::Recording);
        }
        let mut index = lock(&self.index);
        if !index.remove(id) {
            return Err(ClipError::NotFound);
        }
        info!(clip = id, "clip deleted");
        index
            .save()
            .map_err(|e| ClipError::Storage(format!("{e:#}")))
    }

    pub fn set_keep(&self, id: &str, keep: bool) -> Result<Clip, ClipError> {
        index::parse_id(id).ok_or(ClipError::NotFound)?;
        let mut index = lock(&self.index);
        let clip = index.get_mut(id).ok_or(ClipError::NotFound)?;
        clip.keep = keep;
        let clip = clip.clone();
        index
            .save()
            .map_err(|e| ClipError::Storage(format!("{e:#}")))?;
        Ok(clip)
    }

    pub fn status(&self) -> Status {
        let index = lock(&self.index);
        Status {
            enabled: self.config.enabled,
            clips: index.clips().len(),
            bytes: index.total_bytes() + self.current_bytes(),
            recording_now: lock(&self.current).is_some(),
            paused_for_space: self.paused.load(Relaxed),
            last_failure: lock(&self.last_failure).clone(),
            failures_total: self.failures.load(Relaxed),
        }
    }

    pub fn render_metrics(&self, e: &mut crate::metrics_text::Exposition) {
        use crate::metrics_text::Kind::{Counter, Gauge};
        let s = self.status();
        e.single(
            "recordings_clips",
            Gauge,
            "Event clips on the data partition.",
            s.clips as u64,
        );
        e.single(
            "recordings_bytes",
            Gauge,
            "Bytes the event clips take on the data partition.",
            s.bytes,
        );
        e.single(
            "recordings_recording",
            Gauge,
            "Whether a clip is being recorded now.",
            u8::from(s.recording_now),
        );
        e.single(
            "recordings_failures_total",
            Counter,
            "Clips that could not be recorded or ended early: a full card, a write error.",
            s.failures_total,
        );
    }

    /// Bytes of the clip being written, as on the card now.
    fn current_bytes(&self) -> u64 {
        lock(&self.current)
            .as_deref()
            .and_then(|id| std::fs::metadata(Index::video_path(&self.dir, id)).ok())
            .map_or(0, |m| m.len())
    }

    fn fail(&self, reason: String) {
        error!("recording: {reason}");
        self.failures.fetch_add(1, Relaxed);
        *lock(&self.last_failure) = Some(Failure {
            time: index::utc_text(OffsetDateTime::now_utc().unix_timestamp()),
            reason,
        });
    }

    fn limits(&self) -> Limits {
        Limits {
            budget_bytes: self.config.budget_mb * 1024 * 1024,
            max_age_s: i64::from(self.config.max_age_days) * 86_400,
        }
    }

    /// Removes what is over the budget or too old; `recording`: the clip being written and
    /// its size now. Whether the rest fits (false: kept clips and this one fill the budget).
    fn apply_retention(&self, recording: Option<(&str, u64)>) -> bool {
        let limits = self.limits();
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let mut index = lock(&self.index);
        let gone = retention::choose(index.clips(), now, limits, recording);
        for id in &gone {
            info!(clip = id, "clip removed to keep within the budget and age");
            index.remove(id);
        }
        if !gone.is_empty()
            && let Err(e) = index.save()
        {
            warn!("{e:#}");
        }
        let total: u64 = index
            .clips()
            .iter()
            .map(|c| match recording {
                Some((id, bytes)) if id == c.id => bytes,
                _ => c.bytes,
            })
            .sum();
        total <= limits.budget_bytes
    }
}

/// Names the clip store in storage events.
const STORAGE_TOKEN: &str = "recordings";

/// The control thread's state.
struct Control {
    rec: Arc<Recordings>,
    tape: Arc<Tape>,
    sources: Sources,
    trigger: Trigger,
    epoch: Instant,
    last_age_check: Instant,
}

impl Control {
    fn new(rec: Arc<Recordings>, tape: Arc<Tape>, sources: Sources) -> Self {
        let trigger = Trigger::new(Timing::of(&rec.config), rec.config.kinds.clone());
        Self {
            rec,
            tape,
            sources,
            trigger,
            epoch: Instant::now(),
            last_age_check: Instant::now(),
        }
    }

    fn run(mut self, rx: Receiver<Msg>) {
        loop {
            let mut actions = Vec::new();
            match rx.recv_timeout(TICK) {
                Ok(Msg::Event { kind, on }) => {
                    actions.extend(self.trigger.event(self.epoch.elapsed(), kind, on));
                }
                Ok(Msg::Shutdown) | Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {}
            }
            actions.extend(self.trigger.tick(self.epoch.elapsed()));
            for action in actions {
                match action {
                    Action::Start { kind, continued } => self.start(&kind, continued),
                    Action::Stop => self.stop(),
                }
            }
            self.watch();
        }
        self.stop();
    }

    fn free(&self) -> Option<u64> {
        match retention::free_bytes(&self.rec.dir) {
            Ok(free) => Some(free),
            Err(e) => {
                warn!(dir = %self.rec.dir.display(), "cannot measure the free space: {e}");
                None
            }
        }
    }

    fn reserve(&self) -> u64 {
        self.rec.config.reserve_mb * 1024 * 1024
    }

    /// Recording pauses: the partition is at its reserve.
    fn pause_for_space(&self, free: u64) {
        if self.rec.paused.swap(true, Relaxed) {
            return;
        }
        self.rec.fail(format!(
            "the data partition is nearly full ({} MB free, {} MB kept in reserve): recording \
             pauses until space is free again",
            free >> 20,
            self.rec.config.reserve_mb
        ));
        self.sources.bus.set(
            topics::STORAGE_FAILURE,
            &[("StorageToken", STORAGE_TOKEN)],
            &[("Failed", events::flag(true))],
        );
    }

    fn resume_if_space(&self) -> bool {
        if !self.rec.paused.load(Relaxed) {
            return true;
        }
        let Some(free) = self.free() else {
            return false;
        };
        if free < self.reserve() + RESUME_MARGIN {
            return false;
        }
        self.rec.paused.store(false, Relaxed);
        info!(
            free_mb = free >> 20,
            "space on the data partition again: recording resumes"
        );
        self.sources.bus.set(
            topics::STORAGE_FAILURE,
            &[("StorageToken", STORAGE_TOKEN)],
            &[("Failed", events::flag(false))],
        );
        true
    }

    fn start(&mut self, kind: &str, continued: bool) {
        if !self.resume_if_space() {
            self.trigger.abort();
            return;
        }
        if let Some(free) = self.free()
            && free < self.reserve()
        {
            self.pause_for_space(free);
            self.trigger.abort();
            return;
        }
        let now_clock = media::clock_now();
        let now_utc = OffsetDateTime::now_utc();
        let id;
        let path;
        {
            let first_at = {
                let live = lock(&self.tape.live);
                live.preroll.start(continued).video.first().map(|u| u.at)
            };
            let back = first_at.map_or(0, |at| now_clock.saturating_sub(at));
            let start = (now_utc - Duration::from_nanos(back)).unix_timestamp();
            let mut index = lock(&self.rec.index);
            id = index.free_id(start, kind);
            path = Index::video_path(&self.rec.dir, &id);
            index.insert(Clip {
                id: id.clone(),
                kind: kind.to_string(),
                start,
                end: None,
                duration: 0.0,
                bytes: 0,
                keep: false,
                thumbnail: false,
            });
            if let Err(e) = index.save() {
                warn!("{e:#}");
            }
        }
        let mut writer = match writer::Writer::start(&path, self.sources.with_audio) {
            Ok(w) => w,
            Err(e) => {
                self.rec.fail(format!("cannot start the clip {id}: {e:#}"));
                self.drop_clip(&id);
                self.trigger.abort();
                return;
            }
        };
        {
            let mut live = lock(&self.tape.live);
            let start = live.preroll.start(continued);
            for u in &start.video {
                writer.push_video(&u.item, u.at, u.key);
            }
            for u in &start.audio {
                writer.push_audio(&u.item, u.at);
            }
            live.writer = Some(writer);
        }
        *lock(&self.rec.current) = Some(id.clone());
        info!(clip = id, kind, "recording a clip");
        self.thumbnail(&id, now_clock);
    }

    /// A JPEG of the moment the event began, from the raw pictures the snapshots use.
    fn thumbnail(&self, id: &str, at: u64) {
        let (w, h) = JpegEncoder::size_for(self.sources.main, THUMBNAIL_WIDTH);
        let jpeg = self
            .sources
            .hub
            .frame_since(at.saturating_sub(500_000_000), Duration::from_secs(3))
            .ok_or("no picture")
            .and_then(|frame| {
                self.sources
                    .jpeg
                    .encode(&frame, w, h, Duration::from_secs(5))
            });
        let path = Index::thumbnail_path(&self.rec.dir, id);
        let written = jpeg
            .map_err(anyhow::Error::msg)
            .and_then(|j| crate::settings::write_atomically(&path, j));
        match written {
            Ok(()) => {
                if let Some(c) = lock(&self.rec.index).get_mut(id) {
                    c.thumbnail = true;
                }
            }
            Err(e) => warn!(clip = id, "no thumbnail: {e:#}"),
        }
    }

    fn drop_clip(&self, id: &str) {
        let mut index = lock(&self.rec.index);
        index.remove(id);
        if let Err(e) = index.save() {
            warn!("{e:#}");
        }
    }

    /// Ends the clip being written, if any, and lists it with what its file holds.
    fn stop(&mut self) {
        let writer = lock(&self.tape.live).writer.take();
        let Some(id) = lock(&self.rec.current).take() else {
            return;
        };
        let Some(writer) = writer else {
            return;
        };
        let finished = writer.finish(FINISH_TIMEOUT);
        let path = Index::video_path(&self.rec.dir, &id);
        if let Err(e) = &finished {
            self.rec
                .fail(format!("the clip {id} did not end cleanly: {e:#}"));
        }
        let contents = match fmp4::inspect_file(&path) {
            Ok(Ok(c)) if c.fragments > 0 => c,
            other => {
                warn!(clip = id, result = ?other.map(|r| r.map(|c| c.fragments)), "the clip holds no pictures: removed");
                self.drop_clip(&id);
                return;
            }
        };
        let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
        {
            let mut index = lock(&self.rec.index);
            if let Some(c) = index.get_mut(&id) {
                c.duration = (contents.duration_s * 1000.0).round() / 1000.0;
                c.end = Some(c.start + contents.duration_s.ceil() as i64);
                c.bytes = bytes;
                c.thumbnail = Index::thumbnail_path(&self.rec.dir, &id).exists();
            }
            if let Err(e) = index.save() {
                warn!("{e:#}");
            }
        }
        info!(
            clip = id,
            duration_s = contents.duration_s,
            bytes,
            "clip saved"
        );
        self.rec.apply_retention(None);
    }

    /// While recording: the writer's health, the budget and the reserve; the data reaches
    /// the card at least every tick (a power cut loses at most that). And old clips go.
    fn watch(&mut self) {
        if self.last_age_check.elapsed() >= AGE_CHECK {
            self.last_age_check = Instant::now();
            self.rec.apply_retention(None);
        }
        let Some(id) = lock(&self.rec.current).clone() else {
            if self.rec.paused.load(Relaxed) {
                self.resume_if_space();
            }
            return;
        };
        let failure = lock(&self.tape.live)
            .writer
            .as_ref()
            .and_then(writer::Writer::failure);
        if let Some(reason) = failure {
            self.rec.fail(format!("writing the clip {id}: {reason}"));
            self.stop();
            self.trigger.abort();
            return;
        }
        let path = Index::video_path(&self.rec.dir, &id);
        if let Ok(f) = std::fs::File::open(&path) {
            let _ = f.sync_data();
        }
        let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
        if !self.rec.apply_retention(Some((&id, bytes))) {
            self.rec.fail(format!(
                "the clips marked \"keep\" fill the budget ({} MB): the clip {id} ends here",
                self.rec.config.budget_mb
            ));
            self.stop();
            self.trigger.abort();
            return;
        }
        if let Some(free) = self.free()
            && free < self.reserve()
        {
            self.pause_for_space(free);
            self.stop();
            self.trigger.abort();
        }
    }
}
