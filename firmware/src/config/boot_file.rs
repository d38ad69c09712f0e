//! `babymonitor.toml`: what the owner writes on the SD card's boot partition before the first
//! boot (Wi-Fi, the admin password, the room's name, the time zone, an optional SSH key).
//!
//! The first-boot setup (`crate::platform::first_boot`) turns it into the daemon's configuration and
//! then removes the secrets from it, since the boot partition is FAT and readable by anyone
//! who holds the card.

use std::fmt;
use std::path::Path;

use serde::Deserialize;
use toml::de::{DeTable, DeValue};

use super::{ConfigError, Problems};

/// The name of the file on the boot partition.
pub const BOOT_FILE_NAME: &str = "babymonitor.toml";

/// The account the card's `admin_password` is for.
pub const ADMIN_NAME: &str = "admin";

/// A commented example, shipped on the boot partition as `babymonitor.toml.example`.
pub const BOOT_FILE_EXAMPLE: &str = include_str!("boot_file.example.toml");

/// A password or key: never printed by `{:?}`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BootFile {
    pub camera: CameraSection,
    pub wifi: WifiSection,
    pub ssh: SshSection,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CameraSection {
    /// The room's name; absent keeps the current one.
    pub room: Option<String>,
    /// A zone of the tz database such as "Europe/London"; absent keeps the current one.
    pub timezone: Option<String>,
    /// Absent keeps the stored password (or makes a random one on the very first boot).
    pub admin_password: Option<Secret>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WifiSection {
    /// Empty: no Wi-Fi (Ethernet only).
    pub ssid: String,
    /// Absent keeps the stored key for the same network; "" is an open network.
    pub password: Option<Secret>,
    /// Two-letter country code for the radio's channels and power; empty leaves the default.
    pub country: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SshSection {
    /// A public key (one line, as in `~/.ssh/id_ed25519.pub`); SSH is off while this is empty.
    pub authorized_key: String,
}

/// The fields that hold secrets, as (table, key).
pub const SECRET_FIELDS: [(&str, &str); 2] = [("camera", "admin_password"), ("wifi", "password")];

impl BootFile {
    /// Parses and validates the file's text; `origin` names it in errors. A time zone must
    /// exist under `zoneinfo`.
    pub fn parse(text: &str, origin: &Path, zoneinfo: &Path) -> Result<Self, ConfigError> {
        let file: BootFile =
            toml::from_str(text).map_err(|e| ConfigError::syntax(origin, text, &e))?;
        let mut problems = Problems::default();
        file.check(zoneinfo, &mut problems);
        match problems.0.into_iter().next() {
            None => Ok(file),
            Some((field, message)) => Err(ConfigError::invalid(origin, text, &field, message)),
        }
    }

    /// A problem found when the file is compared with what the camera has stored, placed in
    /// the file like any other.
    pub fn problem(text: &str, origin: &Path, field: &str, message: String) -> ConfigError {
        ConfigError::invalid(origin, text, field, message)
    }

    fn check(&self, zoneinfo: &Path, p: &mut Problems) {
        if let Some(room) = &self.camera.room
            && room.trim().is_empty()
        {
            p.add("camera.room", "must not be empty");
        }
        if let Some(zone) = &self.camera.timezone {
            let well_formed = !zone.is_empty()
                && !zone.starts_with('/')
                && !zone.split('/').any(|part| part.is_empty() || part == "..")
                && zone
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c));
            if !well_formed || !zoneinfo.join(zone).is_file() {
                p.add(
                    "camera.timezone",
                    format!("unknown time zone \"{zone}\" (write it like \"Europe/London\")"),
                );
            }
        }
        if let Some(Secret(password)) = &self.camera.admin_password
            && let Some(problem) = super::password_problem(ADMIN_NAME, password)
        {
            p.add("camera.admin_password", problem);
        }
        let wifi = &self.wifi;
        if wifi.ssid.len() > 32 {
            p.add("wifi.ssid", "must be at most 32 bytes long");
        } else if wifi.ssid.chars().any(char::is_control) {
            p.add("wifi.ssid", "must not contain control characters");
        }
        if let Some(Secret(key)) = &wifi.password {
            if wifi.ssid.is_empty() {
                p.add("wifi.password", "needs a network name (wifi.ssid)");
            } else if !key.is_empty() && !valid_wpa_key(key) {
                p.add(
                    "wifi.password",
                    "must be 8 to 63 printable ASCII characters (or empty for an open network)",
                );
            }
        }
        let country_ok = wifi.country.is_empty()
            || (wifi.country.len() == 2 && wifi.country.chars().all(|c| c.is_ascii_uppercase()));
        if !country_ok {
            p.add(
                "wifi.country",
                "must be a two-letter country code such as \"GB\"",
            );
        }
        let key = self.ssh.authorized_key.trim();
        if !key.is_empty() {
            let kind = key.split_whitespace().next().unwrap_or_default();
            let known =
                kind.starts_with("ssh-") || kind.starts_with("ecdsa-") || kind.starts_with("sk-");
            if !known || key.contains('\n') || key.split_whitespace().count() < 2 {
                p.add(
                    "ssh.authorized_key",
                    "must be one public key line, such as the contents of ~/.ssh/id_ed25519.pub",
                );
            }
        }
    }

    /// Whether the file still holds a secret that the setup must remove from it.
    pub fn has_secrets(&self) -> bool {
        self.camera.admin_password.is_some() || self.wifi.password.is_some()
    }
}

/// WPA2 passphrases: 8 to 63 printable ASCII characters.
fn valid_wpa_key(key: &str) -> bool {
    (8..=63).contains(&key.len()) && key.chars().all(|c| (' '..='~').contains(&c))
}

/// The file's text with every secret's line replaced by a note, so the owner still sees where
/// to write a new password. Other lines, comments included, stay as they were.
pub fn without_secrets(text: &str) -> String {
    let mut cuts: Vec<(usize, usize, &str)> = Vec::new();
    let Ok(root) = DeTable::parse(text) else {
        return text.to_string();
    };
    for (table, key) in SECRET_FIELDS {
        let Some(span) = line_span(root.get_ref(), text, table, key) else {
            continue;
        };
        cuts.push((span.0, span.1, key));
    }
    cuts.sort_by_key(|c| c.0);
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end, key) in cuts {
        if start < at {
            continue;
        }
        out.push_str(&text[at..start]);
        out.push_str(&format!(
            "# {key}: stored on the camera and removed from this card; write it again here to change it"
        ));
        at = end;
    }
    out.push_str(&text[at..]);
    out
}

/// From the start of the line where `table.key` is written to the end of the line where its
/// value ends (without the newline).
fn line_span(root: &DeTable<'_>, text: &str, table: &str, key: &str) -> Option<(usize, usize)> {
    let DeValue::Table(inner) = root.get(table)?.get_ref() else {
        return None;
    };
    let (k, v) = inner.get_key_value(key)?;
    // A dotted key (`camera.admin_password = ...` at the top) starts earlier than its last part.
    let key_start = k.span().start;
    let start = text[..key_start].rfind('\n').map_or(0, |i| i + 1);
    let value_end = v.span().end;
    let end = text[value_end..]
        .find('\n')
        .map_or(text.len(), |i| value_end + i);
    Some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zoneinfo() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("Europe")).expect("mkdir");
        std::fs::write(dir.path().join("Europe/London"), b"TZif").expect("zone");
        dir
    }

    fn parse(text: &str) -> Result<BootFile, ConfigError> {
        let zones = zoneinfo();
        BootFile::parse(text, Path::new("/boot/babymonitor.toml"), zones.path())
    }

    #[test]
    fn the_example_parses() {
        let zones = zoneinfo();
        let file = BootFile::parse(BOOT_FILE_EXAMPLE, Path::new("example"), zones.path())
            .expect("the shipped example is valid");
        assert_eq!(file.camera.timezone.as_deref(), Some("Europe/London"));
        assert_eq!(
            file.camera.admin_password, None,
            "a password everyone has read"
        );
    }

    #[test]
    fn errors_name_the_line_and_the_field() {
        let err = parse(
            "[camera]\nroom = \"Nursery\"\n\n[wifi]\nssid = \"home\"\npassword = \"short\"\n",
        )
        .expect_err("a 5-character WPA key is refused");
        let text = err.to_string();
        assert!(text.starts_with("/boot/babymonitor.toml:6:"), "{text}");
        assert!(text.contains("wifi.password"), "{text}");

        let err = parse("[camera]\nroom = \"Nursery\n").expect_err("unterminated string");
        assert!(err.to_string().contains(":2:"), "{err}");

        let err = parse("[camera]\nroom = \"a\"\ncolour = \"red\"\n").expect_err("unknown key");
        assert!(err.to_string().contains("colour"), "{err}");

        let err = parse("[camera]\ntimezone = \"Mars/Olympus\"\n").expect_err("unknown zone");
        assert!(err.to_string().contains("camera.timezone"), "{err}");
        let err = parse("[camera]\ntimezone = \"../../etc/passwd\"\n").expect_err("a path");
        assert!(err.to_string().contains("camera.timezone"), "{err}");
    }

    #[test]
    fn secrets_are_cut_and_everything_else_kept() {
        let text = "# my camera\n[camera]\nroom = \"Nursery\"\nadmin_password = \"correct horse\" # hers\n\n[wifi]\nssid = \"home\"\npassword = \"battery staple\"\ncountry = \"GB\"\n";
        let clean = without_secrets(text);
        assert!(!clean.contains("correct horse"), "{clean}");
        assert!(!clean.contains("battery staple"), "{clean}");
        assert!(clean.contains("# my camera\n[camera]\nroom = \"Nursery\"\n"));
        assert!(clean.contains("country = \"GB\"\n"));
        let zones = zoneinfo();
        let again = BootFile::parse(&clean, Path::new("x"), zones.path()).expect("still valid");
        assert!(!again.has_secrets());
        assert_eq!(again.wifi.ssid, "home");
        assert_eq!(without_secrets(&clean), clean);
    }

    #[test]
    fn debug_never_shows_a_password() {
        let file = parse("[camera]\nadmin_password = \"correct horse\"\n").expect("valid");
        assert!(!format!("{file:?}").contains("correct horse"));
    }
}
