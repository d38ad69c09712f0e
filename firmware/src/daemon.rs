//! Wires configuration, capture, RTSP and HTTP together and runs until SIGTERM.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use rand::Rng;
use tracing::{error, info, warn};

use crate::config::{Config, Role, User};
use crate::media::look;
use crate::platform::{hardware, identity, watchdog};
use crate::serve::onvif as camera;
use crate::serve::{discovery, http, rtsp};
use crate::{audio, climate, detect, events, history, media, night, ptz, settings};

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
pub(crate) fn random_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..16)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Where run-time state lives: the configured directory, else the system's or the user's.
fn data_dir(config: &Config, simulate: bool) -> PathBuf {
    if !config.storage.data_dir.as_os_str().is_empty() {
        return config.storage.data_dir.clone();
    }
    if simulate {
        let base = std::env::var_os("XDG_STATE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
            .unwrap_or_else(std::env::temp_dir);
        return base.join("babymonitor");
    }
    PathBuf::from("/var/lib/babymonitor")
}

pub fn run(cli: Options) -> anyhow::Result<()> {
    let base = load_config(&cli)?;
    let generated = (cli.simulate && base.users.is_empty()).then(random_password);
    let data_dir = data_dir(&base, cli.simulate);
    let settings = Arc::new(settings::Settings::new(
        config_path(&cli),
        base.clone(),
        &data_dir,
        generated.as_deref().map(simulated_admin),
    )?);
    let config = settings.current();
    if config.users.is_empty() {
        bail!(NO_USERS);
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
    let capture = Arc::new(media::Capture::start(&config, &encoders)?);
    let with_audio = capture.has_audio(&config, &encoders);
    if config.audio.enabled && !with_audio {
        warn!("no AAC encoder is installed: the streams carry no sound");
    }
    let audio = start_audio(&config, cli.simulate, &data_dir);
    let rtsp = Arc::new(rtsp::RtspServer::start(
        &config,
        listen,
        Arc::clone(capture.hub()),
        with_audio,
        audio.as_ref().map(|a| Arc::clone(&a.output)),
    )?);
    let identity = identity::Identity::detect();
    let discovery_config = discovery::DiscoveryConfig {
        endpoint: identity.endpoint.clone(),
        scopes: camera::scopes(&config, &identity),
        http_port: config.http.port,
        listen,
    };
    let (ptz, sim_position) = start_ptz(&config, &settings, cli.simulate);
    let night = match hardware::night_vision(&config.night, cli.simulate) {
        Ok(outputs) => Some(Arc::new(night::Night::new(config.night.clone(), outputs))),
        Err(e) => {
            warn!("night vision is off: {e:#}");
            None
        }
    };
    let subscriptions = events::Subscriptions::new(config.events.clone());
    let bus = events::Bus::new(Arc::clone(&subscriptions));
    let (climate, sim_room) = start_climate(&config, cli.simulate, &bus);
    let detectors = {
        let (ptz, night) = (ptz.clone(), night.clone());
        detect::Detectors::start(&config, with_audio, capture.hub(), &bus, move || {
            let status = ptz.as_deref().map(ptz::Ptz::status);
            detect::CameraView {
                moving: status.is_some_and(|s| s.moving),
                zoom: status.map_or(1.0, |s| s.zoom_factor),
                night: night.as_ref().is_some_and(|n| n.is_night()),
            }
        })
    };
    if let Some(audio) = &audio {
        // The microphone hears the camera's own speaker: that is not the baby.
        let output = Arc::clone(&audio.output);
        detectors.set_speaker(move || output.is_playing());
        let bus = Arc::clone(&bus);
        audio.output.subscribe(move |change| {
            bus.set(
                events::topics::AUDIO_CLIP,
                &[("AudioClipToken", &change.token)],
                &[("Playing", events::flag(change.playing))],
            );
        });
    }
    let ptz_controls = Arc::new(ptz::Controls::new(ptz.clone(), Arc::clone(&settings)));
    let night_controls = Arc::new(night::Controls::new(night.clone(), Arc::clone(&settings)));
    let camera = Arc::new(camera::Camera {
        settings: Arc::clone(&settings),
        identity,
        simulate: cli.simulate,
        has_audio: with_audio,
        ptz: Arc::clone(&ptz_controls),
        night: Arc::clone(&night_controls),
        picture: media::picture::Picture::new(Arc::clone(&settings), Arc::clone(&night_controls)),
    });

    let history = Arc::new(history::History::open(data_dir.join("history.json")));

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
        let state = Arc::new(http::AppState {
            settings: Arc::clone(&settings),
            hub: Arc::clone(capture.hub()),
            jpeg: encoders.jpeg,
            auth: http::Authenticator::new(
                config.users.clone(),
                config.http.failed_logins_per_minute,
            ),
            rtsp_port: rtsp.port(),
            camera,
            ptz: ptz_controls,
            night: night_controls,
            audio: audio.clone(),
            rtsp_addr: SocketAddr::new(
                if listen.is_unspecified() {
                    IpAddr::V4(Ipv4Addr::LOCALHOST)
                } else {
                    listen
                },
                rtsp.port(),
            ),
            wsse: onvif::security::Verifier::new(std::time::Duration::from_secs(
                config.onvif.clock_skew_s,
            )),
            bus: Arc::clone(&bus),
            detectors: Arc::clone(&detectors),
            climate: climate.clone(),
            sim_room,
            web: crate::serve::webrtc::Web::new(
                Arc::clone(capture.hub()),
                with_audio,
                Arc::clone(&history),
                listen,
            ),
            connections: Default::default(),
        });
        subscribe(&settings, &capture, &rtsp, &state, encoders, with_audio);
        let reaper = {
            let subscriptions = Arc::clone(&subscriptions);
            // Ends abandoned subscriptions; aborted at shutdown.
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
                loop {
                    tick.tick().await;
                    subscriptions.expire();
                }
            })
        };
        // The web page's 24-hour chart: what the sensor and the microphone say, every few
        // seconds (the history averages them per minute).
        let recorder = {
            let (history, climate, detectors) = (
                Arc::clone(&history),
                climate.clone(),
                Arc::clone(&detectors),
            );
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(std::time::Duration::from_secs(10));
                loop {
                    tick.tick().await;
                    let reading = climate.as_ref().and_then(|c| c.current().reading);
                    let sound = detectors.levels().sound_db;
                    if reading.is_some() || sound.is_some() {
                        history.record(
                            reading.map(|r| r.temperature_c),
                            reading.map(|r| r.humidity_pct),
                            sound,
                        );
                    }
                }
            })
        };
        print_welcome(listen, rtsp.port(), config.http.port, generated.as_deref());
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let watchdog = watchdog::Watchdog::open(&config.watchdog, cli.simulate)?
            .map(|dog| tokio::spawn(dog.run(stop_rx.clone())));
        let discovery = config.onvif.enabled.then(|| {
            let (on_tx, on_rx) = tokio::sync::watch::channel(config.onvif.discovery);
            settings.subscribe(move |new| {
                let _ = on_tx.send(new.onvif.discovery);
            });
            let stop = stop_rx.clone();
            tokio::spawn(async move {
                if let Err(e) = discovery::serve(discovery_config, on_rx, stop).await {
                    warn!("WS-Discovery is off: {e:#}");
                }
            })
        });
        let look = Some({
            let parts = look::Parts {
                settings: Arc::clone(&settings),
                night: night.clone(),
                ptz: ptz.clone(),
                simulated: sim_position.clone(),
                bus: Arc::clone(&bus),
            };
            tokio::spawn(look::run(
                parts,
                Arc::clone(capture.hub()),
                Arc::clone(&capture),
                stop_rx.clone(),
            ))
        });
        if let Some(n) = &night {
            let n = Arc::clone(n);
            settings.subscribe(move |new| n.set_config(&new.night));
        }
        if let Some(a) = &audio {
            let a = Arc::clone(a);
            settings.subscribe(move |new| a.set_config(&new.speaker));
        }
        let server = tokio::spawn(http::serve(listener, Arc::clone(&state), stop_rx));
        loop {
            match next_signal().await? {
                Signal::Stop => break,
                Signal::Reload => {
                    if let Err(e) = settings.reload_file() {
                        error!("{e}: keeping the running configuration");
                    }
                }
            }
        }
        info!("stopping");
        let _ = stop_tx.send(true);
        let _ = server.await;
        reaper.abort();
        recorder.abort();
        if let Some(watchdog) = watchdog {
            let _ = watchdog.await;
        }
        if let Some(look) = look {
            let _ = look.await;
        }
        if let Some(discovery) = discovery {
            // Lets the Bye go out.
            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), discovery).await;
        }
        anyhow::Ok(())
    });
    if let Err(e) = history.save() {
        warn!("cannot store the history: {e:#}");
    }
    rtsp.stop();
    if let Some(c) = &climate {
        c.shutdown();
    }
    if let Some(audio) = &audio {
        audio.shutdown();
    }
    capture.shutdown();
    if let Some(ptz) = ptz {
        ptz.shutdown();
    }
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    result
}

/// The pan/tilt servos and their motion thread, starting where the camera was left. A camera
/// whose servos cannot be driven still streams, without PTZ.
fn start_ptz(
    config: &Config,
    settings: &Arc<settings::Settings>,
    simulate: bool,
) -> (Option<Arc<ptz::Ptz>>, Option<Arc<hardware::SimPosition>>) {
    if !config.ptz.enabled {
        return (None, None);
    }
    let hardware = match hardware::pan_tilt(&config.ptz, simulate) {
        Ok(h) => h,
        Err(e) => {
            warn!("pan/tilt is off: {e:#}");
            return (None, None);
        }
    };
    let simulated = hardware.simulated.clone();
    let start = settings.state().ptz_position.unwrap_or([0.0, 0.0]);
    let store = Arc::downgrade(settings);
    let on_rest = move |position: [f32; 2]| {
        if let Some(settings) = store.upgrade()
            && let Err(e) = settings.change(|state, _| {
                state.ptz_position = Some(position);
                Ok(())
            })
        {
            warn!("cannot store the camera's position: {e}");
        }
    };
    match ptz::Ptz::start(config.ptz.clone(), hardware.servos, start, on_rest) {
        Ok(p) => (Some(Arc::new(p)), simulated),
        Err(e) => {
            warn!("pan/tilt is off: {e:#}");
            (None, None)
        }
    }
}

/// The climate sensor's task; a camera without a working sensor runs on without one.
fn start_climate(
    config: &Config,
    simulate: bool,
    bus: &Arc<events::Bus>,
) -> (
    Option<Arc<climate::ClimateTask>>,
    Option<Arc<hardware::climate::SimRoom>>,
) {
    if !config.sensor.enabled {
        return (None, None);
    }
    let started =
        hardware::climate::climate_sensor(&config.sensor, simulate).and_then(|(sensor, room)| {
            climate::ClimateTask::start(
                sensor,
                config.sensor.clone(),
                config.comfort.clone(),
                Arc::clone(bus),
            )
            .map(|task| (task, room))
        });
    match started {
        Ok((task, room)) => (Some(task), room),
        Err(e) => {
            warn!("the climate sensor is off: {e:#}");
            (None, None)
        }
    }
}

/// The speaker and its mixer, and the clip store. A camera whose speaker cannot be opened
/// still streams, without talk-back.
fn start_audio(
    config: &Config,
    simulate: bool,
    data_dir: &std::path::Path,
) -> Option<Arc<audio::Audio>> {
    if !config.speaker.enabled {
        return None;
    }
    let started = hardware::speaker(&config.speaker, simulate, data_dir)
        .and_then(|speaker| audio::Audio::start(&config.speaker, speaker, data_dir));
    match started {
        Ok(a) => Some(Arc::new(a)),
        Err(e) => {
            warn!("the speaker is off (no talk-back, no lullabies): {e:#}");
            None
        }
    }
}

/// Hands every settings change (SIGHUP or ONVIF) to the parts that apply it.
fn subscribe(
    settings: &settings::Settings,
    capture: &Arc<media::Capture>,
    rtsp: &Arc<rtsp::RtspServer>,
    state: &Arc<http::AppState>,
    encoders: media::Encoders,
    with_audio: bool,
) {
    let running = std::sync::Mutex::new(settings.current().as_ref().clone());
    let (capture, rtsp, state) = (Arc::clone(capture), Arc::clone(rtsp), Arc::clone(state));
    settings.subscribe(move |new| {
        let mut old = running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let needs_restart = [
            ("rtsp", old.rtsp != new.rtsp),
            ("http", old.http != new.http),
            ("audio.enabled", old.audio.enabled != new.audio.enabled),
            ("video.encoder", old.video.encoder != new.video.encoder),
            (
                "speaker (other than volumes and fade_s)",
                (
                    &old.speaker.enabled,
                    &old.speaker.device,
                    old.speaker.sample_rate,
                ) != (
                    &new.speaker.enabled,
                    &new.speaker.device,
                    new.speaker.sample_rate,
                ),
            ),
            (
                "onvif.clock_skew_s",
                old.onvif.clock_skew_s != new.onvif.clock_skew_s,
            ),
        ];
        for (what, changed) in needs_restart {
            if changed {
                warn!("{what} changed: that takes effect when babymonitor restarts");
            }
        }
        capture.reconfigure(new, &encoders);
        if (&old.sound, &old.motion) != (&new.sound, &new.motion) {
            state.detectors.apply(new, with_audio);
        }
        if (&old.sensor, &old.comfort) != (&new.sensor, &new.comfort)
            && let Some(c) = &state.climate
        {
            c.set_config(new.sensor.clone(), new.comfort.clone());
        }
        if old.events != new.events {
            state.bus.subscriptions().set_config(new.events.clone());
        }
        if old.users != new.users {
            rtsp.set_users(&new.users);
            state.auth.set_users(new.users.clone());
        }
        *old = new.clone();
    });
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
    println!("  web page:     http://{host}:{http_port}/");
    println!("  snapshot:     http://{host}:{http_port}/snapshot.jpg");
    println!("  try:          ffplay rtsp://...  or  vlc rtsp://...   (Ctrl-C stops)");
    println!();
}
