//! Wires configuration, capture, RTSP and HTTP together and runs until SIGTERM.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use rand::Rng;
use tracing::{error, info, warn};

use crate::config::{Config, Role, User};
use crate::{http, media, rtsp};

const SYSTEM_CONFIG: &str = "/etc/babymonitor/config.toml";

const NO_USERS: &str = "no users are configured, and there is no built-in password: add a [[users]] \
                        entry (see --print-default-config)";

fn simulated_admin(password: &str) -> User {
    User {
        name: "admin".into(),
        password: password.into(),
        role: Role::Admin,
    }
}

/// What the command line decided.
#[derive(Debug, Default)]
pub struct Options {
    pub config: Option<PathBuf>,
    pub simulate: bool,
    pub listen: Option<IpAddr>,
}

fn config_path(cli: &Options) -> Option<PathBuf> {
    match &cli.config {
        Some(p) => Some(p.clone()),
        None => Some(PathBuf::from(SYSTEM_CONFIG)).filter(|p| p.exists()),
    }
}

fn load_config(cli: &Options) -> anyhow::Result<Config> {
    let Some(path) = config_path(cli) else {
        info!("no configuration file: using the defaults");
        return Ok(Config::default());
    };
    let config = Config::load(&path)?;
    info!(file = %path.display(), "configuration loaded");
    Ok(config)
}

/// A password for one simulated run: long, random, and easy to type.
fn random_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..16)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

pub fn run(cli: Options) -> anyhow::Result<()> {
    let mut config = load_config(&cli)?;
    let mut generated = None;
    if config.users.is_empty() {
        if !cli.simulate {
            bail!(NO_USERS);
        }
        let password = random_password();
        config.users.push(simulated_admin(&password));
        generated = Some(password);
    }
    let listen = cli.listen.unwrap_or(if cli.simulate {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    });
    if cli.simulate {
        info!("simulated hardware");
    }

    gst::init().context("initialising GStreamer")?;
    let encoders = media::Encoders::detect(&config.video)?;
    let mut capture = media::Capture::start(&config, &encoders)?;
    let with_audio = capture.has_audio(&config, &encoders);
    if config.audio.enabled && !with_audio {
        warn!("no AAC encoder is installed: the streams carry no sound");
    }
    let mut rtsp = rtsp::RtspServer::start(&config, listen, Arc::clone(capture.hub()), with_audio)?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("http")
        .build()
        .context("starting tokio")?;
    let result = runtime.block_on(async {
        let addr = SocketAddr::new(listen, config.http.port);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen for HTTP on {addr}"))?;
        info!(%addr, "HTTP server listening");
        let state = Arc::new(http::AppState::new(
            config.clone(),
            Arc::clone(capture.hub()),
            http::Authenticator::new(config.users.clone()),
            rtsp.port(),
        ));
        print_welcome(listen, rtsp.port(), config.http.port, generated.as_deref());
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let server = tokio::spawn(http::serve(listener, Arc::clone(&state), stop_rx));
        let live = Live {
            capture: &capture,
            rtsp: &rtsp,
            http: &state,
            encoders,
        };
        let mut running = config;
        loop {
            match next_signal().await? {
                Signal::Stop => break,
                Signal::Reload => reload(&cli, &mut running, generated.as_deref(), &live),
            }
        }
        info!("stopping");
        let _ = stop_tx.send(true);
        let _ = server.await;
        anyhow::Ok(())
    });
    rtsp.stop();
    capture.shutdown();
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    result
}

enum Signal {
    Stop,
    Reload,
}

async fn next_signal() -> anyhow::Result<Signal> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    let mut hup = signal(SignalKind::hangup()).context("SIGHUP handler")?;
    Ok(tokio::select! {
        _ = term.recv() => Signal::Stop,
        _ = int.recv() => Signal::Stop,
        _ = hup.recv() => Signal::Reload,
    })
}

/// The parts a reload can change while they run.
struct Live<'a> {
    capture: &'a media::Capture,
    rtsp: &'a rtsp::RtspServer,
    http: &'a http::AppState,
    encoders: media::Encoders,
}

/// SIGHUP: reads the configuration again. A file that cannot be used changes nothing (the
/// error names file, line and field); a good one applies users and capture settings at once.
fn reload(cli: &Options, running: &mut Config, generated: Option<&str>, live: &Live<'_>) {
    let Some(path) = config_path(cli) else {
        warn!("SIGHUP: there is no configuration file to read again");
        return;
    };
    let mut new = match Config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            error!("{e}: keeping the running configuration");
            return;
        }
    };
    if new.users.is_empty() {
        match generated {
            Some(password) => new.users.push(simulated_admin(password)),
            None => {
                error!(
                    "{}: {NO_USERS}: keeping the running configuration",
                    path.display()
                );
                return;
            }
        }
    }
    let needs_restart = [
        ("rtsp", running.rtsp != new.rtsp),
        ("http", running.http != new.http),
        ("audio.enabled", running.audio.enabled != new.audio.enabled),
        ("video.encoder", running.video.encoder != new.video.encoder),
    ];
    for (what, changed) in needs_restart {
        if changed {
            warn!("{what} changed: that takes effect when babymonitor restarts");
        }
    }
    live.capture.reconfigure(&new, &live.encoders);
    live.rtsp.set_users(&new.users);
    live.http.auth.set_users(new.users.clone());
    live.http.set_config(new.clone());
    *running = new;
    info!(file = %path.display(), "configuration reloaded");
}

fn print_welcome(listen: IpAddr, rtsp_port: u16, http_port: u16, password: Option<&str>) {
    let host = if listen.is_unspecified() {
        "<this machine's address>".to_string()
    } else {
        listen.to_string()
    };
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    println!();
    println!("babymonitor {} is running.", env!("CARGO_PKG_VERSION"));
    match password {
        Some(pw) => {
            println!("  user: admin   password for this run: {pw}");
            println!("  main stream:  rtsp://admin:{pw}@{host}:{rtsp_port}/stream");
            println!("  sub stream:   rtsp://admin:{pw}@{host}:{rtsp_port}/sub");
        }
        None => {
            println!("  main stream:  rtsp://{host}:{rtsp_port}/stream");
            println!("  sub stream:   rtsp://{host}:{rtsp_port}/sub");
        }
    }
    println!("  snapshot:     http://{host}:{http_port}/snapshot.jpg");
    println!("  try:          ffplay rtsp://...  or  vlc rtsp://...   (Ctrl-C stops)");
    println!();
}
