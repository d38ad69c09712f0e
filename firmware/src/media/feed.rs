//! One viewer's RTSP media, fed from the hub through `appsrc`.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use gst::prelude::*;
use tracing::{debug, warn};

use super::hub::{DemandGuard, Hub, Track};

/// Buffers a viewer may have waiting in its appsrc before it counts as too slow (about 2 s of
/// video). Past it the feed stops and resumes at the next key frame, so a stalled TCP client
/// costs memory only up to this bound and never sees a broken picture.
const MAX_QUEUED: u64 = 30;

/// How old the key frame kept from before PLAY may be when the media starts. A joiner asks
/// for a key frame at DESCRIBE, and it usually comes while SETUP and PLAY are still on their
/// way; sending it at PLAY saves waiting for another one, and delays this viewer's picture by
/// its age, so only a fresh one is worth it.
const EARLY_MAX_AGE_NS: u64 = 150_000_000;

/// Frames kept from before PLAY, at most (the key frame and what follows it).
const EARLY_MAX_FRAMES: usize = 8;

/// How much sound from before a viewer's first picture it gets. The sound encoder is a few
/// frames behind the picture's: without this lead, a new media waited for sound captured
/// after its key frame (about 40 ms), and gst-rtsp-server answers DESCRIBE only once every
/// stream has data. Sound and picture still start within 100 ms of each other.
const AUDIO_LEAD_NS: u64 = 80_000_000;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

#[derive(Default)]
struct State {
    /// (hub time of the first frame, this media's running time for it).
    origin: Option<(u64, u64)>,
    /// False until a key frame went out, and again after frames had to be dropped.
    video_in_sync: bool,
    started: bool,
    failed: bool,
    /// Capture time of the last sound sent: the pre-roll and the live sound overlap, and
    /// nothing may go out twice or out of order.
    last_audio: Option<u64>,
    /// The latest key frame and the frames after it that came before the media ran, with
    /// their capture times: the first picture once it plays.
    early: Vec<(gst::Sample, u64)>,
}

pub struct Feed {
    id: u64,
    track: Track,
    video: gst_app::AppSrc,
    audio: Option<gst_app::AppSrc>,
    created: Instant,
    state: Mutex<State>,
    _demand: DemandGuard,
}

impl Feed {
    pub fn new(
        track: Track,
        video: gst_app::AppSrc,
        audio: Option<gst_app::AppSrc>,
        demand: DemandGuard,
    ) -> Self {
        Self {
            id: NEXT_ID.fetch_add(1, Relaxed),
            track,
            video,
            audio,
            created: Instant::now(),
            state: Mutex::new(State::default()),
            _demand: demand,
        }
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn track(&self) -> Track {
        self.track
    }

    pub(crate) fn created(&self) -> Instant {
        self.created
    }

    pub(crate) fn has_started(&self) -> bool {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .started
    }

    /// Makes the media fail, which gst-rtsp-server answers with 503 to a waiting client.
    pub(crate) fn fail(&self, reason: &str) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.failed {
            return;
        }
        state.failed = true;
        warn!(feed = self.id, reason, "refusing viewer");
        let msg = gst::message::Error::builder(gst::ResourceError::Failed, reason)
            .src(&self.video)
            .build();
        let _ = self.video.post_message(msg);
    }

    /// Maps a hub timestamp to this media's running time, keeping the spacing of the source;
    /// sound from just before the first picture maps to just before its time.
    fn map_time(origin: (u64, u64), captured: u64) -> Option<gst::ClockTime> {
        (origin.1 + captured)
            .checked_sub(origin.0)
            .map(gst::ClockTime::from_nseconds)
    }

    pub(crate) fn push_video(&self, hub: &Hub, sample: &gst::Sample, captured: u64) {
        let Some(buffer) = sample.buffer() else {
            return;
        };
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.failed {
            return;
        }
        let keyframe = !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
        let Some(origin) = state.origin else {
            // Until the media runs (DESCRIBE to PLAY), the latest key frame and what follows
            // it wait for PLAY.
            keep_early(&mut state.early, sample, keyframe, captured);
            if state.early.is_empty() {
                // Re-asked every 250 ms (the hub merges requests) until one arrives, so a
                // request that crossed an encoder restart is not lost.
                hub.request_keyframe(self.track);
                return;
            }
            if let Some(first) = self.begin(&mut state, captured) {
                drop(state);
                self.push_audio_since(hub, first);
            }
            return;
        };
        if !state.video_in_sync {
            let drained = self.video.current_level_buffers() <= MAX_QUEUED / 2;
            if !keyframe || !drained {
                // A viewer still draining its backlog asks for nothing.
                if drained {
                    hub.request_keyframe(self.track);
                }
                return;
            }
        } else if self.video.current_level_buffers() >= MAX_QUEUED {
            state.video_in_sync = false;
            hub.stats.frames_dropped_slow_viewer.fetch_add(1, Relaxed);
            debug!(
                feed = self.id,
                "viewer is behind; skipping to the next key frame"
            );
            return;
        }
        let Some(pts) = Self::map_time(origin, captured) else {
            return;
        };
        state.video_in_sync = true;
        drop(state);
        push(&self.video, sample, buffer, pts);
    }

    /// Called when the media starts playing (`now` on the capture clock): sends the key
    /// frame kept from before PLAY, if it is fresh, so that the first picture does not wait
    /// for another one. False when the viewer still needs a key frame.
    pub(crate) fn start(&self, hub: &Hub, now: u64) -> bool {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.failed || state.origin.is_some() {
            return true;
        }
        match self.begin(&mut state, now) {
            Some(first) => {
                drop(state);
                self.push_audio_since(hub, first);
                true
            }
            None => false,
        }
    }

    /// Starts the viewer with the frames kept from before PLAY once its media runs, if their
    /// key frame is fresh. Returns that key frame's capture time.
    fn begin(&self, state: &mut State, now: u64) -> Option<u64> {
        let &(_, first) = state.early.first()?;
        let age = now.saturating_sub(first);
        if age > EARLY_MAX_AGE_NS {
            state.early.clear();
            return None;
        }
        // No clock yet means the media is not running.
        let running = self.video.current_running_time()?;
        let origin = (first, running.nseconds());
        state.origin = Some(origin);
        state.video_in_sync = true;
        state.started = true;
        let frames = state.early.len();
        // Pushed while the state is held, so that a live picture cannot overtake them.
        for (sample, captured) in state.early.drain(..) {
            if let (Some(buffer), Some(pts)) = (sample.buffer(), Self::map_time(origin, captured)) {
                push(&self.video, &sample, buffer, pts);
            }
        }
        debug!(
            feed = self.id,
            frames,
            age_ms = age / 1_000_000,
            "viewer starts"
        );
        Some(first)
    }

    /// The sound captured since just before a viewer's first picture has gone out to others
    /// already.
    fn push_audio_since(&self, hub: &Hub, captured: u64) {
        for (at, sound) in hub.audio_since(captured.saturating_sub(AUDIO_LEAD_NS)) {
            self.push_audio(&sound, at);
        }
    }

    pub(crate) fn push_audio(&self, sample: &gst::Sample, captured: u64) {
        let Some(audio) = &self.audio else { return };
        let Some(buffer) = sample.buffer() else {
            return;
        };
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        // Sound starts with the first picture, so both begin together.
        let Some(origin) = state.origin.filter(|_| !state.failed) else {
            return;
        };
        if state.last_audio.is_some_and(|last| captured <= last) {
            return;
        }
        state.last_audio = Some(captured);
        drop(state);
        if audio.current_level_buffers() >= MAX_QUEUED * 3 {
            return;
        }
        match Self::map_time(origin, captured) {
            Some(pts) => push(audio, sample, buffer, pts),
            None => tracing::trace!(
                feed = self.id,
                captured,
                origin = origin.0,
                "audio before the first picture"
            ),
        }
    }
}

/// Keeps what a viewer that is not playing yet would need first: the latest key frame and
/// the frames after it.
fn keep_early(
    early: &mut Vec<(gst::Sample, u64)>,
    sample: &gst::Sample,
    keyframe: bool,
    captured: u64,
) {
    if keyframe {
        early.clear();
    } else if early.is_empty() || early.len() >= EARLY_MAX_FRAMES {
        early.clear();
        return;
    }
    early.push((sample.clone(), captured));
}

fn push(src: &gst_app::AppSrc, sample: &gst::Sample, buffer: &gst::BufferRef, pts: gst::ClockTime) {
    let mut out = buffer.copy();
    {
        let out = out.make_mut();
        out.set_pts(pts);
        out.set_dts(pts);
    }
    let caps = sample.caps_owned();
    let mut builder = gst::Sample::builder().buffer(&out);
    if let Some(caps) = &caps {
        builder = builder.caps(caps);
    }
    // Errors here mean the media is shutting down; the hub drops the feed when it is gone.
    let _ = src.push_sample(&builder.build());
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    fn access_unit(keyframe: bool) -> gst::Sample {
        let mut buffer = gst::Buffer::from_slice([0u8, 0, 0, 1, 0x65, 0x88]);
        if !keyframe {
            buffer
                .get_mut()
                .expect("new buffer")
                .set_flags(gst::BufferFlags::DELTA_UNIT);
        }
        gst::Sample::builder().buffer(&buffer).build()
    }

    /// A viewer's media that has not started playing, and its feed.
    fn viewer() -> (gst::Pipeline, gst_app::AppSink, Arc<Hub>, Feed) {
        gst::init().expect("gst");
        let pipeline = gst::parse::launch(
            "appsrc name=video is-live=true format=time ! appsink name=out sync=false",
        )
        .expect("pipeline")
        .downcast::<gst::Pipeline>()
        .expect("a pipeline");
        let by_name = |name| pipeline.by_name(name).expect("element");
        let video = by_name("video")
            .downcast::<gst_app::AppSrc>()
            .expect("appsrc");
        let out = by_name("out")
            .downcast::<gst_app::AppSink>()
            .expect("appsink");
        let (commands, _) = std::sync::mpsc::channel();
        let hub = Arc::new(Hub::new(commands));
        let feed = Feed::new(Track::Main, video, None, hub.demand());
        pipeline.set_state(gst::State::Paused).expect("paused");
        (pipeline, out, hub, feed)
    }

    fn play(pipeline: &gst::Pipeline) {
        pipeline.set_state(gst::State::Playing).expect("playing");
        let (result, _, _) = pipeline.state(gst::ClockTime::from_seconds(5));
        result.expect("reached playing");
    }

    fn next(out: &gst_app::AppSink) -> Option<bool> {
        out.try_pull_sample(gst::ClockTime::from_mseconds(500))
            .and_then(|s| {
                s.buffer()
                    .map(|b| !b.flags().contains(gst::BufferFlags::DELTA_UNIT))
            })
    }

    #[test]
    fn the_key_frame_that_came_before_play_is_the_first_picture() {
        let (pipeline, out, hub, feed) = viewer();
        let t0 = crate::media::clock_now();
        feed.push_video(&hub, &access_unit(true), t0);
        feed.push_video(&hub, &access_unit(false), t0 + 66_000_000);
        play(&pipeline);
        assert!(
            feed.start(&hub, t0 + 100_000_000),
            "it had a fresh key frame"
        );
        feed.push_video(&hub, &access_unit(false), t0 + 133_000_000);
        assert_eq!(next(&out), Some(true), "the key frame first");
        assert_eq!(next(&out), Some(false));
        assert_eq!(next(&out), Some(false), "then the live pictures");
        pipeline.set_state(gst::State::Null).expect("null");
    }

    #[test]
    fn a_stale_key_frame_is_dropped_and_the_viewer_waits_for_a_new_one() {
        let (pipeline, out, hub, feed) = viewer();
        let t0 = crate::media::clock_now();
        feed.push_video(&hub, &access_unit(true), t0);
        play(&pipeline);
        assert!(!feed.start(&hub, t0 + Duration::from_secs(1).as_nanos() as u64));
        feed.push_video(&hub, &access_unit(false), t0 + 1_066_000_000);
        assert_eq!(next(&out), None, "no picture without its key frame");
        feed.push_video(&hub, &access_unit(true), t0 + 1_133_000_000);
        assert_eq!(next(&out), Some(true));
        pipeline.set_state(gst::State::Null).expect("null");
    }
}
