//! `[web]`: the parent's web page (live view over WebRTC, its fallback, the login session).

use serde::Deserialize;

use super::Problems;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// Browsers watching over WebRTC at once; each costs an Opus encoder and a DTLS session.
    pub max_viewers: usize,
    /// Seconds a WebRTC viewer may take to connect before its place is given back.
    pub connect_timeout_s: u64,
    /// Pages watching the fallback live view at once; each costs a JPEG encode per picture.
    pub fallback_max_viewers: usize,
    /// Frames per second of the fallback live view (JPEG over a WebSocket).
    pub fallback_fps: u32,
    /// Width of the fallback pictures (the height keeps the main stream's shape).
    pub fallback_width: u32,
    /// Hours a login stays valid without being used.
    pub session_hours: u64,
    /// Seconds a login stays valid at most, however much it is used.
    pub session_lifetime_s: u64,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            max_viewers: 4,
            connect_timeout_s: 15,
            fallback_max_viewers: 4,
            fallback_fps: 10,
            fallback_width: 640,
            session_hours: 24 * 30,
            // A week: a parent types the password about once a week, and a session cookie
            // copied off a phone (or the plain-HTTP network) stops working within days.
            session_lifetime_s: 7 * 24 * 3600,
        }
    }
}

impl WebConfig {
    pub(super) fn check(&self, p: &mut Problems) {
        p.range("web.max_viewers", self.max_viewers, 0, 64);
        p.range("web.connect_timeout_s", self.connect_timeout_s, 2, 300);
        p.range("web.fallback_max_viewers", self.fallback_max_viewers, 0, 64);
        p.range("web.fallback_fps", self.fallback_fps, 1, 30);
        p.range("web.fallback_width", self.fallback_width, 64, 1920);
        p.range("web.session_hours", self.session_hours, 1, 24 * 365);
        p.range(
            "web.session_lifetime_s",
            self.session_lifetime_s,
            10,
            365 * 24 * 3600,
        );
    }
}
