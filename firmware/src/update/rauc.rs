//! The update engine, RAUC, through its command-line client: `rauc info` checks a bundle's
//! signature against the keyring and reads its manifest, `rauc install` hands it to the RAUC
//! service (over D-Bus) and prints its progress, `rauc status` reads and marks the slots.
//! The client is what RAUC documents and keeps stable; it saves a D-Bus stack in the daemon.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context as _, bail};
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt as _, BufReader};

use super::refusal::{Reason, Refusal};

/// How to reach RAUC: its system configuration, and the environment its client needs (a
/// private bus with --simulate, the system bus on the camera).
#[derive(Clone, Debug)]
pub struct Rauc {
    pub conf: PathBuf,
    pub env: Vec<(String, String)>,
}

/// What a bundle's manifest says.
#[derive(Debug, Deserialize)]
pub struct BundleInfo {
    pub compatible: String,
    pub version: Option<String>,
}

/// `rauc status --detailed` in its JSON form.
#[derive(Debug, Deserialize)]
pub struct Status {
    pub compatible: String,
    /// The booted slot's bootname.
    pub booted: Option<String>,
    pub slots: Vec<std::collections::HashMap<String, SlotStatus>>,
}

#[derive(Debug, Deserialize)]
pub struct SlotStatus {
    pub bootname: Option<String>,
    pub boot_status: Option<String>,
    pub slot_status: Option<SlotRecord>,
}

#[derive(Debug, Deserialize)]
pub struct SlotRecord {
    pub bundle: Option<Installed>,
}

#[derive(Debug, Deserialize)]
pub struct Installed {
    pub version: Option<String>,
}

impl Status {
    /// The version RAUC installed into the slot with this bootname, if it installed one.
    pub fn version_of(&self, bootname: &str) -> Option<String> {
        self.slots
            .iter()
            .flat_map(|m| m.values())
            .find(|s| s.bootname.as_deref() == Some(bootname))
            .and_then(|s| s.slot_status.as_ref()?.bundle.as_ref()?.version.clone())
    }
}

impl Rauc {
    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut c = tokio::process::Command::new("rauc");
        c.arg("--conf").arg(&self.conf).args(args);
        c.envs(self.env.iter().map(|(k, v)| (k, v)));
        c.stdin(Stdio::null()).kill_on_drop(true);
        c
    }

    /// Checks the signature and reads the manifest. A refusal says why in plain words.
    pub async fn info(&self, bundle: &Path) -> Result<BundleInfo, Refusal> {
        let path = bundle.to_string_lossy();
        let out = self
            .command(&["info", "--output-format=json", &path])
            .output()
            .await
            .map_err(|e| Refusal::new(Reason::Unavailable, format!("cannot run rauc: {e}")))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            // Its log lines come first; the error is the last line.
            let said = stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty() && !l.starts_with("rauc-Message"))
                .unwrap_or("rauc info failed");
            return Err(Refusal::from_rauc(said));
        }
        serde_json::from_slice(&out.stdout).map_err(|e| {
            Refusal::new(
                Reason::Failed,
                format!("rauc info gave what this release cannot read: {e}"),
            )
        })
    }

    /// Installs through the service, calling `progress(percent, what)` as RAUC reports.
    pub async fn install(
        &self,
        bundle: &Path,
        mut progress: impl FnMut(u8, &str),
    ) -> Result<(), Refusal> {
        let path = bundle.to_string_lossy();
        let mut child = self
            .command(&["install", &path])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Refusal::new(Reason::Unavailable, format!("cannot run rauc: {e}")))?;
        let mut last_error = None;
        let mut stderr_text = String::new();
        if let Some(stdout) = child.stdout.take() {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(e) = line.strip_prefix("LastError:") {
                    last_error = Some(e.trim().to_string());
                } else if let Some((pct, what)) = progress_line(&line) {
                    progress(pct, what);
                }
            }
        }
        if let Some(mut stderr) = child.stderr.take() {
            use tokio::io::AsyncReadExt as _;
            let _ = stderr.read_to_string(&mut stderr_text).await;
        }
        let status = child
            .wait()
            .await
            .map_err(|e| Refusal::new(Reason::Failed, format!("rauc install: {e}")))?;
        if status.success() {
            return Ok(());
        }
        let said = last_error.unwrap_or_else(|| {
            let tail = stderr_text.lines().last().unwrap_or("").trim().to_string();
            if tail.is_empty() {
                format!("rauc install exited with {status}")
            } else {
                tail
            }
        });
        Err(Refusal::from_rauc(&said))
    }

    pub async fn status(&self) -> anyhow::Result<Status> {
        let out = self
            .command(&["status", "--detailed", "--output-format=json"])
            .output()
            .await
            .context("running rauc status")?;
        if !out.status.success() {
            bail!(
                "rauc status: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        serde_json::from_slice(&out.stdout).context("reading rauc status")
    }

    /// Marks the booted slot good (it keeps booting) or bad (the next boot takes the other).
    pub async fn mark_booted(&self, good: bool) -> anyhow::Result<()> {
        let verb = if good { "mark-good" } else { "mark-bad" };
        let out = self
            .command(&["status", verb, "booted"])
            .output()
            .await
            .with_context(|| format!("running rauc status {verb}"))?;
        if !out.status.success() {
            bail!(
                "rauc status {verb}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }
}

/// `" 40% Checking bundle done."` → (40, "Checking bundle done.").
fn progress_line(line: &str) -> Option<(u8, &str)> {
    let (pct, what) = line.trim_start().split_once("% ")?;
    Some((pct.parse::<u8>().ok()?.min(100), what.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines_are_read() {
        assert_eq!(
            progress_line(" 40% Checking bundle done."),
            Some((40, "Checking bundle done."))
        );
        assert_eq!(
            progress_line("100% Installing done."),
            Some((100, "Installing done."))
        );
        assert_eq!(progress_line("installing"), None);
        assert_eq!(progress_line("x% y"), None);
    }
}
