//! DeviceIO (ver10) and the Device service's relay calls: the IR LEDs as a relay output, and
//! the `tt:IRLamp` auxiliary command some NVRs send instead of Imaging.

use std::fmt::Write as _;

use crate::service::{Access, MediaBackend};
use crate::soap::{Fault, Request};
use crate::speaker::SpeakerBackend;
use crate::xml::escape;

pub const IR_RELAY: &str = "ir_leds";

pub trait RelayBackend: Send + Sync {
    fn relay_active(&self) -> bool;
    /// Active: night vision by hand (LEDs on, filter out); inactive: day.
    fn set_relay(&self, active: bool) -> Result<(), Fault>;
    /// `tt:IRLamp|On|Off|Auto`.
    fn ir_lamp(&self, command: &str) -> Result<(), Fault>;
}

pub fn access(operation: &str) -> Access {
    match operation {
        "GetServiceCapabilities" => Access::PreAuth,
        op if op.starts_with("Get") => Access::ReadSystem,
        _ => Access::Actuate,
    }
}

/// `tmd:Capabilities`, for DeviceIO's GetServiceCapabilities and the Device's GetServices.
pub(crate) fn capabilities(
    out: &mut String,
    media: &dyn MediaBackend,
    audio_outputs: bool,
    relays: bool,
) {
    let _ = write!(
        out,
        "<tmd:Capabilities VideoSources=\"{}\" AudioSources=\"{}\" AudioOutputs=\"{}\" RelayOutputs=\"{}\"/>",
        media.video_sources().len(),
        media.audio_sources().len(),
        u8::from(audio_outputs),
        u8::from(relays)
    );
}

/// `RelayOutputs` with the given element prefix (`tmd` or `tds`).
pub(crate) fn relay_outputs(out: &mut String, prefix: &str) {
    let _ = write!(
        out,
        "<{prefix}:RelayOutputs token=\"{IR_RELAY}\"><tt:Properties><tt:Mode>Bistable</tt:Mode><tt:DelayTime>PT0S</tt:DelayTime><tt:IdleState>open</tt:IdleState></tt:Properties></{prefix}:RelayOutputs>"
    );
}

pub(crate) fn set_state(req: &Request, relay: &dyn RelayBackend) -> Result<(), Fault> {
    let op = &req.operation;
    let token = op
        .text_of("RelayOutputToken")
        .ok_or_else(|| Fault::missing_arg("RelayOutputToken"))?;
    if token != IR_RELAY {
        return Err(Fault::invalid_arg(
            "RelayToken",
            format!("no relay \"{}\"", escape(token)),
        ));
    }
    match op.text_of("LogicalState") {
        Some("active") => relay.set_relay(true),
        Some("inactive") => relay.set_relay(false),
        _ => Err(Fault::missing_arg("LogicalState")),
    }
}

/// Device's form (`RelayOutputToken` + `Properties`) and DeviceIO's (`RelayOutput token=`).
pub(crate) fn set_settings(req: &Request) -> Result<(), Fault> {
    let op = &req.operation;
    let (token, properties) = match op.child("RelayOutput") {
        Some(r) => (r.attr("token"), r.child("Properties")),
        None => (op.text_of("RelayOutputToken"), op.child("Properties")),
    };
    if token != Some(IR_RELAY) {
        return Err(Fault::invalid_arg("RelayToken", "no such relay"));
    }
    match properties
        .and_then(|p| p.child("Mode"))
        .map(|m| m.text.as_str())
    {
        Some("Bistable") | None => Ok(()),
        Some(_) => Err(Fault::invalid_arg(
            "ModeError",
            "the IR LEDs only switch on and off (Bistable)",
        )),
    }
}

pub(crate) fn auxiliary(data: Option<&str>, relay: &dyn RelayBackend) -> Result<String, Fault> {
    let data = data
        .ok_or_else(|| Fault::missing_arg("AuxiliaryData"))?
        .trim();
    let command = data.strip_prefix("tt:IRLamp|").ok_or_else(|| {
        Fault::invalid_arg(
            "AuxiliaryDataNotSupported",
            format!("{data} is not supported"),
        )
    })?;
    relay.ir_lamp(command)?;
    Ok(data.to_string())
}

pub fn handle(
    req: &Request,
    media: &dyn MediaBackend,
    relay: Option<&dyn RelayBackend>,
    speaker: Option<&dyn SpeakerBackend>,
) -> Result<String, Fault> {
    let name = req.operation.name.as_str();
    let mut out = String::with_capacity(512);
    let _ = write!(out, "<tmd:{name}Response>");
    let no = |what: &str| Fault::action_not_supported(&format!("the camera has no {what}"));
    let relay_or = || relay.ok_or_else(|| no("relay outputs"));
    let speaker_or = || speaker.ok_or_else(|| no("speaker"));
    match name {
        "GetServiceCapabilities" => {
            capabilities(&mut out, media, speaker.is_some(), relay.is_some())
        }
        // DeviceIO's own form (tokens only); the Media form of the same names is answered by
        // Media, whichever address it is posted to. The tokens are the ones Media uses.
        "GetVideoSources" => {
            for s in media.video_sources() {
                crate::write::el(&mut out, "tmd:Token", &s.token);
            }
        }
        "GetAudioSources" => {
            for s in media.audio_sources() {
                crate::write::el(&mut out, "tmd:Token", &s.token);
            }
        }
        // DeviceIO's WSDL takes GetAudioOutputs from the Media namespace (answered there); this
        // one is for clients that use DeviceIO's own.
        "GetAudioOutputs" => {
            if speaker.is_some() {
                crate::write::el(&mut out, "tmd:Token", crate::speaker::OUTPUT);
            }
        }
        "GetAudioOutputConfiguration" => {
            let s = speaker_or()?;
            check_output(req)?;
            crate::speaker::output_config(
                &mut out,
                "tmd:AudioOutputConfiguration",
                s.output_level(),
            );
        }
        "GetAudioOutputConfigurationOptions" => {
            speaker_or()?;
            check_output(req)?;
            crate::speaker::output_options(&mut out, "tmd:AudioOutputOptions");
        }
        "SetAudioOutputConfiguration" => crate::speaker::set_output(req, speaker_or()?)?,
        // DeviceIO's WSDL takes these two from the Device namespace; the same names in its own
        // namespace are answered too, for clients that guess.
        "GetRelayOutputs" => {
            relay_or()?;
            relay_outputs(&mut out, "tmd")
        }
        "GetRelayOutputOptions" => {
            relay_or()?;
            out.push_str(&format!(
            "<tmd:RelayOutputOptions token=\"{IR_RELAY}\"><tmd:Mode>Bistable</tmd:Mode></tmd:RelayOutputOptions>"
            ));
        }
        "SetRelayOutputState" => set_state(req, relay_or()?)?,
        "SetRelayOutputSettings" => {
            relay_or()?;
            set_settings(req)?
        }
        _ => return Err(Fault::action_not_supported(name)),
    }
    let _ = write!(out, "</tmd:{name}Response>");
    Ok(out)
}

fn check_output(req: &Request) -> Result<(), Fault> {
    match req.operation.text_of("AudioOutputToken").map(str::trim) {
        Some(crate::speaker::OUTPUT) | None => Ok(()),
        Some(t) => Err(Fault::invalid_arg(
            "InvalidToken",
            format!("no audio output \"{}\"", escape(t)),
        )),
    }
}
