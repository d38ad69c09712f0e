//! Which clips go to keep the card within its budget: too old ones, then the oldest until the
//! rest fit. Clips a parent marked "keep" never go, nor the one being recorded.

use std::path::Path;

use super::index::Clip;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub budget_bytes: u64,
    pub max_age_s: i64,
}

/// The ids to remove, oldest first. `recording`: the clip being written and its size now
/// (the index does not know it yet).
pub fn choose(
    clips: &[Clip],
    now: i64,
    limits: Limits,
    recording: Option<(&str, u64)>,
) -> Vec<String> {
    let recording_id = recording.map(|(id, _)| id);
    let size = |c: &Clip| match recording {
        Some((id, bytes)) if id == c.id => bytes,
        _ => c.bytes,
    };
    let mut total: u64 = clips.iter().map(size).sum();
    if let Some((id, bytes)) = recording
        && !clips.iter().any(|c| c.id == id)
    {
        total += bytes;
    }
    let mut oldest_first: Vec<&Clip> = clips.iter().collect();
    oldest_first.sort_by_key(|c| c.start);
    let mut gone = Vec::new();
    for c in oldest_first {
        if c.keep || Some(c.id.as_str()) == recording_id {
            continue;
        }
        let too_old = now.saturating_sub(c.end.unwrap_or(c.start)) > limits.max_age_s;
        if too_old || total > limits.budget_bytes {
            total = total.saturating_sub(c.bytes);
            gone.push(c.id.clone());
        }
    }
    gone
}

/// Bytes an unprivileged writer may still use on the file system holding `dir`.
pub fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    let s = rustix::fs::statvfs(dir)?;
    Ok(s.f_bavail.saturating_mul(s.f_frsize))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clip(id: &str, start: i64, bytes: u64, keep: bool) -> Clip {
        Clip {
            id: id.into(),
            kind: "cry".into(),
            start,
            end: Some(start + 10),
            duration: 10.0,
            bytes,
            keep,
            thumbnail: true,
        }
    }

    const DAY: i64 = 86_400;

    #[test]
    fn the_oldest_not_kept_go_until_the_rest_fit() {
        let clips = [
            clip("a", 100, 40, true),
            clip("b", 200, 40, false),
            clip("c", 300, 40, false),
            clip("d", 400, 40, false),
        ];
        let limits = Limits {
            budget_bytes: 100,
            max_age_s: DAY,
        };
        // 160 bytes: "b" (the oldest not kept) goes, then "c"; "a" stays though older.
        assert_eq!(choose(&clips, 500, limits, None), vec!["b", "c"]);
        // Within the budget nothing goes.
        let roomy = Limits {
            budget_bytes: 160,
            ..limits
        };
        assert!(choose(&clips, 500, roomy, None).is_empty());
        // The clip being recorded counts with its size now and never goes itself.
        let now = choose(&clips, 500, roomy, Some(("d", 90)));
        assert_eq!(now, vec!["b", "c"]);
        let new = choose(&clips, 500, roomy, Some(("e", 30)));
        assert_eq!(new, vec!["b"]);
    }

    #[test]
    fn old_clips_go_unless_kept_and_kept_ones_stay_past_the_budget() {
        let clips = [
            clip("a", 0, 10, true),
            clip("b", 10, 10, false),
            clip("c", 40 * DAY, 10, false),
        ];
        let limits = Limits {
            budget_bytes: 1000,
            max_age_s: 30 * DAY,
        };
        assert_eq!(choose(&clips, 41 * DAY, limits, None), vec!["b"]);
        let tiny = Limits {
            budget_bytes: 5,
            max_age_s: 30 * DAY,
        };
        // Only what is not kept can go, even if the kept ones alone are over.
        assert_eq!(choose(&clips, 41 * DAY, tiny, None), vec!["b", "c"]);
    }

    #[test]
    fn free_space_is_measured() {
        let dir = tempfile::tempdir().expect("dir");
        assert!(free_bytes(dir.path()).expect("statvfs") > 0);
        assert!(free_bytes(&dir.path().join("missing")).is_err());
    }
}
