//! The front doors: everything a client on the network talks to. Media leaves through RTSP,
//! WebRTC and HTTP (snapshots, the live picture); control comes in through ONVIF, the HTTP API
//! and the web page, and each of those calls the same domain controllers.

pub mod discovery;
pub mod gate;
pub mod http;
pub mod onvif;
pub mod rtsp;
pub mod webrtc;
