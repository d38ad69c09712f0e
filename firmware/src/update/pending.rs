//! What the boot after an install needs to know: which slot the update went into, from which
//! slot and version, as `<data_dir>/update/pending.json` (written atomically, with a version).
//! The data partition is kept across slots, so the older release reads it too after a
//! rollback; a file it cannot read is moved aside and forgotten.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

const FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Pending {
    pub from: String,
    pub to: String,
    pub to_version: String,
    pub from_version: String,
}

#[derive(Serialize, Deserialize)]
struct File {
    version: u32,
    #[serde(flatten)]
    pending: Pending,
}

fn path(dir: &Path) -> PathBuf {
    dir.join("pending.json")
}

impl Pending {
    pub(super) fn load(dir: &Path) -> Option<Pending> {
        let path = path(dir);
        let text = std::fs::read(&path).ok()?;
        match serde_json::from_slice::<File>(&text) {
            Ok(f) => Some(f.pending),
            Err(e) => {
                tracing::warn!(
                    file = %path.display(),
                    "the note of the last update is damaged ({e}); moved aside"
                );
                let _ = std::fs::rename(&path, path.with_extension("json.damaged"));
                None
            }
        }
    }

    pub(super) fn save(&self, dir: &Path) -> anyhow::Result<()> {
        use std::io::Write as _;
        let path = path(dir);
        let tmp = path.with_extension("json.tmp");
        let body = serde_json::to_vec_pretty(&File {
            version: FORMAT,
            pending: self.clone(),
        })?;
        let mut f = std::fs::File::create(&tmp).with_context(|| tmp.display().to_string())?;
        f.write_all(&body)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path).with_context(|| path.display().to_string())?;
        Ok(())
    }

    pub(super) fn remove(dir: &Path) {
        let _ = std::fs::remove_file(path(dir));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_a_damaged_note_is_forgotten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = Pending {
            from: "A".into(),
            to: "B".into(),
            to_version: "0.3.0".into(),
            from_version: "0.2.0".into(),
        };
        p.save(dir.path()).expect("save");
        assert_eq!(Pending::load(dir.path()), Some(p));
        std::fs::write(path(dir.path()), "{").expect("write");
        assert_eq!(Pending::load(dir.path()), None);
        assert!(dir.path().join("pending.json.damaged").exists());
    }
}
