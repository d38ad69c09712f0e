//! Harness for the end-to-end tests: starts the real `babymonitor` binary with a config of the
//! test's choosing and gives the tests what real clients need (URLs, credentials, metrics).

use std::collections::{BTreeMap, HashMap};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

pub mod http;
pub mod onvif;
pub mod rtsp;

pub const ADMIN: (&str, &str) = ("admin", "admin pass 1");
pub const VIEWER: (&str, &str) = ("viewer", "viewer-pass-2");

/// The daemon binary: `BABYMONITOR_BIN`, else the workspace's debug build.
pub fn binary() -> PathBuf {
    if let Ok(p) = std::env::var("BABYMONITOR_BIN") {
        return p.into();
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf();
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target"));
    target
        .join(if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        })
        .join("babymonitor")
}

/// `N` free ports, all different: each is held until all are found (a port let go at once may
/// be handed out again by the next bind).
fn free_ports<const N: usize>() -> [u16; N] {
    let held: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("free port"))
        .collect();
    std::array::from_fn(|i| held[i].local_addr().expect("free port").port())
}

/// Config sections as TOML lines; the harness adds ports and users.
#[derive(Default, Clone)]
pub struct Setup {
    sections: BTreeMap<String, Vec<String>>,
    /// (name, password, role); the default is [`ADMIN`] and [`VIEWER`].
    users: Option<Vec<(String, String, String)>>,
    /// A command that execs the daemon in its place (`prlimit …`, `ip netns exec …`), so the
    /// child's pid stays the daemon's.
    wrapper: Vec<String>,
    /// Arguments after `--simulate` (e.g. `--listen 10.0.0.1`).
    args: Vec<String>,
    /// Fixed (rtsp, http) ports instead of free ones.
    ports: Option<(u16, u16)>,
    /// Ready when the log shows this, instead of when both ports answer on 127.0.0.1 (a daemon
    /// in another network namespace cannot be reached from here).
    ready_log: Option<String>,
    /// Keep what the daemon prints on stdout (see [`Daemon::stdout`]).
    keep_stdout: bool,
}

impl Setup {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `line` (e.g. `idle_grace_s = 2`) to `[section]`.
    /// A key set twice keeps the last value.
    pub fn set(mut self, section: &str, line: &str) -> Self {
        let key = |l: &str| l.split('=').next().unwrap_or_default().trim().to_string();
        let lines = self.sections.entry(section.to_string()).or_default();
        lines.retain(|l| key(l) != key(line));
        lines.push(line.to_string());
        self
    }

    /// Replaces the default accounts.
    pub fn users(mut self, users: &[(&str, &str, &str)]) -> Self {
        self.users = Some(
            users
                .iter()
                .map(|(n, p, r)| (n.to_string(), p.to_string(), r.to_string()))
                .collect(),
        );
        self
    }

    /// The config file's text for the given ports.
    fn render(&self, ports: [u16; 4], data_dir: &Path) -> String {
        let [rtsp_port, http_port, rtsps_port, https_port] = ports;
        let mut sections = self.sections.clone();
        // Tests never announce themselves on a network unless they ask to (in a namespace).
        let onvif = sections.entry("onvif".into()).or_default();
        if !onvif
            .iter()
            .any(|l| l.trim_start().starts_with("discovery"))
        {
            onvif.push("discovery = false".into());
        }
        // The detectors keep the camera and microphone running; tests that want them say so.
        for detector in ["sound", "motion"] {
            let lines = sections.entry(detector.into()).or_default();
            if !lines.iter().any(|l| l.trim_start().starts_with("enabled")) {
                lines.push("enabled = false".into());
            }
        }
        for (section, port, tls) in [
            ("rtsp", rtsp_port, rtsps_port),
            ("http", http_port, https_port),
        ] {
            let lines = sections.entry(section.into()).or_default();
            lines.push(format!("port = {port}"));
            if !lines.iter().any(|l| l.trim_start().starts_with("tls_port")) {
                lines.push(format!("tls_port = {tls}"));
            }
        }
        let storage = sections.entry("storage".into()).or_default();
        // A data directory the test chose (one a first boot prepared) wins.
        if !storage
            .iter()
            .any(|l| l.trim_start().starts_with("data_dir"))
        {
            storage.push(format!("data_dir = \"{}\"", data_dir.display()));
        }
        let mut toml = String::new();
        for (name, lines) in &sections {
            toml.push_str(&format!("[{name}]\n{}\n\n", lines.join("\n")));
        }
        let defaults = vec![
            (
                ADMIN.0.to_string(),
                ADMIN.1.to_string(),
                "admin".to_string(),
            ),
            (
                VIEWER.0.to_string(),
                VIEWER.1.to_string(),
                "user".to_string(),
            ),
        ];
        for (name, password, role) in self.users.clone().unwrap_or(defaults) {
            toml.push_str(&format!(
                "[[users]]\nname = \"{name}\"\npassword = \"{password}\"\nrole = \"{role}\"\n\n"
            ));
        }
        toml
    }

    /// Starts the daemon with at most `n` open descriptors (soft and hard, as `ulimit -n`).
    pub fn fd_limit(self, n: u64) -> Self {
        self.within(&["prlimit", &format!("--nofile={n}:{n}")])
    }

    /// Starts the daemon through `wrapper`, a command that execs it (`ip netns exec NAME`).
    pub fn within(mut self, wrapper: &[&str]) -> Self {
        self.wrapper.extend(wrapper.iter().map(|s| s.to_string()));
        self
    }

    /// Passes `arg` to the daemon after `--simulate`.
    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_string());
        self
    }

    /// Fixed ports instead of free ones (only inside a network namespace of the test's own).
    pub fn ports(mut self, rtsp: u16, http: u16) -> Self {
        self.ports = Some((rtsp, http));
        self
    }

    /// The daemon counts as started once its log shows `text`.
    pub fn ready_when_logged(mut self, text: &str) -> Self {
        self.ready_log = Some(text.to_string());
        self
    }

    /// Keeps the daemon's stdout for [`Daemon::stdout`].
    pub fn keep_stdout(mut self) -> Self {
        self.keep_stdout = true;
        self
    }

    /// Small pictures for tests that are not about picture size (keeps 2 cores free).
    pub fn small(self) -> Self {
        self.set("video.main", "width = 320")
            .set("video.main", "height = 240")
            .set("video.sub", "width = 160")
            .set("video.sub", "height = 120")
    }

    pub fn start(self) -> Daemon {
        Daemon::start(self).expect("daemon starts")
    }
}

pub struct Daemon {
    child: Option<Child>,
    pub rtsp_port: u16,
    pub http_port: u16,
    /// RTSPS and HTTPS (unless the test's setup chose its own `tls_port`).
    pub rtsps_port: u16,
    pub https_port: u16,
    pub dir: tempfile::TempDir,
}

/// How [`Daemon::restart`] stops the daemon.
#[derive(Clone, Copy, Debug)]
pub enum Stop {
    /// SIGTERM: a clean stop, as for an update.
    Term,
    /// SIGKILL: nothing saved at the end, as a power cut.
    Kill,
}

/// Writes `setup`'s config into `dir` and starts the daemon on it; the log is appended to
/// when `append` (a restart), else begun.
fn spawn(setup: &Setup, dir: &Path, ports: [u16; 4], append: bool) -> anyhow::Result<Child> {
    let toml = setup.render(ports, &dir.join("data"));
    let config = dir.join("config.toml");
    std::fs::write(&config, toml)?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(dir.join("daemon.log"))?;
    let stdout = if setup.keep_stdout {
        Stdio::from(
            std::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .append(append)
                .truncate(!append)
                .open(dir.join("stdout.txt"))?,
        )
    } else {
        Stdio::null()
    };
    let mut command = match setup.wrapper.split_first() {
        Some((program, rest)) => {
            let mut c = Command::new(program);
            c.args(rest).arg(binary());
            c
        }
        None => Command::new(binary()),
    };
    command
        .arg("--simulate")
        .args(&setup.args)
        .arg("--config")
        .arg(&config)
        .env("RUST_LOG", "babymonitor=debug,info")
        .stdout(stdout)
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", binary().display()))
}

impl Daemon {
    fn start(setup: Setup) -> anyhow::Result<Self> {
        let mut dir = tempfile::tempdir()?;
        // Free ports can be taken by someone else before the daemon binds them: try again.
        let attempts = if setup.ports.is_some() { 1 } else { 3 };
        for _attempt in 0..attempts {
            // Free here is free in a namespace of the test's own too.
            let [rtsp_free, http_free, rtsps_port, https_port] = free_ports::<4>();
            let (rtsp_port, http_port) = setup.ports.unwrap_or((rtsp_free, http_free));
            let ports = [rtsp_port, http_port, rtsps_port, https_port];
            let child = spawn(&setup, dir.path(), ports, false)?;
            let mut daemon = Self {
                child: Some(child),
                rtsp_port,
                http_port,
                rtsps_port,
                https_port,
                dir,
            };
            match daemon.wait_ready(Duration::from_secs(20), setup.ready_log.as_deref()) {
                Ok(()) => return Ok(daemon),
                Err(e) => {
                    let log = daemon.log();
                    daemon.kill();
                    if !log.contains("cannot listen") {
                        bail!("daemon did not start: {e}\n{log}");
                    }
                    dir = daemon.dir_take();
                }
            }
        }
        bail!("no free ports after {attempts} attempts")
    }

    /// Stops the daemon as `how` says and starts it again with `setup`'s configuration, on
    /// the same data directory and ports, as a camera that restarts. The log goes on.
    pub fn restart(&mut self, setup: &Setup, how: Stop) {
        match how {
            Stop::Term => {
                let status = self.terminate(Duration::from_secs(20));
                assert!(status.is_some(), "no exit after SIGTERM:\n{}", self.log());
            }
            Stop::Kill => self.kill(),
        }
        let ports = [
            self.rtsp_port,
            self.http_port,
            self.rtsps_port,
            self.https_port,
        ];
        let child = spawn(setup, self.dir.path(), ports, true).expect("daemon starts again");
        self.child = Some(child);
        if let Err(e) = self.wait_ready(Duration::from_secs(20), setup.ready_log.as_deref()) {
            panic!("daemon did not start again: {e}\n{}", self.log());
        }
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    /// Rewrites the config file (same ports) and sends SIGHUP.
    pub fn reload(&self, setup: &Setup) {
        std::fs::write(
            self.config_path(),
            setup.render(
                [
                    self.rtsp_port,
                    self.http_port,
                    self.rtsps_port,
                    self.https_port,
                ],
                &self.dir.path().join("data"),
            ),
        )
        .expect("write config");
        self.signal("HUP");
    }

    /// Writes `text` as the config file as it is and sends SIGHUP.
    pub fn reload_raw(&self, text: &str) {
        std::fs::write(self.config_path(), text).expect("write config");
        self.signal("HUP");
    }

    pub fn signal(&self, name: &str) {
        let _ = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status();
    }

    fn dir_take(mut self) -> tempfile::TempDir {
        let placeholder = tempfile::tempdir().expect("tempdir");
        std::mem::replace(&mut self.dir, placeholder)
    }

    fn wait_ready(&mut self, timeout: Duration, ready_log: Option<&str>) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                bail!("daemon exited with {status}");
            }
            let ready = match ready_log {
                Some(text) => self.log().contains(text),
                None => {
                    std::net::TcpStream::connect(("127.0.0.1", self.http_port)).is_ok()
                        && std::net::TcpStream::connect(("127.0.0.1", self.rtsp_port)).is_ok()
                }
            };
            if ready {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("not listening after {timeout:?}")
    }

    /// What the daemon logged so far (shown when a test fails).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    /// What the daemon printed on stdout so far (with [`Setup::keep_stdout`]).
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stdout.txt")).unwrap_or_default()
    }

    /// Waits until the log shows `text`; fails with the log after `timeout`.
    pub fn wait_log(&self, text: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.log().contains(text) {
            assert!(
                Instant::now() < deadline,
                "no \"{text}\" in the log after {timeout:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Watches `path` as the admin for `duration`, every frame.
    pub async fn watch(
        &self,
        path: &str,
        via: rtsp::Via,
        duration: Duration,
    ) -> anyhow::Result<rtsp::Received> {
        rtsp::watch(&self.url(path), via, duration, usize::MAX).await
    }

    pub fn url(&self, path: &str) -> String {
        self.url_as(ADMIN, path)
    }

    pub fn url_as(&self, (user, pass): (&str, &str), path: &str) -> String {
        let enc = |s: &str| {
            s.replace('%', "%25")
                .replace(' ', "%20")
                .replace('@', "%40")
                .replace(':', "%3A")
        };
        format!(
            "rtsp://{}:{}@127.0.0.1:{}{path}",
            enc(user),
            enc(pass),
            self.rtsp_port
        )
    }

    pub fn plain_url(&self, path: &str) -> String {
        format!("rtsp://127.0.0.1:{}{path}", self.rtsp_port)
    }

    /// Plain HTTP: what NVRs use (ONVIF, snapshots, metrics).
    pub fn http_base(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// HTTPS: the page and its JSON API (see [`http::client`] for the certificate).
    pub fn https_base(&self) -> String {
        format!("https://127.0.0.1:{}", self.https_port)
    }

    /// The certificate HTTPS serves (PEM), as the daemon keeps it in its data directory.
    pub fn certificate_pem(&self) -> PathBuf {
        let tls = self.dir.path().join("data/tls");
        let owner = tls.join("owner.crt");
        if owner.exists() {
            owner
        } else {
            tls.join("device.crt")
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Descriptors the daemon has open now.
    pub fn fd_count(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// Resident memory of the daemon, from /proc.
    pub fn rss_kib(&self) -> u64 {
        let Some(pid) = self.child.as_ref().map(Child::id) else {
            return 0;
        };
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    /// All metrics as name{labels} -> value.
    pub async fn metrics(&self) -> anyhow::Result<HashMap<String, f64>> {
        let (status, body) =
            http::get(&format!("{}/metrics", self.http_base()), Some(ADMIN)).await?;
        if status != 200 {
            bail!("/metrics answered {status}");
        }
        let text = String::from_utf8(body)?;
        Ok(text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.rsplit_once(' '))
            .filter_map(|(k, v)| v.parse().ok().map(|v| (k.to_string(), v)))
            .collect())
    }

    pub async fn metric(&self, name: &str) -> f64 {
        self.metrics()
            .await
            .expect("metrics")
            .get(name)
            .copied()
            .unwrap_or_else(|| panic!("no metric {name}"))
    }

    /// Polls a metric until `pred` holds; fails with the daemon's log after `timeout`.
    pub async fn wait_metric(
        &self,
        name: &str,
        timeout: Duration,
        pred: impl Fn(f64) -> bool,
    ) -> f64 {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.metric(name).await;
            if pred(value) {
                return value;
            }
            if Instant::now() > deadline {
                panic!(
                    "{name} is {value} after {timeout:?}\n--- daemon log ---\n{}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the microphone's capture has delivered `seconds` more of sound (about 47 AAC
    /// frames a second): the daemon has worked through that much input, so a test can then check
    /// that something did not happen meanwhile, without guessing a sleep.
    pub async fn wait_audio(&self, seconds: f64) {
        const FRAMES: &str = "babymonitor_audio_frames_total";
        let from = self.metric(FRAMES).await;
        let timeout = Duration::from_secs_f64(seconds * 3.0 + 10.0);
        self.wait_metric(FRAMES, timeout, |v| v >= from + 47.0 * seconds)
            .await;
    }

    /// SIGTERM, and how the daemon ended.
    pub fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.terminate(Duration::from_secs(5)).is_none() {
            self.kill();
        }
    }
}

/// Runs a command and returns (exit success, stdout, stderr).
pub fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().expect("command runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
