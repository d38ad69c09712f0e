//! The camera's TLS certificate, for HTTPS and RTSPS: the owner's own when they put one on the
//! boot partition, else one the camera makes for itself at its first start.
//!
//! The camera's own certificate is self-signed, so no browser trusts it by name; what a parent
//! can check is its SHA-256 fingerprint, which the daemon logs at every start and the first
//! boot writes next to the made-up password. It is made once and kept: a new address from the
//! router does not change it, or the fingerprint the parent accepted would stop matching.
//!
//! Files, in `<data dir>/tls/` (0600, the daemon's):
//! - `owner.crt` and `owner.key`: the owner's, copied from `babymonitor.crt` and
//!   `babymonitor.key` on the boot partition by the first boot ([`install_owner`]);
//! - `device.crt` and `device.key`: the camera's own.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

use crate::settings::write_atomically;

/// The owner's certificate on the boot partition (PEM, the chain: the server's first).
pub const OWNER_CERTIFICATE_FILE: &str = "babymonitor.crt";
/// Its private key on the boot partition (PEM); it leaves the card once copied.
pub const OWNER_KEY_FILE: &str = "babymonitor.key";

/// The name every camera answers to over mDNS.
const MDNS_NAME: &str = "babymonitor.local";
/// Long enough never to expire in a camera's life: a parent cannot renew it, and an expired
/// self-signed certificate only adds a second warning to the first.
const VALID_DAYS: i64 = 20 * 365;

#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("cannot make the camera's certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("cannot write {path}: {reason}")]
    Write { path: PathBuf, reason: String },
}

/// A certificate chain and its key, as both PEM (GStreamer's RTSPS) and DER (rustls).
#[derive(Clone)]
pub struct Certificate {
    pub chain_pem: String,
    pub key_pem: String,
    pub chain: Vec<CertificateDer<'static>>,
    key: Arc<PrivateKeyDer<'static>>,
    /// Whose it is: the owner's, or the camera's own.
    pub owner: bool,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("Certificate")
            .field("fingerprint", &self.fingerprint())
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

impl Certificate {
    /// The private key (rustls takes its own copy).
    pub fn key(&self) -> PrivateKeyDer<'static> {
        self.key.clone_key()
    }

    /// The server certificate's SHA-256 fingerprint, as browsers show it (`AB:CD:...`).
    pub fn fingerprint(&self) -> String {
        self.chain
            .first()
            .map(|der| fingerprint(der.as_ref()))
            .unwrap_or_default()
    }

    fn parse(
        chain_pem: String,
        key_pem: String,
        owner: bool,
        paths: [&Path; 2],
    ) -> Result<Self, CertificateError> {
        let invalid = |path: &Path, reason: String| CertificateError::Invalid {
            path: path.to_path_buf(),
            reason,
        };
        let chain = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(paths[0], format!("not a PEM certificate: {e}")))?;
        if chain.is_empty() {
            return Err(invalid(paths[0], "holds no certificate".into()));
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|e| invalid(paths[1], format!("not a PEM private key: {e}")))?;
        let certificate = Self {
            chain_pem,
            key_pem,
            chain,
            key: Arc::new(key),
            owner,
        };
        // rustls checks that the key belongs to the certificate and is of a kind it can use.
        certificate
            .server_config()
            .map_err(|e| invalid(paths[0], format!("cannot be used with its key: {e}")))?;
        Ok(certificate)
    }

    /// A TLS server configuration serving this certificate: TLS 1.2 and 1.3 only, and the
    /// `alpn` protocols offered.
    pub fn server_config(&self) -> Result<rustls::ServerConfig, rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key())
    }
}

/// `AB:CD:...`: the SHA-256 of a DER certificate.
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Where the certificates are kept under the daemon's data directory.
pub fn directory(data_dir: &Path) -> PathBuf {
    data_dir.join("tls")
}

fn read(path: &Path) -> Result<Option<String>, CertificateError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CertificateError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn write(path: &Path, text: &str) -> Result<(), CertificateError> {
    write_atomically(path, text).map_err(|e| CertificateError::Write {
        path: path.to_path_buf(),
        reason: format!("{e:#}"),
    })
}

/// The names a new certificate is made for: the mDNS name, the host name and `localhost`, and
/// the addresses the camera has now.
pub fn names(hostname: &str, addresses: &[IpAddr]) -> (Vec<String>, Vec<IpAddr>) {
    let mut dns = vec![MDNS_NAME.to_string()];
    let host = hostname.trim().trim_end_matches(".local");
    let valid = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.';
    if !host.is_empty() && host.chars().all(valid) {
        for name in [host.to_string(), format!("{host}.local")] {
            if !dns.contains(&name) {
                dns.push(name);
            }
        }
    }
    dns.push("localhost".into());
    let mut ips = addresses.to_vec();
    for loopback in [
        IpAddr::from([127, 0, 0, 1]),
        IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
    ] {
        if !ips.contains(&loopback) {
            ips.push(loopback);
        }
    }
    (dns, ips)
}

/// The certificate to serve: the owner's if installed, else the camera's own, made now with
/// `names` when there is none yet. One that cannot be read or used is an error, not replaced:
/// a new certificate would silently change the fingerprint the parent accepted.
pub fn load_or_create(
    data_dir: &Path,
    device_name: &str,
    names: &(Vec<String>, Vec<IpAddr>),
) -> Result<Certificate, CertificateError> {
    let dir = directory(data_dir);
    for (owner, stem) in [(true, "owner"), (false, "device")] {
        let (crt, key) = (
            dir.join(format!("{stem}.crt")),
            dir.join(format!("{stem}.key")),
        );
        match (read(&crt)?, read(&key)?) {
            (Some(chain), Some(secret)) => {
                return Certificate::parse(chain, secret, owner, [&crt, &key]);
            }
            (None, None) => {}
            // Half a pair (a power cut between the two writes of a new one): make it again.
            _ if !owner => break,
            (Some(_), None) => {
                return Err(CertificateError::Invalid {
                    path: key,
                    reason: "is missing".into(),
                });
            }
            (None, Some(_)) => {
                return Err(CertificateError::Invalid {
                    path: crt,
                    reason: "is missing".into(),
                });
            }
        }
    }
    create(&dir, device_name, names)
}

fn create(
    dir: &Path,
    device_name: &str,
    (dns, ips): &(Vec<String>, Vec<IpAddr>),
) -> Result<Certificate, CertificateError> {
    let mut params = rcgen::CertificateParams::new(dns.clone())?;
    params
        .subject_alt_names
        .extend(ips.iter().map(|ip| rcgen::SanType::IpAddress(*ip)));
    let mut subject = rcgen::DistinguishedName::new();
    subject.push(
        rcgen::DnType::CommonName,
        device_name_or_default(device_name),
    );
    subject.push(rcgen::DnType::OrganizationName, "babymonitor");
    params.distinguished_name = subject;
    // The Pi has no clock of its own: at the first boot, before the network, it may think it
    // is 1970, and a certificate that ran out in 1990 would be refused by every browser.
    let now = time::OffsetDateTime::now_utc().max(time::macros::datetime!(2026-01-01 0:00 UTC));
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(VALID_DAYS);
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&rand::random::<[u8; 16]>()));
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let certificate = params.self_signed(&key)?;
    let (chain_pem, key_pem) = (certificate.pem(), key.serialize_pem());
    std::fs::create_dir_all(dir).map_err(|source| CertificateError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let (crt, key_path) = (dir.join("device.crt"), dir.join("device.key"));
    // The key first: a certificate on disk always has its key.
    write(&key_path, &key_pem)?;
    write(&crt, &chain_pem)?;
    let made = Certificate::parse(chain_pem, key_pem, false, [&crt, &key_path])?;
    tracing::info!(fingerprint = %made.fingerprint(), "made the camera's TLS certificate");
    Ok(made)
}

fn device_name_or_default(name: &str) -> String {
    let name = name.trim();
    if name.is_empty() {
        "babymonitor".into()
    } else {
        name.chars().take(64).collect()
    }
}

/// The first boot's part: the owner's certificate and key from the boot partition become the
/// camera's (checked first: a pair that does not work changes nothing), and the key leaves
/// the card. Returns whether a new pair was installed.
pub fn install_owner(boot_dir: &Path, data_dir: &Path) -> Result<bool, CertificateError> {
    let (crt, key) = (
        boot_dir.join(OWNER_CERTIFICATE_FILE),
        boot_dir.join(OWNER_KEY_FILE),
    );
    let (chain, secret) = match (read(&crt)?, read(&key)?) {
        (Some(chain), Some(secret)) => (chain, secret),
        (None, None) => return Ok(false),
        // The certificate alone stays on the card (it is public) and is the one served while
        // its key is installed; a new certificate without a key cannot be used.
        (Some(chain), None) => {
            let installed = read(&directory(data_dir).join("owner.crt"))?;
            if installed.as_deref() == Some(chain.as_str()) {
                return Ok(false);
            }
            return Err(CertificateError::Invalid {
                path: key,
                reason: format!("is missing: {OWNER_CERTIFICATE_FILE} needs its key"),
            });
        }
        (None, Some(_)) => {
            return Err(CertificateError::Invalid {
                path: crt,
                reason: format!("is missing: {OWNER_KEY_FILE} needs its certificate"),
            });
        }
    };
    Certificate::parse(chain.clone(), secret.clone(), true, [&crt, &key])?;
    let dir = directory(data_dir);
    std::fs::create_dir_all(&dir).map_err(|source| CertificateError::Io {
        path: dir.clone(),
        source,
    })?;
    write(&dir.join("owner.key"), &secret)?;
    write(&dir.join("owner.crt"), &chain)?;
    // Only now that the data partition holds it may the key leave the card.
    std::fs::remove_file(&key).map_err(|source| CertificateError::Io { path: key, source })?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names_here() -> (Vec<String>, Vec<IpAddr>) {
        names("nursery-cam", &[IpAddr::from([192, 168, 1, 20])])
    }

    #[test]
    fn a_new_camera_makes_its_certificate_once_and_keeps_it() {
        let data = tempfile::tempdir().expect("tempdir");
        let first = load_or_create(data.path(), "Nursery", &names_here()).expect("made");
        assert!(!first.owner);
        assert_eq!(
            first.fingerprint().len(),
            32 * 3 - 1,
            "{}",
            first.fingerprint()
        );
        let again = load_or_create(data.path(), "Nursery", &names("other", &[])).expect("kept");
        assert_eq!(first.fingerprint(), again.fingerprint());
        for file in ["device.crt", "device.key"] {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(directory(data.path()).join(file))
                .expect("written")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{file}");
        }
    }

    #[test]
    fn a_damaged_certificate_is_an_error_not_a_new_fingerprint() {
        let data = tempfile::tempdir().expect("tempdir");
        load_or_create(data.path(), "Nursery", &names_here()).expect("made");
        std::fs::write(directory(data.path()).join("device.crt"), "garbage").expect("write");
        let e = load_or_create(data.path(), "Nursery", &names_here()).expect_err("damaged");
        assert!(e.to_string().contains("device.crt"), "{e}");
    }

    #[test]
    fn the_owners_pair_replaces_the_cameras_and_its_key_leaves_the_card() {
        let data = tempfile::tempdir().expect("tempdir");
        let boot = tempfile::tempdir().expect("tempdir");
        let own = load_or_create(data.path(), "Nursery", &names_here()).expect("made");
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let theirs = rcgen::CertificateParams::new(vec!["cam.example.org".to_string()])
            .expect("params")
            .self_signed(&key)
            .expect("signed");
        std::fs::write(boot.path().join(OWNER_CERTIFICATE_FILE), theirs.pem()).expect("crt");
        std::fs::write(boot.path().join(OWNER_KEY_FILE), key.serialize_pem()).expect("key");
        assert!(install_owner(boot.path(), data.path()).expect("installed"));
        assert!(!boot.path().join(OWNER_KEY_FILE).exists());
        let served = load_or_create(data.path(), "Nursery", &names_here()).expect("owner's");
        assert!(served.owner);
        assert_eq!(served.fingerprint(), fingerprint(theirs.der()));
        assert_ne!(served.fingerprint(), own.fingerprint());
        // The certificate left on the card is not an error at the next boot.
        assert!(!install_owner(boot.path(), data.path()).expect("unchanged"));
    }

    #[test]
    fn a_key_that_is_not_the_certificates_is_refused_and_changes_nothing() {
        let data = tempfile::tempdir().expect("tempdir");
        let boot = tempfile::tempdir().expect("tempdir");
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let other = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let theirs = rcgen::CertificateParams::new(vec!["cam.example.org".to_string()])
            .expect("params")
            .self_signed(&key)
            .expect("signed");
        std::fs::write(boot.path().join(OWNER_CERTIFICATE_FILE), theirs.pem()).expect("crt");
        std::fs::write(boot.path().join(OWNER_KEY_FILE), other.serialize_pem()).expect("key");
        let e = install_owner(boot.path(), data.path()).expect_err("mismatch");
        assert!(e.to_string().contains(OWNER_CERTIFICATE_FILE), "{e}");
        assert!(
            boot.path().join(OWNER_KEY_FILE).exists(),
            "kept for the owner to fix"
        );
        assert!(!directory(data.path()).join("owner.crt").exists());
    }
}
