//! The speaker over ONVIF: the audio output and the talk-back decoder (Media, Media2,
//! DeviceIO), and Media2's audio clips (GetAudioClips, AddAudioClip with an upload URI,
//! SetAudioClip, DeleteAudioClip, PlayAudioClip, GetPlayingAudioClips).

use std::fmt::Write as _;

use crate::service::Context;
use crate::soap::{Fault, Request};
use crate::write::{el, range};
use crate::xml::{Element, escape};

/// The one physical audio output (`tt:AudioOutput`).
pub const OUTPUT: &str = "speaker";
pub const OUTPUT_CONFIG: &str = "speaker_config";
/// What the backchannel decodes (G.711 µ-law, 8 kHz).
pub const DECODER_CONFIG: &str = "talkback_decoder";

/// A clip as ONVIF describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioClip {
    pub token: String,
    pub name: String,
    /// MIME type of the uploaded audio (`audio/mpeg`, ...); empty before the upload.
    pub mime: String,
    pub enabled: bool,
    /// ONVIF's count of repeats after the first play: 0 = once, -1 = until stopped.
    pub repeat_cycles: i32,
    /// 0-100; `None` plays at the output's level.
    pub level: Option<u32>,
    /// Built-in sounds can be played but not changed.
    pub builtin: bool,
}

/// What AddAudioClip and SetAudioClip set.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipSettings {
    pub name: String,
    pub enabled: bool,
    pub repeat_cycles: i32,
    pub level: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlayingClip {
    pub token: String,
    pub name: String,
    pub level: u32,
    /// -1 while it repeats until stopped.
    pub repeats_left: i32,
}

pub trait SpeakerBackend: Send + Sync {
    /// Master volume, 0-100.
    fn output_level(&self) -> u32;
    fn set_output_level(&self, level: u32) -> Result<(), Fault>;
    fn clips(&self) -> Vec<AudioClip>;
    fn add_clip(&self, settings: ClipSettings) -> Result<AudioClip, Fault>;
    fn set_clip(&self, token: &str, settings: ClipSettings) -> Result<(), Fault>;
    fn delete_clip(&self, token: &str) -> Result<(), Fault>;
    /// `repeat_cycles` as in [`AudioClip`]; `None` takes the clip's own.
    fn play_clip(&self, token: &str, repeat_cycles: Option<i32>) -> Result<(), Fault>;
    fn stop_clip(&self, token: &str) -> Result<(), Fault>;
    fn playing(&self) -> Vec<PlayingClip>;
    /// HTTP path where a clip's audio is uploaded (POST or PUT, the file as the body).
    fn upload_path(&self, token: &str) -> String;
    fn max_clips(&self) -> u32;
    fn max_clip_kb(&self) -> u32;
}

/// MIME types of the formats clips may have.
pub const CLIP_FORMATS: &str = "audio/vnd.wave;codec=1 audio/mpeg audio/ogg;codecs=opus audio/ogg;codecs=vorbis audio/ogg;codecs=flac audio/flac";

pub(crate) fn output(out: &mut String, tag: &str) {
    let _ = write!(out, "<{tag} token=\"{OUTPUT}\"/>");
}

pub(crate) fn output_config(out: &mut String, tag: &str, level: u32) {
    let _ = write!(out, "<{tag} token=\"{OUTPUT_CONFIG}\">");
    el(out, "tt:Name", "Speaker");
    el(out, "tt:UseCount", 2);
    el(out, "tt:OutputToken", OUTPUT);
    el(out, "tt:OutputLevel", level);
    let _ = write!(out, "</{tag}>");
}

pub(crate) fn decoder_config(out: &mut String, tag: &str) {
    let _ = write!(out, "<{tag} token=\"{DECODER_CONFIG}\">");
    el(out, "tt:Name", "Talk-back (G.711, AAC)");
    el(out, "tt:UseCount", 2);
    let _ = write!(out, "</{tag}>");
}

pub(crate) fn output_options(out: &mut String, tag: &str) {
    let _ = write!(out, "<{tag}>");
    el(out, "tt:OutputTokensAvailable", OUTPUT);
    range(out, "tt:OutputLevelRange", 0, 100);
    let _ = write!(out, "</{tag}>");
}

/// Media (ver10) decoder options: what the backchannel takes, AAC at 16 kHz and G.711 (µ-law
/// or A-law, the schema does not tell them apart) at 64 kbit/s, 8 kHz.
pub(crate) fn decoder_options_v10(out: &mut String) {
    out.push_str(
        "<trt:Options><tt:AACDecOptions><tt:Bitrate><tt:Items>16</tt:Items><tt:Items>24</tt:Items>\
         <tt:Items>32</tt:Items><tt:Items>48</tt:Items><tt:Items>64</tt:Items></tt:Bitrate>\
         <tt:SampleRateRange><tt:Items>16</tt:Items></tt:SampleRateRange></tt:AACDecOptions>\
         <tt:G711DecOptions><tt:Bitrate><tt:Items>64</tt:Items></tt:Bitrate>\
         <tt:SampleRateRange><tt:Items>8</tt:Items></tt:SampleRateRange></tt:G711DecOptions></trt:Options>",
    );
}

/// Media2: one `Options` per backchannel encoding, in the order the SDP offers them.
pub(crate) fn decoder_options_v20(out: &mut String) {
    for (encoding, bitrates, rate) in [
        ("PCMU", &[64][..], 8),
        ("PCMA", &[64][..], 8),
        ("MPEG4-GENERIC", &[16, 24, 32, 48, 64][..], 16),
    ] {
        let _ = write!(
            out,
            "<tr2:Options><tt:Encoding>{encoding}</tt:Encoding><tt:BitrateList>"
        );
        for b in bitrates {
            el(out, "tt:Items", b);
        }
        let _ = write!(
            out,
            "</tt:BitrateList><tt:SampleRateList><tt:Items>{rate}</tt:Items></tt:SampleRateList></tr2:Options>"
        );
    }
}

/// `Configuration` of SetAudioOutputConfiguration: only the level can change.
pub(crate) fn set_output(req: &Request, speaker: &dyn SpeakerBackend) -> Result<(), Fault> {
    let c = req
        .operation
        .child("Configuration")
        .ok_or_else(|| Fault::missing_arg("Configuration"))?;
    if c.attr("token").is_some_and(|t| t != OUTPUT_CONFIG) {
        return Err(Fault::invalid_arg(
            "NoConfig",
            "no such audio output configuration",
        ));
    }
    if let Some(t) = c.text_of("OutputToken").filter(|t| *t != OUTPUT) {
        return Err(Fault::invalid_arg(
            "ConfigModify",
            format!("no audio output \"{}\"", escape(t)),
        ));
    }
    match c.text_of("OutputLevel") {
        Some(l) => match l.trim().parse::<u32>() {
            Ok(l) if l <= 100 => speaker.set_output_level(l),
            _ => Err(Fault::invalid_arg(
                "ConfigModify",
                "OutputLevel must be 0 to 100",
            )),
        },
        None => Ok(()),
    }
}

pub(crate) fn clip_capabilities(out: &mut String, limits: Option<(u32, u32)>) {
    if let Some((clips, kb)) = limits {
        let _ = write!(
            out,
            "<tr2:AudioClipCapabilities MaxAudioClipLimit=\"{clips}\" MaxAudioClipSize=\"{kb}\" SupportedAudioClipFormat=\"{CLIP_FORMATS}\"/>"
        );
    }
}

fn read_settings(c: &Element, defaults: Option<&AudioClip>) -> Result<ClipSettings, Fault> {
    let name = c
        .text_of("Name")
        .map(|n| n.trim().to_string())
        .or_else(|| defaults.map(|d| d.name.clone()))
        .ok_or_else(|| Fault::missing_arg("Name"))?;
    let enabled = match c.text_of("Enabled").map(str::trim) {
        Some("true" | "1") => true,
        Some("false" | "0") => false,
        None => defaults.is_none_or(|d| d.enabled),
        Some(_) => {
            return Err(Fault::invalid_arg(
                "ConfigModify",
                "Enabled is not a boolean",
            ));
        }
    };
    let repeat_cycles = match c.text_of("RepeatCycles") {
        Some(r) => parse_repeat(r)?,
        None => defaults.map_or(0, |d| d.repeat_cycles),
    };
    let level = match c.text_of("AudioOutputLevel") {
        Some(l) => Some(
            l.trim()
                .parse::<u32>()
                .ok()
                .filter(|l| *l <= 100)
                .ok_or_else(|| {
                    Fault::invalid_arg("ConfigModify", "AudioOutputLevel must be 0 to 100")
                })?,
        ),
        None => defaults.and_then(|d| d.level),
    };
    for t in c.children_named("AudioOutputToken") {
        if t.text.trim() != OUTPUT {
            return Err(Fault::invalid_arg(
                "InvalidAudioOutputToken",
                format!("no audio output \"{}\"", escape(t.text.trim())),
            ));
        }
    }
    Ok(ClipSettings {
        name,
        enabled,
        repeat_cycles,
        level,
    })
}

fn parse_repeat(r: &str) -> Result<i32, Fault> {
    r.trim()
        .parse::<i32>()
        .ok()
        .filter(|r| *r >= -1 && *r <= 1000)
        .ok_or_else(|| Fault::invalid_arg("ConfigModify", "RepeatCycles must be -1 to 1000"))
}

fn clip_configuration(out: &mut String, tag: &str, c: &AudioClip) {
    let _ = write!(out, "<{tag}>");
    el(out, "tr2:Enabled", c.enabled);
    el(out, "tr2:Name", &c.name);
    el(out, "tr2:AudioOutputToken", OUTPUT);
    el(out, "tr2:Type", &c.mime);
    el(out, "tr2:RepeatCycles", c.repeat_cycles);
    if let Some(l) = c.level {
        el(out, "tr2:AudioOutputLevel", l);
    }
    let _ = write!(out, "</{tag}>");
}

/// Media2's audio-clip operations; `None` when `name` is not one of them.
pub(crate) fn clip_operation(
    name: &str,
    req: &Request,
    ctx: &Context,
    speaker: &dyn SpeakerBackend,
    out: &mut String,
) -> Option<Result<(), Fault>> {
    let op = &req.operation;
    let find = |token: &str| {
        speaker
            .clips()
            .into_iter()
            .find(|c| c.token == token)
            .ok_or_else(|| {
                Fault::invalid_arg(
                    "InvalidToken",
                    format!("no audio clip \"{}\"", escape(token)),
                )
            })
    };
    let token = || {
        op.text_of("Token")
            .map(str::trim)
            .ok_or_else(|| Fault::missing_arg("Token"))
    };
    let result = match name {
        "GetAudioClips" => (|| {
            let wanted = op.text_of("Token").map(str::trim);
            if let Some(t) = wanted {
                find(t)?;
            }
            for c in speaker
                .clips()
                .iter()
                .filter(|c| wanted.is_none_or(|t| t == c.token))
            {
                out.push_str("<tr2:AudioClipItem>");
                el(out, "tr2:Token", &c.token);
                clip_configuration(out, "tr2:Configuration", c);
                out.push_str("</tr2:AudioClipItem>");
            }
            Ok(())
        })(),
        "AddAudioClip" => (|| {
            let c = op
                .child("Configuration")
                .ok_or_else(|| Fault::missing_arg("Configuration"))?;
            let clip = speaker.add_clip(read_settings(c, None)?)?;
            el(out, "tr2:Token", &clip.token);
            el(
                out,
                "tr2:UploadUri",
                ctx.http_url(&speaker.upload_path(&clip.token)),
            );
            let expiry = time::OffsetDateTime::now_utc() + time::Duration::minutes(10);
            el(
                out,
                "tr2:ExpiryTime",
                expiry
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
            );
            Ok(())
        })(),
        "SetAudioClip" => (|| {
            let token = token()?;
            let current = find(token)?;
            let c = op
                .child("Configuration")
                .ok_or_else(|| Fault::missing_arg("Configuration"))?;
            speaker.set_clip(token, read_settings(c, Some(&current))?)
        })(),
        "DeleteAudioClip" => (|| {
            let token = token()?;
            find(token)?;
            speaker.delete_clip(token)
        })(),
        "PlayAudioClip" => (|| {
            let token = token()?;
            let clip = find(token)?;
            for t in op.children_named("AudioOutputToken") {
                if t.text.trim() != OUTPUT {
                    return Err(Fault::invalid_arg(
                        "InvalidAudioOutputToken",
                        format!("no audio output \"{}\"", escape(t.text.trim())),
                    ));
                }
            }
            let play = match op.text_of("Play").map(str::trim) {
                Some("true" | "1") => true,
                Some("false" | "0") => false,
                _ => return Err(Fault::missing_arg("Play")),
            };
            if !play {
                return speaker.stop_clip(token);
            }
            if !clip.enabled {
                return Err(Fault::invalid_arg(
                    "AudioClipDisabled",
                    "the audio clip is disabled",
                ));
            }
            let repeat = op.text_of("RepeatCycles").map(parse_repeat).transpose()?;
            speaker.play_clip(token, repeat)
        })(),
        "GetPlayingAudioClips" => {
            for p in speaker.playing() {
                out.push_str("<tr2:PlayingAudioClips>");
                el(out, "tr2:Token", &p.token);
                el(out, "tr2:Name", &p.name);
                el(out, "tr2:AudioOutputToken", OUTPUT);
                el(out, "tr2:AudioOutputLevel", p.level);
                el(out, "tr2:RepeatsLeft", p.repeats_left);
                out.push_str("</tr2:PlayingAudioClips>");
            }
            Ok(())
        }
        _ => return None,
    };
    Some(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn element(xml: &str) -> Element {
        let env = format!(
            "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:tr2=\"http://www.onvif.org/ver20/media/wsdl\"><s:Body><tr2:AddAudioClip><tr2:Configuration>{xml}</tr2:Configuration></tr2:AddAudioClip></s:Body></s:Envelope>"
        );
        let req = crate::soap::parse_request(env.as_bytes()).expect("parses");
        req.operation
            .child("Configuration")
            .expect("configuration")
            .clone()
    }

    #[test]
    fn clip_settings_are_read_and_checked() {
        let c = element(
            "<tr2:Enabled>false</tr2:Enabled><tr2:Name> Mum </tr2:Name><tr2:AudioOutputToken>speaker</tr2:AudioOutputToken><tr2:Type>audio/mpeg</tr2:Type><tr2:RepeatCycles>-1</tr2:RepeatCycles><tr2:AudioOutputLevel>30</tr2:AudioOutputLevel>",
        );
        assert_eq!(
            read_settings(&c, None).expect("valid"),
            ClipSettings {
                name: "Mum".into(),
                enabled: false,
                repeat_cycles: -1,
                level: Some(30)
            }
        );
        for bad in [
            "<tr2:Name>x</tr2:Name><tr2:RepeatCycles>-2</tr2:RepeatCycles>",
            "<tr2:Name>x</tr2:Name><tr2:AudioOutputLevel>101</tr2:AudioOutputLevel>",
            "<tr2:Name>x</tr2:Name><tr2:Enabled>maybe</tr2:Enabled>",
            "<tr2:Name>x</tr2:Name><tr2:AudioOutputToken>elsewhere</tr2:AudioOutputToken>",
            "<tr2:Enabled>true</tr2:Enabled>",
        ] {
            assert!(read_settings(&element(bad), None).is_err(), "{bad}");
        }
    }
}
