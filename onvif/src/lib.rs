//! ONVIF protocol pieces with no hardware and no media in them.
//!
//! So far: HTTP Digest authentication (RFC 7616) as the server side of a 401 challenge, which
//! ONVIF requires next to WS-Security and which the firmware also uses for snapshots and metrics.

pub mod device;
pub mod deviceio;
pub mod discovery;
pub mod duration;
pub mod events;
pub mod http_digest;
pub mod imaging;
pub mod media;
pub mod media2;
pub mod model;
pub mod ns;
pub mod ptz;
pub mod security;
pub mod service;
pub mod soap;
pub mod speaker;
mod write;
pub mod xml;
