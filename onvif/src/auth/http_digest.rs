//! Server side of HTTP Digest access authentication (RFC 7616), MD5 and SHA-256, `qop=auth`.
//!
//! Nonces are stateless: a timestamp sealed with a keyed hash of a per-boot secret, so the
//! server keeps no table that a flood of requests could grow, and a nonce older than the
//! configured lifetime is answered with `stale=true` (clients then retry without asking the
//! user again).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use md5::Md5;
use rand::RngCore;
use sha2::{Digest as _, Sha256};

use crate::security::constant_time_eq;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Md5,
    Sha256,
}

impl Algorithm {
    fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    fn hash(self, data: &str) -> String {
        match self {
            Algorithm::Md5 => hex::encode(Md5::digest(data.as_bytes())),
            Algorithm::Sha256 => hex::encode(Sha256::digest(data.as_bytes())),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DigestError {
    #[error("no Digest credentials")]
    Missing,
    #[error("malformed Authorization header")]
    Malformed,
    #[error("unsupported digest algorithm or qop")]
    Unsupported,
    #[error("nonce was not issued by this server")]
    BadNonce,
    #[error("nonce has expired")]
    Stale,
    #[error("digest uri does not match the request")]
    UriMismatch,
    #[error("unknown user or wrong password")]
    BadCredentials,
}

/// The credentials a request carried, parsed from `Authorization: Digest ...`.
#[derive(Debug, Default)]
struct Credentials {
    username: String,
    realm: String,
    nonce: String,
    uri: String,
    response: String,
    algorithm: Option<String>,
    qop: Option<String>,
    nc: Option<String>,
    cnonce: Option<String>,
}

pub struct DigestAuthority {
    realm: String,
    secret: [u8; 32],
    lifetime: Duration,
}

impl DigestAuthority {
    pub fn new(realm: impl Into<String>, nonce_lifetime: Duration) -> Self {
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        Self {
            realm: realm.into(),
            secret,
            lifetime: nonce_lifetime,
        }
    }

    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// `WWW-Authenticate` values, most widely supported first.
    pub fn challenges(&self, stale: bool) -> Vec<String> {
        let nonce = self.make_nonce(now_secs());
        [Algorithm::Md5, Algorithm::Sha256]
            .iter()
            .map(|alg| {
                let mut v = format!(
                    "Digest realm=\"{}\", qop=\"auth\", algorithm={}, nonce=\"{}\", opaque=\"{}\"",
                    self.realm,
                    alg.name(),
                    nonce,
                    hex::encode(&self.secret[..4])
                );
                if stale {
                    v.push_str(", stale=true");
                }
                v
            })
            .collect()
    }

    /// Checks an `Authorization` header for `method` on `request_uri` (path and query as sent).
    /// `password_of` returns the password of a user, or `None` if there is no such user.
    /// Returns the authenticated user name.
    pub fn verify(
        &self,
        header: Option<&str>,
        method: &str,
        request_uri: &str,
        password_of: impl Fn(&str) -> Option<String>,
    ) -> Result<String, DigestError> {
        let header = header.ok_or(DigestError::Missing)?;
        let (scheme, rest) = header
            .trim_start()
            .split_once(' ')
            .ok_or(DigestError::Malformed)?;
        if !scheme.eq_ignore_ascii_case("digest") {
            return Err(DigestError::Missing);
        }
        let creds = parse_credentials(rest)?;
        let algorithm = match creds.algorithm.as_deref() {
            None => Algorithm::Md5,
            Some(a) if a.eq_ignore_ascii_case("MD5") => Algorithm::Md5,
            Some(a) if a.eq_ignore_ascii_case("SHA-256") => Algorithm::Sha256,
            Some(_) => return Err(DigestError::Unsupported),
        };
        if creds.realm != self.realm {
            return Err(DigestError::BadCredentials);
        }
        self.check_nonce(&creds.nonce, now_secs())?;
        if !uri_matches(&creds.uri, request_uri) {
            return Err(DigestError::UriMismatch);
        }
        let password = password_of(&creds.username).ok_or(DigestError::BadCredentials)?;
        let ha1 = algorithm.hash(&format!("{}:{}:{}", creds.username, self.realm, password));
        let ha2 = algorithm.hash(&format!("{method}:{}", creds.uri));
        let expected = match creds.qop.as_deref() {
            Some("auth") => {
                let nc = creds.nc.as_deref().ok_or(DigestError::Malformed)?;
                let cnonce = creds.cnonce.as_deref().ok_or(DigestError::Malformed)?;
                algorithm.hash(&format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", creds.nonce))
            }
            None => algorithm.hash(&format!("{ha1}:{}:{ha2}", creds.nonce)),
            Some(_) => return Err(DigestError::Unsupported),
        };
        if constant_time_eq(
            expected.as_bytes(),
            creds.response.to_ascii_lowercase().as_bytes(),
        ) {
            Ok(creds.username)
        } else {
            Err(DigestError::BadCredentials)
        }
    }

    fn seal(&self, timestamp: u64) -> String {
        let mut data = Vec::with_capacity(48);
        data.extend_from_slice(&self.secret);
        data.extend_from_slice(&timestamp.to_be_bytes());
        hex::encode(&Sha256::digest(&data)[..16])
    }

    fn make_nonce(&self, timestamp: u64) -> String {
        format!("{timestamp:x}-{}", self.seal(timestamp))
    }

    fn check_nonce(&self, nonce: &str, now: u64) -> Result<(), DigestError> {
        let (ts, seal) = nonce.split_once('-').ok_or(DigestError::BadNonce)?;
        let ts = u64::from_str_radix(ts, 16).map_err(|_| DigestError::BadNonce)?;
        if !constant_time_eq(self.seal(ts).as_bytes(), seal.as_bytes()) {
            return Err(DigestError::BadNonce);
        }
        if now.saturating_sub(ts) > self.lifetime.as_secs() || ts > now + 60 {
            return Err(DigestError::Stale);
        }
        Ok(())
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Clients send the request target either as sent (`/a?b`) or as an absolute URI.
fn uri_matches(digest_uri: &str, request_uri: &str) -> bool {
    if digest_uri == request_uri {
        return true;
    }
    match digest_uri.split_once("://") {
        Some((_, rest)) => rest.find('/').is_some_and(|i| &rest[i..] == request_uri),
        None => false,
    }
}

/// Parses `k=v, k="quoted \"v\""` pairs.
fn parse_credentials(input: &str) -> Result<Credentials, DigestError> {
    let mut creds = Credentials::default();
    let mut rest = input.trim();
    while !rest.is_empty() {
        let eq = rest.find('=').ok_or(DigestError::Malformed)?;
        let key = rest[..eq].trim().to_ascii_lowercase();
        rest = rest[eq + 1..].trim_start();
        let value;
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            out.push(escaped);
                        }
                    }
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    c => out.push(c),
                }
            }
            let end = end.ok_or(DigestError::Malformed)?;
            value = out;
            rest = quoted[end + 1..].trim_start();
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_string();
            rest = &rest[end..];
        }
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
        match key.as_str() {
            "username" => creds.username = value,
            "realm" => creds.realm = value,
            "nonce" => creds.nonce = value,
            "uri" => creds.uri = value,
            "response" => creds.response = value,
            "algorithm" => creds.algorithm = Some(value),
            "qop" => creds.qop = Some(value),
            "nc" => creds.nc = Some(value),
            "cnonce" => creds.cnonce = Some(value),
            _ => {}
        }
    }
    if creds.username.is_empty()
        || creds.nonce.is_empty()
        || creds.response.is_empty()
        || creds.uri.is_empty()
    {
        return Err(DigestError::Malformed);
    }
    Ok(creds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write as _;

    /// The `Authorization` value a client would send.
    #[allow(clippy::too_many_arguments)]
    fn client_response(
        challenge_nonce: &str,
        realm: &str,
        algorithm: Algorithm,
        user: &str,
        password: &str,
        method: &str,
        uri: &str,
        cnonce: &str,
    ) -> String {
        let ha1 = algorithm.hash(&format!("{user}:{realm}:{password}"));
        let ha2 = algorithm.hash(&format!("{method}:{uri}"));
        let response = algorithm.hash(&format!(
            "{ha1}:{challenge_nonce}:00000001:{cnonce}:auth:{ha2}"
        ));
        let mut v = String::new();
        let _ = write!(
            v,
            "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{challenge_nonce}\", uri=\"{uri}\", \
             algorithm={}, qop=auth, nc=00000001, cnonce=\"{cnonce}\", response=\"{response}\"",
            algorithm.name()
        );
        v
    }

    /// What a client sends for `GET /x` (MD5).
    fn get_x(nonce: &str, user: &str, password: &str) -> String {
        client_response(
            nonce,
            "cam",
            Algorithm::Md5,
            user,
            password,
            "GET",
            "/x",
            "c",
        )
    }

    fn nonce_of(challenge: &str) -> String {
        let start = challenge.find("nonce=\"").expect("nonce") + 7;
        let end = challenge[start..].find('"').expect("end") + start;
        challenge[start..end].to_string()
    }

    fn pw(user: &str) -> Option<String> {
        (user == "admin").then(|| "s3cret pass".to_string())
    }

    #[test]
    fn accepts_md5_and_sha256_responses() {
        let auth = DigestAuthority::new("cam", Duration::from_secs(300));
        for alg in [Algorithm::Md5, Algorithm::Sha256] {
            let nonce = nonce_of(&auth.challenges(false)[0]);
            let h = client_response(
                &nonce,
                "cam",
                alg,
                "admin",
                "s3cret pass",
                "GET",
                "/snapshot.jpg?width=320",
                "abc",
            );
            assert_eq!(
                auth.verify(Some(&h), "GET", "/snapshot.jpg?width=320", pw),
                Ok("admin".into())
            );
        }
    }

    #[test]
    fn refuses_wrong_password_user_method_and_uri() {
        let auth = DigestAuthority::new("cam", Duration::from_secs(300));
        let nonce = nonce_of(&auth.challenges(false)[0]);
        let wrong = get_x(&nonce, "admin", "nope");
        assert_eq!(
            auth.verify(Some(&wrong), "GET", "/x", pw),
            Err(DigestError::BadCredentials)
        );
        let nobody = get_x(&nonce, "eve", "s3cret pass");
        assert_eq!(
            auth.verify(Some(&nobody), "GET", "/x", pw),
            Err(DigestError::BadCredentials)
        );
        let good = get_x(&nonce, "admin", "s3cret pass");
        assert_eq!(
            auth.verify(Some(&good), "POST", "/x", pw),
            Err(DigestError::BadCredentials)
        );
        assert_eq!(
            auth.verify(Some(&good), "GET", "/y", pw),
            Err(DigestError::UriMismatch)
        );
    }

    #[test]
    fn refuses_forged_and_expired_nonces() {
        let auth = DigestAuthority::new("cam", Duration::from_secs(300));
        let forged = get_x("5f00-0000", "admin", "s3cret pass");
        assert_eq!(
            auth.verify(Some(&forged), "GET", "/x", pw),
            Err(DigestError::BadNonce)
        );
        let old = auth.make_nonce(now_secs() - 301);
        let h = get_x(&old, "admin", "s3cret pass");
        assert_eq!(
            auth.verify(Some(&h), "GET", "/x", pw),
            Err(DigestError::Stale)
        );
        let other = DigestAuthority::new("cam", Duration::from_secs(300));
        let theirs = nonce_of(&other.challenges(false)[0]);
        let h = get_x(&theirs, "admin", "s3cret pass");
        assert_eq!(
            auth.verify(Some(&h), "GET", "/x", pw),
            Err(DigestError::BadNonce)
        );
    }

    #[test]
    fn malformed_headers_are_errors_not_panics() {
        let auth = DigestAuthority::new("cam", Duration::from_secs(300));
        for h in [
            "",
            "Digest",
            "Digest ",
            "Digest username",
            "Digest username=\"a",
            "Basic YWRtaW46eA==",
            "Digest username=\"a\", nonce=\"\u{00e9}-\", uri=\"/\", response=\"x\", realm=\"cam\"",
            "Digest ,,,=,=\"",
        ] {
            assert!(auth.verify(Some(h), "GET", "/", pw).is_err(), "{h}");
        }
        assert_eq!(auth.verify(None, "GET", "/", pw), Err(DigestError::Missing));
    }

    #[test]
    fn absolute_uri_in_digest_matches_the_path() {
        assert!(uri_matches("http://cam:80/snapshot.jpg", "/snapshot.jpg"));
        assert!(!uri_matches("http://cam:80/other", "/snapshot.jpg"));
    }
}
