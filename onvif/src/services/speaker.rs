//! The speaker over ONVIF: the audio output and the talk-back decoder (Media, Media2,
//! DeviceIO), and Media2's audio clips (GetAudioClips, AddAudioClip with an upload URI,
//! SetAudioClip, DeleteAudioClip, PlayAudioClip, GetPlayingAudioClips).

use std::fmt::Write as _;

use crate::media::Call;
use crate::soap::{Fault, Request};
use crate::write::{config_start, el, range};
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
    config_start(out, tag, OUTPUT_CONFIG, "Speaker", 2);
    el(out, "tt:OutputToken", OUTPUT);
    el(out, "tt:OutputLevel", level);
    let _ = write!(out, "</{tag}>");
}

pub(crate) fn decoder_config(out: &mut String, tag: &str) {
    config_start(out, tag, DECODER_CONFIG, "Talk-back (G.711, AAC)", 2);
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
    check_outputs(c)?;
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

/// The speaker, for a Media2 operation that needs one: without it the operation is not offered.
pub(crate) fn needed<'a>(c: &Call<'a>) -> Result<&'a dyn SpeakerBackend, Fault> {
    c.speaker
        .ok_or_else(|| Fault::action_not_supported(&c.op.name))
}

fn find(speaker: &dyn SpeakerBackend, token: &str) -> Result<AudioClip, Fault> {
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
}

fn token(op: &Element) -> Result<&str, Fault> {
    op.text_of("Token")
        .map(str::trim)
        .ok_or_else(|| Fault::missing_arg("Token"))
}

fn configuration(op: &Element) -> Result<&Element, Fault> {
    op.child("Configuration")
        .ok_or_else(|| Fault::missing_arg("Configuration"))
}

/// Every AudioOutputToken sent must name the one output.
fn check_outputs(e: &Element) -> Result<(), Fault> {
    match e
        .children_named("AudioOutputToken")
        .map(|t| t.text.trim())
        .find(|t| *t != OUTPUT)
    {
        Some(t) => Err(Fault::invalid_arg(
            "InvalidAudioOutputToken",
            format!("no audio output \"{}\"", escape(t)),
        )),
        None => Ok(()),
    }
}

pub(crate) fn get_audio_clips(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    let speaker = needed(c)?;
    let wanted = c.op.text_of("Token").map(str::trim);
    if let Some(t) = wanted {
        find(speaker, t)?;
    }
    for clip in speaker
        .clips()
        .iter()
        .filter(|clip| wanted.is_none_or(|t| t == clip.token))
    {
        out.push_str("<tr2:AudioClipItem>");
        el(out, "tr2:Token", &clip.token);
        clip_configuration(out, "tr2:Configuration", clip);
        out.push_str("</tr2:AudioClipItem>");
    }
    Ok(())
}

pub(crate) fn add_audio_clip(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    let speaker = needed(c)?;
    let clip = speaker.add_clip(read_settings(configuration(c.op)?, None)?)?;
    el(out, "tr2:Token", &clip.token);
    el(
        out,
        "tr2:UploadUri",
        c.ctx.http_url(&speaker.upload_path(&clip.token)),
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
}

pub(crate) fn set_audio_clip(c: &Call<'_>, _: &mut String) -> Result<(), Fault> {
    let speaker = needed(c)?;
    let token = token(c.op)?;
    let current = find(speaker, token)?;
    let settings = read_settings(configuration(c.op)?, Some(&current))?;
    speaker.set_clip(token, settings)
}

pub(crate) fn delete_audio_clip(c: &Call<'_>, _: &mut String) -> Result<(), Fault> {
    let speaker = needed(c)?;
    let token = token(c.op)?;
    find(speaker, token)?;
    speaker.delete_clip(token)
}

fn play_or_stop(op: &Element) -> Result<bool, Fault> {
    match op.text_of("Play").map(str::trim) {
        Some("true" | "1") => Ok(true),
        Some("false" | "0") => Ok(false),
        _ => Err(Fault::missing_arg("Play")),
    }
}

pub(crate) fn play_audio_clip(c: &Call<'_>, _: &mut String) -> Result<(), Fault> {
    let speaker = needed(c)?;
    let token = token(c.op)?;
    let clip = find(speaker, token)?;
    check_outputs(c.op)?;
    if !play_or_stop(c.op)? {
        return speaker.stop_clip(token);
    }
    if !clip.enabled {
        return Err(Fault::invalid_arg(
            "AudioClipDisabled",
            "the audio clip is disabled",
        ));
    }
    let repeat = c.op.text_of("RepeatCycles").map(parse_repeat).transpose()?;
    speaker.play_clip(token, repeat)
}

pub(crate) fn get_playing_audio_clips(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    for p in needed(c)?.playing() {
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
