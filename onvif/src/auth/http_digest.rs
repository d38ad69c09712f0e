//! Server side of HTTP Digest access authentication (RFC 7616): SHA-256 and MD5, `qop=auth`
//! only, so that a sniffed `Authorization` header cannot be replayed.
//!
//! A nonce is `base64url(issued || serial || HMAC-SHA256(secret, issued || serial || client
//! address))`: `issued` is seconds on this process's monotonic clock (an NTP jump at boot moves
//! nothing), `serial` counts the challenges, and the secret is drawn at start. Only this process
//! makes nonces, each for the one address it was sent to; a nonce brought from another address
//! fails like a wrong password. A nonce older than the lifetime is answered `stale=true` when the
//! rest of the answer is right, and clients then retry without asking the user again.
//!
//! Replays: from a nonce's first accepted request on, the `nc` accepted with it are remembered
//! (the highest and a window of 64 below it) and a request repeating one, or older than the
//! window, is refused. Only accepted requests add to that table, so a stranger's requests never
//! grow it; it holds [`MAX_NONCES`] nonces and forgets the lowest serials first. A nonce not in the table whose serial is at or below the highest forgotten one
//! cannot be told from a replay and is answered `stale=true`.
//!
//! Requests must carry `qop=auth`, a `cnonce` and an 8-digit `nc` (RFC 2069's answers without
//! them could be replayed freely); `opaque` is random per process and must come back unchanged
//! when sent. `userhash`, the `-sess` algorithms and `auth-int` are not offered and are refused.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64URL;
use hmac::{Hmac, Mac as _};
use md5::Md5;
use rand::RngCore;
use sha2::{Digest as _, Sha256};

use crate::security::constant_time_eq;

/// The most nonces whose `nc` is remembered. Each is one login of the last lifetime; a few
/// thousand is far above what a camera's clients use, and 24 bytes each.
pub const MAX_NONCES: usize = 4096;

/// `issued` (8 bytes), `serial` (8), the MAC (32).
const NONCE_BYTES: usize = 48;

/// Longer client nonces are refused; real ones are 8 to 64 characters.
const MAX_CNONCE: usize = 256;

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
    #[error("unsupported digest algorithm, qop or userhash")]
    Unsupported,
    #[error("no qop=auth (RFC 2069 answers can be replayed)")]
    NoQop,
    #[error("opaque is not the one this server sent")]
    Opaque,
    #[error("nonce was not issued by this server to this address")]
    BadNonce,
    #[error("nonce has expired")]
    Stale,
    #[error("nonce count was used before (a replayed request)")]
    Replay,
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
    opaque: Option<String>,
    userhash: Option<String>,
}

/// What a nonce says once its MAC checked.
struct Nonce {
    issued: u64,
    serial: u64,
}

/// Which `nc` of each nonce in use were accepted, by serial.
#[derive(Default)]
struct Seen {
    /// serial -> the nonce's counts
    nonces: BTreeMap<u64, Counts>,
    /// Nonces with a serial up to this one may have been forgotten.
    forgotten: u64,
}

/// The highest `nc` accepted with one nonce and, bit `i` of `below`, whether `top - 1 - i` was.
/// Requests on parallel connections can arrive out of order; a late lower count is still good
/// once, up to [`NC_WINDOW`] below the highest (the sliding window of IPsec, RFC 4303 §3.4.3).
struct Counts {
    issued: u64,
    top: u32,
    below: u64,
}

/// How far below the highest `nc` a first use is still accepted.
const NC_WINDOW: u32 = 64;

impl Counts {
    /// Notes `nc`; false if it was used before or is too old to tell.
    fn take(&mut self, nc: u32) -> bool {
        if nc > self.top {
            let shift = nc - self.top;
            // The old top becomes bit `shift - 1`.
            self.below = match shift {
                1..NC_WINDOW => (self.below << shift) | (1 << (shift - 1)),
                NC_WINDOW => 1 << (NC_WINDOW - 1),
                _ => 0,
            };
            self.top = nc;
            return true;
        }
        let back = self.top - nc;
        if back == 0 || back > NC_WINDOW {
            return false;
        }
        let bit = 1u64 << (back - 1);
        let fresh = self.below & bit == 0;
        self.below |= bit;
        fresh
    }
}

impl Seen {
    /// Records `nc` for `nonce` unless it was accepted before.
    fn admit(
        &mut self,
        nonce: &Nonce,
        nc: u32,
        now: u64,
        lifetime: u64,
    ) -> Result<(), DigestError> {
        if let Some(counts) = self.nonces.get_mut(&nonce.serial) {
            return if counts.take(nc) {
                Ok(())
            } else {
                Err(DigestError::Replay)
            };
        }
        if nonce.serial <= self.forgotten {
            return Err(DigestError::Stale);
        }
        // Serials and issue times rise together: the front is the oldest.
        while let Some((&serial, counts)) = self.nonces.first_key_value() {
            if now.saturating_sub(counts.issued) <= lifetime && self.nonces.len() < MAX_NONCES {
                break;
            }
            self.forgotten = self.forgotten.max(serial);
            self.nonces.remove(&serial);
        }
        let counts = Counts {
            issued: nonce.issued,
            top: nc,
            below: 0,
        };
        self.nonces.insert(nonce.serial, counts);
        Ok(())
    }
}

pub struct DigestAuthority {
    realm: String,
    /// Keyed with the per-process secret; cloned for each nonce.
    mac: Hmac<Sha256>,
    opaque: String,
    lifetime: Duration,
    started: Instant,
    serial: AtomicU64,
    seen: Mutex<Seen>,
}

impl DigestAuthority {
    pub fn new(realm: impl Into<String>, nonce_lifetime: Duration) -> Self {
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        let mut opaque = [0u8; 16];
        rand::rng().fill_bytes(&mut opaque);
        Self {
            realm: realm.into(),
            mac: Hmac::new_from_slice(&secret).expect("HMAC takes a key of any length"),
            opaque: BASE64URL.encode(opaque),
            lifetime: nonce_lifetime,
            started: Instant::now(),
            serial: AtomicU64::new(0),
            seen: Mutex::new(Seen::default()),
        }
    }

    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// `WWW-Authenticate` values for a 401 to `client`: SHA-256 first (RFC 7616 §3.7), then MD5
    /// for older clients, both with the same fresh nonce.
    pub fn challenges(&self, client: IpAddr, stale: bool) -> Vec<String> {
        let nonce = self.make_nonce(self.now(), client);
        [Algorithm::Sha256, Algorithm::Md5]
            .iter()
            .map(|alg| {
                let mut v = format!(
                    "Digest realm=\"{}\", qop=\"auth\", algorithm={}, nonce=\"{nonce}\", opaque=\"{}\"",
                    self.realm,
                    alg.name(),
                    self.opaque
                );
                if stale {
                    v.push_str(", stale=true");
                }
                v
            })
            .collect()
    }

    /// Checks an `Authorization` header for `method` on `request_uri` (path and query as sent)
    /// from `client`. `password_of` returns the password of a user, or `None` if there is no such
    /// user. Returns the authenticated user name.
    pub fn verify(
        &self,
        header: Option<&str>,
        method: &str,
        request_uri: &str,
        client: IpAddr,
        password_of: impl Fn(&str) -> Option<String>,
    ) -> Result<String, DigestError> {
        self.verify_at(self.now(), header, method, request_uri, client, password_of)
    }

    fn verify_at(
        &self,
        now: u64,
        header: Option<&str>,
        method: &str,
        request_uri: &str,
        client: IpAddr,
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
        match creds.qop.as_deref() {
            None => return Err(DigestError::NoQop),
            Some(q) if q.eq_ignore_ascii_case("auth") => {}
            Some(_) => return Err(DigestError::Unsupported),
        }
        if creds
            .userhash
            .as_deref()
            .is_some_and(|u| !u.eq_ignore_ascii_case("false"))
        {
            return Err(DigestError::Unsupported);
        }
        let nc = creds
            .nc
            .as_deref()
            .and_then(parse_nc)
            .ok_or(DigestError::Malformed)?;
        if creds
            .cnonce
            .as_deref()
            .is_none_or(|c| c.is_empty() || c.len() > MAX_CNONCE)
        {
            return Err(DigestError::Malformed);
        }
        if creds
            .opaque
            .as_deref()
            .is_some_and(|o| !constant_time_eq(o.as_bytes(), self.opaque.as_bytes()))
        {
            return Err(DigestError::Opaque);
        }
        if creds.realm != self.realm {
            return Err(DigestError::BadCredentials);
        }
        if !uri_matches(&creds.uri, request_uri) {
            return Err(DigestError::UriMismatch);
        }
        let nonce = self.open_nonce(&creds.nonce, client)?;
        let password = password_of(&creds.username).ok_or(DigestError::BadCredentials)?;
        let expected = response(algorithm, &creds, &password, method);
        if !constant_time_eq(
            expected.as_bytes(),
            creds.response.to_ascii_lowercase().as_bytes(),
        ) {
            return Err(DigestError::BadCredentials);
        }
        // Only now: stale=true promises that the password was right (RFC 7616 §3.3).
        let lifetime = self.lifetime.as_secs();
        if now.saturating_sub(nonce.issued) > lifetime {
            return Err(DigestError::Stale);
        }
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .admit(&nonce, nc, now, lifetime)?;
        Ok(creds.username)
    }

    fn now(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    fn mac(&self, issued: u64, serial: u64, client: IpAddr) -> Hmac<Sha256> {
        let mut mac = self.mac.clone();
        mac.update(&issued.to_be_bytes());
        mac.update(&serial.to_be_bytes());
        match client.to_canonical() {
            IpAddr::V4(a) => mac.update(&a.octets()),
            IpAddr::V6(a) => mac.update(&a.octets()),
        }
        mac
    }

    fn make_nonce(&self, issued: u64, client: IpAddr) -> String {
        let serial = self.serial.fetch_add(1, Ordering::Relaxed) + 1;
        let mut bytes = Vec::with_capacity(NONCE_BYTES);
        bytes.extend_from_slice(&issued.to_be_bytes());
        bytes.extend_from_slice(&serial.to_be_bytes());
        bytes.extend_from_slice(&self.mac(issued, serial, client).finalize().into_bytes());
        BASE64URL.encode(bytes)
    }

    fn open_nonce(&self, nonce: &str, client: IpAddr) -> Result<Nonce, DigestError> {
        let bytes = BASE64URL.decode(nonce).map_err(|_| DigestError::BadNonce)?;
        if bytes.len() != NONCE_BYTES {
            return Err(DigestError::BadNonce);
        }
        let (issued, rest) = bytes.split_at(8);
        let (serial, tag) = rest.split_at(8);
        let issued = u64::from_be_bytes(issued.try_into().map_err(|_| DigestError::BadNonce)?);
        let serial = u64::from_be_bytes(serial.try_into().map_err(|_| DigestError::BadNonce)?);
        // verify_slice compares in constant time.
        self.mac(issued, serial, client)
            .verify_slice(tag)
            .map_err(|_| DigestError::BadNonce)?;
        Ok(Nonce { issued, serial })
    }
}

/// `nc` is exactly 8 hex digits (RFC 7616 §3.4), and a client's first request counts 1.
fn parse_nc(nc: &str) -> Option<u32> {
    if nc.len() != 8 || !nc.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(nc, 16).ok().filter(|n| *n > 0)
}

/// The `response` a client who knows `password` sends (RFC 7616 §3.4.1, qop=auth).
fn response(algorithm: Algorithm, creds: &Credentials, password: &str, method: &str) -> String {
    let ha1 = algorithm.hash(&format!("{}:{}:{password}", creds.username, creds.realm));
    let ha2 = algorithm.hash(&format!("{method}:{}", creds.uri));
    algorithm.hash(&format!(
        "{ha1}:{}:{}:{}:auth:{ha2}",
        creds.nonce,
        creds.nc.as_deref().unwrap_or_default(),
        creds.cnonce.as_deref().unwrap_or_default()
    ))
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
            "opaque" => creds.opaque = Some(value),
            "userhash" => creds.userhash = Some(value),
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
    use std::net::Ipv4Addr;

    const HOME: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
    const ELSEWHERE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

    /// What a client sends: `Authorization` for `method uri` with `nonce` and count `nc`.
    struct Answer<'a> {
        algorithm: Algorithm,
        user: &'a str,
        password: &'a str,
        method: &'a str,
        uri: &'a str,
        nonce: String,
        nc: u32,
        opaque: Option<String>,
    }

    impl Answer<'_> {
        fn header(&self) -> String {
            let creds = Credentials {
                username: self.user.into(),
                realm: "cam".into(),
                nonce: self.nonce.clone(),
                uri: self.uri.into(),
                nc: Some(format!("{:08x}", self.nc)),
                cnonce: Some("0a4f113b".into()),
                ..Credentials::default()
            };
            let response = response(self.algorithm, &creds, self.password, self.method);
            let mut h = format!(
                "Digest username=\"{}\", realm=\"cam\", nonce=\"{}\", uri=\"{}\", algorithm={}, \
                 qop=auth, nc={:08x}, cnonce=\"0a4f113b\", response=\"{response}\"",
                self.user,
                self.nonce,
                self.uri,
                self.algorithm.name(),
                self.nc
            );
            if let Some(o) = &self.opaque {
                h.push_str(&format!(", opaque=\"{o}\""));
            }
            h
        }
    }

    fn param(challenge: &str, name: &str) -> String {
        let start = challenge.find(&format!("{name}=\"")).expect(name) + name.len() + 2;
        let end = challenge[start..].find('"').expect("end") + start;
        challenge[start..end].to_string()
    }

    /// An admin's `GET /x` to the first challenge `auth` gives `HOME`, as a client sends it.
    fn get_x(auth: &DigestAuthority) -> Answer<'static> {
        let challenge = &auth.challenges(HOME, false)[0];
        Answer {
            algorithm: Algorithm::Sha256,
            user: "admin",
            password: "s3cret pass",
            method: "GET",
            uri: "/x",
            nonce: param(challenge, "nonce"),
            nc: 1,
            opaque: Some(param(challenge, "opaque")),
        }
    }

    fn pw(user: &str) -> Option<String> {
        (user == "admin").then(|| "s3cret pass".to_string())
    }

    fn authority() -> DigestAuthority {
        DigestAuthority::new("cam", Duration::from_secs(120))
    }

    fn check(auth: &DigestAuthority, a: &Answer<'_>, from: IpAddr) -> Result<String, DigestError> {
        auth.verify(Some(&a.header()), a.method, a.uri, from, pw)
    }

    #[test]
    fn rfc_7616_example_responses() {
        // RFC 7616 §3.9.1: Mufasa's GET /dir/index.html.
        let creds = Credentials {
            username: "Mufasa".into(),
            realm: "http-auth@example.org".into(),
            nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v".into(),
            uri: "/dir/index.html".into(),
            nc: Some("00000001".into()),
            cnonce: Some("f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ".into()),
            ..Credentials::default()
        };
        assert_eq!(
            response(Algorithm::Sha256, &creds, "Circle of Life", "GET"),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
        assert_eq!(
            response(Algorithm::Md5, &creds, "Circle of Life", "GET"),
            "8ca523f5e9506fed4657c9700eebdbec"
        );
    }

    #[test]
    fn challenges_offer_sha256_then_md5_with_one_fresh_nonce_each_time() {
        let auth = authority();
        let first = auth.challenges(HOME, false);
        assert!(first[0].contains("algorithm=SHA-256"), "{first:?}");
        assert!(first[1].contains("algorithm=MD5"), "{first:?}");
        assert!(first.iter().all(|c| c.contains("qop=\"auth\"")));
        assert_eq!(param(&first[0], "nonce"), param(&first[1], "nonce"));
        let second = auth.challenges(HOME, true);
        assert_ne!(param(&first[0], "nonce"), param(&second[0], "nonce"));
        assert_eq!(param(&first[0], "opaque"), param(&second[0], "opaque"));
        assert!(second.iter().all(|c| c.ends_with(", stale=true")));
        assert_ne!(
            param(&first[0], "opaque"),
            param(&authority().challenges(HOME, false)[0], "opaque"),
            "opaque is random per process"
        );
    }

    #[test]
    fn accepts_md5_and_sha256_with_a_rising_nc_and_refuses_a_repeat() {
        let auth = authority();
        for algorithm in [Algorithm::Sha256, Algorithm::Md5] {
            let mut a = Answer {
                algorithm,
                uri: "/snapshot.jpg?width=320",
                ..get_x(&auth)
            };
            assert_eq!(check(&auth, &a, HOME), Ok("admin".into()));
            // The same header again, as someone who captured it would send it.
            assert_eq!(check(&auth, &a, HOME), Err(DigestError::Replay));
            // A keep-alive client counts on with the same nonce.
            a.nc = 2;
            assert_eq!(check(&auth, &a, HOME), Ok("admin".into()));
            a.nc = 7;
            assert_eq!(check(&auth, &a, HOME), Ok("admin".into()));
            // One sent on a second connection that arrived late is still new, once.
            a.nc = 5;
            assert_eq!(check(&auth, &a, HOME), Ok("admin".into()));
            for used in [5, 7, 2, 1] {
                a.nc = used;
                assert_eq!(check(&auth, &a, HOME), Err(DigestError::Replay), "{used}");
            }
            // Far below the highest it cannot be told from a replay.
            a.nc = 7 + NC_WINDOW + 1;
            assert_eq!(check(&auth, &a, HOME), Ok("admin".into()));
            a.nc = 6;
            assert_eq!(check(&auth, &a, HOME), Err(DigestError::Replay));
        }
    }

    #[test]
    fn each_nc_is_taken_once_within_the_window() {
        let mut counts = Counts {
            issued: 0,
            top: 1,
            below: 0,
        };
        let mut taken = Vec::new();
        for nc in [3, 2, 2, 1, 3, 67, 4, 3, 200, 137, 136, 135, 137, 1000, 936] {
            taken.push(counts.take(nc));
        }
        // 64 below the highest is the last one still told apart.
        assert_eq!(
            taken,
            [
                true, true, false, false, false, true, true, false, true, true, true, false, false,
                true, true
            ]
        );
    }

    #[test]
    fn a_nonce_from_another_address_is_a_failed_login() {
        let auth = authority();
        let a = get_x(&auth);
        assert_eq!(check(&auth, &a, ELSEWHERE), Err(DigestError::BadNonce));
        let mapped = IpAddr::V6(Ipv4Addr::new(127, 0, 0, 1).to_ipv6_mapped());
        assert_eq!(check(&auth, &a, mapped), Ok("admin".into()));
    }

    #[test]
    fn refuses_answers_without_qop_nc_or_cnonce_and_a_foreign_opaque() {
        let auth = authority();
        let a = get_x(&auth);
        let good = a.header();
        let verify = |h: &str| auth.verify(Some(h), "GET", "/x", HOME, pw);
        // RFC 2069: response = H(HA1:nonce:HA2), no qop.
        let ha1 = Algorithm::Md5.hash("admin:cam:s3cret pass");
        let ha2 = Algorithm::Md5.hash("GET:/x");
        let rfc2069 = format!(
            "Digest username=\"admin\", realm=\"cam\", nonce=\"{}\", uri=\"/x\", response=\"{}\"",
            a.nonce,
            Algorithm::Md5.hash(&format!("{ha1}:{}:{ha2}", a.nonce))
        );
        assert_eq!(verify(&rfc2069), Err(DigestError::NoQop));
        assert_eq!(
            verify(&good.replace("qop=auth,", "qop=auth-int,")),
            Err(DigestError::Unsupported)
        );
        for (from, to) in [
            ("nc=00000001, ", ""),
            ("nc=00000001", "nc=1"),
            ("nc=00000001", "nc=0000000g"),
            ("nc=00000001", "nc=00000000"),
            ("cnonce=\"0a4f113b\", ", ""),
            ("cnonce=\"0a4f113b\"", "cnonce=\"\""),
        ] {
            assert_eq!(
                verify(&good.replace(from, to)),
                Err(DigestError::Malformed),
                "{to}"
            );
        }
        let wrong = Answer {
            opaque: Some("not ours".into()),
            ..get_x(&auth)
        };
        assert_eq!(check(&auth, &wrong, HOME), Err(DigestError::Opaque));
        let without = Answer {
            opaque: None,
            ..get_x(&auth)
        };
        assert_eq!(check(&auth, &without, HOME), Ok("admin".into()));
        assert_eq!(
            verify(&good.replace("algorithm=SHA-256", "algorithm=SHA-256-sess")),
            Err(DigestError::Unsupported)
        );
        assert_eq!(
            verify(&format!("{good}, userhash=true")),
            Err(DigestError::Unsupported)
        );
        assert_eq!(verify(&good), Ok("admin".into()));
    }

    #[test]
    fn refuses_wrong_password_user_method_and_uri() {
        let auth = authority();
        for a in [
            Answer {
                password: "nope",
                ..get_x(&auth)
            },
            Answer {
                user: "eve",
                ..get_x(&auth)
            },
        ] {
            assert_eq!(check(&auth, &a, HOME), Err(DigestError::BadCredentials));
        }
        let good = get_x(&auth).header();
        assert_eq!(
            auth.verify(Some(&good), "POST", "/x", HOME, pw),
            Err(DigestError::BadCredentials)
        );
        assert_eq!(
            auth.verify(Some(&good), "GET", "/y", HOME, pw),
            Err(DigestError::UriMismatch)
        );
        assert_eq!(
            auth.verify(Some(&good), "GET", "/x?admin=1", HOME, pw),
            Err(DigestError::UriMismatch)
        );
    }

    #[test]
    fn forged_nonces_are_refused_and_old_ones_are_stale() {
        let auth = authority();
        let other = authority();
        for nonce in [
            "5f00-0000".to_string(),
            BASE64URL.encode([0u8; NONCE_BYTES]),
            param(&other.challenges(HOME, false)[0], "nonce"),
        ] {
            let a = Answer {
                nonce,
                ..get_x(&auth)
            };
            assert_eq!(check(&auth, &a, HOME), Err(DigestError::BadNonce));
        }
        let a = get_x(&auth);
        let verify_at = |now: u64, a: &Answer<'_>| {
            auth.verify_at(now, Some(&a.header()), "GET", "/x", HOME, pw)
        };
        assert_eq!(verify_at(120, &a), Ok("admin".into()));
        let later = Answer {
            nc: 2,
            ..get_x(&auth)
        };
        let later = Answer {
            nonce: a.nonce.clone(),
            ..later
        };
        assert_eq!(verify_at(121, &later), Err(DigestError::Stale));
        // Stale only with the right password: a guess stays a failed login.
        let guess = Answer {
            password: "guess",
            ..later
        };
        assert_eq!(verify_at(121, &guess), Err(DigestError::BadCredentials));
    }

    #[test]
    fn the_replay_table_stays_bounded_and_a_forgotten_nonce_is_stale() {
        let auth = authority();
        let first = get_x(&auth);
        assert_eq!(check(&auth, &first, HOME), Ok("admin".into()));
        for _ in 0..MAX_NONCES {
            assert_eq!(check(&auth, &get_x(&auth), HOME), Ok("admin".into()));
        }
        let seen = auth.seen.lock().expect("lock");
        assert!(seen.nonces.len() <= MAX_NONCES, "{}", seen.nonces.len());
        drop(seen);
        // Forgotten: it cannot be told from a replay, so the client is sent a new nonce.
        assert_eq!(check(&auth, &first, HOME), Err(DigestError::Stale));
        let next = Answer { nc: 2, ..first };
        assert_eq!(check(&auth, &next, HOME), Err(DigestError::Stale));
        // A nonce issued earlier but first used now is still good once.
        let late = get_x(&auth);
        let recent = get_x(&auth);
        assert_eq!(check(&auth, &recent, HOME), Ok("admin".into()));
        assert_eq!(check(&auth, &late, HOME), Ok("admin".into()));
        assert_eq!(check(&auth, &late, HOME), Err(DigestError::Replay));
    }

    #[test]
    fn malformed_headers_are_errors_not_panics() {
        let auth = authority();
        for h in [
            "",
            "Digest",
            "Digest ",
            "Digest username",
            "Digest username=\"a",
            "Basic YWRtaW46eA==",
            "Digest username=\"a\", nonce=\"\u{00e9}-\", uri=\"/\", response=\"x\", realm=\"cam\", qop=auth, nc=00000001, cnonce=\"c\"",
            "Digest ,,,=,=\"",
        ] {
            assert!(auth.verify(Some(h), "GET", "/", HOME, pw).is_err(), "{h}");
        }
        assert_eq!(
            auth.verify(None, "GET", "/", HOME, pw),
            Err(DigestError::Missing)
        );
    }

    #[test]
    fn absolute_uri_in_digest_matches_the_path() {
        assert!(uri_matches("http://cam:80/snapshot.jpg", "/snapshot.jpg"));
        assert!(!uri_matches("http://cam:80/other", "/snapshot.jpg"));
    }
}
