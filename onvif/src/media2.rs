//! Media2 service (ver20, Profile T): the same streams described the newer way.

use std::fmt::Write as _;

use crate::media::{
    audio_encoder_option, audio_encoder_options, audio_source_options, encoder, encoder_options,
    find_profile, no_config, no_microphone, snapshot_uri, stream_uri, video_source_options,
};
use crate::model::{Profile, StreamTransport, VideoEncoderConfiguration};
use crate::service::{Access, Context, MediaBackend};
use crate::soap::{Fault, Request};
use crate::speaker::{self, SpeakerBackend};
use crate::write::*;
use crate::xml::{Element, escape};

pub fn access(operation: &str) -> Access {
    match operation {
        "PlayAudioClip" => Access::Actuate,
        _ => crate::media::access(operation),
    }
}

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

pub fn handle(
    req: &Request,
    ctx: &Context,
    media: &dyn MediaBackend,
    speaker: Option<&dyn SpeakerBackend>,
) -> Result<String, Fault> {
    let op = &req.operation;
    let name = op.name.as_str();
    let mut out = String::with_capacity(4096);
    let _ = write!(out, "<tr2:{name}Response>");
    let profiles = media.profiles();
    let token = op
        .text_of("ConfigurationToken")
        .or_else(|| op.text_of("Token"));
    match name {
        "GetServiceCapabilities" => capabilities(&mut out, ctx, !media.audio_sources().is_empty()),
        "GetProfiles" => {
            let types: Vec<&str> = op.children_named("Type").map(|t| t.text.as_str()).collect();
            let wanted = op.text_of("Token");
            if let Some(t) = wanted.filter(|t| !profiles.iter().any(|p| p.token == *t)) {
                return Err(Fault::invalid_arg(
                    "NoProfile",
                    format!("no profile \"{t}\""),
                ));
            }
            for p in profiles
                .iter()
                .filter(|p| wanted.is_none_or(|t| t == p.token))
            {
                profile(&mut out, p, &types, speaker);
            }
        }
        "GetVideoSourceConfigurations" => {
            for p in profiles
                .iter()
                .filter(|p| token.is_none_or(|t| t == p.video_source.token))
                .take(1)
            {
                video_source_config(&mut out, "tr2:Configurations", &p.video_source);
            }
        }
        "GetVideoEncoderConfigurations" => {
            if let Some(t) = token.filter(|t| !profiles.iter().any(|p| p.video_encoder.token == *t))
            {
                return Err(no_config(t));
            }
            for p in profiles
                .iter()
                .filter(|p| token.is_none_or(|t| t == p.video_encoder.token))
            {
                video_encoder_config_v20(&mut out, "tr2:Configurations", &p.video_encoder);
            }
        }
        "GetAudioSourceConfigurations" => {
            for a in profiles
                .iter()
                .filter_map(|p| p.audio_source.as_ref())
                .filter(|a| token.is_none_or(|t| t == a.token))
                .take(1)
            {
                audio_source_config(&mut out, "tr2:Configurations", a);
            }
        }
        "GetAudioEncoderConfigurations" => {
            let mut seen = Vec::new();
            for a in profiles
                .iter()
                .filter_map(|p| p.audio_encoder.as_ref())
                .filter(|a| token.is_none_or(|t| t == a.token))
            {
                if !seen.contains(&&a.token) {
                    seen.push(&a.token);
                    audio_encoder_config_v20(&mut out, "tr2:Configurations", a);
                }
            }
        }
        "GetVideoEncoderConfigurationOptions" => {
            let o = encoder_options(media, &profiles, token, op.text_of("ProfileToken"))?;
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
            el(&mut out, "tt:Encoding", "H264");
            range(&mut out, "tt:QualityRange", 0, 10);
            for (w, h) in &o.resolutions {
                resolution(&mut out, "tt:ResolutionsAvailable", *w, *h);
            }
            range(
                &mut out,
                "tt:BitrateRange",
                o.bitrate_kbps.0,
                o.bitrate_kbps.1,
            );
            out.push_str("</tr2:Options>");
        }
        "GetVideoSourceConfigurationOptions" => {
            video_source_options(&mut out, "tr2:Options", &profiles, op)?
        }
        "GetAudioSourceConfigurationOptions" => {
            audio_source_options(&mut out, "tr2:Options", media, &profiles, op)?
        }
        "GetAudioEncoderConfigurationOptions" => {
            let encoders = audio_encoder_options(&profiles, op)?;
            if encoders.is_empty() {
                return Err(no_microphone());
            }
            for c in encoders {
                out.push_str("<tr2:Options>");
                audio_encoder_option(&mut out, "mpeg4-generic", c);
                out.push_str("</tr2:Options>");
            }
        }
        "GetStreamUri" => {
            // Media2's protocol names (case matters); the URL is the same for UDP and TCP.
            let transport = match op.text_of("Protocol").map(str::trim) {
                Some("RtspUnicast") | Some("RTSP") | None => StreamTransport::Tcp,
                Some("RtspOverHttp") => StreamTransport::Http,
                Some("RtspMulticast") => {
                    return Err(Fault::invalid_arg(
                        "InvalidStreamSetup",
                        "multicast streaming is not offered",
                    ));
                }
                Some(other) => {
                    return Err(Fault::invalid_arg(
                        "InvalidStreamSetup",
                        format!(
                            "protocol \"{other}\" is not offered (RtspUnicast, RTSP or RtspOverHttp)"
                        ),
                    ));
                }
            };
            let p = find_profile(media, op.text_of("ProfileToken"))?;
            el(
                &mut out,
                "tr2:Uri",
                stream_uri(media, ctx, &p.token, transport)?,
            );
        }
        "GetSnapshotUri" => {
            let p = find_profile(media, op.text_of("ProfileToken"))?;
            el(&mut out, "tr2:Uri", snapshot_uri(ctx, &p));
        }
        "SetVideoEncoderConfiguration" => {
            let c = op
                .child("Configuration")
                .ok_or_else(|| Fault::missing_arg("Configuration"))?;
            let current = encoder(&profiles, c.attr("token").unwrap_or_default())?;
            media.set_video_encoder(read_encoder_v20(c, current)?)?;
        }
        "CreateProfile" | "DeleteProfile" | "AddConfiguration" | "RemoveConfiguration" => {
            return Err(Fault::new(
                crate::soap::FaultCode::Receiver,
                &["Action", "MaxNVTProfiles"],
                "the camera's two profiles are fixed",
            ));
        }
        "GetAudioOutputConfigurations" => {
            if let Some(s) = speaker.filter(|_| token.is_none_or(|t| t == speaker::OUTPUT_CONFIG)) {
                speaker::output_config(&mut out, "tr2:Configurations", s.output_level());
            }
        }
        "GetAudioDecoderConfigurations" => {
            if speaker.is_some() && token.is_none_or(|t| t == speaker::DECODER_CONFIG) {
                speaker::decoder_config(&mut out, "tr2:Configurations");
            }
        }
        "GetMetadataConfigurations" | "GetAnalyticsConfigurations" => {}
        _ => {
            let Some(s) = speaker else {
                return Err(Fault::action_not_supported(name));
            };
            match name {
                "GetAudioOutputConfigurationOptions" => {
                    speaker::output_options(&mut out, "tr2:Options")
                }
                "GetAudioDecoderConfigurationOptions" => speaker::decoder_options_v20(&mut out),
                "SetAudioOutputConfiguration" => speaker::set_output(req, s)?,
                "SetAudioDecoderConfiguration" => {}
                _ => match speaker::clip_operation(name, req, ctx, s, &mut out) {
                    Some(result) => result?,
                    None => return Err(Fault::action_not_supported(name)),
                },
            }
        }
    }
    let _ = write!(out, "</tr2:{name}Response>");
    Ok(out)
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
