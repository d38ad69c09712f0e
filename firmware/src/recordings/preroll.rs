//! The last seconds of the encoded stream, kept in memory so that a clip can start before the
//! event that made it: whole groups of pictures (a clip must start at a key frame) and the
//! sound that goes with them.

use std::collections::VecDeque;

/// One encoded unit and the system-clock time it was captured at.
#[derive(Debug, Clone)]
pub struct Unit<T> {
    pub at: u64,
    pub key: bool,
    pub bytes: usize,
    pub item: T,
}

/// What a clip starts with: pictures from a key frame on, and the sound from then on.
pub struct Start<T> {
    pub video: Vec<Unit<T>>,
    pub audio: Vec<Unit<T>>,
}

pub struct Preroll<T> {
    /// How far back the oldest kept key frame must reach from the newest picture.
    span_ns: u64,
    /// Past this many bytes whole groups go even if the span is then shorter: a stream with
    /// rare key frames, or a huge bit rate, cannot take the memory.
    max_bytes: usize,
    video: VecDeque<Unit<T>>,
    audio: VecDeque<Unit<T>>,
    bytes: usize,
}

impl<T: Clone> Preroll<T> {
    pub fn new(span_ns: u64, max_bytes: usize) -> Self {
        Self {
            span_ns,
            max_bytes,
            video: VecDeque::new(),
            audio: VecDeque::new(),
            bytes: 0,
        }
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Seconds of pictures held, from the oldest to the newest.
    pub fn span_ns(&self) -> u64 {
        match (self.video.front(), self.video.back()) {
            (Some(a), Some(b)) => b.at.saturating_sub(a.at),
            _ => 0,
        }
    }

    pub fn push_video(&mut self, unit: Unit<T>) {
        if self.video.is_empty() && !unit.key {
            // Nothing can be played from before the first key frame.
            return;
        }
        if self.video.back().is_some_and(|last| unit.at < last.at) {
            // A restarted encoder's clock: what came before cannot be joined to it.
            self.clear();
            if !unit.key {
                return;
            }
        }
        self.bytes += unit.bytes;
        self.video.push_back(unit);
        self.trim();
    }

    pub fn push_audio(&mut self, unit: Unit<T>) {
        if self.video.is_empty() {
            return;
        }
        self.bytes += unit.bytes;
        self.audio.push_back(unit);
        self.trim_audio();
    }

    pub fn clear(&mut self) {
        self.video.clear();
        self.audio.clear();
        self.bytes = 0;
    }

    /// Drops the oldest group while the next one still reaches back far enough (or while the
    /// memory bound is passed and another group is left).
    fn trim(&mut self) {
        let Some(newest) = self.video.back().map(|u| u.at) else {
            return;
        };
        while let Some(next_key) = self.video.iter().skip(1).position(|u| u.key).map(|i| i + 1) {
            let reaches = newest.saturating_sub(self.video[next_key].at) >= self.span_ns;
            if !reaches && self.bytes <= self.max_bytes {
                break;
            }
            for unit in self.video.drain(..next_key) {
                self.bytes -= unit.bytes;
            }
        }
        self.trim_audio();
    }

    fn trim_audio(&mut self) {
        let Some(first) = self.video.front().map(|u| u.at) else {
            return;
        };
        while self.audio.front().is_some_and(|a| a.at < first) {
            if let Some(a) = self.audio.pop_front() {
                self.bytes -= a.bytes;
            }
        }
    }

    /// Everything held, from the oldest key frame; or with `from_latest_key` from the newest
    /// key frame only (a clip that goes on after one reached its longest).
    pub fn start(&self, from_latest_key: bool) -> Start<T> {
        let from = if from_latest_key {
            self.video.iter().rposition(|u| u.key).unwrap_or(0)
        } else {
            0
        };
        let video: Vec<_> = self.video.iter().skip(from).cloned().collect();
        let first = video.first().map_or(u64::MAX, |u| u.at);
        let audio = self
            .audio
            .iter()
            .filter(|a| a.at >= first)
            .cloned()
            .collect();
        Start { video, audio }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    /// 15 fps pictures of 1000 bytes, a key frame every `gop`, and AAC every 64 ms.
    fn feed(p: &mut Preroll<u32>, seconds: u64, gop: u64) {
        let mut audio_at = 0;
        for i in 0..seconds * 15 {
            let at = 1_000 * MS + i * 1000 * MS / 15;
            p.push_video(Unit {
                at,
                key: i % gop == 0,
                bytes: 1000,
                item: i as u32,
            });
            while audio_at <= at {
                p.push_audio(Unit {
                    at: audio_at,
                    key: true,
                    bytes: 100,
                    item: 0,
                });
                audio_at += 64 * MS;
            }
        }
    }

    #[test]
    fn keeps_whole_groups_reaching_back_at_least_the_span_and_no_more() {
        let mut p = Preroll::new(5_000 * MS, usize::MAX);
        feed(&mut p, 60, 30);
        let start = p.start(false);
        let first = &start.video[0];
        let last = start.video.last().expect("pictures");
        assert!(first.key, "a clip starts at a key frame");
        let span = last.at - first.at;
        // At least the pre-roll, and less than one more group (2 s) on top.
        assert!(span >= 5_000 * MS, "{span}");
        assert!(span < 7_000 * MS, "{span}");
        // The sound starts with the pictures, not before.
        assert!(start.audio[0].at >= first.at);
        assert!(start.audio[0].at - first.at < 64 * MS);
        assert_eq!(start.audio.last().map(|a| a.at <= last.at), Some(true));
    }

    #[test]
    fn memory_is_bounded_by_the_limit_even_with_rare_key_frames() {
        let mut p = Preroll::new(5_000 * MS, 50_000);
        // One key frame in 20 s: only the newest group is left once past the limit.
        feed(&mut p, 60, 300);
        assert!(p.bytes() <= 300 * 1000 + 400 * 100, "{}", p.bytes());
        assert!(p.start(false).video[0].key);
        // With frequent key frames the limit holds as such.
        let mut p = Preroll::new(60_000 * MS, 50_000);
        feed(&mut p, 60, 15);
        assert!(p.bytes() <= 50_000 + 15 * 1000 + 20 * 100, "{}", p.bytes());
    }

    #[test]
    fn nothing_before_the_first_key_frame_and_the_latest_group_on_request() {
        let mut p = Preroll::new(5_000 * MS, usize::MAX);
        p.push_video(Unit {
            at: 1,
            key: false,
            bytes: 1,
            item: 0,
        });
        assert_eq!(p.start(false).video.len(), 0);
        feed(&mut p, 10, 30);
        let latest = p.start(true);
        assert!(latest.video[0].key);
        assert!(latest.video.len() <= 30);
        // A clock that went back (an encoder restart) starts over.
        p.push_video(Unit {
            at: 5,
            key: true,
            bytes: 1,
            item: 9,
        });
        assert_eq!(p.start(false).video.len(), 1);
    }
}
