//! Wires configuration, capture, RTSP and HTTP together and runs until SIGTERM.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use rand::Rng;
use tracing::{error, info, warn};

use crate::config::{Config, Role, User};
use crate::media::look;
use crate::notify;
use crate::platform::{certificate, hardware, identity, watchdog};
use crate::serve::onvif as camera;
use crate::serve::{discovery, http, rtsp};
use crate::{alerts, audio, climate, detect, events, history, media, night, ptz, settings, sleep};

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

/// Builds the camera, serves until SIGTERM (SIGHUP reloads the configuration), then shuts
/// it down part by part.
pub fn run(cli: Options) -> anyhow::Result<()> {
    let parts = Parts::build(&cli)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("http")
        .build()
        .context("starting tokio")?;
    let result = runtime.block_on(parts.serve());
    parts.shut_down();
    runtime.shutdown_timeout(Duration::from_secs(2));
    result
}

/// Everything the daemon runs, in the order it was built.
struct Parts {
    settings: Arc<settings::Settings>,
    /// The configuration at start: what needs a restart to change is read from here.
    config: Arc<Config>,
    simulate: bool,
    listen: IpAddr,
    /// The simulated admin's password for this run, when no user is configured.
    generated: Option<String>,
    encoders: media::Encoders,
    capture: Arc<media::Capture>,
    with_audio: bool,
    audio: Option<Arc<audio::Audio>>,
    rtsp: Arc<rtsp::RtspServer>,
    discovery: discovery::DiscoveryConfig,
    ptz: Option<Arc<ptz::Ptz>>,
    sim_position: Option<Arc<hardware::SimPosition>>,
    night: Option<Arc<night::Night>>,
    subscriptions: Arc<events::Subscriptions>,
    bus: Arc<events::Bus>,
    climate: Option<Arc<climate::ClimateTask>>,
    sim_room: Option<Arc<hardware::climate::SimRoom>>,
    detectors: Arc<detect::Detectors>,
    /// The domain's PTZ and night-vision controllers, which ONVIF and the JSON API both call.
    ptz_controls: Arc<ptz::Controls>,
    night_controls: Arc<night::Controls>,
    camera: Arc<camera::Camera>,
    history: Arc<history::History>,
    /// The web page's logins, kept in the data directory across restarts.
    sessions: Arc<crate::serve::webrtc::Sessions>,
    /// The TLS certificate HTTPS serves.
    certificate: certificate::Certificate,
    alerts: Arc<alerts::Alerts>,
    /// Alerts as ntfy push notifications (`[ntfy]`).
    ntfy: Arc<notify::Ntfy>,
    /// The nights' settled, moving and crying minutes (`[sleep]`), kept in the data directory.
    sleep: Arc<sleep::SleepLog>,
    /// Event clips on the data partition (`[recordings]`).
    recordings: Arc<crate::recordings::Recordings>,
}

impl Parts {
    /// Configuration and identity, then hardware and capture, the domain controllers, and the
    /// RTSP server. The HTTP side starts with the runtime, in [`Servers::start`].
    fn build(cli: &Options) -> anyhow::Result<Self> {
        let (settings, data_dir, generated) = open_settings(cli)?;
        let config = settings.current();
        let listen = listen_address(cli);
        if cli.simulate {
            info!("simulated hardware");
        }
        let certificate = load_certificate(&config, &data_dir, listen)?;

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
            &certificate,
        )?);
        let identity = identity::Identity::detect();
        let discovery = discovery::DiscoveryConfig {
            endpoint: identity.endpoint.clone(),
            scopes: camera::scopes(&config, &identity),
            http_port: config.http.port,
            https_port: config.http.tls_port,
            require_tls: config.http.require_tls,
            listen,
        };
        let (ptz, sim_position) = start_ptz(&config, &settings, cli.simulate);
        let night = start_night(&config, cli.simulate);
        let subscriptions = events::Subscriptions::new(config.events.clone());
        let bus = events::Bus::new(Arc::clone(&subscriptions));
        let (climate, sim_room) = start_climate(&config, cli.simulate, &bus);
        let detectors = start_detectors(&config, with_audio, &capture, &bus, &ptz, &night);
        start_listen_gate(&settings, &capture, &detectors);
        if let Some(audio) = &audio {
            hear_the_speaker(audio, &detectors, &bus);
        }
        let ptz_controls = Arc::new(ptz::Controls::new(ptz.clone(), Arc::clone(&settings)));
        let night_controls = Arc::new(night::Controls::new(night.clone(), Arc::clone(&settings)));
        let picture =
            media::picture::Picture::new(Arc::clone(&settings), Arc::clone(&night_controls));
        let update = Arc::new(crate::update::Updater::open(
            &config.update,
            &data_dir,
            cli.simulate,
        ));
        let camera = Arc::new(camera::Camera {
            settings: Arc::clone(&settings),
            identity,
            simulate: cli.simulate,
            has_audio: with_audio,
            ptz: Arc::clone(&ptz_controls),
            night: Arc::clone(&night_controls),
            picture,
            update,
        });
        let history = Arc::new(history::History::open(data_dir.join("history.json")));
        let sessions = Arc::new(crate::serve::webrtc::Sessions::open(
            data_dir.join("sessions.json"),
            &config.users,
        ));
        let alerts = alerts::Alerts::new(Arc::clone(&settings));
        let ntfy = notify::Ntfy::new(Arc::clone(&settings));
        let sleep = sleep::SleepLog::open(Arc::clone(&settings), data_dir.join("sleep.json"));
        let recordings = crate::recordings::Recordings::start(
            &config.recordings,
            &data_dir,
            crate::recordings::Sources {
                hub: Arc::clone(capture.hub()),
                bus: Arc::clone(&bus),
                jpeg: encoders.jpeg,
                main: (config.video.main.width, config.video.main.height),
                with_audio,
            },
        )?;
        Ok(Self {
            settings,
            config,
            simulate: cli.simulate,
            listen,
            generated,
            encoders,
            capture,
            with_audio,
            audio,
            rtsp,
            discovery,
            ptz,
            sim_position,
            night,
            subscriptions,
            bus,
            climate,
            sim_room,
            detectors,
            ptz_controls,
            night_controls,
            camera,
            history,
            sessions,
            certificate,
            alerts,
            ntfy,
            sleep,
            recordings,
        })
    }

    /// Serves until SIGTERM or SIGINT; SIGHUP reloads the configuration file.
    async fn serve(&self) -> anyhow::Result<()> {
        // Listening before anything serves, and for the whole run: a SIGHUP that comes while
        // the servers start, or a SIGTERM during a reload, is held for the loop, not lost.
        let mut signals = Signals::listen()?;
        let servers = Servers::start(self).await?;
        loop {
            match signals.next().await {
                Signal::Stop => break,
                Signal::Reload => {
                    if let Err(e) = self.settings.reload_file() {
                        error!("{e}: keeping the running configuration");
                    }
                }
            }
        }
        info!("stopping");
        servers.stop().await;
        Ok(())
    }

    /// Once the servers have stopped: stores the history, the sleep log and the web logins'
    /// last uses, then
    /// stops RTSP, the sensor, the speaker, capture and the servos, in that order, each joined
    /// before the next.
    fn shut_down(&self) {
        if let Err(e) = self.history.save() {
            warn!("cannot store the history: {e:#}");
        }
        if let Err(e) = self.sleep.save() {
            warn!("cannot store the sleep log: {e:#}");
        }
        if let Err(e) = self.sessions.save() {
            warn!("cannot store the web logins: {e:#}");
        }
        self.recordings.shutdown();
        self.rtsp.stop();
        if let Some(c) = &self.climate {
            c.shutdown();
        }
        if let Some(audio) = &self.audio {
            audio.shutdown();
        }
        self.capture.shutdown();
        if let Some(ptz) = &self.ptz {
            ptz.shutdown();
        }
    }
}

/// The run-time settings over the configuration file, where they are stored, and the password
/// for this run when a simulated camera has no users. Refuses a camera nobody can log in to.
fn open_settings(
    cli: &Options,
) -> anyhow::Result<(Arc<settings::Settings>, PathBuf, Option<String>)> {
    let base = load_config(cli)?;
    let generated = (cli.simulate && base.users.is_empty()).then(random_password);
    let data_dir = data_dir(&base, cli.simulate);
    let settings = Arc::new(settings::Settings::new(
        config_path(cli),
        base,
        &data_dir,
        generated.as_deref().map(simulated_admin),
    )?);
    if settings.current().users.is_empty() {
        bail!(NO_USERS);
    }
    crate::platform::first_boot::watch_first_login(&data_dir);
    Ok((settings, data_dir, generated))
}

/// The camera's TLS certificate, made at the first start; its fingerprint is logged at every
/// start, so that the parent can compare it with what the browser shows. One that cannot be
/// used stops the start: a new one would silently change the fingerprint they accepted.
fn load_certificate(
    config: &Config,
    data_dir: &std::path::Path,
    listen: IpAddr,
) -> anyhow::Result<certificate::Certificate> {
    let mut addresses: Vec<IpAddr> = crate::platform::network::interfaces(None)
        .iter()
        .flat_map(|nic| nic.ipv4.iter().filter_map(|(ip, _)| ip.parse().ok()))
        .collect();
    if !listen.is_unspecified() && !addresses.contains(&listen) {
        addresses.push(listen);
    }
    let names = certificate::names(&crate::platform::network::hostname(), &addresses);
    let certificate = certificate::load_or_create(data_dir, &config.device.name, &names)
        .context("the camera's TLS certificate (remove it to have a new one made)")?;
    info!(
        fingerprint = %certificate.fingerprint(),
        owner = certificate.owner,
        "TLS certificate (SHA-256)"
    );
    Ok(certificate)
}

/// The command line's address, else loopback for a simulated camera and every interface for
/// a real one.
fn listen_address(cli: &Options) -> IpAddr {
    cli.listen.unwrap_or(if cli.simulate {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    })
}

/// The tasks on the runtime, each stopped or awaited by [`Servers::stop`].
struct Servers {
    stop: tokio::sync::watch::Sender<bool>,
    http: tokio::task::JoinHandle<()>,
    reaper: tokio::task::JoinHandle<()>,
    recorder: tokio::task::JoinHandle<()>,
    watchdog: Option<tokio::task::JoinHandle<()>>,
    look: tokio::task::JoinHandle<()>,
    discovery: Option<tokio::task::JoinHandle<()>>,
    alerts: tokio::task::JoinHandle<()>,
    mqtt: Arc<crate::mqtt::Mqtt>,
    ntfy: tokio::task::JoinHandle<()>,
    sleep: tokio::task::JoinHandle<()>,
}

impl Servers {
    /// Binds HTTP, hands settings changes to the parts, and starts the periodic tasks, the
    /// watchdog, WS-Discovery, the look loop and the HTTP server.
    async fn start(parts: &Parts) -> anyhow::Result<Self> {
        let config = &parts.config;
        let addr = SocketAddr::new(parts.listen, config.http.port);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen for HTTP on {addr}"))?;
        info!(%addr, "HTTP server listening");
        let tls_addr = SocketAddr::new(parts.listen, config.http.tls_port);
        let tls_listener = tokio::net::TcpListener::bind(tls_addr)
            .await
            .with_context(|| format!("cannot listen for HTTPS on {tls_addr}"))?;
        let acceptor = http::tls_acceptor(&parts.certificate)
            .context("the camera's TLS certificate cannot be served")?;
        info!(addr = %tls_addr, "HTTPS server listening");
        let mqtt = start_mqtt(parts);
        let state = app_state(parts, &mqtt);
        parts.rtsp.serve(Arc::clone(&state.auth));
        subscribe(
            &parts.settings,
            &parts.capture,
            &parts.rtsp,
            &state,
            parts.encoders,
            parts.with_audio,
        );
        let reaper = spawn_reaper(&parts.subscriptions, &parts.sessions);
        let recorder = spawn_recorder(&parts.history, &parts.climate, &parts.detectors);
        let alerts = parts
            .alerts
            .spawn(Arc::clone(&parts.bus), Arc::clone(parts.capture.hub()));
        let ntfy = parts.ntfy.spawn(
            &parts.alerts,
            Arc::clone(parts.capture.hub()),
            parts.encoders.jpeg,
        );
        let sleep = parts
            .sleep
            .spawn(Arc::clone(&parts.bus), Arc::clone(parts.capture.hub()));
        print_welcome(
            parts.listen,
            parts.rtsp.port(),
            config.http.port,
            config.http.tls_port,
            parts.generated.as_deref(),
        );
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let watchdog = watchdog::Watchdog::open(&config.watchdog, parts.simulate)?
            .map(|dog| tokio::spawn(dog.run(stop_rx.clone())));
        let discovery = config
            .onvif
            .enabled
            .then(|| spawn_discovery(parts, stop_rx.clone()));
        let look = spawn_look(parts, stop_rx.clone());
        follow_settings(parts);
        spawn_health_check(parts, addr);
        let listeners = http::Listeners {
            plain: listener,
            tls: Some((tls_listener, acceptor)),
        };
        let http = tokio::spawn(http::serve(listeners, state, stop_rx));
        Ok(Self {
            stop,
            http,
            reaper,
            recorder,
            watchdog,
            look,
            discovery,
            alerts,
            mqtt,
            ntfy,
            sleep,
        })
    }

    /// HTTP first (it lets open connections finish), then the periodic tasks, the watchdog,
    /// the look loop and WS-Discovery.
    async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.http.await;
        self.reaper.abort();
        self.recorder.abort();
        self.alerts.abort();
        self.ntfy.abort();
        self.sleep.abort();
        self.mqtt.stop().await;
        if let Some(watchdog) = self.watchdog {
            let _ = watchdog.await;
        }
        let _ = self.look.await;
        if let Some(discovery) = self.discovery {
            // Lets the Bye go out.
            let _ = tokio::time::timeout(Duration::from_secs(2), discovery).await;
        }
    }
}

/// After a boot (a trial one above all): the firmware health check keeps the slot or not.
fn spawn_health_check(parts: &Parts, http: SocketAddr) {
    let http = if http.ip().is_unspecified() {
        SocketAddr::new(IpAddr::from([127, 0, 0, 1]), http.port())
    } else {
        http
    };
    let rtsp = parts.rtsp.local_addr();
    let rtsp = if rtsp.ip().is_unspecified() {
        SocketAddr::new(IpAddr::from([127, 0, 0, 1]), rtsp.port())
    } else {
        rtsp
    };
    let targets = crate::update::health::Targets {
        http,
        rtsp,
        hub: Arc::clone(parts.capture.hub()),
    };
    let update = Arc::clone(&parts.camera.update);
    tokio::spawn(async move { update.after_boot(targets).await });
}

/// The MQTT side, which connects when `[mqtt]` is enabled and follows its changes.
fn start_mqtt(parts: &Parts) -> Arc<crate::mqtt::Mqtt> {
    let host = if parts.listen.is_unspecified() {
        identity::local_addresses()
            .into_iter()
            .find(IpAddr::is_ipv4)
            .unwrap_or(parts.listen)
    } else {
        parts.listen
    };
    let page = format!(
        "https://{}/",
        SocketAddr::new(host, parts.config.http.tls_port)
    );
    let sources = crate::mqtt::Sources {
        bus: Arc::clone(&parts.bus),
        climate: parts.climate.clone(),
        detectors: Arc::clone(&parts.detectors),
        night: Arc::clone(&parts.night_controls),
        audio: parts.audio.clone(),
        alerts: Arc::clone(&parts.alerts),
        has_microphone: parts.with_audio,
    };
    let targets = crate::mqtt::commands::Targets {
        night: Arc::clone(&parts.night_controls),
        audio: parts.audio.clone(),
    };
    crate::mqtt::Mqtt::start(
        Arc::clone(&parts.settings),
        sources,
        targets,
        (Arc::clone(parts.capture.hub()), parts.encoders.jpeg),
        crate::mqtt::Identity {
            device_id: crate::mqtt::device_id(&parts.camera.identity.hardware_id()),
            model: parts.camera.identity.model.clone(),
            page,
        },
    )
}

fn app_state(parts: &Parts, mqtt: &Arc<crate::mqtt::Mqtt>) -> Arc<http::AppState> {
    let config = &parts.config;
    let hub = parts.capture.hub();
    Arc::new(http::AppState {
        settings: Arc::clone(&parts.settings),
        hub: Arc::clone(hub),
        jpeg: parts.encoders.jpeg,
        auth: Arc::new(http::Authenticator::new(
            config.users.clone(),
            config.http.failed_logins_per_minute,
            Arc::clone(&parts.sessions),
        )),
        rtsp_port: parts.rtsp.port(),
        camera: Arc::clone(&parts.camera),
        ptz: Arc::clone(&parts.ptz_controls),
        night: Arc::clone(&parts.night_controls),
        audio: parts.audio.clone(),
        rtsp_addr: parts.rtsp.local_addr(),
        wsse: onvif::security::Verifier::new(Duration::from_secs(config.onvif.clock_skew_s)),
        bus: Arc::clone(&parts.bus),
        detectors: Arc::clone(&parts.detectors),
        climate: parts.climate.clone(),
        sim_room: parts.sim_room.clone(),
        web: crate::serve::webrtc::Web::new(
            Arc::clone(hub),
            parts.with_audio,
            Arc::clone(&parts.history),
            parts.listen,
        ),
        connections: Default::default(),
        alerts: Arc::clone(&parts.alerts),
        mqtt: Arc::clone(mqtt),
        sim_mic: (parts.simulate && config.audio.source == crate::config::AudioSource::Test)
            .then(|| Arc::clone(parts.capture.room())),
        ntfy: Arc::clone(&parts.ntfy),
        sleep: Arc::clone(&parts.sleep),
        recordings: Arc::clone(&parts.recordings),
    })
}

/// Ends abandoned event subscriptions, every second, and stores the web logins' last uses
/// when due (on a blocking thread: the card may be slow); aborted at shutdown.
fn spawn_reaper(
    subscriptions: &Arc<events::Subscriptions>,
    sessions: &Arc<crate::serve::webrtc::Sessions>,
) -> tokio::task::JoinHandle<()> {
    let (subscriptions, sessions) = (Arc::clone(subscriptions), Arc::clone(sessions));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        for second in 0u64.. {
            tick.tick().await;
            subscriptions.expire();
            if second % 60 == 0 {
                let sessions = Arc::clone(&sessions);
                let saved = tokio::task::spawn_blocking(move || sessions.save_if_due()).await;
                if let Ok(Err(e)) = saved {
                    warn!("cannot store the web logins: {e:#}");
                }
            }
        }
    })
}

/// The web page's 24-hour chart: what the sensor and the microphone say, every few seconds
/// (the history averages them per minute); aborted at shutdown.
fn spawn_recorder(
    history: &Arc<history::History>,
    climate: &Option<Arc<climate::ClimateTask>>,
    detectors: &Arc<detect::Detectors>,
) -> tokio::task::JoinHandle<()> {
    let (history, climate, detectors) =
        (Arc::clone(history), climate.clone(), Arc::clone(detectors));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(10));
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
}

/// WS-Discovery, answering or silent as the settings say.
fn spawn_discovery(
    parts: &Parts,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let (on_tx, on_rx) = tokio::sync::watch::channel(parts.config.onvif.discovery);
    parts.settings.subscribe(move |new| {
        let _ = on_tx.send(new.onvif.discovery);
    });
    let config = parts.discovery.clone();
    tokio::spawn(async move {
        if let Err(e) = discovery::serve(config, on_rx, stop).await {
            warn!("WS-Discovery is off: {e:#}");
        }
    })
}

/// The loop that applies night mode, zoom and the picture settings to the capture.
fn spawn_look(
    parts: &Parts,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let look_parts = look::Parts {
        settings: Arc::clone(&parts.settings),
        night: parts.night.clone(),
        ptz: parts.ptz.clone(),
        simulated: parts.sim_position.clone(),
        bus: Arc::clone(&parts.bus),
    };
    tokio::spawn(look::run(
        look_parts,
        Arc::clone(parts.capture.hub()),
        Arc::clone(&parts.capture),
        stop,
    ))
}

/// Night vision and the speaker take their new settings themselves.
fn follow_settings(parts: &Parts) {
    if let Some(n) = &parts.night {
        let n = Arc::clone(n);
        parts
            .settings
            .subscribe(move |new| n.set_config(&new.night));
    }
    if let Some(a) = &parts.audio {
        let a = Arc::clone(a);
        parts
            .settings
            .subscribe(move |new| a.set_config(&new.speaker));
    }
}

/// Night vision's IR light and filter; a camera without them runs on in daylight mode.
fn start_night(config: &Config, simulate: bool) -> Option<Arc<night::Night>> {
    match hardware::night_vision(&config.night, simulate) {
        Ok(outputs) => Some(Arc::new(night::Night::new(config.night.clone(), outputs))),
        Err(e) => {
            warn!("night vision is off: {e:#}");
            None
        }
    }
}

/// Motion and sound detection, told what the camera is doing so that its own moves, zoom and
/// night switches do not count as motion.
fn start_detectors(
    config: &Config,
    with_audio: bool,
    capture: &media::Capture,
    bus: &Arc<events::Bus>,
    ptz: &Option<Arc<ptz::Ptz>>,
    night: &Option<Arc<night::Night>>,
) -> Arc<detect::Detectors> {
    let (ptz, night) = (ptz.clone(), night.clone());
    detect::Detectors::start(config, with_audio, capture.hub(), bus, move || {
        let status = ptz.as_deref().map(ptz::Ptz::status);
        detect::CameraView {
            moving: status.is_some_and(|s| s.moving),
            zoom: status.map_or(1.0, |s| s.zoom_factor),
            night: night.as_ref().is_some_and(|n| n.is_night()),
        }
    })
}

/// The microphone hears the camera's own speaker: that is not the baby. And clips starting
/// and ending are events.
fn hear_the_speaker(audio: &audio::Audio, detectors: &detect::Detectors, bus: &Arc<events::Bus>) {
    let output = Arc::clone(&audio.output);
    detectors.set_speaker(move || output.is_playing());
    let bus = Arc::clone(bus);
    audio.output.subscribe(move |change| {
        bus.set(
            events::topics::AUDIO_CLIP,
            &[("AudioClipToken", &change.token)],
            &[("Playing", events::flag(change.playing))],
        );
    });
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
            for user in state.auth.set_users(new.users.clone()) {
                state.web.connections.stop_user(&user);
            }
        }
        *old = new.clone();
    });
}

enum Signal {
    Stop,
    Reload,
}

/// The signals the daemon answers, each handler installed once.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn listen() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            term: signal(SignalKind::terminate()).context("SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("SIGINT handler")?,
            hup: signal(SignalKind::hangup()).context("SIGHUP handler")?,
        })
    }

    async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = self.term.recv() => Signal::Stop,
            _ = self.int.recv() => Signal::Stop,
            _ = self.hup.recv() => Signal::Reload,
        }
    }
}

fn print_welcome(
    listen: IpAddr,
    rtsp_port: u16,
    http_port: u16,
    https_port: u16,
    password: Option<&str>,
) {
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
    println!("  web page:     https://{host}:{https_port}/  (the camera's own certificate)");
    println!("  snapshot:     http://{host}:{http_port}/snapshot.jpg");
    println!("  try:          ffplay rtsp://...  or  vlc rtsp://...   (Ctrl-C stops)");
    println!();
}

/// The listen stream's noise gate follows the sound detector's measure of the room, with the
/// gate settings in force (the page changes them).
fn start_listen_gate(
    settings: &Arc<settings::Settings>,
    capture: &media::Capture,
    detectors: &Arc<detect::Detectors>,
) {
    let settings = Arc::clone(settings);
    let detectors = Arc::downgrade(detectors);
    media::noise_gate::follow(
        capture.hub(),
        move || settings.current().listen.gate,
        move || {
            let levels = detectors.upgrade()?.levels();
            Some((levels.sound_db?, levels.noise_floor_db?))
        },
    );
}
