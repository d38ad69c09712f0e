//! WS-Security UsernameToken (PasswordDigest and PasswordText), with replay and clock checks.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha1::{Digest as _, Sha1};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::ns;
use crate::xml::Element;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsernameToken {
    pub username: String,
    password: String,
    digest: bool,
    nonce: Option<String>,
    created: Option<String>,
}

impl UsernameToken {
    /// Whether it proves the password by a digest (PasswordDigest), not by sending it
    /// (PasswordText).
    pub fn is_digest(&self) -> bool {
        self.digest
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecurityError {
    #[error("malformed UsernameToken: {0}")]
    Malformed(&'static str),
    #[error("a password digest needs a Nonce and a Created time")]
    MissingNonceOrCreated,
    #[error("Created is outside the allowed clock skew")]
    Skew,
    #[error("the nonce was used before")]
    Replay,
    #[error("unknown user or wrong password")]
    BadCredentials,
}

/// Finds the UsernameToken in a SOAP header, if there is one.
pub fn username_token(header: Option<&Element>) -> Option<Result<UsernameToken, SecurityError>> {
    let security = header?
        .children
        .iter()
        .find(|c| c.is(ns::WSSE, "Security"))?;
    let token = security
        .children
        .iter()
        .find(|c| c.name == "UsernameToken")?;
    Some(read_token(token))
}

fn read_token(token: &Element) -> Result<UsernameToken, SecurityError> {
    let username = token
        .text_of("Username")
        .ok_or(SecurityError::Malformed("no Username"))?
        .to_string();
    let password_el = token
        .child("Password")
        .ok_or(SecurityError::Malformed("no Password"))?;
    let digest = match password_el.attr("Type") {
        None => false,
        Some(t) if t == ns::PASSWORD_TEXT || t.ends_with("#PasswordText") => false,
        Some(t) if t == ns::PASSWORD_DIGEST || t.ends_with("#PasswordDigest") => true,
        Some(_) => return Err(SecurityError::Malformed("unknown password type")),
    };
    Ok(UsernameToken {
        username,
        password: password_el.text.clone(),
        digest,
        nonce: token.text_of("Nonce").map(str::to_string),
        created: token.text_of("Created").map(str::to_string),
    })
}

/// Checks tokens; remembers nonces for twice the skew window to refuse replays.
pub struct Verifier {
    skew: Duration,
    seen: Mutex<NonceCache>,
}

#[derive(Default)]
struct NonceCache {
    expiry: HashMap<String, i64>,
    order: VecDeque<(i64, String)>,
}

/// More remembered nonces than this means a flood; the oldest are forgotten first.
const MAX_NONCES: usize = 50_000;

impl NonceCache {
    fn insert(&mut self, nonce: &str, expires: i64, now: i64) -> bool {
        while self.order.front().is_some_and(|(t, _)| *t <= now) || self.order.len() >= MAX_NONCES {
            if let Some((_, n)) = self.order.pop_front() {
                self.expiry.remove(&n);
            }
        }
        if self.expiry.contains_key(nonce) {
            return false;
        }
        self.expiry.insert(nonce.to_string(), expires);
        self.order.push_back((expires, nonce.to_string()));
        true
    }
}

impl Verifier {
    pub fn new(skew: Duration) -> Self {
        Self {
            skew,
            seen: Mutex::new(NonceCache::default()),
        }
    }

    /// Returns the user name when the token proves the password.
    pub fn verify(
        &self,
        token: &UsernameToken,
        now: OffsetDateTime,
        password_of: impl Fn(&str) -> Option<String>,
    ) -> Result<String, SecurityError> {
        let skew = self.skew.as_secs() as i64;
        if let Some(created) = &token.created {
            let at = OffsetDateTime::parse(created.trim(), &Rfc3339)
                .map_err(|_| SecurityError::Malformed("bad Created"))?;
            if (now - at).whole_seconds().abs() > skew {
                return Err(SecurityError::Skew);
            }
        }
        let expected = password_of(&token.username);
        let ok = if token.digest {
            let (Some(nonce), Some(created)) = (&token.nonce, &token.created) else {
                return Err(SecurityError::MissingNonceOrCreated);
            };
            let nonce_bytes = BASE64
                .decode(nonce.trim())
                .map_err(|_| SecurityError::Malformed("Nonce is not base64"))?;
            let Some(password) = expected else {
                return Err(SecurityError::BadCredentials);
            };
            let mut h = Sha1::new();
            h.update(&nonce_bytes);
            h.update(created.trim().as_bytes());
            h.update(password.as_bytes());
            constant_time_eq(
                BASE64.encode(h.finalize()).as_bytes(),
                token.password.trim().as_bytes(),
            )
        } else {
            expected.is_some_and(|p| constant_time_eq(p.as_bytes(), token.password.as_bytes()))
        };
        if !ok {
            return Err(SecurityError::BadCredentials);
        }
        if let Some(nonce) = &token.nonce {
            let now_s = now.unix_timestamp();
            let mut seen = self
                .seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if !seen.insert(nonce.trim(), now_s + 2 * skew, now_s) {
                return Err(SecurityError::Replay);
            }
        }
        Ok(token.username.clone())
    }
}

/// Compares secrets (password digests, nonces, session tokens) in time that does not depend on
/// where they differ; the one place the crate and the daemon do it.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soap::parse_request;

    fn digest(nonce: &[u8], created: &str, password: &str) -> String {
        let mut h = Sha1::new();
        h.update(nonce);
        h.update(created.as_bytes());
        h.update(password.as_bytes());
        BASE64.encode(h.finalize())
    }

    fn request(user: &str, pw: &str, kind: &str, nonce: &str, created: &str) -> String {
        format!(
            r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header>
            <Security s:mustUnderstand="1" xmlns="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd">
            <UsernameToken><Username>{user}</Username>
            <Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#{kind}">{pw}</Password>
            <Nonce EncodingType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary">{nonce}</Nonce>
            <Created xmlns="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd">{created}</Created>
            </UsernameToken></Security></s:Header><s:Body><GetUsers xmlns="http://www.onvif.org/ver10/device/wsdl"/></s:Body></s:Envelope>"#
        )
    }

    fn token(xml: &str) -> UsernameToken {
        let req = parse_request(xml.as_bytes()).expect("parses");
        username_token(req.header.as_ref())
            .expect("has token")
            .expect("token parses")
    }

    fn pw(user: &str) -> Option<String> {
        (user == "admin").then(|| "secret".to_string())
    }

    #[test]
    fn digest_is_checked_and_replay_refused() {
        let now = OffsetDateTime::now_utc();
        let v = Verifier::new(Duration::from_secs(300));
        for created in [
            now.format(&Rfc3339).expect("fmt"),
            (now - time::Duration::seconds(10))
                .format(&Rfc3339)
                .expect("fmt")
                .replace('Z', "+00:00"),
        ] {
            let nonce = rand::random::<[u8; 16]>();
            let t = token(&request(
                "admin",
                &digest(&nonce, &created, "secret"),
                "PasswordDigest",
                &BASE64.encode(nonce),
                &created,
            ));
            assert_eq!(v.verify(&t, now, pw), Ok("admin".into()), "{created}");
            assert_eq!(v.verify(&t, now, pw), Err(SecurityError::Replay));
        }
    }

    #[test]
    fn wrong_password_old_created_and_missing_parts_are_refused() {
        let now = OffsetDateTime::now_utc();
        let v = Verifier::new(Duration::from_secs(300));
        let created = now.format(&Rfc3339).expect("fmt");
        let nonce = BASE64.encode(b"0123456789abcdef");
        let wrong = token(&request(
            "admin",
            &digest(b"0123456789abcdef", &created, "nope"),
            "PasswordDigest",
            &nonce,
            &created,
        ));
        assert_eq!(
            v.verify(&wrong, now, pw),
            Err(SecurityError::BadCredentials)
        );
        // A right password, created at `at`.
        let created_at = |at: OffsetDateTime| {
            let at = at.format(&Rfc3339).expect("fmt");
            token(&request(
                "admin",
                &digest(b"0123456789abcdef", &at, "secret"),
                "PasswordDigest",
                &nonce,
                &at,
            ))
        };
        let stale = created_at(now - time::Duration::minutes(6));
        assert_eq!(v.verify(&stale, now, pw), Err(SecurityError::Skew));
        let early = created_at(now + time::Duration::minutes(6));
        assert_eq!(v.verify(&early, now, pw), Err(SecurityError::Skew));
        let mut no_nonce = stale.clone();
        no_nonce.nonce = None;
        no_nonce.created = None;
        assert_eq!(
            v.verify(&no_nonce, now, pw),
            Err(SecurityError::MissingNonceOrCreated)
        );
    }

    #[test]
    fn password_text_works() {
        let now = OffsetDateTime::now_utc();
        let v = Verifier::new(Duration::from_secs(300));
        let created = now.format(&Rfc3339).expect("fmt");
        let text = |password: &str, nonce: &[u8]| {
            token(&request(
                "admin",
                password,
                "PasswordText",
                &BASE64.encode(nonce),
                &created,
            ))
        };
        assert_eq!(
            v.verify(&text("secret", b"n1"), now, pw),
            Ok("admin".into())
        );
        assert_eq!(
            v.verify(&text("secreT", b"n2"), now, pw),
            Err(SecurityError::BadCredentials)
        );
    }
}
