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
        let sources = [("video", &self.video), ("audio", &self.audio)];
        let mut f = e.family(
            "capture_running",
            Kind::Gauge,
            "Whether a capture pipeline is running (1) or stopped (0).",
        );
        for (name, p) in sources {
            f.sample(&[("source", name)], u8::from(p.running.load(Relaxed)));
        }
        e.family(
            "capture_stand_in",
            Kind::Gauge,
            "Whether a failed source is replaced by a stand-in (silence).",
        )
        .sample(
            &[("source", "audio")],
            u8::from(self.audio.stand_in.load(Relaxed)),
        );
        let mut f = e.family(
            "capture_starts_total",
            Kind::Counter,
            "Capture pipelines started.",
        );
        for (name, p) in sources {
            f.sample(&[("source", name)], p.starts.load(Relaxed));
        }
        let mut f = e.family(
            "capture_failures_total",
            Kind::Counter,
            "Source failures or ends that led to a restart.",
        );
        for (name, p) in sources {
            f.sample(&[("source", name)], p.failures.load(Relaxed));
        }
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
        let streams = ["main", "sub"];
        let mut f = e.family("video_frames_total", Kind::Counter, "H.264 frames encoded.");
        for (i, name) in streams.iter().enumerate() {
            f.sample(&[("stream", name)], self.video_frames[i].load(Relaxed));
        }
        let mut f = e.family("video_bytes_total", Kind::Counter, "H.264 bytes encoded.");
        for (i, name) in streams.iter().enumerate() {
            f.sample(&[("stream", name)], self.video_bytes[i].load(Relaxed));
        }
    }
}
