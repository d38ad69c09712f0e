//! Media service (ver10): profiles, configurations and their options, stream and snapshot URIs.

use std::fmt::Write as _;

use crate::model::{
    AudioEncoderConfiguration, Profile, StreamTransport, VideoEncoderConfiguration,
    VideoEncoderOptions,
};
use crate::service::{Access, Context, MediaBackend};
use crate::soap::{Fault, Request};
use crate::speaker::{self, SpeakerBackend};
use crate::write::*;
use crate::xml::{Element, escape};

pub fn access(operation: &str) -> Access {
    match operation {
        "GetServiceCapabilities" => Access::PreAuth,
        op if op.starts_with("Set")
            || op.starts_with("Add")
            || op.starts_with("Remove")
            || op.starts_with("Create")
            || op.starts_with("Delete") =>
        {
            Access::Actuate
        }
        _ => Access::ReadMedia,
    }
}

pub(crate) fn capabilities(out: &mut String) {
    out.push_str(
        "<trt:Capabilities SnapshotUri=\"true\" Rotation=\"false\" VideoSourceMode=\"false\" OSD=\"false\">\
         <trt:ProfileCapabilities MaximumNumberOfProfiles=\"2\"/>\
         <trt:StreamingCapabilities RTPMulticast=\"false\" RTP_TCP=\"true\" RTP_RTSP_TCP=\"true\" NonAggregateControl=\"false\" NoRTSPStreaming=\"false\"/>\
         </trt:Capabilities>",
    );
}

pub(crate) fn find_profile(
    media: &dyn MediaBackend,
    token: Option<&str>,
) -> Result<Profile, Fault> {
    let token = token.ok_or_else(|| Fault::missing_arg("ProfileToken"))?;
    media
        .profiles()
        .into_iter()
        .find(|p| p.token == token)
        .ok_or_else(|| Fault::invalid_arg("NoProfile", format!("no profile \"{token}\"")))
}

pub(crate) fn no_config(token: &str) -> Fault {
    Fault::invalid_arg("NoConfig", format!("no configuration \"{token}\""))
}

fn profile(
    out: &mut String,
    tag: &str,
    p: &Profile,
    timeout: u32,
    speaker: Option<&dyn SpeakerBackend>,
) {
    let _ = write!(out, "<{tag} token=\"{}\" fixed=\"true\">", escape(&p.token));
    el(out, "tt:Name", &p.name);
    video_source_config(out, "tt:VideoSourceConfiguration", &p.video_source);
    if let Some(a) = &p.audio_source {
        audio_source_config(out, "tt:AudioSourceConfiguration", a);
    }
    video_encoder_config_v10(
        out,
        "tt:VideoEncoderConfiguration",
        &p.video_encoder,
        timeout,
    );
    if let Some(a) = &p.audio_encoder {
        audio_encoder_config_v10(out, "tt:AudioEncoderConfiguration", a, timeout);
    }
    if p.ptz {
        crate::ptz::configuration(out, "tt:PTZConfiguration");
    }
    if let Some(s) = speaker {
        out.push_str("<tt:Extension>");
        speaker::output_config(out, "tt:AudioOutputConfiguration", s.output_level());
        speaker::decoder_config(out, "tt:AudioDecoderConfiguration");
        out.push_str("</tt:Extension>");
    }
    let _ = write!(out, "</{tag}>");
}

pub fn handle(
    req: &Request,
    ctx: &Context,
    media: &dyn MediaBackend,
    speaker: Option<&dyn SpeakerBackend>,
) -> Result<String, Fault> {
    let op = &req.operation;
    let name = op.name.as_str();
    let timeout = media.session_timeout_s();
    let mut out = String::with_capacity(4096);
    let _ = write!(out, "<trt:{name}Response>");
    let profiles = media.profiles();
    let config_token = op.text_of("ConfigurationToken");
    match name {
        "GetServiceCapabilities" => capabilities(&mut out),
        "GetProfiles" => {
            for p in &profiles {
                profile(&mut out, "trt:Profiles", p, timeout, speaker);
            }
        }
        "GetProfile" => profile(
            &mut out,
            "trt:Profile",
            &find_profile(media, op.text_of("ProfileToken"))?,
            timeout,
            speaker,
        ),
        "GetVideoSources" => {
            for s in media.video_sources() {
                let _ = write!(out, "<trt:VideoSources token=\"{}\">", escape(&s.token));
                el(&mut out, "tt:Framerate", s.framerate);
                resolution(&mut out, "tt:Resolution", s.width, s.height);
                out.push_str("</trt:VideoSources>");
            }
        }
        "GetAudioSources" => {
            for s in media.audio_sources() {
                let _ = write!(out, "<trt:AudioSources token=\"{}\">", escape(&s.token));
                el(&mut out, "tt:Channels", s.channels);
                out.push_str("</trt:AudioSources>");
            }
        }
        "GetVideoSourceConfigurations" | "GetCompatibleVideoSourceConfigurations" => {
            for c in unique(profiles.iter().map(|p| &p.video_source), |c| &c.token) {
                video_source_config(&mut out, "trt:Configurations", c);
            }
        }
        "GetVideoSourceConfiguration" => {
            let token = config_token.ok_or_else(|| Fault::missing_arg("ConfigurationToken"))?;
            let c = profiles
                .iter()
                .map(|p| &p.video_source)
                .find(|c| c.token == token)
                .ok_or_else(|| no_config(token))?;
            video_source_config(&mut out, "trt:Configuration", c);
        }
        "GetVideoEncoderConfigurations" | "GetCompatibleVideoEncoderConfigurations" => {
            for p in &profiles {
                video_encoder_config_v10(&mut out, "trt:Configurations", &p.video_encoder, timeout);
            }
        }
        "GetVideoEncoderConfiguration" => {
            let token = config_token.ok_or_else(|| Fault::missing_arg("ConfigurationToken"))?;
            let c = encoder(&profiles, token)?;
            video_encoder_config_v10(&mut out, "trt:Configuration", &c, timeout);
        }
        "GetAudioSourceConfigurations" | "GetCompatibleAudioSourceConfigurations" => {
            for c in unique(
                profiles.iter().filter_map(|p| p.audio_source.as_ref()),
                |c| &c.token,
            ) {
                audio_source_config(&mut out, "trt:Configurations", c);
            }
        }
        "GetAudioSourceConfiguration" => {
            let token = config_token.ok_or_else(|| Fault::missing_arg("ConfigurationToken"))?;
            let c = profiles
                .iter()
                .filter_map(|p| p.audio_source.as_ref())
                .find(|c| c.token == token)
                .ok_or_else(|| no_config(token))?;
            audio_source_config(&mut out, "trt:Configuration", c);
        }
        "GetAudioEncoderConfigurations" | "GetCompatibleAudioEncoderConfigurations" => {
            for c in unique(
                profiles.iter().filter_map(|p| p.audio_encoder.as_ref()),
                |c| &c.token,
            ) {
                audio_encoder_config_v10(&mut out, "trt:Configurations", c, timeout);
            }
        }
        "GetAudioEncoderConfiguration" => {
            let token = config_token.ok_or_else(|| Fault::missing_arg("ConfigurationToken"))?;
            let c = profiles
                .iter()
                .filter_map(|p| p.audio_encoder.as_ref())
                .find(|c| c.token == token)
                .ok_or_else(|| no_config(token))?;
            audio_encoder_config_v10(&mut out, "trt:Configuration", c, timeout);
        }
        "GetVideoSourceConfigurationOptions" => {
            video_source_options(&mut out, "trt:Options", &profiles, op)?
        }
        "GetVideoEncoderConfigurationOptions" => {
            let o = encoder_options(media, &profiles, config_token, op.text_of("ProfileToken"))?;
            out.push_str("<trt:Options>");
            range(&mut out, "tt:QualityRange", 0, 10);
            out.push_str("<tt:H264>");
            h264_options(&mut out, &o);
            out.push_str("</tt:H264><tt:Extension><tt:H264>");
            h264_options(&mut out, &o);
            range(
                &mut out,
                "tt:BitrateRange",
                o.bitrate_kbps.0,
                o.bitrate_kbps.1,
            );
            out.push_str("</tt:H264></tt:Extension></trt:Options>");
        }
        "GetAudioSourceConfigurationOptions" => {
            audio_source_options(&mut out, "trt:Options", media, &profiles, op)?
        }
        "GetAudioEncoderConfigurationOptions" => {
            out.push_str("<trt:Options>");
            for c in audio_encoder_options(&profiles, op)? {
                out.push_str("<tt:Options>");
                audio_encoder_option(&mut out, "AAC", c);
                out.push_str("</tt:Options>");
            }
            out.push_str("</trt:Options>");
        }
        "GetStreamUri" => {
            let transport = match op
                .path(&["StreamSetup", "Transport", "Protocol"])
                .map(|p| p.text.as_str())
            {
                Some("UDP") | None => StreamTransport::Udp,
                Some("TCP") | Some("RTSP") => StreamTransport::Tcp,
                Some("HTTP") => StreamTransport::Http,
                Some(other) => {
                    return Err(Fault::invalid_arg(
                        "InvalidStreamSetup",
                        format!("unknown transport {other}"),
                    ));
                }
            };
            // tt:StreamType is an enumeration, so its case matters.
            match op.path(&["StreamSetup", "Stream"]).map(|s| s.text.trim()) {
                Some("RTP-Unicast") | None => {}
                Some("RTP-Multicast") => {
                    return Err(Fault::invalid_arg(
                        "InvalidStreamSetup",
                        "multicast streaming is not offered",
                    ));
                }
                Some(other) => {
                    return Err(Fault::invalid_arg(
                        "InvalidStreamSetup",
                        format!("stream type \"{other}\" is neither RTP-Unicast nor RTP-Multicast"),
                    ));
                }
            }
            let p = find_profile(media, op.text_of("ProfileToken"))?;
            media_uri(&mut out, &stream_uri(media, ctx, &p.token, transport)?);
        }
        "GetSnapshotUri" => {
            let p = find_profile(media, op.text_of("ProfileToken"))?;
            media_uri(&mut out, &snapshot_uri(ctx, &p));
        }
        "SetVideoEncoderConfiguration" => {
            let c = op
                .child("Configuration")
                .ok_or_else(|| Fault::missing_arg("Configuration"))?;
            let current = encoder(&profiles, c.attr("token").unwrap_or_default())?;
            media.set_video_encoder(read_encoder_v10(c, current)?)?;
        }
        _ if name.contains("AudioOutput") || name.contains("AudioDecoder") => {
            audio_output(name, req, config_token, speaker, &mut out)?
        }
        "GetVideoAnalyticsConfigurations"
        | "GetMetadataConfigurations"
        | "GetCompatibleMetadataConfigurations" => {}
        _ => return Err(Fault::action_not_supported(name)),
    }
    let _ = write!(out, "</trt:{name}Response>");
    Ok(out)
}

/// The speaker's output and the talk-back decoder; a camera without a speaker lists none.
fn audio_output(
    name: &str,
    req: &Request,
    config_token: Option<&str>,
    speaker: Option<&dyn SpeakerBackend>,
    out: &mut String,
) -> Result<(), Fault> {
    let Some(s) = speaker else {
        return match name {
            "GetAudioOutputs"
            | "GetAudioOutputConfigurations"
            | "GetAudioDecoderConfigurations"
            | "GetCompatibleAudioOutputConfigurations"
            | "GetCompatibleAudioDecoderConfigurations" => Ok(()),
            _ => Err(Fault::action_not_supported("the camera has no speaker")),
        };
    };
    let check = |wanted: &str| match config_token {
        Some(t) if t != wanted => Err(no_config(t)),
        _ => Ok(()),
    };
    match name {
        "GetAudioOutputs" => speaker::output(out, "trt:AudioOutputs"),
        "GetAudioOutputConfigurations" | "GetCompatibleAudioOutputConfigurations" => {
            speaker::output_config(out, "trt:Configurations", s.output_level())
        }
        "GetAudioOutputConfiguration" => {
            check(speaker::OUTPUT_CONFIG)?;
            speaker::output_config(out, "trt:Configuration", s.output_level())
        }
        "GetAudioOutputConfigurationOptions" => {
            check(speaker::OUTPUT_CONFIG)?;
            speaker::output_options(out, "trt:Options")
        }
        "SetAudioOutputConfiguration" => speaker::set_output(req, s)?,
        "GetAudioDecoderConfigurations" | "GetCompatibleAudioDecoderConfigurations" => {
            speaker::decoder_config(out, "trt:Configurations")
        }
        "GetAudioDecoderConfiguration" => {
            check(speaker::DECODER_CONFIG)?;
            speaker::decoder_config(out, "trt:Configuration")
        }
        "GetAudioDecoderConfigurationOptions" => {
            check(speaker::DECODER_CONFIG)?;
            speaker::decoder_options_v10(out)
        }
        // Every profile already has both; there is nothing else to decode.
        "SetAudioDecoderConfiguration"
        | "AddAudioOutputConfiguration"
        | "AddAudioDecoderConfiguration" => {}
        _ => return Err(Fault::action_not_supported(name)),
    }
    Ok(())
}

/// Checks the optional ConfigurationToken and ProfileToken of an options request; returns the
/// profile asked about, else the first.
fn options_profile<'a>(
    profiles: &'a [Profile],
    op: &Element,
    config_token: impl Fn(&Profile) -> Option<&str>,
) -> Result<&'a Profile, Fault> {
    let profile = match op.text_of("ProfileToken") {
        Some(t) => profiles
            .iter()
            .find(|p| p.token == t)
            .ok_or_else(|| Fault::invalid_arg("NoProfile", format!("no profile \"{t}\"")))?,
        None => profiles.first().ok_or_else(|| no_config("any"))?,
    };
    if let Some(t) = op.text_of("ConfigurationToken")
        && !profiles.iter().any(|p| config_token(p) == Some(t))
    {
        return Err(no_config(t));
    }
    Ok(profile)
}

pub(crate) fn no_microphone() -> Fault {
    Fault::action_not_supported("the camera has no microphone")
}

/// `tt:VideoSourceConfigurationOptions` (Media and Media2).
pub(crate) fn video_source_options(
    out: &mut String,
    tag: &str,
    profiles: &[Profile],
    op: &Element,
) -> Result<(), Fault> {
    let p = options_profile(profiles, op, |p| Some(&p.video_source.token))?;
    let _ = write!(out, "<{tag}><tt:BoundsRange>");
    range(out, "tt:XRange", 0, 0);
    range(out, "tt:YRange", 0, 0);
    range(
        out,
        "tt:WidthRange",
        p.video_source.width,
        p.video_source.width,
    );
    range(
        out,
        "tt:HeightRange",
        p.video_source.height,
        p.video_source.height,
    );
    out.push_str("</tt:BoundsRange>");
    el(
        out,
        "tt:VideoSourceTokensAvailable",
        &p.video_source.source_token,
    );
    let _ = write!(out, "</{tag}>");
    Ok(())
}

/// `tt:AudioSourceConfigurationOptions` (Media and Media2); a fault without a microphone, as
/// the options must name at least one input.
pub(crate) fn audio_source_options(
    out: &mut String,
    tag: &str,
    media: &dyn MediaBackend,
    profiles: &[Profile],
    op: &Element,
) -> Result<(), Fault> {
    let sources = media.audio_sources();
    if sources.is_empty() {
        return Err(no_microphone());
    }
    options_profile(profiles, op, |p| {
        p.audio_source.as_ref().map(|a| a.token.as_str())
    })?;
    let _ = write!(out, "<{tag}>");
    for s in sources {
        el(out, "tt:InputTokensAvailable", &s.token);
    }
    let _ = write!(out, "</{tag}>");
    Ok(())
}

/// The audio encoders an options request asks about (Media lists none without a microphone,
/// Media2 must list one).
pub(crate) fn audio_encoder_options<'a>(
    profiles: &'a [Profile],
    op: &Element,
) -> Result<Vec<&'a AudioEncoderConfiguration>, Fault> {
    options_profile(profiles, op, |p| {
        p.audio_encoder.as_ref().map(|a| a.token.as_str())
    })?;
    let wanted = op.text_of("ConfigurationToken");
    Ok(unique(
        profiles.iter().filter_map(|p| p.audio_encoder.as_ref()),
        |c| &c.token,
    )
    .into_iter()
    .filter(|c| wanted.is_none_or(|w| w == c.token))
    .collect())
}

/// The body of one audio encoder option: Media's `tt:AudioEncoderConfigurationOption` and
/// Media2's `tt:AudioEncoder2ConfigurationOptions` differ only in the encoding's name.
pub(crate) fn audio_encoder_option(
    out: &mut String,
    encoding: &str,
    c: &AudioEncoderConfiguration,
) {
    el(out, "tt:Encoding", encoding);
    let _ = write!(
        out,
        "<tt:BitrateList><tt:Items>{}</tt:Items></tt:BitrateList><tt:SampleRateList><tt:Items>{}</tt:Items></tt:SampleRateList>",
        c.bitrate_kbps,
        c.sample_rate_hz / 1000
    );
}

/// The options of the encoder named by configuration token, else by profile, else the first.
pub(crate) fn encoder_options(
    media: &dyn MediaBackend,
    profiles: &[Profile],
    config_token: Option<&str>,
    profile_token: Option<&str>,
) -> Result<VideoEncoderOptions, Fault> {
    let token = match (config_token, profile_token) {
        (Some(t), _) => t.to_string(),
        (None, Some(p)) => find_profile(media, Some(p))?.video_encoder.token,
        (None, None) => profiles
            .first()
            .map(|p| p.video_encoder.token.clone())
            .unwrap_or_default(),
    };
    media
        .video_encoder_options(&token)
        .ok_or_else(|| no_config(&token))
}

/// The body of `tt:H264Options` (shared by the plain and the extended options).
fn h264_options(out: &mut String, o: &VideoEncoderOptions) {
    for (w, h) in &o.resolutions {
        resolution(out, "tt:ResolutionsAvailable", *w, *h);
    }
    range(out, "tt:GovLengthRange", o.gov_length.0, o.gov_length.1);
    range(out, "tt:FrameRateRange", o.framerate.0, o.framerate.1);
    range(out, "tt:EncodingIntervalRange", 1, 1);
    for p in &o.profiles {
        el(out, "tt:H264ProfilesSupported", p);
    }
}

fn unique<'a, T, K: PartialEq + ?Sized>(
    items: impl Iterator<Item = &'a T>,
    key: impl Fn(&T) -> &K,
) -> Vec<&'a T> {
    let mut out: Vec<&T> = Vec::new();
    for item in items {
        if !out.iter().any(|o| key(o) == key(item)) {
            out.push(item);
        }
    }
    out
}

pub(crate) fn encoder(
    profiles: &[Profile],
    token: &str,
) -> Result<VideoEncoderConfiguration, Fault> {
    profiles
        .iter()
        .map(|p| &p.video_encoder)
        .find(|c| c.token == token)
        .cloned()
        .ok_or_else(|| no_config(token))
}

fn media_uri(out: &mut String, uri: &str) {
    out.push_str("<trt:MediaUri>");
    el(out, "tt:Uri", uri);
    out.push_str("<tt:InvalidAfterConnect>false</tt:InvalidAfterConnect><tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout></trt:MediaUri>");
}

/// RTSP URL for a profile. Tunnelled RTSP goes to the HTTP port, which speaks it too.
pub(crate) fn stream_uri(
    media: &dyn MediaBackend,
    ctx: &Context,
    profile: &str,
    transport: StreamTransport,
) -> Result<String, Fault> {
    let path = media
        .stream_path(profile)
        .ok_or_else(|| Fault::invalid_arg("NoProfile", "profile has no stream"))?;
    let port = match transport {
        StreamTransport::Udp | StreamTransport::Tcp => ctx.rtsp_port,
        StreamTransport::Http => ctx.http_port,
    };
    Ok(ctx.rtsp_url(&path, port))
}

pub(crate) fn snapshot_uri(ctx: &Context, profile: &Profile) -> String {
    ctx.http_url(&format!(
        "/snapshot.jpg?width={}",
        profile.video_encoder.width
    ))
}

fn number<T: std::str::FromStr>(e: Option<&Element>, what: &str) -> Result<Option<T>, Fault> {
    match e {
        None => Ok(None),
        Some(e) => e
            .text
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| Fault::invalid_arg("ConfigModify", format!("{what} is not a number"))),
    }
}

fn read_encoder_v10(
    c: &Element,
    mut current: VideoEncoderConfiguration,
) -> Result<VideoEncoderConfiguration, Fault> {
    if let Some(enc) = c.text_of("Encoding").filter(|e| *e != "H264") {
        return Err(Fault::invalid_arg(
            "ConfigModify",
            format!("encoding {enc} is not offered"),
        ));
    }
    if let Some(w) = number(c.path(&["Resolution", "Width"]), "Width")? {
        current.width = w;
    }
    if let Some(h) = number(c.path(&["Resolution", "Height"]), "Height")? {
        current.height = h;
    }
    if let Some(f) = number::<f32>(c.path(&["RateControl", "FrameRateLimit"]), "FrameRateLimit")? {
        current.framerate = f.round() as u32;
    }
    if let Some(b) = number(c.path(&["RateControl", "BitrateLimit"]), "BitrateLimit")? {
        current.bitrate_kbps = b;
    }
    if let Some(g) = number(c.path(&["H264", "GovLength"]), "GovLength")? {
        current.gov_length = g;
    }
    if let Some(q) = number(c.child("Quality"), "Quality")? {
        current.quality = q;
    }
    if let Some(name) = c.text_of("Name") {
        current.name = name.to_string();
    }
    Ok(current)
}
