//! Media2 service (ver20, Profile T): the same streams described the newer way.

use std::fmt::Write as _;

use crate::media::{
    Call, Run, audio_encoder_option, audio_encoder_options, audio_source_options, encoder_options,
    encoder_to_set, find_profile, no_config, no_microphone, no_multicast, nothing, snapshot_uri,
    stream_uri, video_source_options,
};
use crate::model::{Profile, StreamTransport, VideoEncoderConfiguration};
use crate::service::Access::*;
use crate::service::{Context, Table, op};
use crate::soap::Fault;
use crate::speaker::{self, SpeakerBackend};
use crate::write::*;
use crate::xml::{Element, escape};

pub(crate) fn capabilities(out: &mut String, ctx: &Context, has_audio: bool) {
    let audio = if has_audio {
        " AudioSource AudioEncoder"
    } else {
        ""
    };
    let speaker = if ctx.clip_limits.is_some() {
        " AudioOutput AudioDecoder"
    } else {
        ""
    };
    let _ = write!(
        out,
        "<tr2:Capabilities SnapshotUri=\"true\" Rotation=\"false\" VideoSourceMode=\"false\" OSD=\"false\" TemporaryOSDText=\"false\" Mask=\"false\" SourceMask=\"false\">\
         <tr2:ProfileCapabilities MaximumNumberOfProfiles=\"2\" ConfigurationsSupported=\"VideoSource VideoEncoder{audio}{speaker}\"/>\
         <tr2:StreamingCapabilities RTSPStreaming=\"true\" RTPMulticast=\"false\" RTP_RTSP_TCP=\"true\" NonAggregateControl=\"false\" AutoStartMulticast=\"false\"/>",
    );
    speaker::clip_capabilities(out, ctx.clip_limits);
    out.push_str("</tr2:Capabilities>");
}

fn profile(out: &mut String, p: &Profile, types: &[&str], speaker: Option<&dyn SpeakerBackend>) {
    let wants = |t: &str| types.is_empty() || types.contains(&"All") || types.contains(&t);
    let _ = write!(
        out,
        "<tr2:Profiles token=\"{}\" fixed=\"true\">",
        escape(&p.token)
    );
    el(out, "tr2:Name", &p.name);
    out.push_str("<tr2:Configurations>");
    if wants("VideoSource") {
        video_source_config(out, "tr2:VideoSource", &p.video_source);
    }
    if let (true, Some(a)) = (wants("AudioSource"), &p.audio_source) {
        audio_source_config(out, "tr2:AudioSource", a);
    }
    if wants("VideoEncoder") {
        video_encoder_config_v20(out, "tr2:VideoEncoder", &p.video_encoder);
    }
    if let (true, Some(a)) = (wants("AudioEncoder"), &p.audio_encoder) {
        audio_encoder_config_v20(out, "tr2:AudioEncoder", a);
    }
    if p.ptz && wants("PTZ") {
        crate::ptz::configuration(out, "tr2:PTZ");
    }
    if let Some(s) = speaker {
        if wants("AudioOutput") {
            speaker::output_config(out, "tr2:AudioOutput", s.output_level());
        }
        if wants("AudioDecoder") {
            speaker::decoder_config(out, "tr2:AudioDecoder");
        }
    }
    out.push_str("</tr2:Configurations></tr2:Profiles>");
}

#[rustfmt::skip]
pub(crate) static OPERATIONS: Table<Run> = Table {
    operations: &[
        op("GetServiceCapabilities", PreAuth, get_service_capabilities),
        op("GetProfiles", ReadMedia, get_profiles),
        op("GetVideoSourceConfigurations", ReadMedia, get_video_source_configurations),
        op("GetVideoEncoderConfigurations", ReadMedia, get_video_encoder_configurations),
        op("GetAudioSourceConfigurations", ReadMedia, get_audio_source_configurations),
        op("GetAudioEncoderConfigurations", ReadMedia, get_audio_encoder_configurations),
        op("GetVideoEncoderConfigurationOptions", ReadMedia, get_video_encoder_configuration_options),
        op("GetVideoSourceConfigurationOptions", ReadMedia, get_video_source_configuration_options),
        op("GetAudioSourceConfigurationOptions", ReadMedia, get_audio_source_configuration_options),
        op("GetAudioEncoderConfigurationOptions", ReadMedia, get_audio_encoder_configuration_options),
        op("GetStreamUri", ReadMedia, get_stream_uri),
        op("GetSnapshotUri", ReadMedia, get_snapshot_uri),
        op("SetVideoEncoderConfiguration", Actuate, set_video_encoder_configuration),
        op("CreateProfile", Actuate, fixed_profiles),
        op("DeleteProfile", Actuate, fixed_profiles),
        op("AddConfiguration", Actuate, fixed_profiles),
        op("RemoveConfiguration", Actuate, fixed_profiles),
        op("GetAudioOutputConfigurations", ReadMedia, get_audio_output_configurations),
        op("GetAudioDecoderConfigurations", ReadMedia, get_audio_decoder_configurations),
        op("GetMetadataConfigurations", ReadMedia, nothing),
        op("GetAnalyticsConfigurations", ReadMedia, nothing),
        op("GetAudioOutputConfigurationOptions", ReadMedia, get_audio_output_configuration_options),
        op("GetAudioDecoderConfigurationOptions", ReadMedia, get_audio_decoder_configuration_options),
        op("SetAudioOutputConfiguration", Actuate, set_audio_output_configuration),
        op("SetAudioDecoderConfiguration", Actuate, set_audio_decoder_configuration),
        op("GetAudioClips", ReadMedia, speaker::get_audio_clips),
        op("AddAudioClip", Actuate, speaker::add_audio_clip),
        op("SetAudioClip", Actuate, speaker::set_audio_clip),
        op("DeleteAudioClip", Actuate, speaker::delete_audio_clip),
        op("PlayAudioClip", Actuate, speaker::play_audio_clip),
        op("GetPlayingAudioClips", ReadMedia, speaker::get_playing_audio_clips),
    ],
};

/// Media2 names a configuration by ConfigurationToken or by Token.
fn token<'a>(c: &Call<'a>) -> Option<&'a str> {
    c.op.text_of("ConfigurationToken")
        .or_else(|| c.op.text_of("Token"))
}

fn get_service_capabilities(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    capabilities(out, c.ctx, !c.media.audio_sources().is_empty());
    Ok(())
}

fn get_profiles(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    let types: Vec<&str> =
        c.op.children_named("Type")
            .map(|t| t.text.as_str())
            .collect();
    let wanted = c.op.text_of("Token");
    if let Some(t) = wanted.filter(|t| !c.profiles.iter().any(|p| p.token == *t)) {
        return Err(Fault::invalid_arg(
            "NoProfile",
            format!("no profile \"{t}\""),
        ));
    }
    for p in c
        .profiles
        .iter()
        .filter(|p| wanted.is_none_or(|t| t == p.token))
    {
        profile(out, p, &types, c.speaker);
    }
    Ok(())
}

fn get_video_source_configurations(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    let token = token(c);
    for p in c
        .profiles
        .iter()
        .filter(|p| token.is_none_or(|t| t == p.video_source.token))
        .take(1)
    {
        video_source_config(out, "tr2:Configurations", &p.video_source);
    }
    Ok(())
}

fn get_video_encoder_configurations(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    let token = token(c);
    if let Some(t) = token.filter(|t| !c.profiles.iter().any(|p| p.video_encoder.token == *t)) {
        return Err(no_config(t));
    }
    for p in c
        .profiles
        .iter()
        .filter(|p| token.is_none_or(|t| t == p.video_encoder.token))
    {
        video_encoder_config_v20(out, "tr2:Configurations", &p.video_encoder);
    }
    Ok(())
}

fn get_audio_source_configurations(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    let token = token(c);
    for a in c
        .profiles
        .iter()
        .filter_map(|p| p.audio_source.as_ref())
        .filter(|a| token.is_none_or(|t| t == a.token))
        .take(1)
    {
        audio_source_config(out, "tr2:Configurations", a);
    }
    Ok(())
}

fn get_audio_encoder_configurations(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    let token = token(c);
    let mut seen = Vec::new();
    for a in c
        .profiles
        .iter()
        .filter_map(|p| p.audio_encoder.as_ref())
        .filter(|a| token.is_none_or(|t| t == a.token))
    {
        if !seen.contains(&&a.token) {
            seen.push(&a.token);
            audio_encoder_config_v20(out, "tr2:Configurations", a);
        }
    }
    Ok(())
}

fn get_video_encoder_configuration_options(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    let o = encoder_options(c.media, &c.profiles, token(c), c.op.text_of("ProfileToken"))?;
    let _ = write!(
        out,
        "<tr2:Options GovLengthRange=\"{} {}\" FrameRatesSupported=\"{}\" ProfilesSupported=\"{}\" ConstantBitRateSupported=\"false\">",
        o.gov_length.0,
        o.gov_length.1,
        (o.framerate.0..=o.framerate.1)
            .map(|f| f.to_string())
            .collect::<Vec<_>>()
            .join(" "),
        o.profiles.join(" ")
    );
    el(out, "tt:Encoding", "H264");
    range(out, "tt:QualityRange", 0, 10);
    for (w, h) in &o.resolutions {
        resolution(out, "tt:ResolutionsAvailable", *w, *h);
    }
    range(out, "tt:BitrateRange", o.bitrate_kbps.0, o.bitrate_kbps.1);
    out.push_str("</tr2:Options>");
    Ok(())
}

fn get_video_source_configuration_options(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    video_source_options(out, "tr2:Options", &c.profiles, c.op)
}

fn get_audio_source_configuration_options(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    audio_source_options(out, "tr2:Options", c.media, &c.profiles, c.op)
}

fn get_audio_encoder_configuration_options(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    let encoders = audio_encoder_options(&c.profiles, c.op)?;
    if encoders.is_empty() {
        return Err(no_microphone());
    }
    for a in encoders {
        out.push_str("<tr2:Options>");
        audio_encoder_option(out, "mpeg4-generic", a);
        out.push_str("</tr2:Options>");
    }
    Ok(())
}

/// Media2's protocol names (case matters); the URL is the same for UDP and TCP.
fn transport(protocol: Option<&str>) -> Result<StreamTransport, Fault> {
    match protocol.map(str::trim) {
        Some("RtspUnicast") | Some("RTSP") | None => Ok(StreamTransport::Tcp),
        Some("RtspOverHttp") => Ok(StreamTransport::Http),
        // RTSPS interleaves RTP in its TLS connection, as ffmpeg and GStreamer do for
        // `rtsps://`; SRTP over UDP is not offered.
        Some("RtspsUnicast") => Ok(StreamTransport::Tls),
        Some("RtspMulticast") | Some("RtspsMulticast") => Err(no_multicast()),
        Some(other) => Err(Fault::invalid_arg(
            "InvalidStreamSetup",
            format!(
                "protocol \"{other}\" is not offered (RtspUnicast, RTSP, RtspOverHttp or RtspsUnicast)"
            ),
        )),
    }
}

fn get_stream_uri(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    let transport = transport(c.op.text_of("Protocol"))?;
    let p = find_profile(c.media, c.op.text_of("ProfileToken"))?;
    el(
        out,
        "tr2:Uri",
        stream_uri(c.media, c.ctx, &p.token, transport)?,
    );
    Ok(())
}

fn get_snapshot_uri(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    let p = find_profile(c.media, c.op.text_of("ProfileToken"))?;
    el(out, "tr2:Uri", snapshot_uri(c.ctx, &p));
    Ok(())
}

fn set_video_encoder_configuration(c: &Call<'_>, _: &mut String) -> Result<(), Fault> {
    let (config, current) = encoder_to_set(c)?;
    c.media
        .set_video_encoder(read_encoder_v20(config, current)?)
}

fn fixed_profiles(_: &Call<'_>, _: &mut String) -> Result<(), Fault> {
    Err(Fault::new(
        crate::soap::FaultCode::Receiver,
        &["Action", "MaxNVTProfiles"],
        "the camera's two profiles are fixed",
    ))
}

fn get_audio_output_configurations(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    if let Some(s) = c
        .speaker
        .filter(|_| token(c).is_none_or(|t| t == speaker::OUTPUT_CONFIG))
    {
        speaker::output_config(out, "tr2:Configurations", s.output_level());
    }
    Ok(())
}

fn get_audio_decoder_configurations(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    if c.speaker.is_some() && token(c).is_none_or(|t| t == speaker::DECODER_CONFIG) {
        speaker::decoder_config(out, "tr2:Configurations");
    }
    Ok(())
}

fn get_audio_output_configuration_options(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    speaker::needed(c)?;
    speaker::output_options(out, "tr2:Options");
    Ok(())
}

fn get_audio_decoder_configuration_options(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    speaker::needed(c)?;
    speaker::decoder_options_v20(out);
    Ok(())
}

fn set_audio_output_configuration(c: &Call<'_>, _: &mut String) -> Result<(), Fault> {
    speaker::set_output(c.req, speaker::needed(c)?)
}

/// The one decoder takes whatever the backchannel sends; there is nothing to set.
fn set_audio_decoder_configuration(c: &Call<'_>, _: &mut String) -> Result<(), Fault> {
    speaker::needed(c).map(|_| ())
}

fn read_encoder_v20(
    c: &Element,
    mut current: VideoEncoderConfiguration,
) -> Result<VideoEncoderConfiguration, Fault> {
    let num = |e: Option<&Element>, what: &str| -> Result<Option<f64>, Fault> {
        e.map(|e| {
            e.text
                .trim()
                .parse::<f64>()
                .map_err(|_| Fault::invalid_arg("ConfigModify", format!("{what} is not a number")))
        })
        .transpose()
    };
    let attr = |name: &str| -> Result<Option<f64>, Fault> {
        c.attr(name)
            .map(|v| {
                v.trim().parse::<f64>().map_err(|_| {
                    Fault::invalid_arg("ConfigModify", format!("{name} is not a number"))
                })
            })
            .transpose()
    };
    if let Some(enc) = c.text_of("Encoding").filter(|e| *e != "H264") {
        return Err(Fault::invalid_arg(
            "ConfigModify",
            format!("encoding {enc} is not offered"),
        ));
    }
    if let Some(w) = num(c.path(&["Resolution", "Width"]), "Width")? {
        current.width = w as u32;
    }
    if let Some(h) = num(c.path(&["Resolution", "Height"]), "Height")? {
        current.height = h as u32;
    }
    if let Some(f) = num(c.path(&["RateControl", "FrameRateLimit"]), "FrameRateLimit")? {
        current.framerate = f.round() as u32;
    }
    if let Some(b) = num(c.path(&["RateControl", "BitrateLimit"]), "BitrateLimit")? {
        current.bitrate_kbps = b as u32;
    }
    if let Some(g) = attr("GovLength")? {
        current.gov_length = g as u32;
    }
    if let Some(q) = num(c.child("Quality"), "Quality")? {
        current.quality = q as f32;
    }
    Ok(current)
}
