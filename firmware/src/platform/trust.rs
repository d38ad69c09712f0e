//! Whom the camera trusts when it connects out (an MQTT broker, an ntfy server): one place, so
//! that both check certificates the same way.

use std::path::Path;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, pem::PemObject};
use tracing::debug;

/// The Mozilla roots built in (a camera image may carry no CA bundle, or an old one) and the
/// system's (`SSL_CERT_FILE`/`SSL_CERT_DIR` where set: a home CA installed there, and the
/// tests' own CA).
pub fn public_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let found = rustls_native_certs::load_native_certs();
    let (added, ignored) = roots.add_parsable_certificates(found.certs);
    debug!(
        added,
        ignored,
        errors = found.errors.len(),
        "the system's CA certificates"
    );
    roots
}

/// Only the certificates in a PEM file: a broker under the owner's own CA trusts nothing else.
pub fn roots_from_pem(file: &Path) -> Result<RootCertStore, String> {
    let name = file.display();
    let mut roots = RootCertStore::empty();
    let certs =
        CertificateDer::pem_file_iter(file).map_err(|e| format!("cannot read {name}: {e}"))?;
    for cert in certs {
        let cert = cert.map_err(|e| format!("{name}: {e}"))?;
        roots.add(cert).map_err(|e| format!("{name}: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!("{name} holds no PEM certificate"));
    }
    Ok(roots)
}

/// A TLS client (ring, TLS 1.2 and 1.3) that checks the server against `roots`.
pub fn client_config(roots: RootCertStore) -> Result<Arc<rustls::ClientConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_roots_are_always_there() {
        assert!(public_roots().len() >= webpki_roots::TLS_SERVER_ROOTS.len() / 2);
    }

    #[test]
    fn a_file_without_certificates_or_missing_is_named() {
        let dir = std::env::temp_dir().join(format!("bm-trust-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        assert!(roots_from_pem(&empty).unwrap_err().contains("empty.pem"));
        assert!(
            roots_from_pem(&dir.join("absent.pem"))
                .unwrap_err()
                .contains("cannot read")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
