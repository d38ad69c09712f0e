//! What the daemon needs from the device and the operating system: the hardware behind small
//! traits (real and simulated), the camera's identity, first boot, the watchdog, syslog,
//! worker threads and the allocator's settings.

pub mod certificate;
pub mod first_boot;
pub mod hardware;
pub mod identity;
pub mod memory;
pub mod network;
pub mod syslog;
pub mod watchdog;
pub mod worker;
