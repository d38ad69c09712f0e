//! Counters the daemon exposes at `/metrics`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use crate::metrics_text::{Exposition, Kind};

#[derive(Default)]
pub struct PipelineStats {
    pub running: AtomicBool,
    /// A stand-in (silence) runs because the source failed.
    pub stand_in: AtomicBool,
    pub starts: AtomicU64,
    pub failures: AtomicU64,
}

#[derive(Default)]
pub struct Stats {
    pub video: PipelineStats,
    pub audio: PipelineStats,
    pub viewers: AtomicU64,
    pub viewers_total: AtomicU64,
    pub viewers_refused: AtomicU64,
    pub keyframe_requests: AtomicU64,
    pub frames_dropped_slow_viewer: AtomicU64,
    pub snapshots: AtomicU64,
    pub video_frames: [AtomicU64; 2],
    pub video_bytes: [AtomicU64; 2],
    pub audio_frames: AtomicU64,
}

impl Stats {
    pub fn render(&self, e: &mut Exposition) {
        self.render_capture(e);
        self.render_counters(e);
        self.render_streams(e);
    }

    /// Per capture pipeline (video, audio).
    fn render_capture(&self, e: &mut Exposition) {
        self.per_source(
            e,
            ("capture_running", Kind::Gauge),
            "Whether a capture pipeline is running (1) or stopped (0).",
            |p| u64::from(p.running.load(Relaxed)),
        );
        self.per_source(
            e,
            ("capture_starts_total", Kind::Counter),
            "Capture pipelines started.",
            |p| p.starts.load(Relaxed),
        );
        self.per_source(
            e,
            ("capture_failures_total", Kind::Counter),
            "Source failures or ends that led to a restart.",
            |p| p.failures.load(Relaxed),
        );
        // Only the microphone has a stand-in.
        e.family(
            "capture_stand_in",
            Kind::Gauge,
            "Whether a failed source is replaced by a stand-in (silence).",
        )
        .sample(
            &[("source", "audio")],
            u8::from(self.audio.stand_in.load(Relaxed)),
        );
    }

    fn per_source(
        &self,
        e: &mut Exposition,
        (name, kind): (&str, Kind),
        help: &str,
        value: impl Fn(&PipelineStats) -> u64,
    ) {
        let mut f = e.family(name, kind, help);
        for (source, p) in [("video", &self.video), ("audio", &self.audio)] {
            f.sample(&[("source", source)], value(p));
        }
    }

    fn render_counters(&self, e: &mut Exposition) {
        for (name, kind, help, value) in [
            (
                "rtsp_viewers",
                Kind::Gauge,
                "RTSP media currently fed from the camera.",
                &self.viewers,
            ),
            (
                "rtsp_viewers_total",
                Kind::Counter,
                "RTSP media created.",
                &self.viewers_total,
            ),
            (
                "rtsp_viewers_refused_total",
                Kind::Counter,
                "Viewers refused (limit or no picture).",
                &self.viewers_refused,
            ),
            (
                "keyframe_requests_total",
                Kind::Counter,
                "Key frames asked of the encoders.",
                &self.keyframe_requests,
            ),
            (
                "frames_dropped_slow_viewer_total",
                Kind::Counter,
                "Frames not sent to a viewer that could not keep up.",
                &self.frames_dropped_slow_viewer,
            ),
            (
                "snapshots_total",
                Kind::Counter,
                "JPEG snapshots served.",
                &self.snapshots,
            ),
            (
                "audio_frames_total",
                Kind::Counter,
                "AAC frames encoded.",
                &self.audio_frames,
            ),
        ] {
            e.single(name, kind, help, value.load(Relaxed));
        }
    }

    /// Per encoded stream (main, sub).
    fn render_streams(&self, e: &mut Exposition) {
        for (name, help, counters) in [
            (
                "video_frames_total",
                "H.264 frames encoded.",
                &self.video_frames,
            ),
            (
                "video_bytes_total",
                "H.264 bytes encoded.",
                &self.video_bytes,
            ),
        ] {
            let mut f = e.family(name, Kind::Counter, help);
            for (stream, counter) in ["main", "sub"].into_iter().zip(counters) {
                f.sample(&[("stream", stream)], counter.load(Relaxed));
            }
        }
    }
}
