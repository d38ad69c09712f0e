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

    /// Maps a hub timestamp to this media's running time, keeping the spacing of the source.
    fn map_time(origin: (u64, u64), captured: u64) -> Option<gst::ClockTime> {
        captured
            .checked_sub(origin.0)
            .map(|d| gst::ClockTime::from_nseconds(origin.1 + d))
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
        if !state.video_in_sync {
            let drained = self.video.current_level_buffers() <= MAX_QUEUED / 2;
            if !keyframe || !drained {
                // Re-asked every 250 ms (the hub merges requests) until one arrives, so a
                // request that crossed an encoder restart is not lost; a viewer still
                // draining its backlog asks for nothing.
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
        let (origin, first) = match state.origin {
            Some(origin) => (origin, false),
            None => {
                // No clock yet means the media is not running: nothing to send to.
                let Some(now) = self.video.current_running_time() else {
                    return;
                };
                let origin = (captured, now.nseconds());
                state.origin = Some(origin);
                (origin, true)
            }
        };
        let Some(pts) = Self::map_time(origin, captured) else {
            return;
        };
        state.video_in_sync = true;
        state.started = true;
        drop(state);
        push(&self.video, sample, buffer, pts);
        if first {
            // The sound captured since this picture has gone out to others already.
            for (at, sound) in hub.audio_since(captured) {
                self.push_audio(&sound, at);
            }
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
