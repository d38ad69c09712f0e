//! The settings in force: the config file plus what was changed at run time (over ONVIF), kept
//! in the data directory and written atomically. Every change, from SIGHUP or from a client,
//! goes through here and is handed to the parts that apply it.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::config::{Config, ConfigError, StreamConfig, User};

mod stored;
mod users;
pub use users::UserChange;

/// The format of `state.toml` this release writes. 1: releases before 0.2 (no `version`,
/// positional arrays, still read: [`stored`]); 2: named fields and a `version`.
pub const STATE_VERSION: u32 = 2;

/// What was changed at run time; absent fields leave the config file's value.
///
/// The file lives on the data partition, which both firmware slots share: after an update it
/// is read by the new release, and after a rollback by the old one again. So a release keeps
/// what it does not know of a newer one's file (`newer`) and writes it back unchanged, rather
/// than refusing the file and with it the accounts and presets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuntimeState {
    /// The format the file was written in; [`STATE_VERSION`] when this release writes it.
    #[serde(default)]
    pub version: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discoverable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub main: Option<StreamState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<StreamState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub users: Option<Vec<User>>,
    /// Where the camera was left, [pan, tilt] in degrees, so it starts there without a jump.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "stored::pan_tilt"
    )]
    pub ptz_position: Option<[f32; 2]>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "stored::pan_tilt"
    )]
    pub ptz_home: Option<[f32; 2]>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub presets: Vec<PresetState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub night_mode: Option<crate::config::NightMode>,
    /// [brightness, saturation, contrast], 0-100.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "stored::picture"
    )]
    pub picture: Option<[f32; 3]>,
    /// AUTO night vision: [dark_below, bright_above, dwell_s].
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "stored::night_auto"
    )]
    pub night_auto: Option<[f32; 3]>,
    /// Each user's alert rules, by user name; a user who is deleted takes theirs along.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub alerts: BTreeMap<String, crate::alerts::Rules>,
    /// The listen stream's noise gate as the web page set it (`PUT /api/listen`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen_gate: Option<crate::config::GateConfig>,
    /// The MQTT broker and login as an admin set them on the page (`PUT /api/mqtt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mqtt: Option<crate::config::MqttLink>,
    /// Settings of a newer release that this one does not know: kept as they are.
    #[serde(flatten, skip_serializing_if = "toml::Table::is_empty")]
    pub newer: toml::Table,
}
/// A saved camera position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresetState {
    pub token: String,
    pub name: String,
    /// [pan, tilt] in degrees.
    #[serde(with = "stored::position")]
    pub position: [f32; 2],
    /// Zoom factor (1 = none).
    #[serde(default = "no_zoom")]
    pub zoom: f32,
}

fn no_zoom() -> f32 {
    1.0
}
/// A stream's settings as stored (the same fields as `[video.main]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamState {
    pub width: u32,
    pub height: u32,
    pub framerate: u32,
    pub bitrate_kbps: u32,
    pub keyframe_interval: u32,
}

impl From<&StreamConfig> for StreamState {
    fn from(s: &StreamConfig) -> Self {
        Self {
            width: s.width,
            height: s.height,
            framerate: s.framerate,
            bitrate_kbps: s.bitrate_kbps,
            keyframe_interval: s.keyframe_interval,
        }
    }
}

impl From<&StreamState> for StreamConfig {
    fn from(s: &StreamState) -> Self {
        Self {
            width: s.width,
            height: s.height,
            framerate: s.framerate,
            bitrate_kbps: s.bitrate_kbps,
            keyframe_interval: s.keyframe_interval,
        }
    }
}

impl RuntimeState {
    /// The file's text, in this release's format.
    fn stored_text(&mut self) -> Result<String, toml::ser::Error> {
        // An older file is migrated by being written in the new form; a newer one keeps its
        // version, or its release would take the file for an older one.
        self.version = self.version.max(STATE_VERSION);
        toml::to_string(self)
    }

    /// Reads the file, in this release's format or an older or newer one's.
    fn from_stored(text: &str) -> Result<Self, toml::de::Error> {
        let state: Self = toml::from_str(text)?;
        if state.version > STATE_VERSION {
            info!(
                "the stored settings are from a newer release (format {}); {} settings this one does not know are kept as they are",
                state.version,
                state.newer.len()
            );
        }
        Ok(state)
    }

    fn apply(&self, mut config: Config) -> Config {
        if let Some(d) = self.discoverable {
            config.onvif.discovery = d;
        }
        if let Some(m) = &self.main {
            config.video.main = m.into();
        }
        if let Some(s) = &self.sub {
            config.video.sub = s.into();
        }
        if let Some(u) = &self.users {
            config.users = u.clone();
        }
        if let Some(m) = self.night_mode {
            config.night.mode = m;
        }
        if let Some([b, s, c]) = self.picture {
            (
                config.video.brightness,
                config.video.saturation,
                config.video.contrast,
            ) = (b, s, c);
        }
        if let Some([dark, bright, dwell]) = self.night_auto {
            (config.night.dark_below, config.night.bright_above) = (dark, bright);
            config.night.dwell_s = dwell.max(0.0) as u64;
        }
        if let Some(gate) = self.listen_gate {
            config.listen.gate = gate;
        }
        if let Some(link) = &self.mqtt {
            link.apply(&mut config.mqtt);
        }
        config
    }
}

type Listener = Box<dyn Fn(&Config) + Send + Sync>;

pub struct Settings {
    file: Option<PathBuf>,
    state_path: PathBuf,
    /// The admin that `--simulate` made up when no users are configured.
    generated: Option<User>,
    inner: Mutex<Inner>,
    current: RwLock<Arc<Config>>,
    listeners: RwLock<Vec<Listener>>,
    /// The version last handed to the listeners; held while they run, so that they see the
    /// changes in the order they were made.
    published: Mutex<u64>,
}

struct Inner {
    base: Config,
    state: RuntimeState,
    /// Counts changes, so that two made at once are published in order.
    version: u64,
}

impl Inner {
    fn next_version(&mut self) -> u64 {
        self.version += 1;
        self.version
    }
}

/// Why a change was refused: the field and the reason.
#[derive(Debug, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Refused {
    pub field: String,
    pub message: String,
}

impl Settings {
    /// `base` is the config file's content (already validated); the stored state goes on top.
    pub fn new(
        file: Option<PathBuf>,
        base: Config,
        data_dir: &Path,
        generated: Option<User>,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating the data directory {}", data_dir.display()))?;
        let state_path = data_dir.join(STATE_FILE);
        let state = match std::fs::read_to_string(&state_path) {
            Ok(text) => match RuntimeState::from_stored(&text) {
                Ok(state) => state,
                Err(e) => {
                    // A damaged state file must not keep the camera from starting.
                    warn!(
                        "{}: {e}: ignoring the stored settings",
                        state_path.display()
                    );
                    RuntimeState::default()
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => RuntimeState::default(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", state_path.display())),
        };
        let mut effective = state.apply(base.clone());
        if effective.validate().is_err() {
            warn!(
                "{}: the stored settings do not fit the config file: ignoring them",
                state_path.display()
            );
            effective = base.clone();
        }
        let settings = Self {
            file,
            state_path,
            generated,
            inner: Mutex::new(Inner {
                base,
                state,
                version: 0,
            }),
            current: RwLock::new(Arc::new(effective)),
            listeners: RwLock::new(Vec::new()),
            published: Mutex::new(0),
        };
        let with_users = settings.with_generated(settings.current().as_ref().clone());
        *settings
            .current
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(with_users);
        Ok(settings)
    }

    /// The stored run-time state (presets, positions) as it is now.
    pub fn state(&self) -> RuntimeState {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .state
            .clone()
    }

    pub fn current(&self) -> Arc<Config> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Called with the new settings after every change.
    pub fn subscribe(&self, f: impl Fn(&Config) + Send + Sync + 'static) {
        self.listeners
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Box::new(f));
    }

    /// The made-up admin of a simulated run is always there and never stored.
    fn with_generated(&self, mut config: Config) -> Config {
        if let Some(admin) = &self.generated
            && !config.users.iter().any(|u| u.name == admin.name)
        {
            config.users.push(admin.clone());
        }
        config
    }

    /// Makes `config` (the settings as of change `version`) current and tells the listeners.
    /// Each version holds the whole state, so one that lost the race to a later one is dropped.
    fn publish(&self, version: u64, config: Config) {
        let mut published = self
            .published
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if version < *published {
            return;
        }
        *published = version;
        let config = Arc::new(config);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::clone(&config);
        for listener in self
            .listeners
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            listener(&config);
        }
    }

    /// SIGHUP: reads the config file again; a file that cannot be used changes nothing.
    pub fn reload_file(&self) -> Result<(), ConfigError> {
        let Some(file) = &self.file else {
            warn!("there is no configuration file to read again");
            return Ok(());
        };
        let base = Config::load(file)?;
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let effective = self.with_generated(inner.state.apply(base.clone()));
        if let Err((field, message)) = effective.validate() {
            warn!(
                field,
                message,
                "the stored run-time settings no longer fit: keeping the running configuration"
            );
            return Ok(());
        }
        if effective.users.is_empty() {
            warn!("no users in the new configuration: keeping the running configuration");
            return Ok(());
        }
        inner.base = base;
        let version = inner.next_version();
        drop(inner);
        self.publish(version, effective);
        info!(file = %file.display(), "configuration reloaded");
        Ok(())
    }

    /// Changes the run-time state; the result must validate, is stored atomically, then applied.
    /// The editor gets the state and the settings it describes (without a simulated admin).
    pub fn change(
        &self,
        edit: impl FnOnce(&mut RuntimeState, &Config) -> Result<(), Refused>,
    ) -> Result<(), Refused> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let mut state = inner.state.clone();
        // The editor sees the stored settings, without the simulated admin.
        let before = inner.state.apply(inner.base.clone());
        edit(&mut state, &before)?;
        chosen_passwords_will_do(&before.users, state.users.as_deref())?;
        let effective = self.with_generated(state.apply(inner.base.clone()));
        effective
            .validate()
            .map_err(|(field, message)| Refused { field, message })?;
        if effective.users.is_empty() {
            return Err(Refused {
                field: "users".into(),
                message: "the last user cannot be removed".into(),
            });
        }
        state
            .alerts
            .retain(|name, _| effective.users.iter().any(|u| &u.name == name));
        write_atomically(
            &self.state_path,
            &state.stored_text().map_err(|e| Refused {
                field: "state".into(),
                message: e.to_string(),
            })?,
        )
        .map_err(|e| Refused {
            field: "state".into(),
            message: format!("cannot store the settings: {e:#}"),
        })?;
        inner.state = state;
        let version = inner.next_version();
        drop(inner);
        self.publish(version, effective);
        Ok(())
    }

    /// Forgets every run-time change (factory default).
    pub fn reset(&self) -> anyhow::Result<()> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        match std::fs::remove_file(&self.state_path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).context("removing the stored settings"),
        }
        inner.state = RuntimeState::default();
        let effective = self.with_generated(inner.base.clone());
        let version = inner.next_version();
        drop(inner);
        self.publish(version, effective);
        Ok(())
    }
}

/// Settings for the domain's unit tests: `base` in `dir`, with a made-up admin as
/// `--simulate` has, so that changes may be made.
#[cfg(test)]
pub(crate) fn for_tests(dir: &Path, base: Config) -> Arc<Settings> {
    let admin = User {
        name: "admin".into(),
        password: "pw-123456".into(),
        role: crate::config::Role::Admin,
    };
    Arc::new(Settings::new(None, base, dir, Some(admin)).expect("settings"))
}

/// The run-time state's file in the data directory.
const STATE_FILE: &str = "state.toml";

/// A password chosen in this change (a new user, or a new password) must pass the same check
/// as the card's; passwords that were already there are left alone.
fn chosen_passwords_will_do(before: &[User], after: Option<&[User]>) -> Result<(), Refused> {
    for (i, user) in after.unwrap_or_default().iter().enumerate() {
        let kept = before
            .iter()
            .any(|b| b.name == user.name && b.password == user.password);
        if kept {
            continue;
        }
        if let Some(message) = crate::config::password_problem(&user.name, &user.password) {
            return Err(Refused {
                field: format!("users[{i}].password"),
                message,
            });
        }
    }
    Ok(())
}

/// The card's password reset: forgets the accounts changed at run time (over ONVIF), so that
/// only the configuration's accounts are left; every other stored setting stays. Returns
/// whether there were any. A state file that cannot be read is left as it is: the daemon
/// ignores all of it anyway.
pub fn forget_stored_users(data_dir: &Path) -> anyhow::Result<bool> {
    let path = data_dir.join(STATE_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let Ok(mut state) = RuntimeState::from_stored(&text) else {
        return Ok(false);
    };
    if state.users.take().is_none() {
        return Ok(false);
    }
    let text = state.stored_text().context("writing the stored settings")?;
    write_atomically(&path, text)?;
    Ok(true)
}

/// Temp file, fsync, rename, fsync the directory: a power cut leaves the old or the new file.
/// Writers of the same file take turns (they share its temp file); a caller whose contents
/// depend on state that others change holds its own lock around making and writing them.
pub fn write_atomically(path: &Path, contents: impl AsRef<[u8]>) -> anyhow::Result<()> {
    use std::collections::HashMap;
    use std::os::unix::fs::OpenOptionsExt as _;
    use std::sync::LazyLock;
    static WRITERS: LazyLock<Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>> =
        LazyLock::new(Default::default);
    let turn = Arc::clone(
        WRITERS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(path.to_path_buf())
            .or_default(),
    );
    let _mine = turn.lock().unwrap_or_else(PoisonError::into_inner);
    let dir = path.parent().context("no parent directory")?;
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("state")
    ));
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(contents.as_ref())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Role;

    fn admin() -> User {
        User {
            name: "admin".into(),
            password: "pw-123456".into(),
            role: Role::Admin,
        }
    }

    /// A state.toml as releases before 0.2 wrote it: positional arrays.
    const OLD_STATE: &str = r#"
ptz_position = [12.5, -3.0]
ptz_home = [0.0, 10.0]
night_mode = "auto"
picture = [60.0, 40.0, 55.0]
night_auto = [0.1, 0.35, 20.0]

[[presets]]
token = "1"
name = "cot"
position = [30.0, -10.0]
zoom = 2.0
"#;

    #[test]
    fn a_state_file_of_the_old_format_is_read_and_rewritten_with_named_fields() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("state.toml"), OLD_STATE).expect("write");
        let base = Config {
            users: vec![admin()],
            ..Config::default()
        };
        let s = Settings::new(None, base.clone(), dir.path(), None).expect("settings");
        let state = s.state();
        assert_eq!(state.ptz_position, Some([12.5, -3.0]));
        assert_eq!(state.ptz_home, Some([0.0, 10.0]));
        assert_eq!(state.presets[0].position, [30.0, -10.0]);
        let current = s.current();
        assert_eq!(
            (
                current.video.brightness,
                current.video.saturation,
                current.video.contrast
            ),
            (60.0, 40.0, 55.0)
        );
        assert_eq!(
            (
                current.night.dark_below,
                current.night.bright_above,
                current.night.dwell_s
            ),
            (0.1, 0.35, 20)
        );
        // The next change writes every field by name, and that file reads back the same.
        s.change(|st, _| {
            st.discoverable = Some(false);
            Ok(())
        })
        .expect("change");
        let text = std::fs::read_to_string(dir.path().join("state.toml")).expect("read");
        for named in [
            "pan = 12.5",
            "tilt = -3.0",
            "brightness = 60.0",
            "dark_below = 0.1",
            "dwell_s = 20.0",
        ] {
            assert!(text.contains(named), "{named} missing from:\n{text}");
        }
        assert!(
            !text.lines().any(|l| l.contains("= [")),
            "positional values left:\n{text}"
        );
        assert!(text.starts_with("version = 2\n"), "migrated:\n{text}");
        let again = Settings::new(None, base, dir.path(), None).expect("settings");
        assert_eq!(again.state(), s.state());
    }

    /// Two changes made at once store and publish in separate steps; the one stored last must
    /// also be the one in force, whichever thread gets to publishing first.
    #[test]
    fn a_change_that_lost_the_race_to_publish_does_not_undo_a_later_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = Config {
            users: vec![admin()],
            ..Config::default()
        };
        let s = Settings::new(None, base.clone(), dir.path(), None).expect("settings");
        let heard = Arc::new(Mutex::new(Vec::new()));
        let h = Arc::clone(&heard);
        s.subscribe(move |c| h.lock().expect("lock").push(c.video.brightness));
        let with_brightness = |level| {
            let mut c = base.clone();
            c.video.brightness = level;
            c
        };
        s.publish(2, with_brightness(70.0));
        s.publish(1, with_brightness(30.0));
        assert_eq!(s.current().video.brightness, 70.0);
        assert_eq!(*heard.lock().expect("lock"), vec![70.0]);
    }

    #[test]
    fn changes_persist_and_survive_a_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = Config {
            users: vec![admin()],
            ..Config::default()
        };
        let s = Settings::new(None, base.clone(), dir.path(), None).expect("settings");
        s.change(|st, cur| {
            let mut main = StreamState::from(&cur.video.main);
            main.width = 960;
            main.height = 540;
            st.main = Some(main);
            Ok(())
        })
        .expect("change");
        assert_eq!(s.current().video.main.width, 960);
        let again = Settings::new(None, base, dir.path(), None).expect("settings");
        assert_eq!(again.current().video.main.height, 540);
    }

    #[test]
    fn invalid_changes_are_refused_and_change_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = Config {
            users: vec![admin()],
            ..Config::default()
        };
        let s = Settings::new(None, base, dir.path(), None).expect("settings");
        let err = s
            .change(|st, cur| {
                let mut main = StreamState::from(&cur.video.main);
                main.width = 1281;
                st.main = Some(main);
                Ok(())
            })
            .unwrap_err();
        assert_eq!(err.field, "video.main.width");
        assert_eq!(s.current().video.main.width, 1280);
        assert!(!dir.path().join("state.toml").exists());
        let err = s.change(|st, _| {
            st.users = Some(Vec::new());
            Ok(())
        });
        assert!(err.is_err());
    }

    #[test]
    fn a_damaged_state_file_is_ignored() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("state.toml"), "this is [not toml").expect("write");
        let base = Config {
            users: vec![admin()],
            ..Config::default()
        };
        let s = Settings::new(None, base.clone(), dir.path(), None).expect("settings");
        assert_eq!(*s.current(), base);
    }

    /// What a newer release may write (after an update that was then rolled back): more keys,
    /// more tables, a higher format.
    const NEWER_STATE: &str = r#"
version = 9
discoverable = false
bedtime_story = "the gruffalo"

[[users]]
name = "nanny"
password = "nanny-pass-7"
role = "operator"

[future_section]
setting = 3
"#;

    #[test]
    fn a_newer_releases_file_is_read_and_what_it_added_is_written_back_unchanged() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("state.toml"), NEWER_STATE).expect("write");
        let base = Config {
            users: vec![admin()],
            ..Config::default()
        };
        let s = Settings::new(None, base.clone(), dir.path(), None).expect("settings");
        assert!(
            !s.current().onvif.discovery,
            "what this release knows is used"
        );
        assert!(s.current().users.iter().any(|u| u.name == "nanny"));
        s.change(|st, _| {
            st.night_mode = Some(crate::config::NightMode::Night);
            Ok(())
        })
        .expect("change");
        let text = std::fs::read_to_string(dir.path().join("state.toml")).expect("read");
        let table: toml::Table = toml::from_str(&text).expect("toml");
        assert_eq!(table["version"].as_integer(), Some(9), "{text}");
        assert_eq!(table["bedtime_story"].as_str(), Some("the gruffalo"));
        assert_eq!(table["future_section"]["setting"].as_integer(), Some(3));
        assert_eq!(table["night_mode"].as_str(), Some("night"));
        let again = Settings::new(None, base, dir.path(), None).expect("settings");
        assert_eq!(again.state(), s.state());
    }
}
