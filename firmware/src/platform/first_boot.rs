//! `babymonitor first-boot`: turns the owner's `babymonitor.toml` on the boot partition into
//! the camera's own files on the data partition, then removes the secrets from the boot
//! partition. The image runs it at every boot (before the network starts); it does nothing
//! when the file has not changed since it was last applied.
//!
//! What it writes, under the data directory (`/data` on the device, where /etc links to):
//! - `etc/babymonitor/config.toml`: the daemon's configuration (room, admin account, the
//!   image's ports, sources, data directory, watchdog);
//! - `etc/wpa_supplicant.conf`: the Wi-Fi network;
//! - `etc/localtime` and `etc/timezone`: the time zone;
//! - `etc/ssh/authorized_keys`: the SSH key, which switches SSH on (removed when empty).
//!
//! A password on the card is a reset: the accounts changed at run time (over ONVIF) are
//! forgotten, so that nobody but the card's admin is left. A password the camera made up goes
//! to `babymonitor-password.txt` on the card until the first login with it ([`logged_in`]).
//!
//! A file that cannot be used changes nothing: the reason goes to the log and to
//! `babymonitor-error.txt` on the boot partition, and the previous configuration stays.
//! Every file is written atomically, and the boot file's secrets are removed only after
//! the data partition has them, so a power cut at any moment leaves a working camera.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::certificate;
use crate::config::boot_file::{self, ADMIN_NAME, BOOT_FILE_NAME, BootFile, Secret};
use crate::config::{Config, Role};
use crate::settings::write_atomically;

/// Written next to the boot file when it cannot be used.
pub const ERROR_FILE_NAME: &str = "babymonitor-error.txt";
/// Written next to the boot file when the first boot had to make up the admin password.
pub const PASSWORD_FILE_NAME: &str = "babymonitor-password.txt";
/// In the daemon's data directory while the made-up password's file waits for its first login.
const FIRST_LOGIN_FILE_NAME: &str = "first-login.toml";

/// Where things are; the defaults are the device's.
#[derive(Debug, Clone)]
pub struct Paths {
    pub boot: PathBuf,
    pub data: PathBuf,
    pub zoneinfo: PathBuf,
}

impl Default for Paths {
    fn default() -> Self {
        Self {
            boot: "/boot".into(),
            data: "/data".into(),
            zoneinfo: "/usr/share/zoneinfo".into(),
        }
    }
}

impl Paths {
    fn boot_file(&self) -> PathBuf {
        self.boot.join(BOOT_FILE_NAME)
    }
    fn etc(&self) -> PathBuf {
        self.data.join("etc")
    }
    /// The daemon's configuration (/etc/babymonitor/config.toml on the device).
    pub fn config(&self) -> PathBuf {
        self.etc().join("babymonitor/config.toml")
    }
    fn applied_stamp(&self) -> PathBuf {
        self.etc().join("babymonitor/boot-file.sha256")
    }
    fn wpa_supplicant(&self) -> PathBuf {
        self.etc().join("wpa_supplicant.conf")
    }
    fn authorized_keys(&self) -> PathBuf {
        self.etc().join("ssh/authorized_keys")
    }
    /// The daemon's data directory, as [`device_config`] writes it.
    fn state_dir(&self) -> PathBuf {
        self.data.join("babymonitor")
    }
    fn password_file(&self) -> PathBuf {
        self.boot.join(PASSWORD_FILE_NAME)
    }
    fn first_login(&self) -> PathBuf {
        self.state_dir().join(FIRST_LOGIN_FILE_NAME)
    }
}

/// What a run did.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// There is no babymonitor.toml on the boot partition.
    NoBootFile,
    /// The file is as it was when it was last applied.
    Unchanged,
    /// The configuration was written; `generated_password` when the admin password was made
    /// up (and written to the boot partition for the owner).
    Applied { generated_password: bool },
}

/// The settings an image-built camera runs with; the boot file adds the room and the admin.
fn device_config(room: &str, password: &str, data: &Path) -> String {
    let s = |v: &str| toml::Value::String(v.to_string()).to_string();
    format!(
        "# Made by `babymonitor first-boot` from babymonitor.toml on the boot partition.\n\
         # It is written again when that file changes; see --print-default-config for options.\n\
         \n\
         [device]\nname = {room}\n\n\
         [rtsp]\nport = 554\ntls_port = 322\n\n\
         [http]\nport = 80\ntls_port = 443\n\n\
         [video]\nsource = \"libcamera\"\n\n\
         [audio]\nsource = \"alsa\"\ndevice = \"default\"\n\n\
         [storage]\ndata_dir = {data_dir}\n\n\
         [recordings]\nenabled = true\nbudget_mb = 2048\n\n\
         [watchdog]\ndevice = \"/dev/watchdog\"\n\n\
         [[users]]\nname = {admin}\npassword = {password}\nrole = \"admin\"\n",
        room = s(room),
        data_dir = s(&data.join("babymonitor").to_string_lossy()),
        admin = s(ADMIN_NAME),
        password = s(password),
    )
}

/// Applies the boot file, or says why it cannot.
pub fn run(paths: &Paths) -> anyhow::Result<Outcome> {
    // The boot partition is mounted only now: a login since the last boot may clear it.
    finish_first_login(paths);
    // The owner's certificate does not depend on babymonitor.toml: it is looked for at every
    // boot, and one that cannot be used is reported like a bad file.
    let certificate = certificate::install_owner(&paths.boot, &paths.state_dir());
    if let Err(e) = &certificate {
        report(
            paths,
            certificate::OWNER_CERTIFICATE_FILE,
            &anyhow::anyhow!("{e}"),
        );
    }
    let clear_error = || {
        if certificate.is_ok() {
            let _ = std::fs::remove_file(paths.boot.join(ERROR_FILE_NAME));
        }
    };
    let boot_path = paths.boot_file();
    let raw = match std::fs::read_to_string(&boot_path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            clear_error();
            return Ok(Outcome::NoBootFile);
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", boot_path.display())),
    };
    // Windows editors may start the file with a byte-order mark, which TOML does not allow.
    let text = raw.strip_prefix('\u{feff}').unwrap_or(&raw);
    let digest = hex::encode(Sha256::digest(text.as_bytes()));
    let applied = std::fs::read_to_string(paths.applied_stamp()).unwrap_or_default();
    if applied.trim() == digest && paths.config().exists() {
        return Ok(Outcome::Unchanged);
    }
    match apply(paths, text) {
        Ok(outcome) => {
            clear_error();
            Ok(outcome)
        }
        Err(e) => {
            report(paths, BOOT_FILE_NAME, &e);
            Err(e)
        }
    }
}

/// Tells the owner, in a file on the card, which file could not be used and that nothing
/// changed.
fn report(paths: &Paths, file: &str, e: &anyhow::Error) {
    let report = format!(
        "The camera could not use {file} and kept its previous settings:\n\n\
         {e:#}\n\nCorrect the file and restart the camera.\n"
    );
    if let Err(write) = write_atomically(&paths.boot.join(ERROR_FILE_NAME), report) {
        tracing::warn!("cannot write {ERROR_FILE_NAME}: {write:#}");
    }
}

fn apply(paths: &Paths, text: &str) -> anyhow::Result<Outcome> {
    let boot_path = paths.boot_file();
    let file = BootFile::parse(text, &boot_path, &paths.zoneinfo)?;
    let previous = std::fs::read_to_string(paths.config())
        .ok()
        .and_then(|t| Config::parse(&t, &paths.config()).ok());
    let (password, source) = admin_password(&file, previous.as_ref());
    let room = file
        .camera
        .room
        .clone()
        .or_else(|| previous.as_ref().map(|c| c.device.name.clone()))
        .unwrap_or_else(|| Config::default().device.name);

    let wifi = wpa_supplicant_conf(paths, &file, text)?;

    let config = device_config(&room, &password, &paths.data);
    // The daemon must be able to start with what is written: check it with its own parser.
    Config::parse(&config, &paths.config()).context("the generated configuration is invalid")?;

    let etc = paths.etc();
    std::fs::create_dir_all(etc.join("babymonitor"))
        .with_context(|| format!("creating {}", etc.display()))?;
    write_atomically(&paths.config(), &config)?;
    if let Some(wifi) = wifi {
        write_atomically(&paths.wpa_supplicant(), wifi)?;
    }
    write_timezone(paths, &file)?;
    write_ssh_key(paths, &file)?;
    if source != Source::Kept {
        // A reset: the card's admin replaces whoever was added or changed over ONVIF.
        if crate::settings::forget_stored_users(&paths.state_dir())? {
            tracing::warn!("admin password reset: the accounts changed at run time are gone");
        }
    }

    // Only now that the data partition holds them may the secrets leave the boot partition.
    match source {
        Source::Generated => {
            std::fs::create_dir_all(paths.state_dir())
                .with_context(|| format!("creating {}", paths.state_dir().display()))?;
            let pending = FirstLoginNote {
                user: ADMIN_NAME.into(),
                file: paths.password_file(),
                logged_in: false,
            };
            write_atomically(&paths.first_login(), toml::to_string(&pending)?)?;
            // The certificate is made now, so that its fingerprint can go on the card with
            // the password: the parent's way to know the page is the camera's.
            let names = certificate::names(&crate::platform::network::hostname(), &[]);
            let fingerprint = certificate::load_or_create(&paths.state_dir(), &room, &names)
                .map(|c| c.fingerprint())
                .context("the camera's TLS certificate")?;
            let note = format!(
                "The camera made up this password for its \"{ADMIN_NAME}\" account:\n\n    {password}\n\n\
                 Note it: the camera removes this file after the first login with it. To choose\n\
                 your own, write admin_password = \"...\" under [camera] in babymonitor.toml.\n\n\
                 The camera's page is https://babymonitor.local/ . Your browser warns that it\n\
                 does not know the camera's certificate; it is the camera's if its SHA-256\n\
                 fingerprint is:\n\n    {fingerprint}\n"
            );
            write_atomically(&paths.password_file(), note)?;
        }
        // The card's password makes a made-up one's note wrong: it goes.
        Source::Card => forget_generated(paths)?,
        Source::Kept => {}
    }
    let clean = if file.has_secrets() {
        let clean = boot_file::without_secrets(text);
        write_atomically(&boot_path, &clean)?;
        clean
    } else {
        text.to_string()
    };
    write_atomically(
        &paths.applied_stamp(),
        hex::encode(Sha256::digest(clean.as_bytes())) + "\n",
    )?;
    Ok(Outcome::Applied {
        generated_password: source == Source::Generated,
    })
}

/// Where the admin password came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// Written on the card: a reset.
    Card,
    /// The one already configured.
    Kept,
    /// Made up for a camera that had none.
    Generated,
}

/// The boot file's admin password, else the one already configured, else a new one.
fn admin_password(file: &BootFile, previous: Option<&Config>) -> (String, Source) {
    let previous_admin = previous.and_then(|c| {
        c.users
            .iter()
            .find(|u| u.role == Role::Admin)
            .map(|u| u.password.clone())
    });
    match (&file.camera.admin_password, previous_admin) {
        (Some(Secret(p)), _) => (p.clone(), Source::Card),
        (None, Some(p)) => (p, Source::Kept),
        (None, None) => (crate::daemon::random_password(), Source::Generated),
    }
}

/// Waits, in the daemon's data directory, for the first login with the made-up password.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FirstLoginNote {
    user: String,
    /// The password's file on the boot partition.
    file: PathBuf,
    /// The login happened but the boot partition was not there to clear.
    logged_in: bool,
}

fn read_note(path: &Path) -> Option<FirstLoginNote> {
    toml::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// Removes the made-up password's file and the note that waits for its login.
fn forget_generated(paths: &Paths) -> anyhow::Result<()> {
    for path in [paths.password_file(), paths.first_login()] {
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("removing {}", path.display())),
        }
    }
    Ok(())
}

/// At boot: the password's file goes if its login came while the boot partition was away.
fn finish_first_login(paths: &Paths) {
    if read_note(&paths.first_login()).is_some_and(|n| n.logged_in) {
        match forget_generated(paths) {
            Ok(()) => tracing::info!("removed {PASSWORD_FILE_NAME}: its password has been used"),
            Err(e) => tracing::warn!("{e:#}"),
        }
    }
}

/// The daemon's side: the made-up password's first login.
struct FirstLogin {
    note: PathBuf,
    user: String,
    file: PathBuf,
    pending: AtomicBool,
}

static FIRST_LOGIN: OnceLock<FirstLogin> = OnceLock::new();

/// At the daemon's start: watch for the first login with the made-up password, when the first
/// boot made one whose file is still on the card.
pub fn watch_first_login(data_dir: &Path) {
    let path = data_dir.join(FIRST_LOGIN_FILE_NAME);
    let Some(note) = read_note(&path).filter(|n| !n.logged_in) else {
        return;
    };
    let _ = FIRST_LOGIN.set(FirstLogin {
        note: path,
        user: note.user,
        file: note.file,
        pending: AtomicBool::new(true),
    });
}

/// Called by the authenticator on every successful login (cheap once done): the first by the
/// admin whose password was made up removes that password's file from the boot partition,
/// or, while the boot partition is not mounted, has the next boot remove it.
pub fn logged_in(user: &str) {
    let Some(watch) = FIRST_LOGIN.get() else {
        return;
    };
    if user != watch.user || !watch.pending.swap(false, Ordering::AcqRel) {
        return;
    }
    match std::fs::remove_file(&watch.file) {
        Ok(()) => {
            tracing::info!(
                user,
                "first login: removed {PASSWORD_FILE_NAME} from the card"
            );
            let _ = std::fs::remove_file(&watch.note);
        }
        Err(_) => {
            let done = FirstLoginNote {
                user: watch.user.clone(),
                file: watch.file.clone(),
                logged_in: true,
            };
            let written = toml::to_string(&done)
                .map_err(anyhow::Error::from)
                .and_then(|text| write_atomically(&watch.note, text));
            match written {
                Ok(()) => tracing::info!(
                    user,
                    "first login: {PASSWORD_FILE_NAME} is removed from the card at the next start"
                ),
                Err(e) => tracing::warn!("cannot note the first login: {e:#}"),
            }
        }
    }
}

fn write_timezone(paths: &Paths, file: &BootFile) -> anyhow::Result<()> {
    let Some(zone) = &file.camera.timezone else {
        return Ok(());
    };
    let etc = paths.etc();
    let zone_file = std::fs::read(paths.zoneinfo.join(zone))
        .with_context(|| format!("reading the time zone {zone}"))?;
    write_atomically(&etc.join("localtime"), zone_file)?;
    write_atomically(&etc.join("timezone"), format!("{zone}\n"))
}

/// The SSH key to let in; without one, SSH is off.
fn write_ssh_key(paths: &Paths, file: &BootFile) -> anyhow::Result<()> {
    let key = file.ssh.authorized_key.trim();
    if key.is_empty() {
        match std::fs::remove_file(paths.authorized_keys()) {
            Ok(()) => tracing::info!("SSH switched off"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).context("removing the SSH key"),
        }
        return Ok(());
    }
    std::fs::create_dir_all(paths.etc().join("ssh"))?;
    write_atomically(&paths.authorized_keys(), format!("{key}\n"))
}

/// The Wi-Fi file to write, `None` to keep the stored one.
fn wpa_supplicant_conf(
    paths: &Paths,
    file: &BootFile,
    text: &str,
) -> anyhow::Result<Option<String>> {
    let wifi = &file.wifi;
    if wifi.ssid.is_empty() {
        return Ok(Some(wpa_text(wifi.country.as_str(), None)));
    }
    let network = match &wifi.password {
        Some(Secret(key)) => network_block(&wifi.ssid, Some(key)),
        None => {
            let stored = std::fs::read_to_string(paths.wpa_supplicant()).unwrap_or_default();
            if stored_ssid(&stored).as_deref() == Some(quoted_or_hex(&wifi.ssid).as_str()) {
                // Same network, key already stored: only the country may have changed.
                let block = stored
                    .find("network={")
                    .map(|i| stored[i..].to_string())
                    .unwrap_or_default();
                return Ok(Some(wpa_text(&wifi.country, Some(block))));
            }
            bail!(BootFile::problem(
                text,
                &paths.boot_file(),
                "wifi.ssid",
                format!(
                    "the camera has no password for the network \"{}\": add password = \"...\" \
                     under [wifi] (\"\" for an open network)",
                    wifi.ssid
                ),
            ));
        }
    };
    Ok(Some(wpa_text(&wifi.country, Some(network))))
}

fn wpa_text(country: &str, network: Option<String>) -> String {
    let mut out = String::from(
        "# Made by `babymonitor first-boot` from babymonitor.toml on the boot partition.\n\
         ctrl_interface=/var/run/wpa_supplicant\nupdate_config=0\n",
    );
    if !country.is_empty() {
        out.push_str(&format!("country={country}\n"));
    }
    if let Some(network) = network {
        out.push('\n');
        out.push_str(&network);
    }
    out
}

fn network_block(ssid: &str, key: Option<&str>) -> String {
    let auth = match key {
        Some(k) if !k.is_empty() => format!("\tpsk={}\n", wpa_psk(k, ssid)),
        _ => "\tkey_mgmt=NONE\n".to_string(),
    };
    format!(
        "network={{\n\tssid={}\n\tscan_ssid=1\n{auth}}}\n",
        quoted_or_hex(ssid)
    )
}

/// The WPA key that a passphrase stands for (IEEE 802.11i: PBKDF2-HMAC-SHA1 over the network
/// name, 4096 rounds, 256 bits), as `wpa_passphrase` writes it: the data partition keeps the
/// key, never the passphrase the owner may use elsewhere too.
fn wpa_psk(passphrase: &str, ssid: &str) -> String {
    let mut key = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha1::Sha1>(passphrase.as_bytes(), ssid.as_bytes(), 4096, &mut key);
    hex::encode(key)
}

/// A network name as wpa_supplicant takes it: `"text"`, or hex digits for a name with quotes
/// or bytes outside printable ASCII. (Not for keys: a hex `psk` is the derived key itself.)
fn quoted_or_hex(value: &str) -> String {
    if value.chars().all(|c| (' '..='~').contains(&c) && c != '"') {
        format!("\"{value}\"")
    } else {
        hex::encode(value.as_bytes())
    }
}

fn stored_ssid(conf: &str) -> Option<String> {
    conf.lines()
        .find_map(|l| l.trim().strip_prefix("ssid="))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wifi_names_and_keys_are_written_as_wpa_supplicant_reads_them() {
        assert_eq!(
            network_block("HomeNet", Some("wifi \"quoted\" key")),
            "network={\n\tssid=\"HomeNet\"\n\tscan_ssid=1\n\
             \tpsk=81dfd5023d5861bbfe5c36664f0942b04e81ca643a27c6c37b4ff04271ca560f\n}\n"
        );
        assert_eq!(quoted_or_hex("Café"), hex::encode("Café"));
        assert!(network_block("open", Some("")).contains("key_mgmt=NONE"));
    }

    /// The IEEE 802.11i test vector, and what Debian's `wpa_passphrase` printed for the others.
    #[test]
    fn the_stored_wifi_key_is_the_psk_wpa_passphrase_makes() {
        for (ssid, passphrase, psk) in [
            (
                "IEEE",
                "password",
                "f42c6fc52df0ebef9ebb4b90b38a5f902e83fe1b135a70e23aed762e9710a12e",
            ),
            (
                "HomeNet",
                "wifi \"quoted\" key",
                "81dfd5023d5861bbfe5c36664f0942b04e81ca643a27c6c37b4ff04271ca560f",
            ),
            (
                "Café",
                " spaces at both ends ",
                "81632ddfb77874d133e631b3a38acd7ad97ffee8b5b6295f5f54c65f52e90983",
            ),
        ] {
            assert_eq!(wpa_psk(passphrase, ssid), psk, "{ssid}");
        }
    }

    struct Card {
        boot: tempfile::TempDir,
        data: tempfile::TempDir,
        zones: tempfile::TempDir,
    }

    impl Card {
        fn new() -> Self {
            let zones = tempfile::tempdir().expect("tempdir");
            std::fs::create_dir_all(zones.path().join("Europe")).expect("mkdir");
            std::fs::write(zones.path().join("Europe/London"), b"TZif").expect("zone");
            Self {
                boot: tempfile::tempdir().expect("tempdir"),
                data: tempfile::tempdir().expect("tempdir"),
                zones,
            }
        }
        fn paths(&self) -> Paths {
            Paths {
                boot: self.boot.path().into(),
                data: self.data.path().into(),
                zoneinfo: self.zones.path().into(),
            }
        }
        fn write(&self, text: &str) -> anyhow::Result<Outcome> {
            std::fs::write(self.boot.path().join(BOOT_FILE_NAME), text).expect("write");
            run(&self.paths())
        }
        fn admin_password(&self) -> String {
            let config = Config::load(&self.paths().config()).expect("config");
            config.users[0].password.clone()
        }
        fn read(&self, name: &str) -> Option<String> {
            std::fs::read_to_string(self.boot.path().join(name)).ok()
        }
    }

    #[test]
    fn the_example_file_yields_a_random_password_not_the_examples() {
        let card = Card::new();
        let outcome = card.write(boot_file::BOOT_FILE_EXAMPLE).expect("applied");
        assert_eq!(
            outcome,
            Outcome::Applied {
                generated_password: true
            }
        );
        let password = card.admin_password();
        assert_eq!(crate::config::password_problem(ADMIN_NAME, &password), None);
        let note = card.read(PASSWORD_FILE_NAME).expect("the password's file");
        assert!(note.contains(&password), "{note}");

        let other = Card::new();
        other.write(boot_file::BOOT_FILE_EXAMPLE).expect("applied");
        assert_ne!(
            other.admin_password(),
            password,
            "two cameras, one password"
        );
    }

    #[test]
    fn a_weak_password_is_refused_with_the_reason_and_the_camera_keeps_its_settings() {
        let card = Card::new();
        card.write("[camera]\nadmin_password = \"correct horse battery\"\n")
            .expect("applied");
        let config = std::fs::read_to_string(card.paths().config()).expect("config");
        for (weak, reason) in [
            ("password123", "most common"),
            ("write a long password here", "example"),
            ("Admin", "at least 8"),
            ("administrator", "most common"),
        ] {
            let text = format!("[camera]\nadmin_password = \"{weak}\"\n");
            card.write(&text).expect_err(weak);
            let error = card.read(ERROR_FILE_NAME).expect("the error's file");
            assert!(error.contains("camera.admin_password"), "{error}");
            assert!(error.contains(reason), "{weak}: {error}");
            assert_eq!(
                std::fs::read_to_string(card.paths().config()).expect("config"),
                config,
                "{weak} changed the configuration"
            );
            assert_eq!(card.read(BOOT_FILE_NAME).as_deref(), Some(text.as_str()));
        }
        assert_eq!(card.admin_password(), "correct horse battery");
    }

    #[test]
    fn a_password_on_the_card_forgets_the_accounts_changed_at_run_time() {
        let card = Card::new();
        card.write("[camera]\nadmin_password = \"correct horse battery\"\n")
            .expect("applied");
        let state = card.paths().state_dir().join("state.toml");
        std::fs::create_dir_all(card.paths().state_dir()).expect("mkdir");
        std::fs::write(
            &state,
            "night_mode = \"auto\"\n\n[[users]]\nname = \"admin\"\npassword = \"old admin pass\"\nrole = \"admin\"\n\n\
             [[users]]\nname = \"intruder\"\npassword = \"let me in 123\"\nrole = \"admin\"\n",
        )
        .expect("state");
        // Applying the same file again (no password on it now) is no reset.
        std::fs::write(card.paths().applied_stamp(), "").expect("stamp");
        card.write(&card.read(BOOT_FILE_NAME).expect("boot file"))
            .expect("applied");
        assert!(
            std::fs::read_to_string(&state)
                .expect("state")
                .contains("intruder")
        );

        card.write("[camera]\nadmin_password = \"a new one for the owner\"\n")
            .expect("applied");
        let text = std::fs::read_to_string(&state).expect("state");
        assert!(
            !text.contains("intruder") && !text.contains("users"),
            "{text}"
        );
        assert!(text.contains("night_mode = \"auto\""), "{text}");
        assert_eq!(card.admin_password(), "a new one for the owner");
    }

    /// On the device the boot partition is mounted only while first-boot runs: a login the
    /// daemon sees then has the next boot remove the file.
    #[test]
    fn the_password_file_goes_at_the_next_boot_after_its_first_login() {
        let card = Card::new();
        card.write("[wifi]\nssid = \"\"\n").expect("applied");
        assert!(card.read(PASSWORD_FILE_NAME).is_some());
        let away = card.boot.path().with_extension("away");
        std::fs::rename(card.boot.path(), &away).expect("unmount");
        watch_first_login(&card.paths().state_dir());
        logged_in("viewer");
        logged_in(ADMIN_NAME);
        std::fs::rename(&away, card.boot.path()).expect("mount");
        assert!(card.read(PASSWORD_FILE_NAME).is_some(), "the card was away");

        assert_eq!(run(&card.paths()).expect("run"), Outcome::Unchanged);
        assert_eq!(card.read(PASSWORD_FILE_NAME), None);
        assert!(!card.paths().first_login().exists());
        assert_eq!(run(&card.paths()).expect("run"), Outcome::Unchanged);
    }

    #[test]
    fn the_device_config_is_valid_and_escapes_what_the_owner_typed() {
        let text = device_config("Anna's \"room\"", "p\\ss\"word", Path::new("/data"));
        let config = Config::parse(&text, Path::new("x")).expect("valid");
        assert_eq!(config.device.name, "Anna's \"room\"");
        assert_eq!(config.users[0].password, "p\\ss\"word");
        assert_eq!(config.rtsp.port, 554);
        assert_eq!(config.watchdog.device, Path::new("/dev/watchdog"));
        assert_eq!(config.storage.data_dir, Path::new("/data/babymonitor"));
    }
}
