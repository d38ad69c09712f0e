//! Media service (ver10): profiles, configurations and their options, stream and snapshot URIs.

use std::fmt::Write as _;

use crate::model::{
    AudioEncoderConfiguration, Profile, StreamTransport, VideoEncoderConfiguration,
    VideoEncoderOptions,
};
use crate::service::Access::*;
use crate::service::{Context, MediaBackend, Table, op, respond};
use crate::soap::{Fault, Request};
use crate::speaker::{self, SpeakerBackend};
use crate::write::*;
use crate::xml::{Element, escape};

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

/// What every Media operation is given.
pub(crate) struct Call<'a> {
    pub(crate) op: &'a Element,
    pub(crate) req: &'a Request,
    pub(crate) ctx: &'a Context,
    pub(crate) media: &'a dyn MediaBackend,
    pub(crate) speaker: Option<&'a dyn SpeakerBackend>,
    pub(crate) profiles: Vec<Profile>,
}

impl<'a> Call<'a> {
    pub(crate) fn new(
        req: &'a Request,
        ctx: &'a Context,
        media: &'a dyn MediaBackend,
        speaker: Option<&'a dyn SpeakerBackend>,
    ) -> Self {
        Call {
            op: &req.operation,
            req,
            ctx,
            media,
            speaker,
            profiles: media.profiles(),
        }
    }

    fn timeout(&self) -> u32 {
        self.media.session_timeout_s()
    }

    fn config_token(&self) -> Result<&'a str, Fault> {
        self.op
            .text_of("ConfigurationToken")
            .ok_or_else(|| Fault::missing_arg("ConfigurationToken"))
    }

    /// The speaker, for an operation that needs one.
    fn speaker(&self) -> Result<&'a dyn SpeakerBackend, Fault> {
        self.speaker
            .ok_or_else(|| Fault::action_not_supported("the camera has no speaker"))
    }

    /// Faults when the optional ConfigurationToken names another configuration than `wanted`.
    fn check_config(&self, wanted: &str) -> Result<(), Fault> {
        match self.op.text_of("ConfigurationToken") {
            Some(t) if t != wanted => Err(no_config(t)),
            _ => Ok(()),
        }
    }
}

pub(crate) type Run = fn(&Call<'_>, &mut String) -> Result<(), Fault>;

#[rustfmt::skip]
pub(crate) static OPERATIONS: Table<Run> = Table {
    operations: &[
        op("GetServiceCapabilities", PreAuth, get_service_capabilities),
        op("GetProfiles", ReadMedia, get_profiles),
        op("GetProfile", ReadMedia, get_profile),
        op("GetVideoSources", ReadMedia, get_video_sources),
        op("GetAudioSources", ReadMedia, get_audio_sources),
        op("GetVideoSourceConfigurations", ReadMedia, video_source_configurations),
        op("GetCompatibleVideoSourceConfigurations", ReadMedia, video_source_configurations),
        op("GetVideoSourceConfiguration", ReadMedia, get_video_source_configuration),
        op("GetVideoEncoderConfigurations", ReadMedia, video_encoder_configurations),
        op("GetCompatibleVideoEncoderConfigurations", ReadMedia, video_encoder_configurations),
        op("GetVideoEncoderConfiguration", ReadMedia, get_video_encoder_configuration),
        op("GetAudioSourceConfigurations", ReadMedia, audio_source_configurations),
        op("GetCompatibleAudioSourceConfigurations", ReadMedia, audio_source_configurations),
        op("GetAudioSourceConfiguration", ReadMedia, get_audio_source_configuration),
        op("GetAudioEncoderConfigurations", ReadMedia, audio_encoder_configurations),
        op("GetCompatibleAudioEncoderConfigurations", ReadMedia, audio_encoder_configurations),
        op("GetAudioEncoderConfiguration", ReadMedia, get_audio_encoder_configuration),
        op("GetVideoSourceConfigurationOptions", ReadMedia, get_video_source_configuration_options),
        op("GetVideoEncoderConfigurationOptions", ReadMedia, get_video_encoder_configuration_options),
        op("GetAudioSourceConfigurationOptions", ReadMedia, get_audio_source_configuration_options),
        op("GetAudioEncoderConfigurationOptions", ReadMedia, get_audio_encoder_configuration_options),
        op("GetStreamUri", ReadMedia, get_stream_uri),
        op("GetSnapshotUri", ReadMedia, get_snapshot_uri),
        op("SetVideoEncoderConfiguration", Actuate, set_video_encoder_configuration),
        op("GetAudioOutputs", ReadMedia, get_audio_outputs),
        op("GetAudioOutputConfigurations", ReadMedia, audio_output_configurations),
        op("GetCompatibleAudioOutputConfigurations", ReadMedia, audio_output_configurations),
        op("GetAudioOutputConfiguration", ReadMedia, get_audio_output_configuration),
        op("GetAudioOutputConfigurationOptions", ReadMedia, get_audio_output_configuration_options),
        op("SetAudioOutputConfiguration", Actuate, set_audio_output_configuration),
        op("GetAudioDecoderConfigurations", ReadMedia, audio_decoder_configurations),
        op("GetCompatibleAudioDecoderConfigurations", ReadMedia, audio_decoder_configurations),
        op("GetAudioDecoderConfiguration", ReadMedia, get_audio_decoder_configuration),
        op("GetAudioDecoderConfigurationOptions", ReadMedia, get_audio_decoder_configuration_options),
        // Every profile already has both; there is nothing else to decode.
        op("SetAudioDecoderConfiguration", Actuate, needs_speaker),
        op("AddAudioOutputConfiguration", Actuate, needs_speaker),
        op("AddAudioDecoderConfiguration", Actuate, needs_speaker),
        // Offered by nothing on this camera, and so listed empty.
        op("GetVideoAnalyticsConfigurations", ReadMedia, nothing),
        op("GetMetadataConfigurations", ReadMedia, nothing),
        op("GetCompatibleMetadataConfigurations", ReadMedia, nothing),
    ],
};

/// Media's operations (`trt`) or Media2's (`tr2`), which are given the same.
pub(crate) fn handle(
    (operations, prefix): (&Table<Run>, &str),
    req: &Request,
    ctx: &Context,
    media: &dyn MediaBackend,
    speaker: Option<&dyn SpeakerBackend>,
) -> Result<String, Fault> {
    let operation = operations.find(req.name())?;
    let call = Call::new(req, ctx, media, speaker);
    respond(prefix, req.name(), |out| (operation.run)(&call, out))
}

fn get_service_capabilities(_: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    capabilities(out);
    Ok(())
}

pub(crate) fn nothing(_: &Call<'_>, _: &mut String) -> Result<(), Fault> {
    Ok(())
}

fn get_profiles(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    for p in &c.profiles {
        profile(out, "trt:Profiles", p, c.timeout(), c.speaker);
    }
    Ok(())
}

fn get_profile(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    let p = find_profile(c.media, c.op.text_of("ProfileToken"))?;
    profile(out, "trt:Profile", &p, c.timeout(), c.speaker);
    Ok(())
}

fn get_video_sources(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    for s in c.media.video_sources() {
        let _ = write!(out, "<trt:VideoSources token=\"{}\">", escape(&s.token));
        el(out, "tt:Framerate", s.framerate);
        resolution(out, "tt:Resolution", s.width, s.height);
        out.push_str("</trt:VideoSources>");
    }
    Ok(())
}

fn get_audio_sources(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    for s in c.media.audio_sources() {
        let _ = write!(out, "<trt:AudioSources token=\"{}\">", escape(&s.token));
        el(out, "tt:Channels", s.channels);
        out.push_str("</trt:AudioSources>");
    }
    Ok(())
}

fn video_source_configurations(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    for v in unique(c.profiles.iter().map(|p| &p.video_source), |v| &v.token) {
        video_source_config(out, "trt:Configurations", v);
    }
    Ok(())
}

/// The configuration named by ConfigurationToken among those `of` the profiles give.
fn named_config<'p, T>(
    c: &'p Call<'_>,
    of: impl Fn(&'p Profile) -> Option<&'p T>,
    token: impl Fn(&T) -> &str,
) -> Result<&'p T, Fault> {
    let wanted = c.config_token()?;
    c.profiles
        .iter()
        .filter_map(of)
        .find(|v| token(v) == wanted)
        .ok_or_else(|| no_config(wanted))
}

fn get_video_source_configuration(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    let v = named_config(c, |p| Some(&p.video_source), |v| &v.token)?;
    video_source_config(out, "trt:Configuration", v);
    Ok(())
}

fn video_encoder_configurations(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    for p in &c.profiles {
        video_encoder_config_v10(out, "trt:Configurations", &p.video_encoder, c.timeout());
    }
    Ok(())
}

fn get_video_encoder_configuration(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    let v = encoder(&c.profiles, c.config_token()?)?;
    video_encoder_config_v10(out, "trt:Configuration", &v, c.timeout());
    Ok(())
}

fn audio_source_configurations(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    let sources = c.profiles.iter().filter_map(|p| p.audio_source.as_ref());
    for a in unique(sources, |a| &a.token) {
        audio_source_config(out, "trt:Configurations", a);
    }
    Ok(())
}

fn get_audio_source_configuration(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    let a = named_config(c, |p| p.audio_source.as_ref(), |a| &a.token)?;
    audio_source_config(out, "trt:Configuration", a);
    Ok(())
}

fn audio_encoder_configurations(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    let encoders = c.profiles.iter().filter_map(|p| p.audio_encoder.as_ref());
    for a in unique(encoders, |a| &a.token) {
        audio_encoder_config_v10(out, "trt:Configurations", a, c.timeout());
    }
    Ok(())
}

fn get_audio_encoder_configuration(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    let a = named_config(c, |p| p.audio_encoder.as_ref(), |a| &a.token)?;
    audio_encoder_config_v10(out, "trt:Configuration", a, c.timeout());
    Ok(())
}

fn get_video_source_configuration_options(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    video_source_options(out, "trt:Options", &c.profiles, c.op)
}

fn get_video_encoder_configuration_options(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    let o = encoder_options(
        c.media,
        &c.profiles,
        c.op.text_of("ConfigurationToken"),
        c.op.text_of("ProfileToken"),
    )?;
    out.push_str("<trt:Options>");
    range(out, "tt:QualityRange", 0, 10);
    out.push_str("<tt:H264>");
    h264_options(out, &o);
    out.push_str("</tt:H264><tt:Extension><tt:H264>");
    h264_options(out, &o);
    range(out, "tt:BitrateRange", o.bitrate_kbps.0, o.bitrate_kbps.1);
    out.push_str("</tt:H264></tt:Extension></trt:Options>");
    Ok(())
}

fn get_audio_source_configuration_options(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    audio_source_options(out, "trt:Options", c.media, &c.profiles, c.op)
}

fn get_audio_encoder_configuration_options(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    out.push_str("<trt:Options>");
    for a in audio_encoder_options(&c.profiles, c.op)? {
        out.push_str("<tt:Options>");
        audio_encoder_option(out, "AAC", a);
        out.push_str("</tt:Options>");
    }
    out.push_str("</trt:Options>");
    Ok(())
}

/// GetStreamUri's arguments.
struct StreamUriRequest<'a> {
    transport: StreamTransport,
    profile: Option<&'a str>,
}

impl<'a> StreamUriRequest<'a> {
    fn parse(op: &'a Element) -> Result<Self, Fault> {
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
            Some("RTP-Multicast") => return Err(no_multicast()),
            Some(other) => {
                return Err(Fault::invalid_arg(
                    "InvalidStreamSetup",
                    format!("stream type \"{other}\" is neither RTP-Unicast nor RTP-Multicast"),
                ));
            }
        }
        Ok(StreamUriRequest {
            transport,
            profile: op.text_of("ProfileToken"),
        })
    }
}

pub(crate) fn no_rtsps() -> Fault {
    Fault::invalid_arg(
        "InvalidStreamSetup",
        "RTSPS is not served by this camera ([rtsp] tls_port = 0)",
    )
}

pub(crate) fn no_multicast() -> Fault {
    Fault::invalid_arg("InvalidStreamSetup", "multicast streaming is not offered")
}

fn get_stream_uri(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    let r = StreamUriRequest::parse(c.op)?;
    let p = find_profile(c.media, r.profile)?;
    media_uri(out, &stream_uri(c.media, c.ctx, &p.token, r.transport)?);
    Ok(())
}

fn get_snapshot_uri(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    let p = find_profile(c.media, c.op.text_of("ProfileToken"))?;
    media_uri(out, &snapshot_uri(c.ctx, &p));
    Ok(())
}

/// SetVideoEncoderConfiguration (both versions): the `Configuration` and the encoder it names.
pub(crate) fn encoder_to_set<'a>(
    c: &Call<'a>,
) -> Result<(&'a Element, VideoEncoderConfiguration), Fault> {
    let config =
        c.op.child("Configuration")
            .ok_or_else(|| Fault::missing_arg("Configuration"))?;
    let current = encoder(&c.profiles, config.attr("token").unwrap_or_default())?;
    Ok((config, current))
}

fn set_video_encoder_configuration(c: &Call<'_>, _: &mut String) -> Result<(), Fault> {
    let (config, current) = encoder_to_set(c)?;
    c.media
        .set_video_encoder(read_encoder_v10(config, current)?)
}

// The speaker's output and the talk-back decoder; a camera without a speaker lists none.

fn get_audio_outputs(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    if c.speaker.is_some() {
        speaker::output(out, "trt:AudioOutputs");
    }
    Ok(())
}

fn audio_output_configurations(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    if let Some(s) = c.speaker {
        speaker::output_config(out, "trt:Configurations", s.output_level());
    }
    Ok(())
}

fn get_audio_output_configuration(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    let s = c.speaker()?;
    c.check_config(speaker::OUTPUT_CONFIG)?;
    speaker::output_config(out, "trt:Configuration", s.output_level());
    Ok(())
}

fn get_audio_output_configuration_options(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    c.speaker()?;
    c.check_config(speaker::OUTPUT_CONFIG)?;
    speaker::output_options(out, "trt:Options");
    Ok(())
}

fn set_audio_output_configuration(c: &Call<'_>, _: &mut String) -> Result<(), Fault> {
    speaker::set_output(c.req, c.speaker()?)
}

fn audio_decoder_configurations(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    if c.speaker.is_some() {
        speaker::decoder_config(out, "trt:Configurations");
    }
    Ok(())
}

fn get_audio_decoder_configuration(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    c.speaker()?;
    c.check_config(speaker::DECODER_CONFIG)?;
    speaker::decoder_config(out, "trt:Configuration");
    Ok(())
}

fn get_audio_decoder_configuration_options(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    c.speaker()?;
    c.check_config(speaker::DECODER_CONFIG)?;
    speaker::decoder_options_v10(out);
    Ok(())
}

fn needs_speaker(c: &Call<'_>, _: &mut String) -> Result<(), Fault> {
    c.speaker().map(|_| ())
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
    Ok(match transport {
        StreamTransport::Udp | StreamTransport::Tcp => ctx.rtsp_url(&path, ctx.rtsp_port),
        StreamTransport::Http => ctx.rtsp_url(&path, ctx.tunnel_port),
        StreamTransport::Tls => ctx.rtsps_url(&path, ctx.rtsps_port.ok_or_else(no_rtsps)?),
    })
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
