//! What the daemon needs from the device and the operating system: the hardware behind small
//! traits (real and simulated), the camera's identity, first boot, the watchdog, syslog, whom
//! it trusts when it connects out and worker threads.

pub mod allocator;
pub mod certificate;
pub mod first_boot;
pub mod hardware;
pub mod identity;
pub mod network;
pub mod syslog;
pub mod trust;
pub mod watchdog;
pub mod worker;
