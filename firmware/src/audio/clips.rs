//! Uploaded clips on the data partition: `clips/<token>.audio` and an index `clips/clips.toml`,
//! both replaced atomically, so a bad upload or a power cut never loses a good clip.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::decode::{self, BadAudio};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clip {
    pub token: String,
    pub name: String,
    /// "wav", "mp3", "ogg", "flac"; empty until audio was uploaded.
    #[serde(default)]
    pub format: String,
    #[serde(default)]
    pub duration_s: f64,
    #[serde(default)]
    pub bytes: u64,
    /// ONVIF: a disabled clip is kept but not played.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// ONVIF RepeatCycles: repeats after the first play (0 = once, -1 = until stopped).
    #[serde(default)]
    pub repeat_cycles: i32,
    /// Volume of this clip (0-100); none = full, under the music volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<u32>,
}

fn yes() -> bool {
    true
}

impl Clip {
    pub fn has_audio(&self) -> bool {
        !self.format.is_empty()
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Index {
    #[serde(default, rename = "clip")]
    clips: Vec<Clip>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClipError {
    #[error("no clip {0}")]
    NotFound(String),
    #[error("{0}")]
    BadAudio(#[from] BadAudio),
    #[error("at most {0} clips can be kept; delete one first")]
    Full(u32),
    #[error("the name must be 1 to 64 characters")]
    BadName,
    #[error("{0} is a built-in sound and cannot be changed")]
    BuiltIn(String),
    #[error("storage: {0:#}")]
    Storage(#[from] anyhow::Error),
}

pub struct ClipStore {
    dir: PathBuf,
    max_clips: u32,
    index: Mutex<Index>,
}

fn valid_name(name: &str) -> bool {
    let n = name.trim();
    !n.is_empty() && n.chars().count() <= 64 && !n.chars().any(char::is_control)
}

/// Tokens are ours, but requests name them: only this shape is ever turned into a path.
fn valid_token(token: &str) -> bool {
    token.len() == 17
        && token.starts_with("clip-")
        && token[5..].bytes().all(|b| b.is_ascii_hexdigit())
}

impl ClipStore {
    pub fn open(data_dir: &Path, max_clips: u32) -> anyhow::Result<Self> {
        let dir = data_dir.join("clips");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let index_path = dir.join("clips.toml");
        let index = match std::fs::read_to_string(&index_path) {
            Ok(text) => toml::from_str(&text).unwrap_or_else(|e| {
                warn!(file = %index_path.display(), "clip index is damaged, starting empty: {e}");
                Index::default()
            }),
            Err(_) => Index::default(),
        };
        // Leftovers of uploads cut short.
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().ends_with(".upload") {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        Ok(Self {
            dir,
            max_clips,
            index: Mutex::new(index),
        })
    }

    fn index(&self) -> std::sync::MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn save(&self, index: &Index) -> anyhow::Result<()> {
        let text = toml::to_string(index).context("writing the clip index")?;
        crate::settings::write_atomically(&self.dir.join("clips.toml"), &text)
    }

    pub fn list(&self) -> Vec<Clip> {
        self.index().clips.clone()
    }

    pub fn get(&self, token: &str) -> Option<Clip> {
        self.index()
            .clips
            .iter()
            .find(|c| c.token == token)
            .cloned()
    }

    /// Where a clip's audio is, if it has any.
    pub fn audio_path(&self, token: &str) -> Option<PathBuf> {
        self.get(token)
            .filter(Clip::has_audio)
            .map(|c| self.dir.join(format!("{}.audio", c.token)))
    }

    /// A new clip without audio yet (ONVIF AddAudioClip: the audio comes to its upload URI).
    pub fn create(&self, name: &str) -> Result<Clip, ClipError> {
        if !valid_name(name) {
            return Err(ClipError::BadName);
        }
        let mut index = self.index();
        if index.clips.len() >= self.max_clips as usize {
            return Err(ClipError::Full(self.max_clips));
        }
        let clip = Clip {
            token: format!("clip-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]),
            name: name.trim().to_string(),
            format: String::new(),
            duration_s: 0.0,
            bytes: 0,
            enabled: true,
            repeat_cycles: 0,
            level: None,
        };
        index.clips.push(clip.clone());
        self.save(&index)?;
        info!(token = clip.token, name = clip.name, "clip added");
        Ok(clip)
    }

    pub fn rename(&self, token: &str, name: &str) -> Result<Clip, ClipError> {
        self.change(token, |c| {
            c.name = name.trim().to_string();
        })
    }

    /// Changes a clip's settings (name, enabled, repeats, level) and stores them.
    pub fn change(&self, token: &str, f: impl FnOnce(&mut Clip)) -> Result<Clip, ClipError> {
        let mut index = self.index();
        let clip = index
            .clips
            .iter_mut()
            .find(|c| c.token == token)
            .ok_or_else(|| ClipError::NotFound(token.into()))?;
        let mut changed = clip.clone();
        f(&mut changed);
        if !valid_name(&changed.name) {
            return Err(ClipError::BadName);
        }
        *clip = changed.clone();
        self.save(&index)?;
        Ok(changed)
    }

    pub fn delete(&self, token: &str) -> Result<(), ClipError> {
        let mut index = self.index();
        let before = index.clips.len();
        index.clips.retain(|c| c.token != token);
        if index.clips.len() == before {
            return Err(ClipError::NotFound(token.into()));
        }
        self.save(&index)?;
        if valid_token(token) {
            let _ = std::fs::remove_file(self.dir.join(format!("{token}.audio")));
        }
        info!(token, "clip deleted");
        Ok(())
    }

    /// A fresh path in the clips directory to write an upload to, before [`Self::store_audio`]
    /// (what a crash leaves there is removed at the next start).
    pub fn upload_path(&self) -> PathBuf {
        self.dir
            .join(format!("upload-{}.upload", uuid::Uuid::new_v4().simple()))
    }

    /// Checks the file at `upload` and makes it the clip's audio: its header here, then a
    /// whole decode at the mixer's `rate` in a decoder process. Blocking. A refused file
    /// changes nothing; `upload` is gone afterwards either way.
    pub fn store_audio(&self, token: &str, upload: &Path, rate: u32) -> Result<Clip, ClipError> {
        let result = self.check_and_place(token, upload, rate);
        let _ = std::fs::remove_file(upload);
        let (probed, bytes) = result?;
        let mut index = self.index();
        // Deleted meanwhile: the audio goes too.
        let Some(clip) = index.clips.iter_mut().find(|c| c.token == token) else {
            let _ = std::fs::remove_file(self.dir.join(format!("{token}.audio")));
            return Err(ClipError::NotFound(token.into()));
        };
        clip.format = probed.format.to_string();
        clip.duration_s = probed.duration.as_secs_f64();
        clip.bytes = bytes;
        let clip = clip.clone();
        self.save(&index)?;
        info!(
            token,
            format = clip.format,
            seconds = clip.duration_s,
            "clip audio stored"
        );
        Ok(clip)
    }

    fn check_and_place(
        &self,
        token: &str,
        upload: &Path,
        rate: u32,
    ) -> Result<(decode::Probed, u64), ClipError> {
        if self.get(token).is_none() || !valid_token(token) {
            return Err(ClipError::NotFound(token.into()));
        }
        let mut f =
            std::fs::File::open(upload).with_context(|| format!("opening {}", upload.display()))?;
        decode::check_header(&mut f)?;
        let bytes = f
            .metadata()
            .and_then(|m| f.sync_all().map(|()| m.len()))
            .with_context(|| format!("writing {}", upload.display()))?;
        drop(f);
        let probed = decode::probe_isolated(upload, rate)??;
        let target = self.dir.join(format!("{token}.audio"));
        std::fs::rename(upload, &target)
            .with_context(|| format!("storing {}", target.display()))?;
        if let Ok(d) = std::fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok((probed, bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clips_survive_a_restart_and_bad_audio_is_refused() {
        gst::init().expect("gst");
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ClipStore::open(dir.path(), 2).expect("open");
        let clip = store.create("Mum").expect("create");
        assert!(!clip.has_audio());
        let upload = store.upload_path();
        std::fs::write(&upload, b"<html>no</html>").expect("write");
        let err = store.store_audio(&clip.token, &upload, 16000).unwrap_err();
        assert!(!upload.exists(), "a refused upload is removed");
        assert!(
            matches!(err, ClipError::BadAudio(BadAudio::UnknownFormat)),
            "{err}"
        );
        store.create("Dad").expect("second");
        assert!(matches!(store.create("Third"), Err(ClipError::Full(2))));
        assert!(matches!(store.create(" "), Err(ClipError::BadName)));
        drop(store);
        let store = ClipStore::open(dir.path(), 2).expect("reopen");
        assert_eq!(store.list().len(), 2);
        assert_eq!(store.get(&clip.token).map(|c| c.name), Some("Mum".into()));
        store.delete(&clip.token).expect("delete");
        assert!(matches!(
            store.delete(&clip.token),
            Err(ClipError::NotFound(_))
        ));
        assert!(!valid_token("../../etc/passwd"));
    }
}
