//! Counters the daemon exposes at `/metrics`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

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
    pub fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP babymonitor_capture_running Whether a capture pipeline is running (1) or stopped (0)."
        );
        let _ = writeln!(out, "# TYPE babymonitor_capture_running gauge");
        for (name, p) in [("video", &self.video), ("audio", &self.audio)] {
            let _ = writeln!(
                out,
                "babymonitor_capture_running{{source=\"{name}\"}} {}",
                u8::from(p.running.load(Relaxed))
            );
        }
        let _ = writeln!(
            out,
            "# HELP babymonitor_capture_stand_in Whether a failed source is replaced by a stand-in (silence)."
        );
        let _ = writeln!(out, "# TYPE babymonitor_capture_stand_in gauge");
        let _ = writeln!(
            out,
            "babymonitor_capture_stand_in{{source=\"audio\"}} {}",
            u8::from(self.audio.stand_in.load(Relaxed))
        );
        let _ = writeln!(out, "# TYPE babymonitor_capture_starts_total counter");
        for (name, p) in [("video", &self.video), ("audio", &self.audio)] {
            let _ = writeln!(
                out,
                "babymonitor_capture_starts_total{{source=\"{name}\"}} {}",
                p.starts.load(Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP babymonitor_capture_failures_total Source failures or ends that led to a restart."
        );
        let _ = writeln!(out, "# TYPE babymonitor_capture_failures_total counter");
        for (name, p) in [("video", &self.video), ("audio", &self.audio)] {
            let _ = writeln!(
                out,
                "babymonitor_capture_failures_total{{source=\"{name}\"}} {}",
                p.failures.load(Relaxed)
            );
        }
        let simple = [
            (
                "babymonitor_rtsp_viewers",
                "gauge",
                "RTSP media currently fed from the camera.",
                &self.viewers,
            ),
            (
                "babymonitor_rtsp_viewers_total",
                "counter",
                "RTSP media created.",
                &self.viewers_total,
            ),
            (
                "babymonitor_rtsp_viewers_refused_total",
                "counter",
                "Viewers refused (limit or no picture).",
                &self.viewers_refused,
            ),
            (
                "babymonitor_keyframe_requests_total",
                "counter",
                "Key frames asked of the encoders.",
                &self.keyframe_requests,
            ),
            (
                "babymonitor_frames_dropped_slow_viewer_total",
                "counter",
                "Frames not sent to a viewer that could not keep up.",
                &self.frames_dropped_slow_viewer,
            ),
            (
                "babymonitor_snapshots_total",
                "counter",
                "JPEG snapshots served.",
                &self.snapshots,
            ),
            (
                "babymonitor_audio_frames_total",
                "counter",
                "AAC frames encoded.",
                &self.audio_frames,
            ),
        ];
        for (name, kind, help, value) in simple {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}",
                value.load(Relaxed)
            );
        }
        let _ = writeln!(out, "# TYPE babymonitor_video_frames_total counter");
        for (i, name) in ["main", "sub"].iter().enumerate() {
            let _ = writeln!(
                out,
                "babymonitor_video_frames_total{{stream=\"{name}\"}} {}",
                self.video_frames[i].load(Relaxed)
            );
        }
        let _ = writeln!(out, "# TYPE babymonitor_video_bytes_total counter");
        for (i, name) in ["main", "sub"].iter().enumerate() {
            let _ = writeln!(
                out,
                "babymonitor_video_bytes_total{{stream=\"{name}\"}} {}",
                self.video_bytes[i].load(Relaxed)
            );
        }
    }
}
