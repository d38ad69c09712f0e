//! babymonitor: the daemon that makes a Raspberry Pi an ONVIF/RTSP baby monitor.
//!
//! The binary (`main.rs`) only parses the command line; [`daemon::run`] wires the parts.

pub mod camera;
pub mod config;
pub mod daemon;
pub mod discovery;
pub mod hardware;
pub mod history;
pub mod http;
pub mod identity;
pub mod look;
pub mod media;
pub mod night;
pub mod ptz;
pub mod rtsp;
pub mod settings;
pub mod web;

/// The realm of RTSP and HTTP Digest authentication (clients show it in password prompts).
pub const REALM: &str = "babymonitor";
