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

/// The realm of RTSP and HTTP Digest authentication (clients show it in password prompts).
pub const REALM: &str = "babymonitor";
