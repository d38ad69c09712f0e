//! `babymonitor first-boot` and the daemon together, as on the SD card: the example file gets a
//! random password whose file goes after its first login; a password on the card resets the
//! accounts, ONVIF-made ones included. The certificate fingerprint on the card is the one HTTPS
//! serves, and an owner's certificate on the card replaces the camera's, its key leaving the card.

use std::path::{Path, PathBuf};
use std::process::Command;

use babymonitor_e2e::http::{get, post_soap};
use babymonitor_e2e::onvif::{TDS, envelope, op, wsse};
use babymonitor_e2e::{Daemon, Setup, binary, run};

const PASSWORD_FILE: &str = "babymonitor-password.txt";

/// The boot and data partitions, as directories.
struct Card {
    boot: tempfile::TempDir,
    data: tempfile::TempDir,
}

impl Card {
    fn new() -> Self {
        Self {
            boot: tempfile::tempdir().expect("tempdir"),
            data: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// Writes babymonitor.toml and runs the first-boot setup; its success and stderr.
    fn first_boot(&self, text: &str) -> (bool, String) {
        std::fs::write(self.boot.path().join("babymonitor.toml"), text).expect("write");
        let (ok, _, err) = run(Command::new(binary())
            .arg("first-boot")
            .arg("--boot")
            .arg(self.boot.path())
            .arg("--data")
            .arg(self.data.path()));
        (ok, err)
    }

    fn password_file(&self) -> PathBuf {
        self.boot.path().join(PASSWORD_FILE)
    }

    /// The accounts of the configuration the first boot wrote, as (name, password, role).
    fn users(&self) -> Vec<(String, String, String)> {
        let path = self.data.path().join("etc/babymonitor/config.toml");
        let config: toml::Table = std::fs::read_to_string(path)
            .expect("config")
            .parse()
            .expect("toml");
        let field = |u: &toml::Value, key| u[key].as_str().expect(key).to_string();
        config["users"]
            .as_array()
            .expect("users")
            .iter()
            .map(|u| (field(u, "name"), field(u, "password"), field(u, "role")))
            .collect()
    }

    /// The simulated camera on the first boot's accounts (plus `extra`) and data directory.
    fn start(&self, extra: &[(&str, &str, &str)]) -> Daemon {
        let users = self.users();
        let mut all: Vec<(&str, &str, &str)> = users
            .iter()
            .map(|(n, p, r)| (n.as_str(), p.as_str(), r.as_str()))
            .collect();
        all.extend_from_slice(extra);
        let data_dir = self.data.path().join("babymonitor");
        Setup::new()
            .small()
            .users(&all)
            .set("storage", &format!("data_dir = \"{}\"", data_dir.display()))
            .start()
    }
}

fn example() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../buildroot/board/rpi3/babymonitor.toml.example");
    std::fs::read_to_string(path).expect("the shipped example")
}

fn http(daemon: &Daemon, path: &str) -> String {
    format!("{}{path}", daemon.https_base())
}

async fn device_information(daemon: &Daemon, creds: (&str, &str)) -> u16 {
    let body = envelope("", &op(TDS, "GetDeviceInformation", ""));
    let (status, _) = post_soap(&http(daemon, "/onvif/device_service"), &body, Some(creds))
        .await
        .expect("SOAP");
    status
}

#[tokio::test]
async fn the_card_reset_removes_an_admin_created_over_onvif() {
    let card = Card::new();
    let (ok, err) = card.first_boot("[camera]\nadmin_password = \"the owner's first\"\n");
    assert!(ok, "{err}");
    let owner = ("admin", "the owner's first");
    let intruder = ("intruder", "stays forever 1");
    let mut daemon = card.start(&[]);
    let create = envelope(
        "",
        &op(
            TDS,
            "CreateUsers",
            &format!(
                "<User><tt:Username>{}</tt:Username><tt:Password>{}</tt:Password><tt:UserLevel>Administrator</tt:UserLevel></User>",
                intruder.0, intruder.1
            ),
        ),
    );
    let (status, answer) = post_soap(
        &http(&daemon, "/onvif/device_service"),
        &create,
        Some(owner),
    )
    .await
    .expect("CreateUsers");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(device_information(&daemon, intruder).await, 200);
    daemon.terminate(std::time::Duration::from_secs(10));

    // The owner, locked out, writes a new password on the card.
    let (ok, err) = card.first_boot("[camera]\nadmin_password = \"the owner's second\"\n");
    assert!(ok, "{err}");
    let daemon = card.start(&[]);
    assert_eq!(
        device_information(&daemon, intruder).await,
        401,
        "the intruder survived the reset\n{}",
        daemon.log()
    );
    assert_eq!(device_information(&daemon, owner).await, 401);
    assert_eq!(
        device_information(&daemon, ("admin", "the owner's second")).await,
        200
    );
}

/// How a first login is made: an NVR's Digest, the web page's form, an ONVIF app's token.
#[derive(Debug, Clone, Copy)]
enum Login {
    Digest,
    WebPage,
    UsernameToken,
}

async fn log_in(daemon: &Daemon, how: Login, (user, password): (&str, &str)) -> u16 {
    match how {
        Login::Digest => {
            get(&http(daemon, "/api/session"), Some((user, password)))
                .await
                .expect("GET")
                .0
        }
        Login::WebPage => babymonitor_e2e::http::client()
            .post(http(daemon, "/api/login"))
            .header("content-type", "application/json")
            .body(serde_json::json!({ "user": user, "password": password }).to_string())
            .send()
            .await
            .expect("POST")
            .status()
            .as_u16(),
        Login::UsernameToken => {
            let nonce: [u8; 16] = rand::random();
            let body = envelope(
                &wsse(user, password, &nonce, 0),
                &op(TDS, "GetDeviceInformation", ""),
            );
            post_soap(&http(daemon, "/onvif/device_service"), &body, None)
                .await
                .expect("SOAP")
                .0
        }
    }
}

#[tokio::test]
async fn the_example_gets_a_random_password_whose_file_goes_after_its_first_login() {
    for how in [Login::Digest, Login::WebPage, Login::UsernameToken] {
        let card = Card::new();
        let (ok, err) = card.first_boot(&example());
        assert!(ok, "{err}");
        let note = std::fs::read_to_string(card.password_file())
            .expect("the example has no password: the camera makes one");
        let users = card.users();
        let (name, password, _) = &users[0];
        assert!(note.contains(password.as_str()), "{note}");
        assert!(!example().contains(password.as_str()));
        let viewer = ("nanny", "bottles at six");
        let daemon = card.start(&[(viewer.0, viewer.1, "user")]);

        // Refused (ONVIF answers a wrong token with a Sender fault, 400).
        let wrong = log_in(&daemon, how, (name, "not the password")).await;
        assert!(matches!(wrong, 400 | 401), "{how:?}: {wrong}");
        assert_eq!(log_in(&daemon, how, viewer).await, 200);
        assert!(
            card.password_file().exists(),
            "{how:?}: gone before the admin logged in"
        );
        assert_eq!(log_in(&daemon, how, (name, password)).await, 200);
        assert!(
            !card.password_file().exists(),
            "{how:?}: still there after the first login\n{}",
            daemon.log()
        );
    }
}

/// The `AB:CD:...` fingerprint the password's note tells the parent to compare.
fn fingerprint_in(note: &str) -> String {
    note.split_whitespace()
        .find(|w| w.len() == 95 && w.split(':').count() == 32)
        .unwrap_or_else(|| panic!("no fingerprint in {note}"))
        .to_string()
}

#[tokio::test]
async fn the_fingerprint_on_the_card_is_served_and_the_owners_certificate_replaces_it() {
    let card = Card::new();
    let (ok, err) = card.first_boot(&example());
    assert!(ok, "{err}");
    let note = std::fs::read_to_string(card.password_file()).expect("the note");
    let daemon = card.start(&[]);
    let served = babymonitor_e2e::http::served_fingerprint(daemon.https_port)
        .await
        .expect("HTTPS");
    assert_eq!(served, fingerprint_in(&note), "{note}");
    drop(daemon);

    // The owner's own pair, as they would put it on the card.
    let (crt, key) = (
        card.boot.path().join("babymonitor.crt"),
        card.boot.path().join("babymonitor.key"),
    );
    let (ok, _, err) = run(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args([
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/CN=nursery.example.org",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&crt));
    assert!(ok, "{err}");
    let (ok, out, err) = run(Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(&crt));
    assert!(ok, "{err}");
    let theirs = out.trim().rsplit('=').next().expect("value").to_string();
    let (ok, err) = card.first_boot(&example());
    assert!(ok, "{err}");
    assert!(!key.exists(), "the owner's key is still on the card");
    let daemon = card.start(&[]);
    let served = babymonitor_e2e::http::served_fingerprint(daemon.https_port)
        .await
        .expect("HTTPS");
    assert_eq!(served, theirs, "{}", daemon.log());
    assert!(daemon.log().contains(&format!("fingerprint={theirs}")));
}

#[test]
fn a_weak_password_is_refused_with_the_reason_on_the_card() {
    let card = Card::new();
    let (ok, err) = card.first_boot("[camera]\nadmin_password = \"the owner's first\"\n");
    assert!(ok, "{err}");
    for weak in ["change me, please", "password1", "admin"] {
        let (ok, _) = card.first_boot(&format!("[camera]\nadmin_password = \"{weak}\"\n"));
        assert!(!ok, "{weak} was taken");
        let error = std::fs::read_to_string(card.boot.path().join("babymonitor-error.txt"))
            .expect("the reason is on the card");
        assert!(error.contains("camera.admin_password"), "{error}");
        assert_eq!(card.users()[0].1, "the owner's first", "{weak}");
    }
}

/// What the card refuses, ONVIF CreateUsers and SetUser refuse too, with the Device spec's
/// subcode; a user whose password is not being changed keeps it.
#[tokio::test]
async fn onvif_refuses_the_passwords_the_card_refuses() {
    // The configuration file is the owner's own: a weak password there still starts.
    let daemon = Setup::new()
        .small()
        .users(&[
            (babymonitor_e2e::ADMIN.0, babymonitor_e2e::ADMIN.1, "admin"),
            ("viewer", "12345678", "user"),
        ])
        .start();
    let url = http(&daemon, "/onvif/device_service");
    let user = |name: &str, password: &str| {
        format!(
            "<User><tt:Username>{name}</tt:Username><tt:Password>{password}</tt:Password><tt:UserLevel>User</tt:UserLevel></User>"
        )
    };
    for (operation, name, weak) in [
        ("CreateUsers", "nanny", "password1"),
        ("CreateUsers", "grandmother", "Grandmother"),
        ("CreateUsers", "nanny", "change me, please"),
        ("SetUser", "viewer", "password"),
    ] {
        let body = envelope("", &op(TDS, operation, &user(name, weak)));
        let (status, answer) = post_soap(&url, &body, Some(babymonitor_e2e::ADMIN))
            .await
            .expect("SOAP");
        assert_eq!(status, 400, "{operation} {weak}: {answer}");
        assert!(
            babymonitor_e2e::onvif::subcodes(&answer).contains(&"PasswordTooWeak".to_string()),
            "{operation} {weak}: {answer}"
        );
    }
    let promote =
        "<User><tt:Username>viewer</tt:Username><tt:UserLevel>Operator</tt:UserLevel></User>";
    let body = envelope("", &op(TDS, "SetUser", promote));
    let (status, answer) = post_soap(&url, &body, Some(babymonitor_e2e::ADMIN))
        .await
        .expect("SOAP");
    assert_eq!(
        status, 200,
        "a kept password is not checked again: {answer}"
    );
    let body = envelope(
        "",
        &op(TDS, "CreateUsers", &user("nanny", "bottles at six")),
    );
    let (status, answer) = post_soap(&url, &body, Some(babymonitor_e2e::ADMIN))
        .await
        .expect("SOAP");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        device_information(&daemon, ("nanny", "bottles at six")).await,
        200
    );
}
