//! What the camera plays: talk-back, uploaded clips, lullabies and noises, through one mixer
//! to the speaker. [`Audio`] is the one controller that the HTTP API and ONVIF both call.

mod clips;
mod decode;
mod output;
pub mod room;
mod source;
mod synth;
mod talkback;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub use clips::{Clip, ClipError, ClipStore};
pub use decode::{BadAudio, decode_clip_child};
pub use output::{
    ClipStateChange, ECHO_TAIL, FLOOR_RELEASE, Output, Playing, Talk, Volumes, percent,
};
pub use source::{Repeat, Source};
pub use synth::{BUILTINS, Builtin, builtin};
pub use talkback::{Attached, BACKCHANNEL_SINK, attach, backchannel_launch, talk_sink};

use crate::config::SpeakerConfig;

/// Something the camera can play: a built-in sound or an uploaded clip.
#[derive(Debug, Clone, PartialEq)]
pub struct Sound {
    pub token: String,
    pub name: String,
    pub builtin: bool,
    /// Seconds, for clips with audio; built-in noises go on until stopped.
    pub duration_s: Option<f64>,
    /// False for a clip whose audio has not been uploaded yet.
    pub playable: bool,
}

/// How to play.
#[derive(Debug, Clone, PartialEq)]
pub struct PlayRequest {
    pub repeat: Repeat,
    /// 0-100 under the music volume; `None` = 100.
    pub volume: Option<u32>,
    /// Sleep timer: fade out and stop after this long.
    pub timer: Option<Duration>,
}

impl Default for PlayRequest {
    fn default() -> Self {
        Self {
            repeat: Repeat::Times(1),
            volume: None,
            timer: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PlayError {
    #[error("no sound or clip {0}")]
    NotFound(String),
    #[error("clip {0} has no audio yet: upload it first")]
    NoAudio(String),
    #[error("{0:#}")]
    Decoder(anyhow::Error),
}

pub struct Audio {
    pub output: Arc<Output>,
    pub clips: ClipStore,
    max_upload: usize,
    max_clips: u32,
    /// Volumes set over HTTP or ONVIF, kept across restarts.
    volumes_file: std::path::PathBuf,
    /// The `[speaker]` in force, to tell which volumes a reload changed.
    config: std::sync::Mutex<SpeakerConfig>,
    /// Held while the volumes change and are stored, so that concurrent changes neither lose
    /// one another's fields nor leave the file with an older value than the speaker.
    volumes_change: std::sync::Mutex<()>,
}

/// `speaker.toml` in the data directory: the volumes last set at run time.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredVolumes {
    master: u32,
    talk: u32,
    music: u32,
}

impl Audio {
    pub fn start(
        config: &SpeakerConfig,
        speaker: Box<dyn crate::platform::hardware::Speaker>,
        data_dir: &Path,
    ) -> anyhow::Result<Self> {
        let audio = Self {
            output: Arc::new(Output::start(config, speaker)?),
            clips: ClipStore::open(data_dir, config.max_clips)?,
            max_upload: config.max_clip_mb as usize * 1024 * 1024,
            max_clips: config.max_clips,
            volumes_file: data_dir.join("speaker.toml"),
            config: std::sync::Mutex::new(config.clone()),
            volumes_change: std::sync::Mutex::new(()),
        };
        if let Ok(text) = std::fs::read_to_string(&audio.volumes_file) {
            match toml::from_str::<StoredVolumes>(&text) {
                Ok(v) => {
                    let mut now = audio.output.volumes();
                    now.master = percent(v.master);
                    now.talk = percent(v.talk);
                    now.music = percent(v.music);
                    audio.output.set_volumes(now);
                }
                Err(e) => {
                    tracing::warn!("ignoring the damaged {}: {e}", audio.volumes_file.display())
                }
            }
        }
        Ok(audio)
    }

    /// Changes the volumes in force with `edit` and keeps them across restarts.
    pub fn change_volumes(&self, edit: impl FnOnce(&mut Volumes)) -> anyhow::Result<Volumes> {
        let _one_at_a_time = self
            .volumes_change
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut v = self.output.volumes();
        edit(&mut v);
        self.output.set_volumes(v);
        let pct = |f: f32| (f * 100.0).round() as u32;
        let text = toml::to_string(&StoredVolumes {
            master: pct(v.master),
            talk: pct(v.talk),
            music: pct(v.music),
        })?;
        crate::settings::write_atomically(&self.volumes_file, &text)?;
        Ok(v)
    }

    /// How many clips the store keeps.
    pub fn max_clips(&self) -> u32 {
        self.max_clips
    }

    /// Largest upload accepted, in bytes.
    pub fn max_upload(&self) -> usize {
        self.max_upload
    }

    /// Applies a reloaded `[speaker]`: the fade, and the volumes if the file changed them
    /// (then they replace what was set at run time). The rest needs a restart.
    pub fn set_config(&self, config: &SpeakerConfig) {
        let mut old = self
            .config
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let volumes = |c: &SpeakerConfig| (c.volume, c.talk_volume, c.music_volume, c.duck_percent);
        if volumes(&old) != volumes(config) {
            self.output.set_volumes(Volumes::from_config(config));
            let _ = std::fs::remove_file(&self.volumes_file);
        }
        self.output
            .set_fade(Duration::from_secs(u64::from(config.fade_s)));
        *old = config.clone();
    }

    /// Built-in sounds first, then the uploaded clips.
    pub fn sounds(&self) -> Vec<Sound> {
        let builtins = BUILTINS.iter().map(|b| Sound {
            token: b.token.into(),
            name: b.name.into(),
            builtin: true,
            duration_s: None,
            playable: true,
        });
        let clips = self.clips.list().into_iter().map(|c| Sound {
            playable: c.has_audio(),
            duration_s: c.has_audio().then_some(c.duration_s),
            token: c.token,
            name: c.name,
            builtin: false,
        });
        builtins.chain(clips).collect()
    }

    /// Plays a built-in sound or a clip in place of what plays. Blocking: opens the decoder.
    pub fn play(&self, token: &str, req: &PlayRequest) -> Result<Playing, PlayError> {
        let rate = self.output.sample_rate();
        let (name, source): (String, Box<dyn Source>) = if let Some(b) = builtin(token) {
            (b.name.into(), b.source(rate, req.repeat))
        } else {
            let clip = self
                .clips
                .get(token)
                .ok_or_else(|| PlayError::NotFound(token.into()))?;
            let path = self
                .clips
                .audio_path(token)
                .ok_or_else(|| PlayError::NoAudio(token.into()))?;
            let source =
                decode::FileSource::open(&path, rate, req.repeat).map_err(PlayError::Decoder)?;
            (clip.name, Box::new(source))
        };
        let volume = percent(req.volume.unwrap_or(100));
        Ok(self
            .output
            .play(token, &name, source, volume, req.repeat, req.timer))
    }

    pub fn stop(&self) -> Option<Playing> {
        self.output.stop()
    }

    /// Deletes a clip, stopping it first if it plays.
    pub fn delete(&self, token: &str) -> Result<(), ClipError> {
        if builtin(token).is_some() {
            return Err(ClipError::BuiltIn(token.into()));
        }
        self.output.stop_token(token);
        self.clips.delete(token)
    }

    /// Stores an upload (written to [`ClipStore::upload_path`]) as a clip's audio, and removes
    /// the file. Blocking: decodes the whole file.
    pub fn upload(&self, token: &str, upload: &Path) -> Result<Clip, ClipError> {
        if builtin(token).is_some() {
            let _ = std::fs::remove_file(upload);
            return Err(ClipError::BuiltIn(token.into()));
        }
        self.clips
            .store_audio(token, upload, self.output.sample_rate())
    }

    /// The speaker's state in the Prometheus text format.
    pub fn render_metrics(&self, e: &mut crate::metrics_text::Exposition) {
        use crate::metrics_text::Kind::Gauge;
        e.single(
            "speaker_audible",
            Gauge,
            "Whether the speaker plays something audible (or did less than 1 s ago).",
            u8::from(self.output.is_playing()),
        );
        e.single(
            "speaker_level",
            Gauge,
            "RMS level sent to the speaker (0-1).",
            format!("{:.4}", self.output.level()),
        );
        e.single(
            "talkback_active",
            Gauge,
            "Whether someone talks through the speaker.",
            u8::from(self.output.talker().is_some()),
        );
        let mut playing = e.family(
            "speaker_playing",
            Gauge,
            "The clip or built-in sound playing.",
        );
        if let Some(p) = self.output.playing() {
            playing.sample(&[("token", &p.token)], 1);
        }
        e.single(
            "audio_clips",
            Gauge,
            "Clips stored on the card.",
            self.clips.list().len(),
        );
    }

    pub fn shutdown(&self) {
        self.output.shutdown();
    }
}
