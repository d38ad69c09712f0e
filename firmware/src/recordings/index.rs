//! The list of clips, `clips.json` beside them: written atomically after each change, and
//! made again from the files themselves when it is lost or damaged (a damaged one is kept as
//! `clips.json.damaged`). A clip cut short by a crash is read back from its fragments.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::macros::format_description;
use tracing::{info, warn};

use super::fmp4;
use crate::config::CLIP_KINDS;

pub const INDEX_FILE: &str = "clips.json";
const VERSION: u32 = 1;

/// `20261203T031502Z`: the UTC second a clip starts, in its id and file names.
const ID_TIME: &[time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[year][month][day]T[hour][minute][second]Z");
const JSON_TIME: &[time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Clip {
    pub id: String,
    pub kind: String,
    /// UTC, Unix seconds (written as `YYYY-MM-DDTHH:MM:SSZ`).
    #[serde(with = "utc")]
    pub start: i64,
    /// `None` while it is being recorded.
    #[serde(with = "utc_opt")]
    pub end: Option<i64>,
    /// Seconds of pictures in the file.
    pub duration: f64,
    pub bytes: u64,
    /// Marked by a parent: never removed to make room or for its age.
    pub keep: bool,
    /// Whether `<id>.jpg` was made.
    pub thumbnail: bool,
}

/// UTC seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn utc_text(t: i64) -> String {
    OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|t| t.format(JSON_TIME).ok())
        .unwrap_or_default()
}

/// `YYYY-MM-DDTHH:MM:SSZ` (or any RFC 3339 time) as UTC seconds.
pub fn parse_utc(text: &str) -> Option<i64> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp)
}

mod utc {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub(super) fn serialize<S: Serializer>(t: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::utc_text(*t))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_utc(&text).ok_or_else(|| D::Error::custom(format!("bad time {text:?}")))
    }
}

mod utc_opt {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub(super) fn serialize<S: Serializer>(t: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&super::utc_text(*t)),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(text) => super::parse_utc(&text)
                .map(Some)
                .ok_or_else(|| D::Error::custom(format!("bad time {text:?}"))),
        }
    }
}

/// The id of a clip of `kind` starting at `start` (UTC seconds); `n` > 1 for a second clip
/// in the same second.
pub fn make_id(start: i64, kind: &str, n: u32) -> String {
    let t = OffsetDateTime::from_unix_timestamp(start)
        .ok()
        .and_then(|t| t.format(ID_TIME).ok())
        .unwrap_or_else(|| "19700101T000000Z".into());
    if n > 1 {
        format!("{t}-{kind}-{n}")
    } else {
        format!("{t}-{kind}")
    }
}

/// The start and kind of a well-formed id; anything else (a path, `..`, another name) is
/// `None`, so that only names the recorder makes ever reach the file system.
pub fn parse_id(id: &str) -> Option<(i64, &'static str)> {
    let (time, rest) = id.split_at_checked(16)?;
    let at = time::PrimitiveDateTime::parse(time, ID_TIME).ok()?;
    let rest = rest.strip_prefix('-')?;
    let (kind, n) = match rest.split_once('-') {
        Some((kind, n)) => (kind, Some(n)),
        None => (rest, None),
    };
    let kind = CLIP_KINDS.into_iter().find(|k| *k == kind)?;
    if let Some(n) = n {
        let ok = (1..=3).contains(&n.len())
            && n.bytes().all(|b| b.is_ascii_digit())
            && !n.starts_with('0')
            && n != "1";
        if !ok {
            return None;
        }
    }
    Some((at.assume_utc().unix_timestamp(), kind))
}

#[derive(Serialize, Deserialize)]
struct File {
    version: u32,
    clips: Vec<Clip>,
}

pub struct Index {
    dir: PathBuf,
    /// Oldest first.
    clips: Vec<Clip>,
}

impl Index {
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(INDEX_FILE)
    }

    pub fn video_path(dir: &Path, id: &str) -> PathBuf {
        dir.join(format!("{id}.mp4"))
    }

    pub fn thumbnail_path(dir: &Path, id: &str) -> PathBuf {
        dir.join(format!("{id}.jpg"))
    }

    /// No clips, nothing on the card: when `dir` cannot be used at all.
    pub fn empty(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            clips: Vec::new(),
        }
    }

    /// The index of the clips in `dir`: the stored one, checked against the files, or one
    /// made from them.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = Self::path(dir);
        let stored = match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<File>(&bytes) {
                Ok(f) if f.version == VERSION => Some(f.clips),
                Ok(f) => {
                    warn!(file = %path.display(), version = f.version, "unknown clip index version: making it again from the clips");
                    set_aside(&path);
                    None
                }
                Err(e) => {
                    warn!(file = %path.display(), "the clip index is damaged ({e}): making it again from the clips");
                    set_aside(&path);
                    None
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let had_index = stored.is_some();
        let mut index = Self {
            dir: dir.to_path_buf(),
            clips: stored.unwrap_or_default(),
        };
        let changed = index.reconcile();
        if changed || !had_index {
            index.save()?;
        }
        Ok(index)
    }

    /// Makes the list agree with the files: entries without a file go, files without an entry
    /// (or cut short while recording) are read back. Whether anything changed.
    fn reconcile(&mut self) -> bool {
        let before = self.clips.clone();
        let dir = self.dir.clone();
        self.clips
            .retain(|c| parse_id(&c.id).is_some() && Self::video_path(&dir, &c.id).exists());
        let mut seen: Vec<String> = Vec::new();
        self.clips.retain(|c| {
            let new = !seen.contains(&c.id);
            seen.push(c.id.clone());
            new
        });
        let files: Vec<String> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                if name.starts_with('.') && name.ends_with(".tmp") {
                    let _ = std::fs::remove_file(e.path());
                    return None;
                }
                name.strip_suffix(".mp4").map(str::to_string)
            })
            .collect();
        for id in files {
            let Some((start, kind)) = parse_id(&id) else {
                continue;
            };
            let known = self.clips.iter().position(|c| c.id == id);
            if known.is_some_and(|i| self.clips[i].end.is_some()) {
                continue;
            }
            match recover(&dir, &id, start, kind) {
                Some(mut clip) => {
                    info!(
                        clip = id,
                        duration_s = clip.duration,
                        "clip read back from its file"
                    );
                    if let Some(i) = known {
                        clip.keep = self.clips[i].keep;
                        self.clips[i] = clip;
                    } else {
                        self.clips.push(clip);
                    }
                }
                None => {
                    warn!(clip = id, "the clip holds no playable picture: removing it");
                    let _ = std::fs::remove_file(Self::video_path(&dir, &id));
                    let _ = std::fs::remove_file(Self::thumbnail_path(&dir, &id));
                    if let Some(i) = known {
                        self.clips.remove(i);
                    }
                }
            }
        }
        self.clips
            .sort_by(|a, b| (a.start, &a.id).cmp(&(b.start, &b.id)));
        self.clips != before
    }

    pub fn save(&self) -> anyhow::Result<()> {
        let file = File {
            version: VERSION,
            clips: self.clips.clone(),
        };
        let text = serde_json::to_vec_pretty(&file).context("writing the clip index")?;
        crate::settings::write_atomically(&Self::path(&self.dir), text)
            .with_context(|| format!("storing {}", Self::path(&self.dir).display()))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Oldest first.
    pub fn clips(&self) -> &[Clip] {
        &self.clips
    }

    pub fn get(&self, id: &str) -> Option<&Clip> {
        self.clips.iter().find(|c| c.id == id)
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut Clip> {
        self.clips.iter_mut().find(|c| c.id == id)
    }

    /// A new id for a clip of `kind` starting at `start`.
    pub fn free_id(&self, start: i64, kind: &str) -> String {
        (1..)
            .map(|n| make_id(start, kind, n))
            .find(|id| self.get(id).is_none() && !Self::video_path(&self.dir, id).exists())
            .unwrap_or_else(|| make_id(start, kind, 1))
    }

    pub fn insert(&mut self, clip: Clip) {
        self.clips.retain(|c| c.id != clip.id);
        self.clips.push(clip);
        self.clips
            .sort_by(|a, b| (a.start, &a.id).cmp(&(b.start, &b.id)));
    }

    /// Removes the clip and its files; false if there was none.
    pub fn remove(&mut self, id: &str) -> bool {
        let Some(i) = self.clips.iter().position(|c| c.id == id) else {
            return false;
        };
        self.clips.remove(i);
        for path in [
            Self::video_path(&self.dir, id),
            Self::thumbnail_path(&self.dir, id),
        ] {
            if let Err(e) = std::fs::remove_file(&path)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                warn!(file = %path.display(), "cannot remove: {e}");
            }
        }
        true
    }

    pub fn total_bytes(&self) -> u64 {
        self.clips.iter().map(|c| c.bytes).sum()
    }
}

fn set_aside(path: &Path) {
    let mut damaged = path.as_os_str().to_owned();
    damaged.push(".damaged");
    if let Err(e) = std::fs::rename(path, &damaged) {
        warn!(file = %path.display(), "cannot move the damaged index aside: {e}");
    }
}

/// A clip read back from its file, which is cut after its last complete fragment.
fn recover(dir: &Path, id: &str, start: i64, kind: &str) -> Option<Clip> {
    let path = Index::video_path(dir, id);
    let contents = match fmp4::inspect_file(&path) {
        Ok(Ok(c)) if c.fragments > 0 => c,
        Ok(Ok(_)) => return None,
        Ok(Err(e)) => {
            warn!(clip = id, "{e}");
            return None;
        }
        Err(e) => {
            warn!(clip = id, "cannot read: {e}");
            return None;
        }
    };
    let mut bytes = std::fs::metadata(&path).ok()?.len();
    if contents.complete_len < bytes {
        let cut = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|f| {
                f.set_len(contents.complete_len)?;
                f.sync_all()
            });
        match cut {
            Ok(()) => bytes = contents.complete_len,
            Err(e) => warn!(clip = id, "cannot cut the unfinished fragment off: {e}"),
        }
    }
    Some(Clip {
        id: id.to_string(),
        kind: kind.to_string(),
        start,
        end: Some(start + contents.duration_s.ceil() as i64),
        duration: (contents.duration_s * 1000.0).round() / 1000.0,
        bytes,
        keep: false,
        thumbnail: Index::thumbnail_path(dir, id).exists(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clip(id: &str, bytes: u64) -> Clip {
        let (start, kind) = parse_id(id).expect("id");
        Clip {
            id: id.into(),
            kind: kind.into(),
            start,
            end: Some(start + 12),
            duration: 12.0,
            bytes,
            keep: false,
            thumbnail: false,
        }
    }

    #[test]
    fn ids_are_made_and_read_and_nothing_else_passes() {
        let id = make_id(1_796_267_702, "cry", 1);
        assert_eq!(id, "20261203T031502Z-cry");
        assert_eq!(parse_id(&id), Some((1_796_267_702, "cry")));
        assert_eq!(
            make_id(1_796_267_702, "motion", 2),
            "20261203T031502Z-motion-2"
        );
        assert!(parse_id("20261203T031502Z-motion-2").is_some());
        for bad in [
            "",
            "..",
            "../clips.json",
            "20261203T031502Z-cry/../x",
            "20261203T031502Z-snore",
            "20261203T031502Z-cry-1",
            "20261203T031502Z-cry-02",
            "20261203T031502Z-cry-",
            "20261303T031502Z-cry",
            "/etc/passwd",
            "20261203T031502Z-cry.mp4",
            "%2e%2e",
            "20261203T031502Z–cry",
        ] {
            assert_eq!(parse_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_index_round_trips_and_is_made_again_from_the_files() {
        let dir = tempfile::tempdir().expect("dir");
        let mut index = Index::open(dir.path()).expect("open");
        assert!(index.clips().is_empty());
        for (id, bytes) in [
            ("20261203T031502Z-cry", 10),
            ("20261203T011502Z-motion", 20),
        ] {
            std::fs::write(Index::video_path(dir.path(), id), b"x").expect("file");
            let mut c = clip(id, bytes);
            c.keep = bytes == 20;
            index.insert(c);
        }
        index.save().expect("save");
        let text = std::fs::read_to_string(Index::path(dir.path())).expect("read");
        assert!(text.contains("\"version\": 1"), "{text}");
        assert!(
            text.contains("\"start\": \"2026-12-03T03:15:02Z\""),
            "{text}"
        );
        let again = Index::open(dir.path()).expect("open");
        assert_eq!(again.clips(), index.clips());
        assert_eq!(
            again.clips()[0].id,
            "20261203T011502Z-motion",
            "oldest first"
        );
        assert_eq!(again.total_bytes(), 30);

        // Damaged: set aside, and the clips that are playable come back from their files
        // (these two are not MP4s, so they go).
        std::fs::write(Index::path(dir.path()), b"{\"version\": 1, \"clips\": [").expect("w");
        let rebuilt = Index::open(dir.path()).expect("open");
        assert!(dir.path().join("clips.json.damaged").exists());
        assert!(rebuilt.clips().is_empty());
        assert!(!Index::video_path(dir.path(), "20261203T031502Z-cry").exists());
        // A file without an entry, a file of another name, and an entry without a file.
        std::fs::write(dir.path().join("notes.mp4"), b"x").expect("w");
        let mut index = Index::open(dir.path()).expect("open");
        index.insert(clip("20261203T041502Z-cry", 5));
        index.save().expect("save");
        let again = Index::open(dir.path()).expect("open");
        assert!(again.clips().is_empty());
        assert!(
            dir.path().join("notes.mp4").exists(),
            "not ours: left alone"
        );
    }

    #[test]
    fn removing_takes_the_files_and_ids_never_collide() {
        let dir = tempfile::tempdir().expect("dir");
        let mut index = Index::open(dir.path()).expect("open");
        let id = index.free_id(1_796_267_702, "cry");
        std::fs::write(Index::video_path(dir.path(), &id), b"x").expect("w");
        std::fs::write(Index::thumbnail_path(dir.path(), &id), b"x").expect("w");
        index.insert(clip(&id, 1));
        assert_eq!(
            index.free_id(1_796_267_702, "cry"),
            "20261203T031502Z-cry-2"
        );
        assert!(index.remove(&id));
        assert!(!index.remove(&id));
        assert!(!Index::video_path(dir.path(), &id).exists());
        assert!(!Index::thumbnail_path(dir.path(), &id).exists());
    }
}
