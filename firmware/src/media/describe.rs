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
/// The listen stream's ADTS frames, its valve (closed while nobody listens) and its noise gate.
pub(crate) const LISTEN_SINK: &str = "listen_sink";
pub(crate) const LISTEN_VALVE: &str = "listen_valve";
pub(crate) const LISTEN_GATE: &str = "listen_gate";
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
/// The camera itself where it takes zoom and picture adjustments as controls (libcamerasrc).
pub(crate) const CAMERA: &str = "camera";
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
        VideoSource::Libcamera if video.camera.is_empty() => format!("libcamerasrc name={CAMERA}"),
        VideoSource::Libcamera => format!(
            "libcamerasrc name={CAMERA} camera-name={}",
            quoted(&video.camera)
        ),
        // clocksync paces a file to real time: it is not a live source.
        VideoSource::File => format!(
            "filesrc location={} ! decodebin ! clocksync",
            path(&video.path)
        ),
        VideoSource::Raw => video.pipeline.clone(),
    }
}

fn h264_encoder(encoder: H264Encoder, name: &str, s: &StreamConfig, video: &VideoConfig) -> String {
    match encoder {
        H264Encoder::X264 => format!(
            "x264enc name={name} tune=zerolatency speed-preset={} bitrate={} vbv-buf-capacity=1000 \
             key-int-max={} bframes=0 byte-stream=true ! video/x-h264,profile=main",
            video.x264_preset.name(),
            s.bitrate_kbps,
            s.keyframe_interval
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

/// Queues after a tee are leaky so that a slow branch drops frames instead of stalling the
/// camera and the other branches.
const QUEUE: &str = "queue max-size-buffers=3 max-size-bytes=0 max-size-time=0 leaky=downstream";
const GATE: &str = "valve drop=true drop-mode=forward-sticky-events";
const APPSINK: &str =
    "appsink sync=false async=false max-buffers=30 drop=true enable-last-sample=false";

/// A gate, an encoder and its appsink (behind a queue the caller puts in front). `prepare` is what the raw frames need behind the gate
/// before the encoder takes them (empty when they come as it wants them).
fn encode_branch(gate: &str, prepare: &str, encoder: String, sink: &str) -> String {
    format!(
        "{GATE} name={gate} ! {prepare}{encoder} ! h264parse config-interval=-1 ! {H264_CAPS} ! {APPSINK} name={sink}"
    )
}

fn main_branch(prepare: &str, encoder: String) -> String {
    format!(
        "{QUEUE} ! {}",
        encode_branch(MAIN_GATE, prepare, encoder, MAIN_SINK)
    )
}

/// The sub stream's encoder branch. A videorate holds every frame back until the next one
/// arrives (a frame interval of delay, and of the first picture's wait), so it is there only
/// when the sub stream runs at another rate than the camera. It sits in front of its gate:
/// behind a closed valve it would see a gap as long as nobody watched and fill it with a burst
/// of stale duplicates when the valve opens (seconds of old frames at once: the first viewer
/// looks behind and freezes, and the sound is mapped against a picture from the past).
fn sub_branch(video: &VideoConfig, enc: &Encoders, prepare: &str) -> String {
    let rate = if video.sub.framerate == video.main.framerate {
        String::new()
    } else {
        format!(
            "videorate ! video/x-raw,framerate={}/1 ! ",
            video.sub.framerate
        )
    };
    format!(
        "{QUEUE} ! {rate}{}",
        encode_branch(
            SUB_GATE,
            prepare,
            h264_encoder(enc.h264, SUB_ENCODER, &video.sub, video),
            SUB_SINK,
        )
    )
}

/// The raw picture the hub keeps for snapshots: one frame, never a copy.
fn frame_tap() -> String {
    format!(
        "queue max-size-buffers=1 leaky=downstream ! appsink name={FRAME_SINK} sync=false async=false max-buffers=1 drop=true enable-last-sample=false"
    )
}

/// The small grey frames for the detectors, at most 4 a second. They are scaled with a filter
/// that averages the whole area (lanczos widens with the ratio): sensor noise, or the test
/// picture's noise patch, then cancels out instead of looking like motion.
fn gray_tap() -> String {
    let (w, h) = GRAY_SIZE;
    format!(
        "queue max-size-buffers=1 leaky=downstream ! videorate drop-only=true max-rate=4 ! videoscale method=lanczos ! videoconvert \
         ! video/x-raw,format=GRAY8,width={w},height={h} ! appsink name={GRAY_SINK} sync=false async=false max-buffers=1 drop=true enable-last-sample=false"
    )
}

/// Camera -> main encoder, sub encoder, a raw frame tap for snapshots and the grey frames.
pub(crate) fn video_pipeline(video: &VideoConfig, enc: &Encoders) -> String {
    match video.source {
        VideoSource::Libcamera => isp_pipeline(video, enc),
        _ => software_pipeline(video, enc),
    }
}

/// A Raspberry Pi camera: the ISP delivers both streams at their sizes in I420, zoom and the
/// picture adjustments are camera controls (set on [`CAMERA`] while it runs), so no
/// full-resolution frame passes through a software scaler, converter, crop or balance. The
/// grey frames come from the small stream.
fn isp_pipeline(video: &VideoConfig, enc: &Encoders) -> String {
    let (main, sub) = (&video.main, &video.sub);
    // The frame rate goes on the main stream only: libcamerasrc runs the sensor at one rate for
    // all its streams, taken from the last pad whose caps name one.
    format!(
        "{camera} \
         {CAMERA}.src ! video/x-raw,format=I420,width={mw},height={mh},framerate={rate}/1 ! tee name=t \
         t. ! {main_branch} \
         t. ! {frame} \
         {CAMERA}.src_0 ! video/x-raw,format=I420,width={sw},height={sh} ! tee name=s \
         s. ! {sub_branch} \
         s. ! {gray}",
        camera = video_source(video),
        mw = main.width,
        mh = main.height,
        rate = main.framerate,
        sw = sub.width,
        sh = sub.height,
        main_branch = main_branch("", h264_encoder(enc.h264, MAIN_ENCODER, main, video)),
        frame = frame_tap(),
        sub_branch = sub_branch(video, enc, ""),
        gray = gray_tap(),
    )
}

/// What turns the source's frames into the main stream's size and rate.
fn normalise(video: &VideoConfig) -> String {
    let caps = raw_caps(&video.main);
    match video.source {
        // The test picture is drawn in the size, rate and format asked for. A converter, scaler
        // and rate changer in front of it would do nothing per frame, but their open-ended caps
        // cost about 80 ms to link and another 100 ms to negotiate on every cold start.
        VideoSource::Test => caps.replacen("video/x-raw,", "video/x-raw,format=I420,", 1),
        _ => format!("videoconvert ! videoscale ! videorate ! {caps}"),
    }
}

/// Sources that hand over frames of any size and format (the test picture, USB webcams,
/// files, raw descriptions): converted, scaled, cropped and balanced in software.
fn software_pipeline(video: &VideoConfig, enc: &Encoders) -> String {
    // The test picture shows the simulated camera's state (where it points, night mode).
    let overlay = if video.source == VideoSource::Test && video.test_overlay {
        format!(
            " ! textoverlay name={LOOK_TEXT} halignment=left valignment=top shaded-background=true font-desc=\"Sans 16\" \
             ! clockoverlay halignment=right valignment=bottom shaded-background=true \
             font-desc=\"Sans 20\" text=\"babymonitor test picture\" time-format=\"%Y-%m-%d %H:%M:%S\""
        )
    } else {
        String::new()
    };
    // videocrop + videoscale (digital zoom) and videobalance (night) pass frames through
    // untouched until zoom or night mode asks for work.
    format!(
        "{src} ! {normalise} \
         ! videocrop name={LOOK_CROP} ! videoscale ! {main_caps} ! videobalance name={LOOK_BALANCE}{overlay} ! tee name=t \
         t. ! {main_branch} \
         t. ! {sub_branch} \
         t. ! {frame} \
         t. ! {gray}",
        src = video_source(video),
        normalise = normalise(video),
        main_caps = raw_caps(&video.main),
        main_branch = main_branch(
            "videoconvert ! ",
            h264_encoder(enc.h264, MAIN_ENCODER, &video.main, video)
        ),
        sub_branch = sub_branch(
            video,
            enc,
            &format!("videoscale ! {} ! videoconvert ! ", raw_caps(&video.sub))
        ),
        frame = frame_tap(),
        gray = gray_tap(),
    )
}

/// The snapshot encoder's appsrc and appsink.
pub(crate) const JPEG_SRC: &str = "jpeg_src";
pub(crate) const JPEG_SINK: &str = "jpeg_sink";

/// One raw frame -> a JPEG at `width` x `height`, through `scale` (a converter and scaler) and
/// `encoder`; the hardware ones are v4l2convert and v4l2jpegenc.
pub(crate) fn jpeg_pipeline(scale: &str, encoder: &str, width: u32, height: u32) -> String {
    format!(
        "appsrc name={JPEG_SRC} format=time ! {scale} ! video/x-raw,format=I420,width={width},height={height} \
         ! {encoder} ! image/jpeg ! appsink name={JPEG_SINK} sync=false"
    )
}

fn audio_source(audio: &AudioConfig) -> String {
    match audio.source {
        // The simulated room (`audio::room`): its tick, noise and cry are pushed in real time.
        AudioSource::Test => format!(
            "appsrc name={} is-live=true format=time do-timestamp=true caps=\"{}\"",
            crate::audio::room::ROOM_SRC,
            crate::audio::room::caps(audio.sample_rate)
        ),
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
         ! appsink name={SOUND_SINK} sync=false async=false max-buffers=20 drop=true enable-last-sample=false \
         at. ! {listen}",
        listen = listen_branch(aac),
        detect_rate = crate::detect::sound::SAMPLE_RATE,
        rate = audio.sample_rate,
        ch = audio.channels,
        bps = u64::from(audio.bitrate_kbps) * 1000,
    )
}

/// The listen stream's own encode (`GET /api/listen.aac`): mono 16 kHz AAC in ADTS, which an
/// `<audio>` element plays as it comes. It is a second encode of the microphone, not the RTSP
/// track's: that one stays ungated and at the microphone's rate and bit rate for NVRs, while
/// this one has the noise gate (at [`LISTEN_GATE`], silence while the gate is closed) and a voice
/// channel's low rate. Its valve stays closed while nobody listens, so the encoder costs
/// nothing then.
fn listen_branch(aac: &str) -> String {
    use crate::config::{LISTEN_BITRATE_KBPS as BITRATE_KBPS, LISTEN_SAMPLE_RATE as SAMPLE_RATE};
    format!(
        "queue max-size-buffers=0 max-size-bytes=0 max-size-time=200000000 leaky=downstream \
         ! {GATE} name={LISTEN_VALVE} ! audioconvert ! audioresample \
         ! audio/x-raw,format=F32LE,rate={SAMPLE_RATE},channels=1,layout=interleaved \
         ! identity name={LISTEN_GATE} ! audioconvert ! {aac} bitrate={bps} ! aacparse ! audio/mpeg,mpegversion=4,stream-format=adts \
         ! appsink name={LISTEN_SINK} sync=false async=false max-buffers=50 drop=true enable-last-sample=false",
        bps = u64::from(BITRATE_KBPS) * 1000,
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
    use super::super::encoders::JpegEncoder;
    use super::*;
    use crate::config::Config;
    use gst::prelude::*;

    #[test]
    fn every_description_parses_with_the_installed_plugins() {
        gst::init().expect("gstreamer");
        let config = Config::default();
        let enc = Encoders {
            h264: H264Encoder::X264,
            aac: Some("avenc_aac"),
            jpeg: JpegEncoder::Software,
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

    /// One element of a launch line: its factory (or caps, for a caps filter), its properties,
    /// and the picture size of the frames it is handed (`None`: as the source gives them).
    #[derive(Debug)]
    struct Placed {
        factory: String,
        props: Vec<String>,
        input: Option<(u32, u32)>,
    }

    /// Splits a launch line into words, keeping quoted values whole.
    fn words(desc: &str) -> Vec<String> {
        let mut out = Vec::new();
        let (mut word, mut quoted, mut escaped) = (String::new(), false, false);
        for c in desc.chars() {
            match c {
                _ if escaped => {
                    word.push(c);
                    escaped = false;
                }
                '\\' => {
                    word.push(c);
                    escaped = true;
                }
                '"' => {
                    word.push(c);
                    quoted = !quoted;
                }
                c if c.is_whitespace() && !quoted => {
                    if !word.is_empty() {
                        out.push(std::mem::take(&mut word));
                    }
                }
                c => word.push(c),
            }
        }
        out.extend((!word.is_empty()).then_some(word));
        out
    }

    fn size_of(caps: &str) -> Option<(u32, u32)> {
        let field = |name: &str| {
            caps.split(',')
                .find_map(|f| f.strip_prefix(&format!("{name}=")))
                .and_then(|v| v.trim_start_matches("(int)").parse().ok())
        };
        Some((field("width")?, field("height")?))
    }

    /// Reads a launch line the way gst_parse_launch links it, following each frame's size from
    /// caps filter to caps filter, through tees and across `name.` / `name.pad` branches.
    fn placed(desc: &str) -> Vec<Placed> {
        let mut out: Vec<Placed> = Vec::new();
        // The size leaving each named element (a tee hands every branch what it was given).
        let mut named: std::collections::HashMap<String, Option<(u32, u32)>> = Default::default();
        let mut size: Option<(u32, u32)> = None;
        let mut linked = false;
        for word in words(desc) {
            if word == "!" {
                linked = true;
                continue;
            }
            let current = out.last_mut().filter(|_| !linked);
            if let (Some(element), true) = (current, word.contains('=')) {
                if let Some(name) = word.strip_prefix("name=") {
                    named.insert(name.to_string(), size);
                }
                element.props.push(word);
                continue;
            }
            if !linked && let Some((name, _pad)) = word.split_once('.') {
                // A branch from a named element.
                size = named.get(name).copied().flatten();
                continue;
            }
            linked = false;
            if word.contains('/') {
                out.push(Placed {
                    factory: word.clone(),
                    props: Vec::new(),
                    input: size,
                });
                size = size_of(&word).or(size);
            } else {
                out.push(Placed {
                    factory: word,
                    props: Vec::new(),
                    input: size,
                });
            }
        }
        out
    }

    fn pi_config() -> (VideoConfig, Encoders) {
        let video = VideoConfig {
            source: VideoSource::Libcamera,
            ..Default::default()
        };
        let enc = Encoders {
            h264: H264Encoder::V4l2,
            aac: Some("fdkaacenc"),
            jpeg: JpegEncoder::V4l2,
        };
        (video, enc)
    }

    #[test]
    fn the_pi_pipeline_does_no_software_pixel_work_at_full_resolution() {
        let (video, enc) = pi_config();
        let desc = video_pipeline(&video, &enc);
        let elements = placed(&desc);
        let full = (video.main.width, video.main.height);
        let software = [
            "videoscale",
            "videoconvert",
            "videoconvertscale",
            "videocrop",
            "videobalance",
            "textoverlay",
            "clockoverlay",
        ];
        for e in &elements {
            if software.contains(&e.factory.as_str()) {
                let small = e.input.is_some_and(|(w, h)| w < full.0 && h < full.1);
                assert!(
                    small,
                    "{} gets frames of {:?} (full resolution is {full:?}) in `{desc}`",
                    e.factory, e.input
                );
            }
        }
        // The hub's contract holds: every sink and gate, the grey frames' size and format.
        let names: Vec<&str> = elements
            .iter()
            .flat_map(|e| e.props.iter().filter_map(|p| p.strip_prefix("name=")))
            .collect();
        for name in [
            MAIN_SINK,
            SUB_SINK,
            FRAME_SINK,
            GRAY_SINK,
            MAIN_GATE,
            SUB_GATE,
            MAIN_ENCODER,
            SUB_ENCODER,
        ] {
            assert!(names.contains(&name), "{name} missing from `{desc}`");
        }
        let (gw, gh) = GRAY_SIZE;
        assert!(
            desc.contains(&format!(
                "video/x-raw,format=GRAY8,width={gw},height={gh} ! appsink name={GRAY_SINK}"
            )),
            "{desc}"
        );
    }

    #[test]
    fn the_pi_pipeline_links_with_a_stand_in_camera() {
        // No libcamerasrc here: a tee with two request pads stands in for the camera's two
        // streams, so that every branch behind them is parsed and linked for real.
        gst::init().expect("gstreamer");
        let (video, _) = pi_config();
        let enc = Encoders {
            h264: H264Encoder::X264,
            aac: None,
            jpeg: JpegEncoder::Software,
        };
        let desc = video_pipeline(&video, &enc)
            .replace(
                &format!("libcamerasrc name={CAMERA}"),
                &format!("videotestsrc is-live=true ! tee name={CAMERA}"),
            )
            .replace(&format!("{CAMERA}.src "), &format!("{CAMERA}.src_1 "));
        let pipeline = gst::parse::launch(&desc).unwrap_or_else(|e| panic!("{desc}: {e}"));
        let bin = pipeline.downcast::<gst::Bin>().expect("a bin");
        for name in [
            MAIN_SINK, SUB_SINK, FRAME_SINK, GRAY_SINK, MAIN_GATE, SUB_GATE,
        ] {
            assert!(bin.by_name(name).is_some(), "{name} missing");
        }
    }

    #[test]
    fn the_reader_sees_the_software_paths_full_resolution_work() {
        // The check above must be able to fail: the test picture's pipeline scales, crops and
        // balances full frames on the CPU, and the reader has to see that.
        let config = crate::config::Config::default();
        let (_, enc) = pi_config();
        let elements = placed(&video_pipeline(&config.video, &enc));
        let full = Some((config.video.main.width, config.video.main.height));
        for factory in ["videocrop", "videobalance", "textoverlay"] {
            assert!(
                elements
                    .iter()
                    .any(|e| e.factory == factory && e.input == full),
                "{factory} at full resolution not found"
            );
        }
        let gray = elements
            .iter()
            .rfind(|e| e.factory == "videoscale")
            .expect("the grey frames' scaler");
        assert_eq!(gray.input, full);
    }

    #[test]
    fn the_test_picture_is_drawn_as_the_encoders_take_it() {
        // Converters in front of videotestsrc make every cold start link and negotiate
        // open-ended caps (most of the first picture's delay) for frames that need no work.
        let config = Config::default();
        let (_, enc) = pi_config();
        let elements = placed(&video_pipeline(&config.video, &enc));
        let source = elements
            .iter()
            .position(|e| e.factory == "videotestsrc")
            .expect("the test picture");
        let next = &elements[source + 1];
        assert!(
            next.factory.starts_with("video/x-raw,format=I420,")
                && size_of(&next.factory)
                    == Some((config.video.main.width, config.video.main.height)),
            "the test picture goes into {} first",
            next.factory
        );
    }

    #[test]
    fn the_sub_stream_changes_rate_only_when_it_has_another() {
        // A videorate delays each frame by one interval: at the camera's own rate it would
        // only make every sub viewer wait a frame longer.
        let rate_changers = |video: &VideoConfig| {
            let enc = Encoders {
                h264: H264Encoder::X264,
                aac: None,
                jpeg: JpegEncoder::Software,
            };
            let desc = video_pipeline(video, &enc);
            let gate = desc.find(&format!("name={SUB_GATE}")).expect("sub gate");
            let branch = desc[..gate].rsplit(" t. ").next().unwrap_or_default();
            let branch = branch.rsplit(" s. ").next().unwrap_or_default();
            branch.matches("videorate").count()
        };
        let mut video = Config::default().video;
        for source in [VideoSource::Test, VideoSource::Libcamera] {
            video.source = source;
            video.sub.framerate = video.main.framerate;
            assert_eq!(rate_changers(&video), 0, "{source:?}");
            video.sub.framerate = video.main.framerate / 3;
            assert_eq!(rate_changers(&video), 1, "{source:?}");
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
