//! `[ntfy]`: push notifications to an ntfy topic (self-hosted or ntfy.sh): one user's alerts,
//! with a snapshot attached, sent by `crate::notify::ntfy`.

use std::fmt;

use serde::Deserialize;

use super::Problems;

#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NtfyConfig {
    pub enabled: bool,
    /// The topic's URL, `https://ntfy.sh/<topic>` or a self-hosted server's. On a public
    /// server the topic's name is the secret: whoever knows it reads the pushes.
    pub url: String,
    /// An access token, sent as `Authorization: Bearer`; empty: none.
    pub token: String,
    /// Whose alert rules the pushes follow; empty: the first admin.
    pub user: String,
    /// Which alert kinds (`cry`, `motion`, `too_hot`...); empty: all.
    pub kinds: Vec<String>,
    /// Attach a JPEG of the moment (a PUT with the picture as the body).
    pub snapshot: bool,
    /// Attempts after the first one failed, with back-off.
    pub retries: u32,
    /// At most this many pushes in any hour; what is over it is dropped and counted.
    pub max_per_hour: u32,
}

impl Default for NtfyConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            url: String::new(),
            token: String::new(),
            user: String::new(),
            kinds: Vec::new(),
            snapshot: true,
            retries: 3,
            max_per_hour: 30,
        }
    }
}

// Hand-written so that a stray `{:?}` never prints the token, nor the topic (on a public
// server its name is as good as a password).
impl fmt::Debug for NtfyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |s: &str| if s.is_empty() { "" } else { "<redacted>" };
        f.debug_struct("NtfyConfig")
            .field("enabled", &self.enabled)
            .field("url", &redacted(&self.url))
            .field("token", &redacted(&self.token))
            .field("user", &self.user)
            .field("kinds", &self.kinds)
            .field("snapshot", &self.snapshot)
            .field("retries", &self.retries)
            .field("max_per_hour", &self.max_per_hour)
            .finish()
    }
}

impl NtfyConfig {
    pub const RETRIES: (u32, u32) = (0, 10);
    pub const MAX_PER_HOUR: (u32, u32) = (1, 3600);

    pub(super) fn check(&self, p: &mut Problems) {
        if self.url.is_empty() {
            if self.enabled {
                p.add("ntfy.url", "must be set when ntfy is enabled");
            }
        } else if let Some(problem) = url_problem(&self.url) {
            p.add("ntfy.url", problem);
        }
        if let Some(problem) = token_problem(&self.token) {
            p.add("ntfy.token", problem);
        }
        for (i, kind) in self.kinds.iter().enumerate() {
            if !crate::alerts::Kind::ALL.iter().any(|k| k.as_str() == kind) {
                let names: Vec<_> = crate::alerts::Kind::ALL
                    .iter()
                    .map(|k| k.as_str())
                    .collect();
                p.add(
                    format!("ntfy.kinds[{i}]"),
                    format!("must be one of {} (got {kind:?})", names.join(", ")),
                );
            }
        }
        let (lo, hi) = Self::RETRIES;
        p.range("ntfy.retries", self.retries, lo, hi);
        let (lo, hi) = Self::MAX_PER_HOUR;
        p.range("ntfy.max_per_hour", self.max_per_hour, lo, hi);
    }
}

/// Why `url` is no ntfy topic URL the camera can publish to.
fn url_problem(url: &str) -> Option<String> {
    let Ok(uri) = url.parse::<hyper::Uri>() else {
        return Some("must be a URL such as \"https://ntfy.sh/<topic>\"".into());
    };
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Some("must start with https:// or http://".into());
    }
    match uri.authority() {
        None => return Some("must name the server".into()),
        Some(a) if a.as_str().contains('@') => {
            // A password in the URL would be sent to nobody (and logged by proxies).
            return Some(
                "must not hold a user or password: put an access token in ntfy.token".into(),
            );
        }
        Some(a) if a.host().is_empty() => return Some("must name the server".into()),
        Some(_) => {}
    }
    let topic = uri.path().trim_matches('/');
    if topic.is_empty() {
        return Some("must end with the topic, as in \"https://ntfy.sh/<topic>\"".into());
    }
    None
}

/// Why `token` cannot go in an `Authorization` header.
fn token_problem(token: &str) -> Option<&'static str> {
    if token.len() > 512 {
        return Some("must be at most 512 characters");
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Some("must be printable ASCII without spaces");
    }
    None
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn refusal(text: &str) -> String {
        Config::parse(text, std::path::Path::new("t.toml"))
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn a_full_section_parses() {
        let c = Config::parse(
            r#"[ntfy]
enabled = true
url = "https://ntfy.example/nursery-x7"
token = "tk_abc123"
user = "ann"
kinds = ["cry", "too_hot"]
snapshot = false
retries = 0
max_per_hour = 5
"#,
            std::path::Path::new("t.toml"),
        )
        .expect("parses")
        .ntfy;
        assert!(c.enabled && !c.snapshot);
        assert_eq!(c.kinds, ["cry", "too_hot"]);
        assert_eq!((c.retries, c.max_per_hour), (0, 5));
        let debug = format!("{c:?}");
        assert!(
            !debug.contains("tk_abc123") && !debug.contains("nursery-x7"),
            "{debug}"
        );
    }

    #[test]
    fn bad_values_name_their_field_and_line() {
        let err = refusal("[ntfy]\nenabled = true\n");
        assert!(
            err.contains("ntfy.url") && err.contains("must be set"),
            "{err}"
        );
        for (url, says) in [
            ("ntfy.sh/topic", "https://"),
            ("ftp://ntfy.sh/topic", "https://"),
            ("https://ntfy.sh/", "topic"),
            ("https://ntfy.sh", "topic"),
            ("https://me:pw@ntfy.sh/topic", "ntfy.token"),
            ("https://ntfy sh/topic", "URL"),
        ] {
            let err = refusal(&format!("[ntfy]\nurl = {url:?}\n"));
            assert!(err.starts_with("t.toml:2:"), "{url}: {err}");
            assert!(
                err.contains("ntfy.url") && err.contains(says),
                "{url}: {err}"
            );
        }
        let err = refusal("[ntfy]\ntoken = \"tk with space\"\n");
        assert!(err.contains("ntfy.token") && err.contains("ASCII"), "{err}");
        let err = refusal("[ntfy]\nkinds = [\"cry\",\n  \"crying\"]\n");
        assert!(err.starts_with("t.toml:3:"), "{err}");
        assert!(
            err.contains("ntfy.kinds[1]") && err.contains("too_hot"),
            "{err}"
        );
        let err = refusal("[ntfy]\nretries = 11\n");
        assert!(
            err.contains("ntfy.retries") && err.contains("between 0 and 10"),
            "{err}"
        );
        let err = refusal("[ntfy]\nmax_per_hour = 0\n");
        assert!(err.contains("ntfy.max_per_hour"), "{err}");
        let err = refusal("[ntfy]\ntopic = \"x\"\n");
        assert!(err.contains("topic"), "{err}");
    }
}
