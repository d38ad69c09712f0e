//! Every GStreamer pipeline description the daemon uses, built in this one place.

use std::path::Path;

use super::encoders::{Encoders, H264Encoder};
use crate::config::{AudioConfig, AudioSource, StreamConfig, VideoConfig, VideoSource};

/// Element names the capture code looks up.
pub(crate) const MAIN_SINK: &str = "main_sink";
pub(crate) const SUB_SINK: &str = "sub_sink";
pub(crate) const FRAME_SINK: &str = "frame_sink";
pub(crate) const AUDIO_SINK: &str = "audio_sink";
pub(crate) const GRAY_SINK: &str = "gray_sink";
/// Raw microphone samples for the sound detector.
pub(crate) const SOUND_SINK: &str = "sound_sink";
/// The small grey frames motion detection and night vision's AUTO look at.
pub(crate) const GRAY_SIZE: (usize, usize) = (64, 36);
/// Valves in front of the encoders: closed while nobody watches that stream, so a camera that
/// runs only for the detectors encodes nothing.
pub(crate) const MAIN_GATE: &str = "main_gate";
pub(crate) const SUB_GATE: &str = "sub_gate";
/// Elements whose properties change while the pipeline runs (night mode, the test overlay).
pub(crate) const LOOK_BALANCE: &str = "look_balance";
pub(crate) const LOOK_TEXT: &str = "look_text";
pub(crate) const LOOK_CROP: &str = "look_crop";
pub(crate) const MAIN_ENCODER: &str = "main_enc";
pub(crate) const SUB_ENCODER: &str = "sub_enc";

/// What the encoded H.264 looks like on every hub track: Annex B, one access unit per buffer,
/// SPS/PPS in front of every IDR (so a viewer can start at any key frame).
pub(crate) const H264_CAPS: &str = "video/x-h264,stream-format=byte-stream,alignment=au";

/// Quotes a value for a launch line.
fn quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

fn path(p: &Path) -> String {
    quoted(&p.to_string_lossy())
}

fn video_source(video: &VideoConfig) -> String {
    match video.source {
        VideoSource::Test => "videotestsrc is-live=true pattern=smpte".to_string(),
        VideoSource::V4l2 => format!("v4l2src device={} ! decodebin", quoted(&video.device)),
        VideoSource::Libcamera if video.camera.is_empty() => "libcamerasrc".to_string(),
        VideoSource::Libcamera => format!("libcamerasrc camera-name={}", quoted(&video.camera)),
        // clocksync paces a file to real time: it is not a live source.
        VideoSource::File => format!(
            "filesrc location={} ! decodebin ! clocksync",
            path(&video.path)
        ),
        VideoSource::Raw => video.pipeline.clone(),
    }
}

fn h264_encoder(encoder: H264Encoder, name: &str, s: &StreamConfig) -> String {
    match encoder {
        H264Encoder::X264 => format!(
            "x264enc name={name} tune=zerolatency speed-preset=superfast bitrate={} vbv-buf-capacity=1000 \
             key-int-max={} bframes=0 byte-stream=true ! video/x-h264,profile=main",
            s.bitrate_kbps, s.keyframe_interval
        ),
        H264Encoder::V4l2 => format!(
            "v4l2convert ! video/x-raw,format=I420 ! v4l2h264enc name={name} \
             extra-controls=\"controls,video_bitrate={},h264_i_frame_period={},repeat_sequence_header=1,h264_profile=2\" \
             ! video/x-h264,level=(string)4",
            u64::from(s.bitrate_kbps) * 1000,
            s.keyframe_interval
        ),
    }
}

fn raw_caps(s: &StreamConfig) -> String {
    format!(
        "video/x-raw,width={},height={},framerate={}/1,pixel-aspect-ratio=1/1",
        s.width, s.height, s.framerate
    )
}

/// Camera -> main encoder, sub encoder and a raw frame tap for snapshots.
pub(crate) fn video_pipeline(video: &VideoConfig, enc: &Encoders) -> String {
    // The test picture shows the simulated camera's state (where it points, night mode).
    let overlay = if video.source == VideoSource::Test {
        format!(
            " ! textoverlay name={LOOK_TEXT} halignment=left valignment=top shaded-background=true font-desc=\"Sans 16\" \
             ! clockoverlay halignment=right valignment=bottom shaded-background=true \
             font-desc=\"Sans 20\" text=\"babymonitor test picture\" time-format=\"%Y-%m-%d %H:%M:%S\""
        )
    } else {
        String::new()
    };
    // Queues after the tee are leaky so that a slow branch drops frames instead of stalling
    // the camera and the other branches.
    let queue = "queue max-size-buffers=3 max-size-bytes=0 max-size-time=0 leaky=downstream";
    let gate = "valve drop=true drop-mode=forward-sticky-events";
    let (gray_w, gray_h) = GRAY_SIZE;
    let appsink =
        "appsink sync=false async=false max-buffers=30 drop=true enable-last-sample=false";
    // The grey frames are scaled with a filter that averages the whole area (lanczos widens
    // with the ratio): sensor noise, or the test picture's noise patch, then cancels out
    // instead of looking like motion.
    // videocrop + videoscale (digital zoom) and videobalance (night) pass frames through
    // untouched until zoom or night mode asks for work.
    // The sub stream's videorate sits in front of its gate: behind a closed valve it would see
    // a gap as long as nobody watched and fill it with a burst of stale duplicates when the
    // valve opens (seconds of old frames at once: the first viewer looks behind and freezes,
    // and the sound is mapped against a picture from the past).
    format!(
        "{src} ! videoconvert ! videoscale ! videorate ! {main_caps} \
         ! videocrop name={LOOK_CROP} ! videoscale ! {main_caps} ! videobalance name={LOOK_BALANCE}{overlay} ! tee name=t \
         t. ! {queue} ! {gate} name={MAIN_GATE} ! videoconvert ! {main_enc} ! h264parse config-interval=-1 ! {H264_CAPS} ! {appsink} name={MAIN_SINK} \
         t. ! {queue} ! videorate ! video/x-raw,framerate={sub_rate}/1 ! {gate} name={SUB_GATE} ! videoscale ! {sub_caps} ! videoconvert ! {sub_enc} ! h264parse config-interval=-1 ! {H264_CAPS} ! {appsink} name={SUB_SINK} \
         t. ! queue max-size-buffers=1 leaky=downstream ! appsink name={FRAME_SINK} sync=false async=false max-buffers=1 drop=true enable-last-sample=false \
         t. ! queue max-size-buffers=1 leaky=downstream ! videorate drop-only=true max-rate=4 ! videoscale method=lanczos ! videoconvert \
         ! video/x-raw,format=GRAY8,width={gray_w},height={gray_h} ! appsink name={GRAY_SINK} sync=false async=false max-buffers=1 drop=true enable-last-sample=false",
        src = video_source(video),
        main_caps = raw_caps(&video.main),
        main_enc = h264_encoder(enc.h264, MAIN_ENCODER, &video.main),
        sub_caps = raw_caps(&video.sub),
        sub_rate = video.sub.framerate,
        sub_enc = h264_encoder(enc.h264, SUB_ENCODER, &video.sub),
    )
}

fn audio_source(audio: &AudioConfig) -> String {
    match audio.source {
        AudioSource::Test => {
            "audiotestsrc is-live=true wave=ticks freq=660 volume=0.3 sine-periods-per-tick=40"
                .to_string()
        }
        AudioSource::Alsa => format!("alsasrc device={}", quoted(&audio.device)),
        AudioSource::File => format!(
            "filesrc location={} ! decodebin ! clocksync",
            path(&audio.path)
        ),
        AudioSource::Raw => audio.pipeline.clone(),
    }
}

/// Microphone -> AAC (raw AAC frames with codec_data, as RFC 3640 payloading wants them).
pub(crate) fn audio_pipeline(audio: &AudioConfig, aac: &str) -> String {
    audio_chain(&audio_source(audio), audio, aac)
}

/// Silence in the microphone's format, encoded the same way: stands in while the microphone
/// is failing so that viewers still get the picture (the SDP promises a sound track).
pub(crate) fn silence_pipeline(audio: &AudioConfig, aac: &str) -> String {
    audio_chain("audiotestsrc is-live=true wave=silence", audio, aac)
}

fn audio_chain(src: &str, audio: &AudioConfig, aac: &str) -> String {
    format!(
        "{src} ! audioconvert ! audioresample ! audio/x-raw,rate={rate},channels={ch} ! tee name=at \
         at. ! queue max-size-buffers=0 max-size-bytes=0 max-size-time=200000000 leaky=downstream ! {aac} bitrate={bps} \
         ! aacparse ! audio/mpeg,mpegversion=4,stream-format=raw \
         ! appsink name={AUDIO_SINK} sync=false async=false max-buffers=50 drop=true enable-last-sample=false \
         at. ! queue max-size-buffers=0 max-size-bytes=0 max-size-time=500000000 leaky=downstream ! audioconvert ! audioresample \
         ! audio/x-raw,format=F32LE,rate={detect_rate},channels=1,layout=interleaved \
         ! appsink name={SOUND_SINK} sync=false async=false max-buffers=20 drop=true enable-last-sample=false",
        detect_rate = crate::detect::sound::SAMPLE_RATE,
        rate = audio.sample_rate,
        ch = audio.channels,
        bps = u64::from(audio.bitrate_kbps) * 1000,
    )
}

/// What one RTSP media runs: the hub's access units in, RTP out.
pub(crate) fn rtsp_media(with_audio: bool) -> String {
    // max-bytes=0: the feed itself bounds the queue (it stops pushing to a viewer that lags).
    let video = format!(
        "appsrc name=video is-live=true format=time do-timestamp=false min-latency=0 max-bytes=0 caps=\"{H264_CAPS}\" \
         ! rtph264pay name=pay0 pt=96 aggregate-mode=zero-latency"
    );
    if with_audio {
        format!(
            "( {video} appsrc name=audio is-live=true format=time do-timestamp=false min-latency=0 max-bytes=0 \
             ! rtpmp4gpay name=pay1 pt=97 )"
        )
    } else {
        format!("( {video} )")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn every_description_parses_with_the_installed_plugins() {
        gst::init().expect("gstreamer");
        let config = Config::default();
        let enc = Encoders {
            h264: H264Encoder::X264,
            aac: Some("avenc_aac"),
        };
        for desc in [
            video_pipeline(&config.video, &enc),
            audio_pipeline(&config.audio, "avenc_aac"),
        ] {
            gst::parse::launch(&desc).unwrap_or_else(|e| panic!("{desc}: {e}"));
        }
        for audio in [true, false] {
            let desc = rtsp_media(audio);
            gst::parse::launch(desc.trim_start_matches("( ").trim_end_matches(" )"))
                .expect("media parses");
        }
    }

    #[test]
    fn paths_with_quotes_are_escaped() {
        let mut video = VideoConfig {
            source: VideoSource::File,
            ..Default::default()
        };
        video.path = "/tmp/a \"b\".mp4".into();
        assert_eq!(
            video_source(&video),
            "filesrc location=\"/tmp/a \\\"b\\\".mp4\" ! decodebin ! clocksync"
        );
    }
}
