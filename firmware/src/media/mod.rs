//! Capture, encode once, fan out.
//!
//! One capture pipeline per source (camera, microphone) encodes each stream once; the [`Hub`]
//! hands the encoded access units to every viewer's [`Feed`]. Nothing runs while nobody needs
//! it: a [`DemandGuard`] held by each viewer or snapshot keeps the capture running.

mod capture;
mod describe;
pub(crate) use describe::H264_CAPS;
pub(crate) use describe::rtsp_media as rtsp_media_description;
mod encoders;
mod feed;
mod hub;
pub mod look;
pub mod picture;
mod stats;
pub mod streams;

pub use capture::{Capture, Look, Source};
pub use encoders::{Encoders, JpegEncoder};
pub use feed::Feed;
pub use hub::{DemandGuard, GrayListener, Hub, SoundListener, Track};

/// Nanoseconds on the system clock that every pipeline in the process runs on.
pub fn clock_now() -> u64 {
    use gst::prelude::*;
    gst::SystemClock::obtain().time().nseconds()
}
