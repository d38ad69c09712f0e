//! babymonitor: the daemon that makes a Raspberry Pi an ONVIF/RTSP baby monitor.
//!
//! The binary (`main.rs`) only parses the command line; [`daemon::run`] wires the parts.

pub mod alerts;
pub mod audio;
pub mod climate;
pub mod config;
pub mod daemon;
pub mod detect;
pub mod events;
pub mod history;
pub mod media;
pub mod metrics_text;
pub mod mqtt;
pub mod night;
pub mod notify;
pub mod platform;
pub mod ptz;
pub mod recordings;
pub mod serve;
pub mod settings;
pub mod sleep;
pub mod update;

/// The parsers that take network or SD-card input, in one list for the fuzz targets (`fuzz/`), so
/// that moving a module changes these lines and not the targets. Not an API.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::config::boot_file::{BootFile, without_secrets};
    pub use crate::config::{Config, Role, User};
    pub use crate::recordings::fmp4::inspect as fmp4_inspect;
    pub use crate::serve::http::{Authenticator, classify_tunnel};
    pub use crate::serve::webrtc::offer::parse as whep_offer;
    pub use crate::serve::webrtc::offer::parse_talk as talk_offer;
}

/// The realm of RTSP and HTTP Digest authentication (clients show it in password prompts).
pub const REALM: &str = "babymonitor";
