//! Signed A/B firmware updates, installed by RAUC.
//!
//! An admin uploads a bundle (`POST /api/update`, or the address ONVIF's StartFirmwareUpgrade
//! hands out); it is streamed to the data partition, checked (`rauc info`: signature, device,
//! version), installed by RAUC into the slot that is not running, which becomes the next boot's
//! with a few tries, and the camera restarts. After that boot the daemon runs the health check
//! ([`health`]): passed, the slot is marked good and kept; failed, it is marked bad and the
//! camera restarts into the slot it came from ([`pending`] remembers which). A hang instead
//! of a failure is the watchdog's: it reboots, each boot uses a try, and the boot loader goes
//! back by itself.
//!
//! With --simulate the same code drives the real RAUC against slot files ([`simulated`]).

pub mod boot_env;
pub mod health;
mod pending;
pub mod rauc;
pub mod refusal;
mod simulated;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;
use tracing::{error, info, warn};

use crate::config::UpdateConfig;
use crate::metrics_text::{Exposition, Kind::Counter};
use pending::Pending;
use refusal::{Reason, Refusal};

/// What the bundles for this board say they are for (RAUC's `compatible`).
pub const COMPATIBLE: &str = "babymonitor-rpi3";

/// The version this build was made as.
pub const BUILT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// How long an upload address ONVIF handed out stays good.
const UPLOAD_TOKEN_LIFE: Duration = Duration::from_secs(10 * 60);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Idle,
    Receiving,
    Installing,
    /// Installed; the camera restarts into it (with --simulate: restart the daemon).
    Rebooting,
    /// Booted into the new version; the health check runs.
    Checking,
    Done,
    Failed,
    RolledBack,
}

/// What `/api/status` and `GET /api/update` show.
#[derive(Clone, Debug, Serialize)]
pub struct Progress {
    pub state: State,
    pub percent: u8,
    /// The version being installed, or that was.
    pub version: Option<String>,
    /// The slot it goes into, or went.
    pub slot: Option<String>,
    pub message: String,
    /// Why it was refused or failed.
    pub reason: Option<Reason>,
}

impl Progress {
    fn idle() -> Self {
        Self {
            state: State::Idle,
            percent: 0,
            version: None,
            slot: None,
            message: String::new(),
            reason: None,
        }
    }
}

#[derive(Default)]
struct Counters {
    started: AtomicU64,
    done: AtomicU64,
    failed: AtomicU64,
    rolled_back: AtomicU64,
}

/// The engine, when it runs: how to reach RAUC, and what runs it with --simulate.
struct Engine {
    rauc: rauc::Rauc,
    _service: Option<simulated::Service>,
}

pub struct Updater {
    config: UpdateConfig,
    simulate: bool,
    dir: PathBuf,
    engine: Result<Engine, String>,
    /// The slot this boot runs from, and the version in it.
    booted: Option<String>,
    running: String,
    progress: Mutex<Progress>,
    /// Held by the one update on its way.
    busy: Arc<tokio::sync::Semaphore>,
    tokens: Mutex<Vec<(String, Instant)>>,
    counters: Counters,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An update on its way: its place (one at a time) and the file its upload goes to, removed
/// whatever happens.
pub struct Ticket {
    _permit: tokio::sync::OwnedSemaphorePermit,
    pub path: PathBuf,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Updater {
    /// Finds the engine (with --simulate: a simulated power-on, then RAUC on the slot files)
    /// and what runs. Updates that cannot work say why; the camera runs on regardless.
    pub fn open(config: &UpdateConfig, data_dir: &Path, simulate: bool) -> Self {
        let dir = data_dir.join("update");
        let engine = if !config.enabled {
            Err("updates are switched off ([update] enabled = false)".to_string())
        } else {
            start_engine(config, &dir, simulate).map_err(|e| format!("{e:#}"))
        };
        let mut booted = None;
        let mut running = BUILT_VERSION.to_string();
        match &engine {
            Ok(engine) => match block_on(engine.rauc.status()) {
                Ok(Ok(status)) => {
                    booted = status.booted.clone();
                    if let Some(v) = booted.as_deref().and_then(|b| status.version_of(b)) {
                        running = v;
                    }
                }
                Ok(Err(e)) | Err(e) => warn!("cannot read RAUC's status: {e:#}"),
            },
            Err(e) => warn!("firmware updates are unavailable: {e}"),
        }
        // An upload a stop or a power cut broke off.
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().ends_with(".upload") {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        info!(
            version = %running,
            slot = booted.as_deref().unwrap_or("-"),
            "firmware {running}"
        );
        Self {
            config: config.clone(),
            simulate,
            dir,
            engine,
            booted,
            running,
            progress: Mutex::new(Progress::idle()),
            busy: Arc::new(tokio::sync::Semaphore::new(1)),
            tokens: Mutex::new(Vec::new()),
            counters: Counters::default(),
        }
    }

    /// The version that runs: what RAUC installed into the booted slot, else this build's.
    pub fn running_version(&self) -> &str {
        &self.running
    }

    pub fn booted_slot(&self) -> Option<&str> {
        self.booted.as_deref()
    }

    pub fn max_bytes(&self) -> u64 {
        self.config.max_bundle_mb * 1024 * 1024
    }

    pub fn expected_down(&self) -> Duration {
        Duration::from_secs(self.config.expected_down_s)
    }

    pub fn progress(&self) -> Progress {
        lock(&self.progress).clone()
    }

    /// `/api/status`'s `update`, and `GET /api/update`.
    pub fn status_json(&self) -> serde_json::Value {
        let p = self.progress();
        serde_json::json!({
            "state": p.state,
            "percent": p.percent,
            "version": p.version,
            "slot": p.slot,
            "message": p.message,
            "reason": p.reason,
            "running": { "version": self.running, "slot": self.booted },
            "available": self.engine.is_ok(),
        })
    }

    fn set(&self, edit: impl FnOnce(&mut Progress)) {
        edit(&mut lock(&self.progress));
    }

    /// Takes the one place for an update and a file for its upload.
    pub fn begin(&self) -> Result<Ticket, Refusal> {
        if let Err(e) = &self.engine {
            return Err(Refusal::new(Reason::Unavailable, e.clone()));
        }
        let permit = Arc::clone(&self.busy).try_acquire_owned().map_err(|_| {
            Refusal::new(
                Reason::Busy,
                "another update is being received or installed; wait until it has finished",
            )
        })?;
        if let Err(e) = std::fs::create_dir_all(&self.dir) {
            return Err(Refusal::new(
                Reason::Failed,
                format!("cannot write to {}: {e}", self.dir.display()),
            ));
        }
        self.counters.started.fetch_add(1, Relaxed);
        self.set(|p| {
            *p = Progress {
                state: State::Receiving,
                message: "receiving the update".into(),
                ..Progress::idle()
            }
        });
        info!("firmware update started: receiving");
        Ok(Ticket {
            _permit: permit,
            path: self
                .dir
                .join(format!("{}.upload", uuid::Uuid::new_v4().simple())),
        })
    }

    /// While receiving: how far the upload is.
    pub fn received(&self, got: u64, total: Option<u64>) {
        if let Some(total) = total.filter(|t| *t > 0) {
            let pct = (got.saturating_mul(100) / total).min(100) as u8;
            self.set(|p| p.percent = pct);
        }
    }

    /// The upload was refused or broke off: nothing was installed.
    pub fn refused(&self, r: &Refusal) {
        self.counters.failed.fetch_add(1, Relaxed);
        warn!(reason = ?r.reason, "firmware update refused: {r}");
        self.set(|p| {
            p.state = State::Failed;
            p.message = r.message.clone();
            p.reason = Some(r.reason);
        });
    }

    /// Checks and installs the received bundle. On success the camera restarts into it.
    pub async fn install(&self, ticket: Ticket, force: bool) -> Result<Progress, Refusal> {
        let result = self.check_and_install(&ticket.path, force).await;
        drop(ticket);
        match result {
            Ok(()) => Ok(self.progress()),
            Err(r) => {
                self.refused(&r);
                Err(r)
            }
        }
    }

    async fn check_and_install(&self, bundle: &Path, force: bool) -> Result<(), Refusal> {
        let engine = self
            .engine
            .as_ref()
            .map_err(|e| Refusal::new(Reason::Unavailable, e.clone()))?;
        self.set(|p| {
            p.state = State::Installing;
            p.percent = 0;
            p.message = "checking the signature".into();
        });
        let bundle_info = engine.rauc.info(bundle).await?;
        if bundle_info.compatible != COMPATIBLE {
            return Err(Refusal::new(
                Reason::Compatible,
                format!(
                    "the update is for another device ('{}'; this camera takes '{COMPATIBLE}')",
                    bundle_info.compatible
                ),
            ));
        }
        let version = bundle_info.version.unwrap_or_default();
        if !force && older(&version, &self.running) {
            return Err(Refusal::new(
                Reason::Older,
                format!(
                    "the update's version {version} is older than the running {}; \
                     an admin can force it",
                    self.running
                ),
            ));
        }
        let from = self.booted.clone().unwrap_or_else(|| "A".into());
        let to = boot_env::Slot::parse(&from).map_or("B".to_string(), |s| s.other().to_string());
        self.set(|p| {
            p.version = Some(version.clone());
            p.slot = Some(to.clone());
            p.message = format!("installing {version} into slot {to}");
        });
        info!(version = %version, slot = %to, "firmware update: installing");
        engine
            .rauc
            .install(bundle, |pct, what| {
                self.set(|p| {
                    p.percent = pct;
                    p.message = what.to_string();
                })
            })
            .await?;
        let pending = Pending {
            from: from.clone(),
            to: to.clone(),
            to_version: version.clone(),
            from_version: self.running.clone(),
        };
        if let Err(e) = pending.save(&self.dir) {
            // RAUC has switched: the boot after this one tells what happened, just less well.
            warn!("cannot note the update for the next boot: {e:#}");
        }
        let message = if self.simulate {
            format!("installed {version} into slot {to}; restart the daemon to boot it (simulated)")
        } else {
            format!("installed {version} into slot {to}; the camera restarts")
        };
        info!(version = %version, slot = %to, "firmware update installed: {message}");
        self.set(|p| {
            p.state = State::Rebooting;
            p.percent = 100;
            p.message = message;
        });
        if !self.simulate {
            reboot_soon();
        }
        Ok(())
    }

    /// After the servers have started: the health check, then the slot is kept or given up.
    pub async fn after_boot(&self, targets: health::Targets) {
        let Ok(engine) = &self.engine else { return };
        let pending = Pending::load(&self.dir);
        let booted = self.booted.clone().unwrap_or_default();
        let within = Duration::from_secs(self.config.health_s);
        match pending {
            Some(p) if p.to == booted => {
                self.set(|s| {
                    *s = Progress {
                        state: State::Checking,
                        version: Some(p.to_version.clone()),
                        slot: Some(p.to.clone()),
                        message: format!("checking {} before keeping it", p.to_version),
                        ..Progress::idle()
                    }
                });
                info!(version = %p.to_version, slot = %p.to, "trial boot of a new version: health check");
                match health::full(&targets, within).await {
                    Ok(()) => {
                        if let Err(e) = engine.rauc.mark_booted(true).await {
                            error!("cannot mark slot {booted} good: {e:#}");
                            return;
                        }
                        Pending::remove(&self.dir);
                        self.counters.done.fetch_add(1, Relaxed);
                        info!(version = %p.to_version, slot = %p.to, "firmware update done: updated to {}", p.to_version);
                        self.set(|s| {
                            s.state = State::Done;
                            s.percent = 100;
                            s.message = format!("updated to {}", p.to_version);
                        });
                    }
                    Err(why) => self.give_up(engine, &p, &why.to_string()).await,
                }
            }
            Some(p) => {
                // Booted from somewhere else than the update went: the boot loader went back.
                Pending::remove(&self.dir);
                self.counters.rolled_back.fetch_add(1, Relaxed);
                let message = format!(
                    "the update to {} did not come up healthy; back on {} (slot {booted})",
                    p.to_version, self.running
                );
                warn!(version = %p.to_version, slot = %booted, "firmware update rolled back: {message}");
                self.set(|s| {
                    *s = Progress {
                        state: State::RolledBack,
                        version: Some(p.to_version.clone()),
                        slot: Some(booted.clone()),
                        message,
                        ..Progress::idle()
                    }
                });
                self.keep_if_serving(engine, &targets, within).await;
            }
            None => self.keep_if_serving(engine, &targets, within).await,
        }
    }

    /// A slot that was kept before keeps its tries while the daemon serves: a camera module
    /// that came loose must not send the camera back to an older version.
    async fn keep_if_serving(&self, engine: &Engine, targets: &health::Targets, within: Duration) {
        match health::serving(targets, within).await {
            Ok(()) => {
                if let Err(e) = engine.rauc.mark_booted(true).await {
                    warn!("cannot mark the booted slot good: {e:#}");
                }
            }
            Err(why) => warn!("health check: {why}; the boot loader may go back to the other slot"),
        }
    }

    async fn give_up(&self, engine: &Engine, p: &Pending, why: &str) {
        self.counters.failed.fetch_add(1, Relaxed);
        let marked = engine.rauc.mark_booted(false).await;
        if let Err(e) = &marked {
            error!(
                "cannot mark slot {} bad: {e:#}; the boot loader goes back when its tries are used",
                p.to
            );
        }
        let message = if self.simulate {
            format!(
                "{} failed its health check ({why}); restart the daemon to go back to {} (slot {})",
                p.to_version, p.from_version, p.from
            )
        } else {
            format!(
                "{} failed its health check ({why}); going back to {} (slot {})",
                p.to_version, p.from_version, p.from
            )
        };
        warn!(version = %p.to_version, "firmware update failed: {message}");
        self.set(|s| {
            s.state = State::Failed;
            s.message = message;
            s.reason = Some(Reason::Failed);
        });
        if !self.simulate {
            reboot_soon();
        }
    }

    /// A one-time upload address for ONVIF's StartFirmwareUpgrade.
    pub fn upload_token(&self) -> String {
        let token = uuid::Uuid::new_v4().simple().to_string();
        let mut tokens = lock(&self.tokens);
        tokens.retain(|(_, at)| at.elapsed() < UPLOAD_TOKEN_LIFE);
        tokens.push((token.clone(), Instant::now()));
        token
    }

    /// Uses up a token from [`Self::upload_token`]; false if it is unknown or too old.
    pub fn take_token(&self, token: &str) -> bool {
        let mut tokens = lock(&self.tokens);
        tokens.retain(|(_, at)| at.elapsed() < UPLOAD_TOKEN_LIFE);
        let before = tokens.len();
        tokens.retain(|(t, _)| t != token);
        tokens.len() != before
    }

    pub fn render_metrics(&self, e: &mut Exposition) {
        e.family(
            "firmware_updates_total",
            Counter,
            "Firmware updates since the daemon started, by how they ended (started counts every try).",
        )
        .sample(&[("result", "started")], self.counters.started.load(Relaxed))
        .sample(&[("result", "done")], self.counters.done.load(Relaxed))
        .sample(&[("result", "failed")], self.counters.failed.load(Relaxed))
        .sample(
            &[("result", "rolled_back")],
            self.counters.rolled_back.load(Relaxed),
        );
    }
}

fn start_engine(config: &UpdateConfig, dir: &Path, simulate: bool) -> anyhow::Result<Engine> {
    if !simulate {
        // The image's RAUC service runs on the system bus, started by D-Bus.
        return Ok(Engine {
            rauc: rauc::Rauc {
                conf: config.system_conf.clone(),
                env: Vec::new(),
            },
            _service: None,
        });
    }
    std::fs::create_dir_all(dir)?;
    let keyring = if config.keyring.as_os_str().is_empty() {
        dir.join("keyring.pem")
    } else {
        config.keyring.clone()
    };
    if !keyring.exists() {
        anyhow::bail!(
            "no keyring at {} (with --simulate, put the certificate bundles are signed with there, \
             or set [update] keyring)",
            keyring.display()
        );
    }
    let booted = simulated::boot(dir)?;
    match simulated::start(dir, &keyring, booted) {
        Ok((service, rauc)) => Ok(Engine {
            rauc,
            _service: Some(service),
        }),
        Err(e) => Err(e.context(simulated::service_log(dir))),
    }
}

/// Runs a future to its end on a runtime of its own (the daemon's is not running yet).
fn block_on<F: std::future::Future>(f: F) -> anyhow::Result<F::Output> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(rt.block_on(f))
}

/// Whether `version` is older than `running` (both as semantic versions; a version that is not
/// one is not older, and RAUC's signature is what guards what gets in).
fn older(version: &str, running: &str) -> bool {
    match (
        semver::Version::parse(version.trim_start_matches('v')),
        semver::Version::parse(running.trim_start_matches('v')),
    ) {
        (Ok(v), Ok(r)) => v < r,
        _ => false,
    }
}

fn reboot_soon() {
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(2));
        warn!("rebooting for the firmware update");
        if let Err(e) = std::process::Command::new("reboot").status() {
            error!("reboot failed: {e}");
        }
    });
}

/// `babymonitor boot-env`: RAUC's custom backend over the simulated boot environment.
pub fn boot_env_command(file: &Path, args: &[String]) -> anyhow::Result<Option<String>> {
    boot_env::command(file, args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_lower_version_is_older() {
        assert!(older("0.1.0", "0.2.0"));
        assert!(!older("0.2.0", "0.2.0"));
        assert!(!older("0.10.0", "0.9.0"));
        assert!(!older("nightly", "0.2.0"));
    }

    #[test]
    fn an_upload_token_is_good_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = UpdateConfig {
            enabled: false,
            ..UpdateConfig::default()
        };
        let u = Updater::open(&config, dir.path(), true);
        let t = u.upload_token();
        assert!(u.take_token(&t));
        assert!(!u.take_token(&t));
        assert!(!u.take_token("made-up"));
    }
}
