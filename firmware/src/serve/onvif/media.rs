//! Media and Media2 backend: the main and sub streams as ONVIF profiles.

use onvif::model::*;
use onvif::service::MediaBackend;
use onvif::soap::Fault;

use super::Camera;
use crate::config::StreamConfig;
use crate::media::Track;
use crate::media::streams::{self, StreamError};
use crate::serve::rtsp::{MAIN_PATH, SUB_PATH};

struct Stream {
    profile: &'static str,
    name: &'static str,
    encoder: &'static str,
    path: &'static str,
    track: Track,
}

const STREAMS: [Stream; 2] = [
    Stream {
        profile: "main",
        name: "Main stream",
        encoder: "venc_main",
        path: MAIN_PATH,
        track: Track::Main,
    },
    Stream {
        profile: "sub",
        name: "Sub stream",
        encoder: "venc_sub",
        path: SUB_PATH,
        track: Track::Sub,
    },
];

/// The fault ONVIF clients expect for each refusal.
fn fault(e: StreamError) -> Fault {
    Fault::invalid_arg("ConfigModify", e.to_string())
}

impl MediaBackend for Camera {
    fn profiles(&self) -> Vec<Profile> {
        let config = self.config();
        let main = &config.video.main;
        STREAMS
            .iter()
            .map(|s| {
                let c = streams::current(&config, s.track);
                Profile {
                    token: s.profile.into(),
                    name: s.name.into(),
                    video_source: VideoSourceConfiguration {
                        token: "vsc".into(),
                        name: "Camera".into(),
                        source_token: "vs".into(),
                        width: main.width,
                        height: main.height,
                        use_count: 2,
                    },
                    video_encoder: VideoEncoderConfiguration {
                        token: s.encoder.into(),
                        name: s.name.into(),
                        use_count: 1,
                        width: c.width,
                        height: c.height,
                        framerate: c.framerate,
                        bitrate_kbps: c.bitrate_kbps,
                        gov_length: c.keyframe_interval,
                        profile: "Main",
                        quality: 5.0,
                    },
                    audio_source: self.has_audio.then(|| AudioSourceConfiguration {
                        token: "asc".into(),
                        name: "Microphone".into(),
                        source_token: "as".into(),
                        use_count: 2,
                    }),
                    audio_encoder: self.has_audio.then(|| AudioEncoderConfiguration {
                        token: "aenc".into(),
                        name: "AAC".into(),
                        use_count: 2,
                        bitrate_kbps: config.audio.bitrate_kbps,
                        sample_rate_hz: config.audio.sample_rate,
                        channels: config.audio.channels,
                    }),
                    ptz: self.has_ptz(),
                }
            })
            .collect()
    }

    fn video_sources(&self) -> Vec<VideoSource> {
        let main = &self.config().video.main;
        vec![VideoSource {
            token: "vs".into(),
            framerate: main.framerate as f32,
            width: main.width,
            height: main.height,
        }]
    }

    fn audio_sources(&self) -> Vec<AudioSource> {
        if self.has_audio {
            vec![AudioSource {
                token: "as".into(),
                channels: self.config().audio.channels,
            }]
        } else {
            Vec::new()
        }
    }

    fn video_encoder_options(&self, token: &str) -> Option<VideoEncoderOptions> {
        let s = STREAMS.iter().find(|s| s.encoder == token)?;
        let offer = streams::offer(&self.config(), s.track);
        Some(VideoEncoderOptions {
            resolutions: offer.resolutions,
            framerate: offer.framerate,
            gov_length: offer.keyframe_interval,
            bitrate_kbps: offer.bitrate_kbps,
            profiles: vec!["Main"],
        })
    }

    fn stream_path(&self, profile: &str) -> Option<String> {
        STREAMS
            .iter()
            .find(|s| s.profile == profile)
            .map(|s| s.path.to_string())
    }

    fn session_timeout_s(&self) -> u32 {
        self.config().rtsp.session_timeout_s
    }

    fn set_video_encoder(&self, c: VideoEncoderConfiguration) -> Result<(), Fault> {
        let s = STREAMS
            .iter()
            .find(|s| s.encoder == c.token)
            .ok_or_else(|| Fault::invalid_arg("NoConfig", "no such configuration"))?;
        let wanted = StreamConfig {
            width: c.width,
            height: c.height,
            framerate: c.framerate,
            bitrate_kbps: c.bitrate_kbps,
            keyframe_interval: c.gov_length,
        };
        streams::set(&self.settings, s.track, &wanted).map_err(fault)
    }
}
