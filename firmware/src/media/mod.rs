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
pub mod listen;
pub mod look;
pub mod noise_gate;
pub mod picture;
pub mod snapshot;
mod stats;
pub mod streams;

pub use capture::{Capture, Look, Source};
pub use encoders::{Encoders, JpegEncoder};
pub use feed::Feed;
pub use hub::{DemandGuard, GrayListener, Hub, SoundListener, Tap, TapGuard, Track};

/// Nanoseconds on the system clock that every pipeline in the process runs on.
pub fn clock_now() -> u64 {
    use gst::prelude::*;
    gst::SystemClock::obtain().time().nseconds()
}

/// A pipeline from its description. The parser's error is passed on as it is: callers add
/// what the pipeline was for.
pub fn launch(description: &str) -> anyhow::Result<gst::Pipeline> {
    use gst::prelude::*;
    gst::parse::launch(description)?
        .downcast::<gst::Pipeline>()
        .map_err(|_| anyhow::anyhow!("the description is not a pipeline"))
}

/// The element called `name` in `bin`, as a `T` (an appsrc or appsink, mostly).
pub fn element<T: gst::prelude::IsA<gst::Element>>(
    bin: &impl gst::prelude::IsA<gst::Bin>,
    name: &str,
) -> anyhow::Result<T> {
    use gst::prelude::*;
    bin.by_name(name)
        .and_then(|e| e.downcast::<T>().ok())
        .ok_or_else(|| anyhow::anyhow!("{name} ({}) missing", T::static_type().name()))
}
