//! `sleep.json` in the data directory: the nights kept, written atomically. A file that cannot
//! be read is moved aside to `sleep.json.damaged` and the log starts afresh: a bad file never
//! keeps the camera from starting, and what was in it is left for whoever wants it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tracing::warn;

use super::night::Night;

pub const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    version: u32,
    nights: Vec<Night>,
}

pub struct Store {
    path: PathBuf,
}

impl Store {
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }

    /// The nights the file keeps, oldest first; none if there is no file or it is unusable.
    pub fn load(&self) -> Vec<Night> {
        let text = match std::fs::read(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
            Err(e) => {
                warn!(file = %self.path.display(), "cannot read the sleep log, starting afresh: {e}");
                return Vec::new();
            }
        };
        match parse(&text) {
            Ok(nights) => nights,
            Err(why) => {
                let aside = damaged_path(&self.path);
                match std::fs::rename(&self.path, &aside) {
                    Ok(()) => warn!(
                        file = %self.path.display(),
                        moved_to = %aside.display(),
                        "the sleep log is damaged ({why}): moved aside, starting afresh"
                    ),
                    Err(e) => warn!(
                        file = %self.path.display(),
                        "the sleep log is damaged ({why}) and cannot be moved aside ({e}): starting afresh"
                    ),
                }
                Vec::new()
            }
        }
    }

    pub fn save(&self, nights: &[Night]) -> anyhow::Result<()> {
        let file = File {
            version: VERSION,
            nights: nights.to_vec(),
        };
        crate::settings::write_atomically(&self.path, serde_json::to_vec(&file)?)
    }
}

fn damaged_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".damaged");
    path.with_file_name(name)
}

/// The nights in `text`, in order; why not, if it is no sleep log this version can read.
fn parse(text: &[u8]) -> Result<Vec<Night>, String> {
    let file: File = serde_json::from_slice(text).map_err(|e| e.to_string())?;
    if file.version != VERSION {
        return Err(format!(
            "version {} (this camera reads version {VERSION})",
            file.version
        ));
    }
    let mut nights = file.nights;
    if !nights.windows(2).all(|w| w[0].start < w[1].start) {
        return Err("the nights are out of order".into());
    }
    for n in &nights {
        let length = u32::try_from(n.end - n.start).unwrap_or(0);
        let ordered = n.intervals.iter().all(|i| i.0 < i.1 && i.1 <= length)
            && n.intervals.windows(2).all(|w| w[0].1 <= w[1].0);
        if !ordered {
            return Err(format!("the intervals of {} are out of order", n.night));
        }
    }
    nights.shrink_to_fit();
    Ok(nights)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sleep::night::{Interval, State};

    fn nights() -> Vec<Night> {
        vec![
            Night {
                night: "2026-12-01".into(),
                start: 1_796_148_000,
                end: 1_796_191_200,
                intervals: vec![
                    Interval(0, 3600, State::Settled),
                    Interval(3600, 3780, State::Crying),
                ],
            },
            Night {
                night: "2026-12-02".into(),
                start: 1_796_234_400,
                end: 1_796_277_600,
                intervals: vec![Interval(60, 120, State::Moving)],
            },
        ]
    }

    #[test]
    fn what_is_saved_is_loaded() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::new(dir.path().join("sleep.json"));
        assert!(store.load().is_empty(), "no file, no nights");
        store.save(&nights()).expect("save");
        assert_eq!(store.load(), nights());
        let text = std::fs::read_to_string(dir.path().join("sleep.json")).expect("read");
        assert!(text.starts_with(r#"{"version":1,"nights":[{"night":"2026-12-01","start":1796148000,"end":1796191200,"intervals":[[0,3600,"s"],[3600,3780,"c"]]}"#), "{text}");
    }

    #[test]
    fn a_damaged_file_is_moved_aside_and_the_log_starts_afresh() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("sleep.json");
        let store = Store::new(path.clone());
        for bad in [
            "{\"version\":1,\"nights\":[{\"night\":",
            "\u{0}\u{1}garbage",
            r#"{"version":1,"nights":[{"night":"x","start":0,"end":100,"intervals":[[0,60,"z"]]}]}"#,
            r#"{"version":1,"nights":[{"night":"x","start":0,"end":100,"intervals":[[60,0,"s"]]}]}"#,
            r#"{"version":1,"nights":[{"night":"x","start":0,"end":100,"intervals":[[0,60,"s"],[30,90,"m"]]}]}"#,
            r#"{"version":1,"nights":[{"night":"b","start":9,"end":100,"intervals":[]},{"night":"a","start":1,"end":100,"intervals":[]}]}"#,
            r#"{"version":1,"nights":[{"night":"x","start":0,"end":100,"intervals":[[-1,60,"s"]]}]}"#,
            r#"{"version":1,"nights":[{"night":"x","start":0,"end":100,"intervals":[[0,200,"s"]]}]}"#,
        ] {
            std::fs::write(&path, bad).expect("write");
            assert!(store.load().is_empty(), "{bad}");
            assert!(!path.exists(), "{bad}");
            let aside = dir.path().join("sleep.json.damaged");
            assert_eq!(std::fs::read_to_string(&aside).expect("aside"), bad);
            std::fs::remove_file(aside).expect("rm");
        }
    }

    #[test]
    fn another_version_is_not_read_as_this_one() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("sleep.json");
        std::fs::write(&path, r#"{"version":2,"nights":[]}"#).expect("write");
        assert!(Store::new(path.clone()).load().is_empty());
        assert!(dir.path().join("sleep.json.damaged").exists());
        assert!(!path.exists());
    }
}
