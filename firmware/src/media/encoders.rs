//! Which encoders this machine has, chosen once at start-up.

use anyhow::{Context, bail};
use tracing::info;

use crate::config::{EncoderChoice, VideoConfig};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum H264Encoder {
    /// The Raspberry Pi's hardware encoder (bcm2835-codec through V4L2 memory-to-memory).
    V4l2,
    X264,
}

impl H264Encoder {
    pub fn element(self) -> &'static str {
        match self {
            H264Encoder::V4l2 => "v4l2h264enc",
            H264Encoder::X264 => "x264enc",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Encoders {
    pub h264: H264Encoder,
    /// `None` when no AAC encoder is installed; the streams then carry no sound.
    pub aac: Option<&'static str>,
}

fn exists(name: &str) -> bool {
    gst::ElementFactory::find(name).is_some()
}

impl Encoders {
    pub fn detect(video: &VideoConfig) -> anyhow::Result<Self> {
        let h264 = match video.encoder {
            EncoderChoice::Auto if exists("v4l2h264enc") => H264Encoder::V4l2,
            EncoderChoice::Auto | EncoderChoice::X264enc => H264Encoder::X264,
            EncoderChoice::V4l2h264enc => H264Encoder::V4l2,
        };
        if !exists(h264.element()) {
            bail!(
                "the H.264 encoder {} is not installed (GStreamer plugin missing)",
                h264.element()
            );
        }
        let aac = ["fdkaacenc", "avenc_aac", "voaacenc"]
            .into_iter()
            .find(|name| exists(name));
        for needed in [
            "appsrc",
            "appsink",
            "h264parse",
            "rtph264pay",
            "videoconvert",
            "videoscale",
            "videorate",
            "tee",
        ] {
            exists(needed)
                .then_some(())
                .with_context(|| format!("GStreamer element {needed} is not installed"))?;
        }
        info!(
            h264 = h264.element(),
            aac = aac.unwrap_or("none (streams without sound)"),
            "encoders picked"
        );
        Ok(Self { h264, aac })
    }
}
