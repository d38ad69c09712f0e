//! Media and Media2 backend: the main and sub streams as ONVIF profiles.

use onvif::model::*;
use onvif::service::MediaBackend;
use onvif::soap::Fault;
use tracing::info;

use super::Camera;
use crate::config::{Config, StreamConfig};
use crate::serve::rtsp::{MAIN_PATH, SUB_PATH};
use crate::settings::{Refused, StreamState};

const MAIN_RESOLUTIONS: [(u32, u32); 5] = [
    (1920, 1080),
    (1280, 720),
    (1024, 576),
    (960, 540),
    (640, 360),
];
const SUB_RESOLUTIONS: [(u32, u32); 4] = [(640, 360), (480, 270), (320, 180), (320, 240)];

struct Stream {
    profile: &'static str,
    name: &'static str,
    encoder: &'static str,
    path: &'static str,
    resolutions: &'static [(u32, u32)],
    bitrate: (u32, u32),
}

const STREAMS: [Stream; 2] = [
    Stream {
        profile: "main",
        name: "Main stream",
        encoder: "venc_main",
        path: MAIN_PATH,
        resolutions: &MAIN_RESOLUTIONS,
        bitrate: (256, 8000),
    },
    Stream {
        profile: "sub",
        name: "Sub stream",
        encoder: "venc_sub",
        path: SUB_PATH,
        resolutions: &SUB_RESOLUTIONS,
        bitrate: (64, 2000),
    },
];

fn stream_config<'a>(config: &'a Config, s: &Stream) -> &'a StreamConfig {
    if s.profile == "main" {
        &config.video.main
    } else {
        &config.video.sub
    }
}

fn resolutions(s: &Stream, current: &StreamConfig) -> Vec<(u32, u32)> {
    let mut list = s.resolutions.to_vec();
    if !list.contains(&(current.width, current.height)) {
        list.insert(0, (current.width, current.height));
    }
    list
}

impl MediaBackend for Camera {
    fn profiles(&self) -> Vec<Profile> {
        let config = self.config();
        let main = &config.video.main;
        STREAMS
            .iter()
            .map(|s| {
                let c = stream_config(&config, s);
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
        let config = self.config();
        let s = STREAMS.iter().find(|s| s.encoder == token)?;
        Some(VideoEncoderOptions {
            resolutions: resolutions(s, stream_config(&config, s)),
            framerate: (1, 30),
            gov_length: (1, 600),
            bitrate_kbps: s.bitrate,
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
        let bad = |why: String| Fault::invalid_arg("ConfigModify", why);
        let s = STREAMS
            .iter()
            .find(|s| s.encoder == c.token)
            .ok_or_else(|| Fault::invalid_arg("NoConfig", "no such configuration"))?;
        let config = self.config();
        let current = stream_config(&config, s);
        if !resolutions(s, current).contains(&(c.width, c.height)) {
            return Err(bad(format!(
                "{}x{} is not an offered resolution",
                c.width, c.height
            )));
        }
        if !(1..=30).contains(&c.framerate) {
            return Err(bad(format!("frame rate {} is outside 1-30", c.framerate)));
        }
        if !(s.bitrate.0..=s.bitrate.1).contains(&c.bitrate_kbps) {
            return Err(bad(format!(
                "bitrate {} kbit/s is outside {}-{}",
                c.bitrate_kbps, s.bitrate.0, s.bitrate.1
            )));
        }
        if !(1..=600).contains(&c.gov_length) {
            return Err(bad(format!("GovLength {} is outside 1-600", c.gov_length)));
        }
        let wanted = StreamState {
            width: c.width,
            height: c.height,
            framerate: c.framerate,
            bitrate_kbps: c.bitrate_kbps,
            keyframe_interval: c.gov_length,
        };
        self.settings
            .change(|state, stored| {
                if s.profile == "main" {
                    state.main = Some(wanted.clone());
                    // The sub stream is scaled from the main one: it follows a lower frame rate.
                    if stored.video.sub.framerate > wanted.framerate {
                        let mut sub = StreamState::from(&stored.video.sub);
                        sub.framerate = wanted.framerate;
                        state.sub = Some(sub);
                    }
                } else {
                    state.sub = Some(wanted.clone());
                }
                Ok(())
            })
            .map_err(|r: Refused| bad(r.to_string()))?;
        info!(
            stream = s.profile,
            width = c.width,
            height = c.height,
            fps = c.framerate,
            kbps = c.bitrate_kbps,
            gop = c.gov_length,
            "video encoder changed"
        );
        Ok(())
    }
}
