//! `[recordings]`: event clips on the data partition, cut from the stream the camera encodes
//! anyway (`crate::recordings`).

use serde::Deserialize;

use super::{Problems, VideoConfig};

/// The event kinds a clip can be made for.
pub const CLIP_KINDS: [&str; 2] = ["cry", "motion"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordStream {
    Sub,
    Main,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecordingsConfig {
    pub enabled: bool,
    /// Which encoded stream the clips are cut from; it keeps encoding while recording is on.
    pub stream: RecordStream,
    /// Seconds before the event that each clip starts with (kept in memory).
    pub pre_s: u32,
    /// Seconds after the event ended that the clip goes on.
    pub post_s: u32,
    /// The longest clip; a longer event goes on in the next one.
    pub max_s: u32,
    /// An event that starts within this long after the last one ended joins its clip.
    pub merge_s: u32,
    /// Which events make clips: "cry", "motion".
    pub kinds: Vec<String>,
    /// The clips together stay under this size; the oldest not kept go first.
    pub budget_mb: u64,
    /// Free space always left on the data partition: recording pauses below it.
    pub reserve_mb: u64,
    /// Clips older than this go (unless kept).
    pub max_age_days: u32,
}

impl Default for RecordingsConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            stream: RecordStream::Sub,
            pre_s: 5,
            post_s: 10,
            max_s: 120,
            merge_s: 10,
            kinds: vec!["cry".into()],
            budget_mb: 1024,
            reserve_mb: 256,
            max_age_days: 30,
        }
    }
}

/// The longest time between key frames recording accepts: the pre-roll in memory holds up to
/// `pre_s` plus one of these.
pub(super) const MAX_GOP_S: f64 = 5.0;

impl RecordingsConfig {
    pub(super) fn check(&self, video: &VideoConfig, p: &mut Problems) {
        p.range("recordings.pre_s", self.pre_s, 0, 30);
        p.range("recordings.post_s", self.post_s, 0, 300);
        p.range("recordings.max_s", self.max_s, 10, 3600);
        if self.max_s <= self.pre_s {
            p.add(
                "recordings.max_s",
                format!(
                    "must be longer than recordings.pre_s ({} s, got {})",
                    self.pre_s, self.max_s
                ),
            );
        }
        p.range("recordings.merge_s", self.merge_s, 0, 600);
        if self.enabled && self.kinds.is_empty() {
            p.add(
                "recordings.kinds",
                format!(
                    "must name at least one of {} when recording is enabled",
                    CLIP_KINDS.join(", ")
                ),
            );
        }
        for (i, kind) in self.kinds.iter().enumerate() {
            if !CLIP_KINDS.contains(&kind.as_str()) {
                p.add(
                    format!("recordings.kinds[{i}]"),
                    format!("must be one of {} (got {kind:?})", CLIP_KINDS.join(", ")),
                );
            } else if self.kinds[..i].contains(kind) {
                p.add(format!("recordings.kinds[{i}]"), format!("{kind:?} twice"));
            }
        }
        p.range("recordings.budget_mb", self.budget_mb, 1, 1_000_000);
        p.range("recordings.reserve_mb", self.reserve_mb, 0, 100_000);
        p.range("recordings.max_age_days", self.max_age_days, 1, 3650);
        if self.enabled {
            let (name, s) = match self.stream {
                RecordStream::Sub => ("sub", &video.sub),
                RecordStream::Main => ("main", &video.main),
            };
            let gop = f64::from(s.keyframe_interval) / f64::from(s.framerate.max(1));
            if gop > MAX_GOP_S {
                p.add(
                    format!("video.{name}.keyframe_interval"),
                    format!(
                        "a key frame every {gop:.1} s is too rare for recording from this \
                         stream (the pre-roll in memory holds whole groups of pictures): at most \
                         {MAX_GOP_S} s, i.e. {} frames at {} fps",
                        (MAX_GOP_S * f64::from(s.framerate)) as u32,
                        s.framerate
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::Config;

    fn refusal(text: &str) -> String {
        Config::parse(text, Path::new("t.toml"))
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn bad_values_are_refused_with_their_field() {
        let e = refusal("[recordings]\nkinds = [\"cry\", \"snore\"]\n");
        assert!(
            e.contains("recordings.kinds[1]") && e.contains("snore"),
            "{e}"
        );
        let e = refusal("[recordings]\nkinds = [\"cry\", \"cry\"]\n");
        assert!(e.contains("twice"), "{e}");
        let e = refusal("[recordings]\nenabled = true\nkinds = []\n");
        assert!(e.contains("recordings.kinds"), "{e}");
        let e = refusal("[recordings]\nstream = \"third\"\n");
        assert!(e.contains("stream"), "{e}");
        let e = refusal("[recordings]\npre_s = 20\nmax_s = 15\n");
        assert!(e.contains("recordings.max_s"), "{e}");
        let e = refusal("[recordings]\nbudget_mb = 0\n");
        assert!(e.starts_with("t.toml:2:") && e.contains("budget_mb"), "{e}");
    }

    #[test]
    fn rare_key_frames_are_refused_only_when_recording() {
        let rare = "[video.sub]\nkeyframe_interval = 150\n";
        assert!(Config::parse(rare, Path::new("t.toml")).is_ok());
        let e = refusal(&format!("{rare}[recordings]\nenabled = true\n"));
        assert!(e.contains("video.sub.keyframe_interval"), "{e}");
        // The main stream's GOP does not matter while recording from the sub stream.
        let main = "[video.main]\nkeyframe_interval = 150\n[recordings]\nenabled = true\n";
        assert!(Config::parse(main, Path::new("t.toml")).is_ok());
    }
}
