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
//! A file that cannot be used changes nothing: the reason goes to the log and to
//! `babymonitor-error.txt` on the boot partition, and the previous configuration stays.
//! Every file is written atomically, and the boot file's secrets are removed only after
//! the data partition has them, so a power cut at any moment leaves a working camera.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

use crate::config::boot_file::{self, BOOT_FILE_NAME, BootFile, Secret};
use crate::config::{Config, Role};
use crate::settings::write_atomically;

/// Written next to the boot file when it cannot be used.
pub const ERROR_FILE_NAME: &str = "babymonitor-error.txt";
/// Written next to the boot file when the first boot had to make up the admin password.
pub const PASSWORD_FILE_NAME: &str = "babymonitor-password.txt";

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
         [rtsp]\nport = 554\n\n\
         [http]\nport = 80\n\n\
         [video]\nsource = \"libcamera\"\n\n\
         [audio]\nsource = \"alsa\"\ndevice = \"default\"\n\n\
         [storage]\ndata_dir = {data_dir}\n\n\
         [watchdog]\ndevice = \"/dev/watchdog\"\n\n\
         [[users]]\nname = \"admin\"\npassword = {password}\nrole = \"admin\"\n",
        room = s(room),
        data_dir = s(&data.join("babymonitor").to_string_lossy()),
        password = s(password),
    )
}

/// Applies the boot file, or says why it cannot.
pub fn run(paths: &Paths) -> anyhow::Result<Outcome> {
    let boot_path = paths.boot_file();
    let raw = match std::fs::read_to_string(&boot_path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Outcome::NoBootFile),
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
            let _ = std::fs::remove_file(paths.boot.join(ERROR_FILE_NAME));
            Ok(outcome)
        }
        Err(e) => {
            let report = format!(
                "The camera could not use babymonitor.toml and kept its previous settings:\n\n\
                 {e:#}\n\nCorrect the file and restart the camera.\n"
            );
            if let Err(write) = write_atomically(&paths.boot.join(ERROR_FILE_NAME), report) {
                tracing::warn!("cannot write {ERROR_FILE_NAME}: {write:#}");
            }
            Err(e)
        }
    }
}

fn apply(paths: &Paths, text: &str) -> anyhow::Result<Outcome> {
    let boot_path = paths.boot_file();
    let file = BootFile::parse(text, &boot_path, &paths.zoneinfo)?;
    let previous = std::fs::read_to_string(paths.config())
        .ok()
        .and_then(|t| Config::parse(&t, &paths.config()).ok());
    let (password, generated) = admin_password(&file, previous.as_ref());
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

    // Only now that the data partition holds them may the secrets leave the boot partition.
    if generated {
        let note = format!(
            "The camera made up this password for its \"admin\" account:\n\n    {password}\n\n\
             Note it and delete this file. To choose your own, write\n\
             admin_password = \"...\" under [camera] in babymonitor.toml.\n"
        );
        write_atomically(&paths.boot.join(PASSWORD_FILE_NAME), note)?;
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
        generated_password: generated,
    })
}

/// The boot file's admin password, else the one already configured, else a new one (true).
fn admin_password(file: &BootFile, previous: Option<&Config>) -> (String, bool) {
    let previous_admin = previous.and_then(|c| {
        c.users
            .iter()
            .find(|u| u.role == Role::Admin)
            .map(|u| u.password.clone())
    });
    match (&file.camera.admin_password, previous_admin) {
        (Some(Secret(p)), _) => (p.clone(), false),
        (None, Some(p)) => (p, false),
        (None, None) => (crate::daemon::random_password(), true),
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
        // The last quote ends the passphrase, so quotes inside it need no escaping.
        Some(k) if !k.is_empty() => format!("\tpsk=\"{k}\"\n"),
        _ => "\tkey_mgmt=NONE\n".to_string(),
    };
    format!(
        "network={{\n\tssid={}\n\tscan_ssid=1\n{auth}}}\n",
        quoted_or_hex(ssid)
    )
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
            network_block("home", Some("a \"quoted\" key")),
            "network={\n\tssid=\"home\"\n\tscan_ssid=1\n\tpsk=\"a \"quoted\" key\"\n}\n"
        );
        assert_eq!(quoted_or_hex("Café"), hex::encode("Café"));
        assert!(network_block("open", Some("")).contains("key_mgmt=NONE"));
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
