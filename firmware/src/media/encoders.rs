//! Which encoders this machine has, chosen once at start-up.

use std::time::Duration;

use anyhow::{Context, bail};
use gst::prelude::*;
use tracing::{info, warn};

use super::describe;
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

/// What makes the snapshots' JPEGs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JpegEncoder {
    /// The Raspberry Pi's JPEG encoder and ISP scaler (bcm2835-codec through V4L2).
    V4l2,
    /// GStreamer's video converter and jpegenc on the CPU.
    Software,
}

#[derive(Debug, Clone, Copy)]
pub struct Encoders {
    pub h264: H264Encoder,
    /// `None` when no AAC encoder is installed; the streams then carry no sound.
    pub aac: Option<&'static str>,
    pub jpeg: JpegEncoder,
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
        let jpeg = if exists("v4l2jpegenc") && exists("v4l2convert") {
            JpegEncoder::V4l2
        } else {
            JpegEncoder::Software
        };
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
            jpeg = ?jpeg,
            "encoders picked"
        );
        Ok(Self { h264, aac, jpeg })
    }
}

impl JpegEncoder {
    /// The size of a JPEG `width` wide of a `frame` picture: the picture's shape kept, both
    /// sides even (JPEG encoders want them so) and at least 16.
    pub fn size_for(frame: (u32, u32), width: u32) -> (u32, u32) {
        let (fw, fh) = (u64::from(frame.0.max(1)), u64::from(frame.1));
        let height = ((u64::from(width) * fh / fw) as u32 & !1).max(16);
        ((width & !1).max(16), height)
    }

    /// A JPEG of `frame` at `width` x `height`. The hardware path falls back to the software
    /// one if it fails (a busy or missing codec device), so a snapshot still comes.
    pub fn encode(
        self,
        frame: &gst::Sample,
        width: u32,
        height: u32,
        timeout: Duration,
    ) -> Result<Vec<u8>, &'static str> {
        if self == JpegEncoder::V4l2 {
            let desc = describe::jpeg_pipeline("v4l2convert", "v4l2jpegenc", width, height);
            match encode_with(&desc, frame, timeout) {
                Ok(jpeg) => return Ok(jpeg),
                Err(reason) => warn!(reason, "hardware JPEG failed; encoding in software"),
            }
        }
        let caps = gst::Caps::builder("image/jpeg")
            .field("width", width as i32)
            .field("height", height as i32)
            .build();
        let jpeg = gst_video::convert_sample(
            frame,
            &caps,
            Some(gst::ClockTime::from_nseconds(timeout.as_nanos() as u64)),
        )
        .map_err(|_| "could not encode the picture")?;
        let buffer = jpeg.buffer().ok_or("empty picture")?;
        let map = buffer.map_readable().map_err(|_| "unreadable picture")?;
        Ok(map.to_vec())
    }
}

/// Runs one frame through a [`describe::jpeg_pipeline`].
fn encode_with(
    desc: &str,
    frame: &gst::Sample,
    timeout: Duration,
) -> Result<Vec<u8>, &'static str> {
    let pipeline = super::launch(desc).map_err(|_| "the JPEG pipeline cannot be built")?;
    let result = (|| {
        let src: gst_app::AppSrc =
            super::element(&pipeline, describe::JPEG_SRC).map_err(|_| "appsrc missing")?;
        let sink: gst_app::AppSink =
            super::element(&pipeline, describe::JPEG_SINK).map_err(|_| "appsink missing")?;
        src.set_caps(frame.caps_owned().as_ref());
        let buffer = frame.buffer_owned().ok_or("no picture")?;
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|_| "the JPEG encoder did not start")?;
        src.push_buffer(buffer)
            .map_err(|_| "the JPEG encoder refused the picture")?;
        let _ = src.end_of_stream();
        let jpeg = sink
            .try_pull_sample(gst::ClockTime::from_nseconds(timeout.as_nanos() as u64))
            .ok_or("no JPEG from the encoder")?;
        let buffer = jpeg.buffer().ok_or("empty picture")?;
        let map = buffer.map_readable().map_err(|_| "unreadable picture")?;
        Ok(map.to_vec())
    })();
    let _ = pipeline.set_state(gst::State::Null);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jpeg_sizes_keep_the_shape_in_even_pixels() {
        assert_eq!(JpegEncoder::size_for((1280, 720), 640), (640, 360));
        assert_eq!(JpegEncoder::size_for((1280, 720), 321), (320, 180));
        assert_eq!(JpegEncoder::size_for((640, 480), 16), (16, 16));
    }

    /// Width and height from a baseline JPEG's frame header.
    fn jpeg_size(jpeg: &[u8]) -> Option<(u32, u32)> {
        let at = jpeg.windows(2).position(|w| w == [0xff, 0xc0])?;
        let be = |i: usize| u32::from(jpeg[i]) << 8 | u32::from(jpeg[i + 1]);
        Some((be(at + 7), be(at + 5)))
    }

    #[test]
    fn the_jpeg_pipeline_scales_and_encodes_one_frame() {
        gst::init().expect("gstreamer");
        let caps: gst::Caps = "video/x-raw,format=I420,width=320,height=180,framerate=15/1"
            .parse()
            .expect("caps");
        let buffer = gst::Buffer::from_mut_slice(vec![128u8; 320 * 180 * 3 / 2]);
        let frame = gst::Sample::builder().buffer(&buffer).caps(&caps).build();
        // The software elements stand in for v4l2convert and v4l2jpegenc, which need a Pi.
        let desc = describe::jpeg_pipeline("videoconvert ! videoscale", "jpegenc", 160, 90);
        let jpeg = encode_with(&desc, &frame, Duration::from_secs(5)).expect("a JPEG");
        assert_eq!(&jpeg[..2], &[0xff, 0xd8]);
        assert_eq!(jpeg_size(&jpeg), Some((160, 90)));
        // The software path gives the same size.
        let jpeg = JpegEncoder::Software
            .encode(&frame, 160, 90, Duration::from_secs(5))
            .expect("a JPEG");
        assert_eq!(jpeg_size(&jpeg), Some((160, 90)));
    }
}
