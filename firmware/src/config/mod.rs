//! Typed, validated configuration read from TOML.
//!
//! `default.toml` is both the documentation of every option and the source of the defaults:
//! a test checks that parsing it gives `Config::default()`.

pub mod boot_file;
mod detect;
mod error;
mod events;
mod listen;
mod media;
mod mqtt;
mod night;
mod ntfy;
mod ptz;
mod recordings;
mod sensor;
mod sleep;
mod speaker;
mod update;
mod users;
mod watchdog;
mod web;

use std::path::Path;

use serde::Deserialize;

pub use detect::{MotionConfig, SoundConfig, SoundMode};
pub use error::ConfigError;
pub use events::EventsConfig;
pub use listen::{
    BITRATE_KBPS as LISTEN_BITRATE_KBPS, GateConfig, ListenConfig,
    SAMPLE_RATE as LISTEN_SAMPLE_RATE,
};
pub use media::{
    AudioConfig, AudioSource, EncoderChoice, MediaConfig, StreamConfig, VideoConfig, VideoSource,
    X264Preset,
};
pub use mqtt::{BrokerAddress, MqttConfig, MqttLink, MqttProtocol};
pub use night::{NightConfig, NightMode};
pub use ntfy::NtfyConfig;
pub use ptz::{AxisConfig, PtzConfig, pwm_channel};
pub use recordings::{CLIP_KINDS, RecordStream, RecordingsConfig};
pub use sensor::{ComfortConfig, SensorConfig};
pub use sleep::{ClockTime, SleepConfig};
pub use speaker::SpeakerConfig;
pub use update::UpdateConfig;
pub use users::{MIN_PASSWORD_CHARS, Role, User, password_problem};
pub use watchdog::WatchdogConfig;
pub use web::WebConfig;

/// The commented default configuration printed by `--print-default-config`.
pub const DEFAULT_CONFIG: &str = include_str!("default.toml");

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub device: DeviceConfig,
    pub rtsp: RtspConfig,
    pub http: HttpConfig,
    pub media: MediaConfig,
    pub video: VideoConfig,
    pub audio: AudioConfig,
    pub onvif: OnvifConfig,
    pub ptz: PtzConfig,
    pub night: NightConfig,
    pub sensor: SensorConfig,
    pub comfort: ComfortConfig,
    pub sound: SoundConfig,
    pub motion: MotionConfig,
    pub events: EventsConfig,
    pub speaker: SpeakerConfig,
    pub web: WebConfig,
    pub storage: StorageConfig,
    pub watchdog: WatchdogConfig,
    pub listen: ListenConfig,
    pub mqtt: MqttConfig,
    pub ntfy: NtfyConfig,
    pub sleep: SleepConfig,
    pub update: UpdateConfig,
    pub recordings: RecordingsConfig,
    pub users: Vec<User>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OnvifConfig {
    pub enabled: bool,
    pub discovery: bool,
    pub clock_skew_s: u64,
}

impl Default for OnvifConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            discovery: true,
            clock_skew_s: 300,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Empty: /var/lib/babymonitor, or the user's state directory with --simulate.
    pub data_dir: std::path::PathBuf,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeviceConfig {
    pub name: String,
    pub location: String,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        Self {
            name: "Nursery".into(),
            location: String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RtspConfig {
    pub port: u16,
    /// RTSPS (RTSP in TLS, with the camera's certificate); 0 serves none.
    pub tls_port: u16,
    pub max_clients: u32,
    pub session_timeout_s: u32,
}

impl Default for RtspConfig {
    fn default() -> Self {
        Self {
            port: 8554,
            tls_port: 8322,
            max_clients: 16,
            session_timeout_s: 60,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub port: u16,
    /// HTTPS, with the camera's certificate: the page and its API are served there only.
    pub tls_port: u16,
    /// Plain HTTP then serves nothing but a redirect to HTTPS (NVRs must use HTTPS and RTSPS
    /// too).
    pub require_tls: bool,
    /// Failed logins one address may make in a minute before it has to wait.
    pub failed_logins_per_minute: u32,
    /// Connections the HTTP server holds at once; more are closed as they come.
    pub max_connections: usize,
    /// Connections one address may hold at once.
    pub max_connections_per_address: usize,
    /// Seconds a client may take to send a request body.
    pub body_timeout_s: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            port: 8080,
            tls_port: 8443,
            require_tls: false,
            failed_logins_per_minute: 10,
            max_connections: 256,
            max_connections_per_address: 64,
            body_timeout_s: 15,
        }
    }
}

/// Collects semantic errors as (dotted field path, message) so they can be located in the file.
#[derive(Default)]
pub(crate) struct Problems(Vec<(String, String)>);

impl Problems {
    pub(crate) fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push((field.into(), message.into()));
    }

    pub(crate) fn range<T>(&mut self, field: &str, value: T, min: T, max: T)
    where
        T: PartialOrd + std::fmt::Display + Copy,
    {
        if value < min || value > max {
            self.add(
                field,
                format!("must be between {min} and {max} (got {value})"),
            );
        }
    }
}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::io(path, e))?;
        Self::parse(&text, path)
    }

    /// Parses and validates configuration text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Self, ConfigError> {
        let config: Config =
            toml::from_str(text).map_err(|e| ConfigError::syntax(origin, text, &e))?;
        let mut problems = Problems::default();
        config.check(&mut problems);
        match problems.0.into_iter().next() {
            None => Ok(config),
            Some((field, message)) => Err(ConfigError::invalid(origin, text, &field, message)),
        }
    }

    /// Checks a configuration that did not come from a file (e.g. one changed over ONVIF);
    /// returns the first problem as (field, message).
    pub fn validate(&self) -> Result<(), (String, String)> {
        let mut problems = Problems::default();
        self.check(&mut problems);
        problems.0.into_iter().next().map_or(Ok(()), Err)
    }

    fn check(&self, p: &mut Problems) {
        if self.device.name.trim().is_empty() {
            p.add("device.name", "must not be empty");
        }
        p.range("rtsp.port", self.rtsp.port, 1, u16::MAX);
        p.range("http.port", self.http.port, 1, u16::MAX);
        p.range("http.tls_port", self.http.tls_port, 1, u16::MAX);
        let ports = [
            ("rtsp.port", self.rtsp.port),
            ("rtsp.tls_port", self.rtsp.tls_port),
            ("http.port", self.http.port),
            ("http.tls_port", self.http.tls_port),
        ];
        for (i, (field, port)) in ports.iter().enumerate() {
            if let Some((other, _)) = ports[..i].iter().find(|(_, p)| p == port && *port != 0) {
                p.add(*field, format!("must differ from {other} ({port})"));
            }
        }
        p.range(
            "http.failed_logins_per_minute",
            self.http.failed_logins_per_minute,
            1,
            10_000,
        );
        p.range("http.max_connections", self.http.max_connections, 8, 4096);
        p.range(
            "http.max_connections_per_address",
            self.http.max_connections_per_address,
            4,
            self.http.max_connections.max(4),
        );
        p.range("http.body_timeout_s", self.http.body_timeout_s, 2, 600);
        p.range("onvif.clock_skew_s", self.onvif.clock_skew_s, 5, 86_400);
        p.range("rtsp.max_clients", self.rtsp.max_clients, 1, 256);
        p.range(
            "rtsp.session_timeout_s",
            self.rtsp.session_timeout_s,
            5,
            3600,
        );
        self.media.check(p);
        self.ptz.check(p);
        self.night.check(p);
        self.sensor.check(p);
        self.comfort.check(p);
        self.sound.check(p);
        self.motion.check(p);
        self.events.check(p);
        self.speaker.check(p);
        self.web.check(p);
        self.video.check(p);
        self.audio.check(p);
        self.watchdog.check(p);
        self.listen.check(p);
        self.mqtt.check(p);
        self.ntfy.check(p);
        self.sleep.check(p);
        self.update.check(p);
        self.recordings.check(&self.video, p);
        users::check(&self.users, p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("test.toml"))
    }

    /// Why `text` is refused (it must be).
    fn refusal(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn the_commented_default_is_the_default() {
        assert_eq!(
            parse(DEFAULT_CONFIG).expect("default parses"),
            Config::default()
        );
    }

    #[test]
    fn empty_file_gives_defaults() {
        assert_eq!(parse("").expect("empty parses"), Config::default());
    }

    #[test]
    fn bad_value_names_file_line_and_field() {
        let err = refusal("[rtsp]\nport = 8554\n\n[video.main]\nwidth = 1281\n");
        assert!(err.starts_with("test.toml:5:"), "{err}");
        assert!(err.contains("video.main.width"), "{err}");
        assert!(err.contains("even"), "{err}");
    }

    #[test]
    fn wrong_type_names_file_line_and_field() {
        let err = refusal("[video]\nsource = \"test\"\n[video.sub]\nframerate = \"fast\"\n");
        assert!(err.starts_with("test.toml:4:"), "{err}");
        assert!(err.contains("video.sub.framerate"), "{err}");
    }

    #[test]
    fn unknown_field_is_refused_with_its_name() {
        let err = refusal("[http]\nprot = 80\n");
        assert!(err.starts_with("test.toml:2:"), "{err}");
        assert!(err.contains("prot"), "{err}");
    }

    #[test]
    fn user_errors_point_at_the_right_entry() {
        let text = "[[users]]\nname = \"a\"\npassword = \"secret-1\"\n\n[[users]]\nname = \"b\"\npassword = \"\"\n";
        let err = refusal(text);
        assert!(err.starts_with("test.toml:7:"), "{err}");
        assert!(err.contains("users[1].password"), "{err}");
    }

    #[test]
    fn syntax_error_names_the_line() {
        let err = refusal("[rtsp\nport = 1\n");
        assert!(err.starts_with("test.toml:1:"), "{err}");
    }

    #[test]
    fn file_source_needs_a_path() {
        let err = refusal("[video]\nsource = \"file\"\n");
        assert!(err.contains("video.path"), "{err}");
    }

    #[test]
    fn same_port_twice_is_refused() {
        let err = refusal("[rtsp]\nport = 9000\n[http]\nport = 9000\n");
        assert!(err.starts_with("test.toml:4:"), "{err}");
        assert!(err.contains("http.port"), "{err}");
    }
}
