//! The main and sub streams' encodings as users choose them: what is offered, what is
//! refused, and how the sub stream follows the main one. Stored with the settings; the
//! capture applies each change.

use tracing::info;

use super::Track;
use crate::config::{Config, StreamConfig};
use crate::settings::{Refused, Settings, StreamState};

const MAIN_RESOLUTIONS: [(u32, u32); 5] = [
    (1920, 1080),
    (1280, 720),
    (1024, 576),
    (960, 540),
    (640, 360),
];
const SUB_RESOLUTIONS: [(u32, u32); 4] = [(640, 360), (480, 270), (320, 180), (320, 240)];
const FRAMERATES: (u32, u32) = (1, 30);
const KEYFRAME_INTERVALS: (u32, u32) = (1, 600);

/// What a stream may be set to.
#[derive(Debug, Clone, PartialEq)]
pub struct Offer {
    /// The one in use first when it is not one of the usual ones.
    pub resolutions: Vec<(u32, u32)>,
    pub framerate: (u32, u32),
    pub keyframe_interval: (u32, u32),
    pub bitrate_kbps: (u32, u32),
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum StreamError {
    #[error("{0}x{1} is not an offered resolution")]
    Resolution(u32, u32),
    #[error("frame rate {0} is outside 1-30")]
    Framerate(u32),
    #[error("bitrate {0} kbit/s is outside {1}-{2}")]
    Bitrate(u32, u32, u32),
    // Worded as ONVIF's clients (the only ones that set it) name the keyframe interval.
    #[error("GovLength {0} is outside 1-600")]
    KeyframeInterval(u32),
    #[error(transparent)]
    Storage(#[from] Refused),
}

pub fn current(config: &Config, track: Track) -> &StreamConfig {
    match track {
        Track::Main => &config.video.main,
        Track::Sub => &config.video.sub,
    }
}

pub fn offer(config: &Config, track: Track) -> Offer {
    let (usual, bitrate_kbps): (&[(u32, u32)], _) = match track {
        Track::Main => (&MAIN_RESOLUTIONS, (256, 8000)),
        Track::Sub => (&SUB_RESOLUTIONS, (64, 2000)),
    };
    let now = current(config, track);
    let mut resolutions = usual.to_vec();
    if !resolutions.contains(&(now.width, now.height)) {
        resolutions.insert(0, (now.width, now.height));
    }
    Offer {
        resolutions,
        framerate: FRAMERATES,
        keyframe_interval: KEYFRAME_INTERVALS,
        bitrate_kbps,
    }
}

fn within((min, max): (u32, u32), v: u32) -> bool {
    (min..=max).contains(&v)
}

/// Checks `wanted` against the offer, then stores it. The sub stream is scaled from the main
/// one, so a main stream slower than the sub one slows the sub one down with it.
pub fn set(settings: &Settings, track: Track, wanted: &StreamConfig) -> Result<(), StreamError> {
    let offer = offer(&settings.current(), track);
    if !offer.resolutions.contains(&(wanted.width, wanted.height)) {
        return Err(StreamError::Resolution(wanted.width, wanted.height));
    }
    if !within(offer.framerate, wanted.framerate) {
        return Err(StreamError::Framerate(wanted.framerate));
    }
    if !within(offer.bitrate_kbps, wanted.bitrate_kbps) {
        let (min, max) = offer.bitrate_kbps;
        return Err(StreamError::Bitrate(wanted.bitrate_kbps, min, max));
    }
    if !within(offer.keyframe_interval, wanted.keyframe_interval) {
        return Err(StreamError::KeyframeInterval(wanted.keyframe_interval));
    }
    let state = StreamState::from(wanted);
    settings.change(|stored, current| {
        match track {
            Track::Main => {
                if current.video.sub.framerate > state.framerate {
                    let mut sub = StreamState::from(&current.video.sub);
                    sub.framerate = state.framerate;
                    stored.sub = Some(sub);
                }
                stored.main = Some(state.clone());
            }
            Track::Sub => stored.sub = Some(state.clone()),
        }
        Ok(())
    })?;
    info!(
        stream = match track {
            Track::Main => "main",
            Track::Sub => "sub",
        },
        width = wanted.width,
        height = wanted.height,
        fps = wanted.framerate,
        kbps = wanted.bitrate_kbps,
        gop = wanted.keyframe_interval,
        "video encoder changed"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offered_encodings_are_stored_and_the_sub_stream_follows_a_slower_main() {
        let dir = tempfile::tempdir().expect("tempdir");
        let settings = crate::settings::for_tests(dir.path(), Config::default());
        let slow = StreamConfig {
            framerate: 5,
            ..StreamConfig::MAIN
        };
        set(&settings, Track::Main, &slow).expect("main");
        let config = settings.current();
        assert_eq!(current(&config, Track::Main), &slow);
        assert_eq!(current(&config, Track::Sub).framerate, 5);
        let odd = StreamConfig {
            width: 123,
            ..slow.clone()
        };
        assert_eq!(
            set(&settings, Track::Main, &odd),
            Err(StreamError::Resolution(123, 720))
        );
        let fast = StreamConfig {
            bitrate_kbps: 9000,
            ..slow
        };
        assert_eq!(
            set(&settings, Track::Main, &fast),
            Err(StreamError::Bitrate(9000, 256, 8000))
        );
        assert_eq!(
            settings.current().video.main.bitrate_kbps,
            StreamConfig::MAIN.bitrate_kbps
        );
    }
}
