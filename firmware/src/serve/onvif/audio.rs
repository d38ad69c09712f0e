//! The speaker as ONVIF sees it: Media2's audio clips and the output level, served by the same
//! controller as the HTTP API. Built-in sounds are listed as clips too, so an NVR can start a
//! lullaby; they cannot be changed or deleted.

use onvif::soap::{Fault, FaultCode};
use onvif::speaker::{AudioClip, ClipSettings, PlayingClip, SpeakerBackend};

use crate::audio::{Audio, BUILTINS, ClipError, PlayError, PlayRequest, Repeat, builtin, percent};

/// ONVIF RepeatCycles (repeats after the first play, -1 = until stopped) as a play count.
fn repeat(cycles: i32) -> Repeat {
    match cycles {
        c if c < 0 => Repeat::Forever,
        c => Repeat::Times(c.unsigned_abs().saturating_add(1)),
    }
}

/// The MIME type ONVIF uses for a stored format.
fn mime(format: &str) -> &'static str {
    match format {
        "wav" => "audio/vnd.wave;codec=1",
        "mp3" => "audio/mpeg",
        "ogg" => "audio/ogg",
        "flac" => "audio/flac",
        _ => "",
    }
}

fn clip_fault(e: ClipError) -> Fault {
    match e {
        ClipError::NotFound(t) => Fault::invalid_arg("InvalidToken", format!("no audio clip {t}")),
        ClipError::Full(n) => Fault::new(
            FaultCode::Receiver,
            &["Action", "MaxAudioClipLimit"],
            format!("at most {n} audio clips can be kept"),
        ),
        ClipError::BuiltIn(t) => Fault::invalid_arg(
            "InvalidToken",
            format!("{t} is a built-in sound and cannot be changed"),
        ),
        e @ (ClipError::BadName | ClipError::BadAudio(_)) => {
            Fault::invalid_arg("ConfigModify", e.to_string())
        }
        ClipError::Storage(e) => {
            Fault::new(FaultCode::Receiver, &["Action"], format!("storage: {e:#}"))
        }
    }
}

impl SpeakerBackend for Audio {
    fn output_level(&self) -> u32 {
        (self.output.volumes().master * 100.0).round() as u32
    }

    fn set_output_level(&self, level: u32) -> Result<(), Fault> {
        self.change_volumes(|v| v.master = percent(level))
            .map(drop)
            .map_err(|e| {
                Fault::new(
                    FaultCode::Receiver,
                    &["Action"],
                    format!("cannot store the volume: {e:#}"),
                )
            })
    }

    fn clips(&self) -> Vec<AudioClip> {
        let builtins = BUILTINS.iter().map(|b| AudioClip {
            token: b.token.into(),
            name: b.name.into(),
            mime: "audio/L16".into(),
            enabled: true,
            // Noises go on until stopped; a lullaby once unless asked.
            repeat_cycles: if b.is_melody() { 0 } else { -1 },
            level: None,
            builtin: true,
        });
        let clips = self.clips.list().into_iter().map(|c| AudioClip {
            mime: mime(&c.format).into(),
            token: c.token,
            name: c.name,
            enabled: c.enabled,
            repeat_cycles: c.repeat_cycles,
            level: c.level,
            builtin: false,
        });
        builtins.chain(clips).collect()
    }

    fn add_clip(&self, s: ClipSettings) -> Result<AudioClip, Fault> {
        let clip = self.clips.create(&s.name).map_err(clip_fault)?;
        let clip = self
            .clips
            .change(&clip.token, |c| {
                c.enabled = s.enabled;
                c.repeat_cycles = s.repeat_cycles;
                c.level = s.level;
            })
            .map_err(clip_fault)?;
        Ok(AudioClip {
            token: clip.token,
            name: clip.name,
            mime: String::new(),
            enabled: clip.enabled,
            repeat_cycles: clip.repeat_cycles,
            level: clip.level,
            builtin: false,
        })
    }

    fn set_clip(&self, token: &str, s: ClipSettings) -> Result<(), Fault> {
        if builtin(token).is_some() {
            return Err(clip_fault(ClipError::BuiltIn(token.into())));
        }
        self.clips
            .change(token, |c| {
                c.name = s.name.clone();
                c.enabled = s.enabled;
                c.repeat_cycles = s.repeat_cycles;
                c.level = s.level;
            })
            .map(|_| ())
            .map_err(clip_fault)
    }

    fn delete_clip(&self, token: &str) -> Result<(), Fault> {
        self.delete(token).map_err(clip_fault)
    }

    fn play_clip(&self, token: &str, repeat_cycles: Option<i32>) -> Result<(), Fault> {
        let (cycles, level) = match self.clips.get(token) {
            Some(c) => (repeat_cycles.unwrap_or(c.repeat_cycles), c.level),
            None => (
                repeat_cycles.unwrap_or_else(|| {
                    builtin(token).map_or(0, |b| if b.is_melody() { 0 } else { -1 })
                }),
                None,
            ),
        };
        let req = PlayRequest {
            repeat: repeat(cycles),
            volume: level,
            timer: None,
        };
        match self.play(token, &req) {
            Ok(_) => Ok(()),
            Err(e @ PlayError::NotFound(_)) => {
                Err(Fault::invalid_arg("InvalidToken", e.to_string()))
            }
            Err(e @ PlayError::NoAudio(_)) => Err(Fault::new(
                FaultCode::Receiver,
                &["Action", "AudioClipNotUploaded"],
                e.to_string(),
            )),
            Err(e) => Err(Fault::new(FaultCode::Receiver, &["Action"], e.to_string())),
        }
    }

    fn stop_clip(&self, token: &str) -> Result<(), Fault> {
        // Stopping what is not playing is no error: the clip is stopped either way.
        self.output.stop_token(token);
        Ok(())
    }

    fn playing(&self) -> Vec<PlayingClip> {
        self.output
            .playing()
            .map(|p| PlayingClip {
                level: (p.volume * 100.0).round() as u32,
                repeats_left: match p.repeat {
                    Repeat::Forever => -1,
                    Repeat::Times(n) => n.saturating_sub(1).min(i32::MAX as u32) as i32,
                },
                token: p.token,
                name: p.name,
            })
            .into_iter()
            .collect()
    }

    fn upload_path(&self, token: &str) -> String {
        format!("/api/clips/{token}")
    }

    fn max_clips(&self) -> u32 {
        Audio::max_clips(self)
    }

    fn max_clip_kb(&self) -> u32 {
        (self.max_upload() / 1024) as u32
    }
}
