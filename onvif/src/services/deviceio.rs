//! DeviceIO (ver10) and the Device service's relay calls: the IR LEDs as a relay output, and
//! the `tt:IRLamp` auxiliary command some NVRs send instead of Imaging.

use std::fmt::Write as _;

use crate::service::Access::*;
use crate::service::{MediaBackend, Table, op, respond};
use crate::soap::{Fault, Request};
use crate::speaker::SpeakerBackend;
use crate::write::el;
use crate::xml::{Element, escape};

pub const IR_RELAY: &str = "ir_leds";

pub trait RelayBackend: Send + Sync {
    fn relay_active(&self) -> bool;
    /// Active: night vision by hand (LEDs on, filter out); inactive: day.
    fn set_relay(&self, active: bool) -> Result<(), Fault>;
    /// `tt:IRLamp|On|Off|Auto`.
    fn ir_lamp(&self, command: &str) -> Result<(), Fault>;
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

pub(crate) fn set_state(op: &Element, relay: &dyn RelayBackend) -> Result<(), Fault> {
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
pub(crate) fn set_settings(op: &Element) -> Result<(), Fault> {
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

/// Device's SendAuxiliaryCommand and PTZ's: the IR lamp is the one auxiliary.
pub(crate) fn auxiliary(
    data: Option<&str>,
    relay: Option<&dyn RelayBackend>,
) -> Result<String, Fault> {
    let relay = relay.ok_or_else(|| {
        Fault::invalid_arg("AuxiliaryDataNotSupported", "the camera has no IR lamp")
    })?;
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

/// What every DeviceIO operation is given.
pub(crate) struct Call<'a> {
    req: &'a Request,
    media: &'a dyn MediaBackend,
    relay: Option<&'a dyn RelayBackend>,
    speaker: Option<&'a dyn SpeakerBackend>,
}

impl<'a> Call<'a> {
    fn relay(&self) -> Result<&'a dyn RelayBackend, Fault> {
        self.relay.ok_or_else(|| no("relay outputs"))
    }

    fn speaker(&self) -> Result<&'a dyn SpeakerBackend, Fault> {
        self.speaker.ok_or_else(|| no("speaker"))
    }
}

fn no(what: &str) -> Fault {
    Fault::action_not_supported(&format!("the camera has no {what}"))
}

pub(crate) type Run = fn(&Call<'_>, &mut String) -> Result<(), Fault>;

#[rustfmt::skip]
pub(crate) static OPERATIONS: Table<Run> = Table {
    operations: &[
        op("GetServiceCapabilities", PreAuth, get_service_capabilities),
        // DeviceIO's own form (tokens only); the Media form of the same names is answered by
        // Media, whichever address it is posted to. The tokens are the ones Media uses.
        op("GetVideoSources", ReadSystem, get_video_sources),
        op("GetAudioSources", ReadSystem, get_audio_sources),
        // DeviceIO's WSDL takes GetAudioOutputs from the Media namespace (answered there); this
        // one is for clients that use DeviceIO's own.
        op("GetAudioOutputs", ReadSystem, get_audio_outputs),
        op("GetAudioOutputConfiguration", ReadSystem, get_audio_output_configuration),
        op("GetAudioOutputConfigurationOptions", ReadSystem, get_audio_output_configuration_options),
        op("SetAudioOutputConfiguration", Actuate, set_audio_output_configuration),
        // DeviceIO's WSDL takes these two from the Device namespace; the same names in its own
        // namespace are answered too, for clients that guess.
        op("GetRelayOutputs", ReadSystem, get_relay_outputs),
        op("GetRelayOutputOptions", ReadSystem, get_relay_output_options),
        op("SetRelayOutputState", Actuate, set_relay_output_state),
        op("SetRelayOutputSettings", Actuate, set_relay_output_settings),
    ],
};

pub(crate) fn handle(
    req: &Request,
    media: &dyn MediaBackend,
    relay: Option<&dyn RelayBackend>,
    speaker: Option<&dyn SpeakerBackend>,
) -> Result<String, Fault> {
    let operation = OPERATIONS.find(req.name())?;
    let call = Call {
        req,
        media,
        relay,
        speaker,
    };
    respond("tmd", req.name(), |out| (operation.run)(&call, out))
}

fn get_service_capabilities(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    capabilities(out, c.media, c.speaker.is_some(), c.relay.is_some());
    Ok(())
}

fn tokens<'t>(out: &mut String, tokens: impl IntoIterator<Item = &'t str>) {
    for t in tokens {
        el(out, "tmd:Token", t);
    }
}

fn get_video_sources(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    tokens(
        out,
        c.media.video_sources().iter().map(|s| s.token.as_str()),
    );
    Ok(())
}

fn get_audio_sources(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    tokens(
        out,
        c.media.audio_sources().iter().map(|s| s.token.as_str()),
    );
    Ok(())
}

fn get_audio_outputs(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    tokens(out, c.speaker.map(|_| crate::speaker::OUTPUT));
    Ok(())
}

fn get_audio_output_configuration(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    let s = c.speaker()?;
    check_output(c.req)?;
    crate::speaker::output_config(out, "tmd:AudioOutputConfiguration", s.output_level());
    Ok(())
}

fn get_audio_output_configuration_options(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    c.speaker()?;
    check_output(c.req)?;
    crate::speaker::output_options(out, "tmd:AudioOutputOptions");
    Ok(())
}

fn set_audio_output_configuration(c: &Call<'_>, _: &mut String) -> Result<(), Fault> {
    crate::speaker::set_output(c.req, c.speaker()?)
}

fn get_relay_outputs(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    c.relay()?;
    relay_outputs(out, "tmd");
    Ok(())
}

fn get_relay_output_options(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    c.relay()?;
    let _ = write!(
        out,
        "<tmd:RelayOutputOptions token=\"{IR_RELAY}\"><tmd:Mode>Bistable</tmd:Mode></tmd:RelayOutputOptions>"
    );
    Ok(())
}

fn set_relay_output_state(c: &Call<'_>, _: &mut String) -> Result<(), Fault> {
    set_state(&c.req.operation, c.relay()?)
}

fn set_relay_output_settings(c: &Call<'_>, _: &mut String) -> Result<(), Fault> {
    c.relay()?;
    set_settings(&c.req.operation)
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
