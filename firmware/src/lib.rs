//! babymonitor: the daemon that makes a Raspberry Pi an ONVIF/RTSP baby monitor.
//!
//! The binary (`main.rs`) only parses the command line; [`daemon::run`] wires the parts.

pub mod audio;
pub mod camera;
pub mod climate;
pub mod config;
pub mod daemon;
pub mod detect;
pub mod discovery;
pub mod events;
pub mod first_boot;
pub mod gate;
pub mod hardware;
pub mod history;
pub mod http;
pub mod identity;
pub mod look;
pub mod media;
pub mod metrics_text;
pub mod night;
pub mod ptz;
pub mod rtsp;
pub mod settings;
pub mod syslog;
pub mod watchdog;
pub mod web;
pub mod worker;

/// The parsers that take network or SD-card input, in one list for the fuzz targets (`fuzz/`), so
/// that moving a module changes these lines and not the targets. Not an API.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::config::boot_file::{BootFile, without_secrets};
    pub use crate::config::{Config, Role, User};
    pub use crate::http::{Authenticator, classify_tunnel};
    pub use crate::web::offer::parse as whep_offer;
    pub use crate::web::talk::parse as talk_offer;
}

/// The realm of RTSP and HTTP Digest authentication (clients show it in password prompts).
pub const REALM: &str = "babymonitor";
