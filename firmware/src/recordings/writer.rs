//! One clip being written: the hub's H.264 access units and AAC frames, as they are (nothing
//! is encoded again), muxed into a fragmented MP4 with a fragment every second, so that a
//! crash or a power cut leaves a file that plays up to its last fragment.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, anyhow};
use gst::prelude::*;

use crate::media;

const VIDEO_SRC: &str = "clip_video";
const AUDIO_SRC: &str = "clip_audio";
/// A fragment per second: at most a second of pictures lost in a crash, and few enough
/// fragment headers to keep the overhead small.
const FRAGMENT_MS: u32 = 1000;

pub struct Writer {
    pipeline: gst::Pipeline,
    video: gst_app::AppSrc,
    audio: Option<gst_app::AppSrc>,
    path: PathBuf,
    /// Capture time of the first picture: the clip's zero.
    origin: Option<u64>,
    last_video: Option<u64>,
    last_audio: Option<u64>,
    /// Capture time of the newest picture written.
    newest: u64,
}

fn description(path: &Path, with_audio: bool) -> String {
    let location = format!(
        "\"{}\"",
        path.to_string_lossy()
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
    );
    // The queues hold whatever a slow card keeps waiting; the appsrcs never block the
    // streaming threads that push into them.
    const QUEUE: &str = "queue max-size-buffers=0 max-size-bytes=0 max-size-time=0";
    let mut d = format!(
        "appsrc name={VIDEO_SRC} format=time max-bytes=0 block=false ! h264parse ! {QUEUE} \
         ! mp4mux name=mux fragment-duration={FRAGMENT_MS} ! filesink location={location} async=false"
    );
    if with_audio {
        d.push_str(&format!(
            " appsrc name={AUDIO_SRC} format=time max-bytes=0 block=false ! aacparse ! {QUEUE} ! mux."
        ));
    }
    d
}

impl Writer {
    pub fn start(path: &Path, with_audio: bool) -> anyhow::Result<Self> {
        let pipeline = media::launch(&description(path, with_audio)).context("the clip writer")?;
        let video = media::element::<gst_app::AppSrc>(&pipeline, VIDEO_SRC)?;
        let audio = if with_audio {
            Some(media::element::<gst_app::AppSrc>(&pipeline, AUDIO_SRC)?)
        } else {
            None
        };
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| anyhow!("the clip writer did not start: {e}"))?;
        Ok(Self {
            pipeline,
            video,
            audio,
            path: path.to_path_buf(),
            origin: None,
            last_video: None,
            last_audio: None,
            newest: 0,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Capture time of the first picture, once there is one.
    pub fn origin(&self) -> Option<u64> {
        self.origin
    }

    /// Seconds of pictures written so far.
    pub fn written_s(&self) -> f64 {
        self.origin
            .map_or(0.0, |o| self.newest.saturating_sub(o) as f64 / 1e9)
    }

    /// A picture captured at `captured`. The clip starts at a key frame; pictures that do not
    /// go forward in time are left out, so that the timestamps only ever grow.
    pub fn push_video(&mut self, sample: &gst::Sample, captured: u64, key: bool) {
        if self.origin.is_none() {
            if !key {
                return;
            }
            self.origin = Some(captured);
        }
        if self.last_video.is_some_and(|last| captured <= last) {
            return;
        }
        let Some(pts) = self.origin.and_then(|o| captured.checked_sub(o)) else {
            return;
        };
        self.last_video = Some(captured);
        self.newest = captured;
        push(&self.video, sample, pts);
    }

    /// Sound captured at `captured`; what came before the first picture is left out.
    pub fn push_audio(&mut self, sample: &gst::Sample, captured: u64) {
        let Some(audio) = &self.audio else { return };
        let Some(pts) = self.origin.and_then(|o| captured.checked_sub(o)) else {
            return;
        };
        if self.last_audio.is_some_and(|last| captured <= last) {
            return;
        }
        self.last_audio = Some(captured);
        push(audio, sample, pts);
    }

    /// The first error the pipeline reported, if any (a full card, a removed directory).
    pub fn failure(&self) -> Option<String> {
        let bus = self.pipeline.bus()?;
        while let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
            if let gst::MessageView::Error(e) = msg.view() {
                return Some(e.error().to_string());
            }
        }
        None
    }

    /// Ends the file: the last fragment and the index go out, within `timeout`.
    pub fn finish(self, timeout: Duration) -> anyhow::Result<PathBuf> {
        let _ = self.video.end_of_stream();
        if let Some(a) = &self.audio {
            let _ = a.end_of_stream();
        }
        let result = match self.pipeline.bus() {
            Some(bus) => match bus.timed_pop_filtered(
                gst::ClockTime::from_nseconds(timeout.as_nanos() as u64),
                &[gst::MessageType::Eos, gst::MessageType::Error],
            ) {
                Some(msg) => match msg.view() {
                    gst::MessageView::Error(e) => Err(anyhow!("{}", e.error())),
                    _ => Ok(()),
                },
                None => Err(anyhow!("the clip did not end within {timeout:?}")),
            },
            None => Err(anyhow!("the clip writer has no bus")),
        };
        let _ = self.pipeline.set_state(gst::State::Null);
        result.map(|()| self.path.clone())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

fn push(src: &gst_app::AppSrc, sample: &gst::Sample, pts: u64) {
    let Some(buffer) = sample.buffer() else {
        return;
    };
    let mut out = buffer.copy();
    {
        let out = out.make_mut();
        out.set_pts(gst::ClockTime::from_nseconds(pts));
        out.set_dts(gst::ClockTime::from_nseconds(pts));
        out.set_duration(gst::ClockTime::NONE);
    }
    let mut builder = gst::Sample::builder().buffer(&out);
    let caps = sample.caps_owned();
    if let Some(caps) = &caps {
        builder = builder.caps(caps);
    }
    // A writer that is going away refuses: the clip ends there.
    let _ = src.push_sample(&builder.build());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encoded test pictures and sound, as the hub hands them out.
    fn encoded(desc: &str, n: usize) -> Vec<gst::Sample> {
        let pipeline = media::launch(&format!("{desc} ! appsink name=out sync=false")).expect("p");
        let sink = media::element::<gst_app::AppSink>(&pipeline, "out").expect("sink");
        pipeline.set_state(gst::State::Playing).expect("play");
        let samples = (0..n)
            .map_while(|_| sink.try_pull_sample(gst::ClockTime::from_seconds(10)))
            .collect();
        let _ = pipeline.set_state(gst::State::Null);
        samples
    }

    #[test]
    fn a_clip_starts_at_zero_with_a_key_frame_and_its_length_is_read_back() {
        gst::init().expect("gst");
        // A delta frame first: left out, the clip starts at the key frame after.
        let video = encoded(
            "videotestsrc num-buffers=45 ! video/x-raw,width=160,height=90,framerate=15/1 \
             ! x264enc key-int-max=15 bframes=0 tune=zerolatency byte-stream=true \
             ! h264parse config-interval=-1 ! video/x-h264,stream-format=byte-stream,alignment=au",
            45,
        );
        assert_eq!(video.len(), 45);
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("clip.mp4");
        let mut w = Writer::start(&path, false).expect("writer");
        let base = 7_000_000_000u64;
        for (i, s) in video.iter().enumerate().skip(14) {
            let key = !s
                .buffer()
                .expect("buffer")
                .flags()
                .contains(gst::BufferFlags::DELTA_UNIT);
            w.push_video(s, base + i as u64 * 66_666_667, key);
        }
        assert_eq!(w.origin(), Some(base + 15 * 66_666_667));
        w.finish(Duration::from_secs(10)).expect("finished");
        let contents = super::super::fmp4::inspect_file(&path)
            .expect("read")
            .expect("mp4");
        // Frames 15..45 are 30 pictures: 2 s.
        assert!((contents.duration_s - 2.0).abs() < 0.1, "{contents:?}");
        assert!(contents.fragments >= 2, "{contents:?}");
    }
}
