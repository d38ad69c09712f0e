//! Helpers for writing response XML: escaped text elements and shared ONVIF types.

use std::fmt::Write as _;

use crate::model::*;
use crate::xml::escape;

/// `<tag>text</tag>` with the text escaped.
pub(crate) fn el(out: &mut String, tag: &str, text: impl std::fmt::Display) {
    let text = text.to_string();
    let _ = write!(out, "<{tag}>{}</{tag}>", escape(&text));
}

pub(crate) fn range(
    out: &mut String,
    tag: &str,
    min: impl std::fmt::Display,
    max: impl std::fmt::Display,
) {
    let _ = write!(
        out,
        "<{tag}><tt:Min>{min}</tt:Min><tt:Max>{max}</tt:Max></{tag}>"
    );
}

pub(crate) fn resolution(out: &mut String, tag: &str, w: u32, h: u32) {
    let _ = write!(
        out,
        "<{tag}><tt:Width>{w}</tt:Width><tt:Height>{h}</tt:Height></{tag}>"
    );
}

/// The opening of every `tt:ConfigurationEntity`: `<tag token="...">`, its Name and UseCount.
pub(crate) fn config_start(
    out: &mut String,
    tag: &str,
    token: &str,
    name: &str,
    use_count: impl std::fmt::Display,
) {
    let _ = write!(out, "<{tag} token=\"{}\">", escape(token));
    el(out, "tt:Name", name);
    el(out, "tt:UseCount", use_count);
}

/// The end of a Media (ver10) encoder configuration: no multicast, the session timeout.
fn v10_encoder_end(out: &mut String, tag: &str, session_timeout_s: u32) {
    out.push_str(NO_MULTICAST);
    let _ = write!(
        out,
        "<tt:SessionTimeout>PT{session_timeout_s}S</tt:SessionTimeout></{tag}>"
    );
}

/// `tt:VideoSourceConfiguration` content (Name, UseCount, SourceToken, Bounds).
pub(crate) fn video_source_config(out: &mut String, tag: &str, c: &VideoSourceConfiguration) {
    config_start(out, tag, &c.token, &c.name, c.use_count);
    el(out, "tt:SourceToken", &c.source_token);
    let _ = write!(
        out,
        "<tt:Bounds x=\"0\" y=\"0\" width=\"{}\" height=\"{}\"/></{tag}>",
        c.width, c.height
    );
}

pub(crate) fn audio_source_config(out: &mut String, tag: &str, c: &AudioSourceConfiguration) {
    config_start(out, tag, &c.token, &c.name, c.use_count);
    el(out, "tt:SourceToken", &c.source_token);
    let _ = write!(out, "</{tag}>");
}

const NO_MULTICAST: &str = "<tt:Multicast><tt:Address><tt:Type>IPv4</tt:Type><tt:IPv4Address>0.0.0.0</tt:IPv4Address></tt:Address><tt:Port>0</tt:Port><tt:TTL>1</tt:TTL><tt:AutoStart>false</tt:AutoStart></tt:Multicast>";

/// Media (ver10) `tt:VideoEncoderConfiguration`.
pub(crate) fn video_encoder_config_v10(
    out: &mut String,
    tag: &str,
    c: &VideoEncoderConfiguration,
    session_timeout_s: u32,
) {
    config_start(out, tag, &c.token, &c.name, c.use_count);
    el(out, "tt:Encoding", "H264");
    resolution(out, "tt:Resolution", c.width, c.height);
    el(out, "tt:Quality", c.quality);
    let _ = write!(
        out,
        "<tt:RateControl><tt:FrameRateLimit>{}</tt:FrameRateLimit><tt:EncodingInterval>1</tt:EncodingInterval><tt:BitrateLimit>{}</tt:BitrateLimit></tt:RateControl>",
        c.framerate, c.bitrate_kbps
    );
    let _ = write!(
        out,
        "<tt:H264><tt:GovLength>{}</tt:GovLength><tt:H264Profile>{}</tt:H264Profile></tt:H264>",
        c.gov_length, c.profile
    );
    v10_encoder_end(out, tag, session_timeout_s);
}

/// Media (ver10) `tt:AudioEncoderConfiguration`.
pub(crate) fn audio_encoder_config_v10(
    out: &mut String,
    tag: &str,
    c: &AudioEncoderConfiguration,
    session_timeout_s: u32,
) {
    config_start(out, tag, &c.token, &c.name, c.use_count);
    el(out, "tt:Encoding", "AAC");
    el(out, "tt:Bitrate", c.bitrate_kbps);
    el(out, "tt:SampleRate", c.sample_rate_hz / 1000);
    v10_encoder_end(out, tag, session_timeout_s);
}

/// Media2 `tt:VideoEncoder2Configuration`.
pub(crate) fn video_encoder_config_v20(out: &mut String, tag: &str, c: &VideoEncoderConfiguration) {
    let _ = write!(
        out,
        "<{tag} token=\"{}\" GovLength=\"{}\" Profile=\"{}\">",
        escape(&c.token),
        c.gov_length,
        c.profile
    );
    el(out, "tt:Name", &c.name);
    el(out, "tt:UseCount", c.use_count);
    el(out, "tt:Encoding", "H264");
    resolution(out, "tt:Resolution", c.width, c.height);
    let _ = write!(
        out,
        "<tt:RateControl ConstantBitRate=\"false\"><tt:FrameRateLimit>{}</tt:FrameRateLimit><tt:BitrateLimit>{}</tt:BitrateLimit></tt:RateControl>",
        c.framerate, c.bitrate_kbps
    );
    el(out, "tt:Quality", c.quality);
    let _ = write!(out, "</{tag}>");
}

/// Media2 `tt:AudioEncoder2Configuration` (RTP payload is RFC 3640, `mpeg4-generic`).
pub(crate) fn audio_encoder_config_v20(out: &mut String, tag: &str, c: &AudioEncoderConfiguration) {
    config_start(out, tag, &c.token, &c.name, c.use_count);
    el(out, "tt:Encoding", "mpeg4-generic");
    el(out, "tt:Bitrate", c.bitrate_kbps);
    el(out, "tt:SampleRate", c.sample_rate_hz / 1000);
    let _ = write!(out, "</{tag}>");
}
