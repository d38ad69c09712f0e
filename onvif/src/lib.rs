//! ONVIF protocol pieces with no hardware and no media in them: the wire format (`wire/`), how
//! clients log in (`auth/`), the services as operation tables (`services/`), WS-Discovery and
//! `xs:duration`. The firmware implements the services' backend traits.
//!
//! Each module is also re-exported at the crate's root (`onvif::ptz`, `onvif::soap`, ...), the
//! paths callers name; the folders group them for the reader.

pub mod auth;
pub mod discovery;
pub mod duration;
pub mod model;
pub mod services;
pub mod wire;

pub use auth::{http_digest, security};
pub use services::{device, deviceio, events, imaging, media, media2, ptz, service, speaker};
pub(crate) use wire::write;
pub use wire::{ns, soap, xml};
