//! The ONVIF services, each a table of its operations with their access class (`service`), one
//! function per operation, against the backend traits the firmware implements.

pub mod device;
pub mod deviceio;
pub mod events;
pub mod imaging;
pub mod media;
pub mod media2;
pub mod ptz;
pub mod service;
pub mod speaker;
