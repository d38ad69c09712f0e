//! PTZ service (ver20): moves in the generic spaces and by a fraction of the field of view,
//! status, presets and home. One node, one configuration, shared by every profile.

use std::fmt::Write as _;
use std::time::Duration;

use crate::service::Access::*;
use crate::service::{Table, op, respond};
use crate::soap::{Fault, Request};
use crate::write::{config_start, el, range};
use crate::xml::{Element, escape};

pub const POSITION_SPACE: &str =
    "http://www.onvif.org/ver10/tptz/PanTiltSpaces/PositionGenericSpace";
pub const TRANSLATION_SPACE: &str =
    "http://www.onvif.org/ver10/tptz/PanTiltSpaces/TranslationGenericSpace";
pub const FOV_SPACE: &str = "http://www.onvif.org/ver10/tptz/PanTiltSpaces/TranslationSpaceFov";
pub const VELOCITY_SPACE: &str =
    "http://www.onvif.org/ver10/tptz/PanTiltSpaces/VelocityGenericSpace";
pub const SPEED_SPACE: &str = "http://www.onvif.org/ver10/tptz/PanTiltSpaces/GenericSpeedSpace";
pub const ZOOM_POSITION_SPACE: &str =
    "http://www.onvif.org/ver10/tptz/ZoomSpaces/PositionGenericSpace";
pub const ZOOM_TRANSLATION_SPACE: &str =
    "http://www.onvif.org/ver10/tptz/ZoomSpaces/TranslationGenericSpace";
pub const ZOOM_VELOCITY_SPACE: &str =
    "http://www.onvif.org/ver10/tptz/ZoomSpaces/VelocityGenericSpace";
pub const ZOOM_SPEED_SPACE: &str =
    "http://www.onvif.org/ver10/tptz/ZoomSpaces/ZoomGenericSpeedSpace";
pub const NODE: &str = "ptz_node";
pub const CONFIGURATION: &str = "ptz";

#[derive(Debug, Clone, PartialEq)]
pub struct PtzStatus {
    pub pan: f32,
    pub tilt: f32,
    /// 0 (no zoom) to 1 (the most).
    pub zoom: f32,
    /// Either axis group moves.
    pub moving: bool,
    /// Each group on its own, for GetStatus's MoveStatus.
    pub pan_tilt_moving: bool,
    pub zoom_moving: bool,
}
#[derive(Debug, Clone, PartialEq)]
pub struct Preset {
    pub token: String,
    pub name: String,
    pub pan: f32,
    pub tilt: f32,
    pub zoom: f32,
}
/// The camera's pan/tilt, as the PTZ service drives it. Positions are in the generic space.
pub trait PtzBackend: Send + Sync {
    fn max_presets(&self) -> usize;
    fn status(&self) -> PtzStatus;
    /// Moves the axes given (`None` leaves an axis where it is).
    fn absolute_move(
        &self,
        pan_tilt: Option<(Option<f32>, Option<f32>)>,
        zoom: Option<f32>,
        speed: Option<f32>,
    ) -> Result<(), Fault>;
    /// `fov`: the pan/tilt translation is a fraction of the field of view, not generic units.
    fn relative_move(
        &self,
        pan_tilt: Option<(f32, f32)>,
        zoom: Option<f32>,
        fov: bool,
        speed: Option<f32>,
    ) -> Result<(), Fault>;
    fn continuous_move(
        &self,
        pan: f32,
        tilt: f32,
        zoom: f32,
        timeout: Option<Duration>,
    ) -> Result<(), Fault>;
    fn stop(&self);
    fn presets(&self) -> Vec<Preset>;
    /// Saves the current position; returns the preset token. A token given names the preset to
    /// overwrite, or the new preset's token (already checked with [`valid_token`]).
    fn set_preset(&self, token: Option<String>, name: Option<String>) -> Result<String, Fault>;
    fn remove_preset(&self, token: &str) -> Result<(), Fault>;
    fn goto_preset(&self, token: &str, speed: Option<f32>) -> Result<(), Fault>;
    fn goto_home(&self, speed: Option<f32>) -> Result<(), Fault>;
    fn set_home(&self) -> Result<(), Fault>;
}

pub(crate) fn capabilities(out: &mut String) {
    // Optional attributes that would be false are left out: absent means false, and clients
    // with older WSDLs fail on attributes they do not know.
    out.push_str("<tptz:Capabilities MoveStatus=\"true\" StatusPosition=\"true\"/>");
}

fn space(out: &mut String, tag: &str, uri: &str, x: (f32, f32), y: Option<(f32, f32)>) {
    let _ = write!(out, "<{tag}>");
    el(out, "tt:URI", uri);
    range(out, "tt:XRange", x.0, x.1);
    if let Some(y) = y {
        range(out, "tt:YRange", y.0, y.1);
    }
    let _ = write!(out, "</{tag}>");
}

fn spaces(out: &mut String) {
    space(
        out,
        "tt:AbsolutePanTiltPositionSpace",
        POSITION_SPACE,
        (-1.0, 1.0),
        Some((-1.0, 1.0)),
    );
    space(
        out,
        "tt:AbsoluteZoomPositionSpace",
        ZOOM_POSITION_SPACE,
        (0.0, 1.0),
        None,
    );
    space(
        out,
        "tt:RelativePanTiltTranslationSpace",
        TRANSLATION_SPACE,
        (-1.0, 1.0),
        Some((-1.0, 1.0)),
    );
    space(
        out,
        "tt:RelativePanTiltTranslationSpace",
        FOV_SPACE,
        (-1.0, 1.0),
        Some((-1.0, 1.0)),
    );
    space(
        out,
        "tt:RelativeZoomTranslationSpace",
        ZOOM_TRANSLATION_SPACE,
        (-1.0, 1.0),
        None,
    );
    space(
        out,
        "tt:ContinuousPanTiltVelocitySpace",
        VELOCITY_SPACE,
        (-1.0, 1.0),
        Some((-1.0, 1.0)),
    );
    space(
        out,
        "tt:ContinuousZoomVelocitySpace",
        ZOOM_VELOCITY_SPACE,
        (-1.0, 1.0),
        None,
    );
    space(out, "tt:PanTiltSpeedSpace", SPEED_SPACE, (0.0, 1.0), None);
    space(out, "tt:ZoomSpeedSpace", ZOOM_SPEED_SPACE, (0.0, 1.0), None);
}

fn node(out: &mut String, tag: &str, max_presets: usize) {
    // No FixedHomePosition="false" or GeoMove="false": both are optional and mean false when
    // absent, and GeoMove is unknown to older WSDLs (their clients fail to parse the node).
    let _ = write!(out, "<{tag} token=\"{NODE}\">");
    el(out, "tt:Name", "Pan/tilt");
    out.push_str("<tt:SupportedPTZSpaces>");
    spaces(out);
    out.push_str("</tt:SupportedPTZSpaces>");
    el(out, "tt:MaximumNumberOfPresets", max_presets);
    out.push_str("<tt:HomeSupported>true</tt:HomeSupported>");
    for command in ["tt:IRLamp|On", "tt:IRLamp|Off", "tt:IRLamp|Auto"] {
        el(out, "tt:AuxiliaryCommands", command);
    }
    let _ = write!(out, "</{tag}>");
}

/// `tt:PTZConfiguration`, also part of every media profile.
pub(crate) fn configuration(out: &mut String, tag: &str) {
    config_start(out, tag, CONFIGURATION, "Pan/tilt", 2);
    el(out, "tt:NodeToken", NODE);
    el(
        out,
        "tt:DefaultAbsolutePantTiltPositionSpace",
        POSITION_SPACE,
    );
    el(
        out,
        "tt:DefaultAbsoluteZoomPositionSpace",
        ZOOM_POSITION_SPACE,
    );
    el(
        out,
        "tt:DefaultRelativePanTiltTranslationSpace",
        TRANSLATION_SPACE,
    );
    el(
        out,
        "tt:DefaultRelativeZoomTranslationSpace",
        ZOOM_TRANSLATION_SPACE,
    );
    el(
        out,
        "tt:DefaultContinuousPanTiltVelocitySpace",
        VELOCITY_SPACE,
    );
    el(
        out,
        "tt:DefaultContinuousZoomVelocitySpace",
        ZOOM_VELOCITY_SPACE,
    );
    let _ = write!(
        out,
        "<tt:DefaultPTZSpeed><tt:PanTilt x=\"1\" y=\"1\" space=\"{SPEED_SPACE}\"/><tt:Zoom x=\"1\" space=\"{ZOOM_SPEED_SPACE}\"/></tt:DefaultPTZSpeed>"
    );
    el(out, "tt:DefaultPTZTimeout", "PT5S");
    out.push_str("<tt:PanTiltLimits><tt:Range>");
    el(out, "tt:URI", POSITION_SPACE);
    range(out, "tt:XRange", -1.0, 1.0);
    range(out, "tt:YRange", -1.0, 1.0);
    out.push_str("</tt:Range></tt:PanTiltLimits><tt:ZoomLimits><tt:Range>");
    el(out, "tt:URI", ZOOM_POSITION_SPACE);
    range(out, "tt:XRange", 0.0, 1.0);
    out.push_str("</tt:Range></tt:ZoomLimits>");
    let _ = write!(out, "</{tag}>");
}

fn number(e: &Element, name: &str) -> Result<Option<f32>, Fault> {
    match e.attr(name) {
        None => Ok(None),
        Some(v) => match v.trim().parse::<f32>() {
            Ok(n) if n.is_finite() => Ok(Some(n)),
            _ => Err(Fault::invalid_arg(
                "InvalidPosition",
                format!("{name}=\"{v}\" is not a finite number"),
            )),
        },
    }
}

fn speed(op: &Element) -> Result<Option<f32>, Fault> {
    if op.path(&["Speed", "PanTilt"]).is_none()
        && let Some(z) = op.path(&["Speed", "Zoom"])
    {
        return Ok(number(z, "x")?.map(f32::abs));
    }
    match op.path(&["Speed", "PanTilt"]) {
        Some(pt) => {
            let x = number(pt, "x")?;
            let y = number(pt, "y")?;
            Ok(match (x, y) {
                (Some(x), Some(y)) => Some(x.abs().max(y.abs())),
                (x, y) => x.or(y).map(f32::abs),
            })
        }
        None => Ok(None),
    }
}

/// `tt:ReferenceToken` allows 64 characters.
pub const MAX_TOKEN_LEN: usize = 64;

/// Whether a client may name a new preset so: the token is echoed in XML and logs and kept in
/// the settings file, so it is held to a plain, bounded set of characters.
pub fn valid_token(token: &str) -> bool {
    (1..=MAX_TOKEN_LEN).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// What every PTZ operation is given.
pub(crate) struct Call<'a> {
    op: &'a Element,
    ptz: &'a dyn PtzBackend,
    /// The media profiles' tokens, which moves must name.
    profiles: &'a [String],
    relay: Option<&'a dyn crate::deviceio::RelayBackend>,
}

impl Call<'_> {
    /// The ProfileToken of a move or preset call must name a media profile.
    fn check_profile(&self) -> Result<(), Fault> {
        let token = self
            .op
            .text_of("ProfileToken")
            .ok_or_else(|| Fault::missing_arg("ProfileToken"))?;
        if self.profiles.iter().any(|p| p == token) {
            Ok(())
        } else {
            Err(Fault::invalid_arg(
                "NoProfile",
                format!("no profile \"{token}\""),
            ))
        }
    }

    fn preset_token(&self) -> Result<&str, Fault> {
        self.op
            .text_of("PresetToken")
            .ok_or_else(|| Fault::missing_arg("PresetToken"))
    }
}

pub(crate) type Run = fn(&Call<'_>, &mut String) -> Result<(), Fault>;

#[rustfmt::skip]
pub(crate) static OPERATIONS: Table<Run> = Table {
    operations: &[
        op("GetServiceCapabilities", PreAuth, get_service_capabilities),
        op("GetNodes", ReadMedia, get_nodes),
        op("GetNode", ReadMedia, get_node),
        op("GetConfigurations", ReadMedia, get_configurations),
        op("GetConfiguration", ReadMedia, get_configuration),
        op("GetConfigurationOptions", ReadMedia, get_configuration_options),
        op("GetStatus", ReadMedia, get_status),
        op("AbsoluteMove", Actuate, absolute_move),
        op("RelativeMove", Actuate, relative_move),
        op("ContinuousMove", Actuate, continuous_move),
        op("Stop", Actuate, stop),
        op("GetPresets", ReadMedia, get_presets),
        op("SetPreset", Actuate, set_preset),
        op("RemovePreset", Actuate, remove_preset),
        op("GotoPreset", Actuate, goto_preset),
        op("GotoHomePosition", Actuate, goto_home_position),
        op("SetHomePosition", Actuate, set_home_position),
        op("SendAuxiliaryCommand", Actuate, send_auxiliary_command),
    ],
};

pub(crate) fn handle(
    req: &Request,
    ptz: &dyn PtzBackend,
    profiles: &[String],
    relay: Option<&dyn crate::deviceio::RelayBackend>,
) -> Result<String, Fault> {
    let operation = OPERATIONS.find(req.name())?;
    let call = Call {
        op: &req.operation,
        ptz,
        profiles,
        relay,
    };
    respond("tptz", req.name(), |out| (operation.run)(&call, out))
}

fn get_service_capabilities(_: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    capabilities(out);
    Ok(())
}

fn get_nodes(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    node(out, "tptz:PTZNode", c.ptz.max_presets());
    Ok(())
}

fn get_node(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    if c.op.text_of("NodeToken") != Some(NODE) {
        return Err(Fault::invalid_arg("NoEntity", "no such PTZ node"));
    }
    get_nodes(c, out)
}

fn get_configurations(_: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    configuration(out, "tptz:PTZConfiguration");
    Ok(())
}

/// The one configuration's token, sent as `element`.
fn check_configuration(c: &Call<'_>, element: &str) -> Result<(), Fault> {
    if c.op.text_of(element) == Some(CONFIGURATION) {
        Ok(())
    } else {
        Err(Fault::invalid_arg("NoConfig", "no such PTZ configuration"))
    }
}

fn get_configuration(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    check_configuration(c, "PTZConfigurationToken")?;
    get_configurations(c, out)
}

fn get_configuration_options(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    check_configuration(c, "ConfigurationToken")?;
    out.push_str("<tptz:PTZConfigurationOptions><tt:Spaces>");
    spaces(out);
    out.push_str("</tt:Spaces>");
    range(out, "tt:PTZTimeout", "PT0S", "PT60S");
    out.push_str("</tptz:PTZConfigurationOptions>");
    Ok(())
}

fn get_status(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    c.check_profile()?;
    let s = c.ptz.status();
    let status = |moving: bool| if moving { "MOVING" } else { "IDLE" };
    let _ = write!(
        out,
        "<tptz:PTZStatus><tt:Position><tt:PanTilt x=\"{}\" y=\"{}\" space=\"{POSITION_SPACE}\"/><tt:Zoom x=\"{}\" space=\"{ZOOM_POSITION_SPACE}\"/></tt:Position><tt:MoveStatus><tt:PanTilt>{}</tt:PanTilt><tt:Zoom>{}</tt:Zoom></tt:MoveStatus><tt:UtcTime>{}</tt:UtcTime></tptz:PTZStatus>",
        s.pan,
        s.tilt,
        s.zoom,
        status(s.pan_tilt_moving),
        status(s.zoom_moving),
        utc_now()
    );
    Ok(())
}

/// AbsoluteMove's arguments: the axes to move (`None` stays) and the speed.
struct AbsoluteMoveRequest {
    pan_tilt: Option<(Option<f32>, Option<f32>)>,
    zoom: Option<f32>,
    speed: Option<f32>,
}

impl AbsoluteMoveRequest {
    fn parse(op: &Element) -> Result<Self, Fault> {
        let pt = op.path(&["Position", "PanTilt"]);
        if let Some(space) = pt
            .and_then(|p| p.attr("space"))
            .filter(|s| *s != POSITION_SPACE)
        {
            return Err(Fault::invalid_arg(
                "SpaceNotSupported",
                format!("{space} is not supported"),
            ));
        }
        let zoom = op.path(&["Position", "Zoom"]);
        if pt.is_none() && zoom.is_none() {
            return Err(Fault::missing_arg("Position"));
        }
        Ok(AbsoluteMoveRequest {
            pan_tilt: pt
                .map(|p| Ok::<_, Fault>((number(p, "x")?, number(p, "y")?)))
                .transpose()?,
            zoom: zoom.map(|z| number(z, "x")).transpose()?.flatten(),
            speed: speed(op)?,
        })
    }
}

fn absolute_move(c: &Call<'_>, _: &mut String) -> Result<(), Fault> {
    c.check_profile()?;
    let r = AbsoluteMoveRequest::parse(c.op)?;
    c.ptz.absolute_move(r.pan_tilt, r.zoom, r.speed)
}

/// RelativeMove's arguments; `fov`: the translation is a fraction of the field of view.
struct RelativeMoveRequest {
    pan_tilt: Option<(f32, f32)>,
    zoom: Option<f32>,
    fov: bool,
    speed: Option<f32>,
}

impl RelativeMoveRequest {
    fn parse(op: &Element) -> Result<Self, Fault> {
        let pt = op.path(&["Translation", "PanTilt"]);
        let zoom = op.path(&["Translation", "Zoom"]);
        if pt.is_none() && zoom.is_none() {
            return Err(Fault::missing_arg("Translation"));
        }
        let fov = match pt.and_then(|p| p.attr("space")) {
            None | Some(TRANSLATION_SPACE) => false,
            Some(FOV_SPACE) => true,
            Some(other) => {
                return Err(Fault::invalid_arg(
                    "SpaceNotSupported",
                    format!("{other} is not supported"),
                ));
            }
        };
        Ok(RelativeMoveRequest {
            pan_tilt: pt.map(|p| xy_or_zero(Some(p))).transpose()?,
            zoom: zoom.map(|z| number(z, "x")).transpose()?.flatten(),
            fov,
            speed: speed(op)?,
        })
    }
}

/// `x` and `y` of a vector, 0 where absent.
fn xy_or_zero(e: Option<&Element>) -> Result<(f32, f32), Fault> {
    match e {
        Some(e) => Ok((
            number(e, "x")?.unwrap_or(0.0),
            number(e, "y")?.unwrap_or(0.0),
        )),
        None => Ok((0.0, 0.0)),
    }
}

fn relative_move(c: &Call<'_>, _: &mut String) -> Result<(), Fault> {
    c.check_profile()?;
    let r = RelativeMoveRequest::parse(c.op)?;
    c.ptz.relative_move(r.pan_tilt, r.zoom, r.fov, r.speed)
}

/// ContinuousMove's arguments: velocities (0 where absent) and how long at most.
struct ContinuousMoveRequest {
    pan_tilt: (f32, f32),
    zoom: f32,
    timeout: Option<Duration>,
}

impl ContinuousMoveRequest {
    fn parse(op: &Element) -> Result<Self, Fault> {
        let pan_tilt = xy_or_zero(op.path(&["Velocity", "PanTilt"]))?;
        let zoom = match op.path(&["Velocity", "Zoom"]) {
            Some(z) => number(z, "x")?.unwrap_or(0.0),
            None => 0.0,
        };
        let timeout = match op.text_of("Timeout") {
            Some(t) => Some(
                crate::duration::parse(t)
                    .filter(|d| *d <= Duration::from_secs(86_400))
                    .ok_or_else(|| {
                        Fault::invalid_arg("TimeoutNotSupported", format!("bad Timeout {t}"))
                    })?,
            ),
            None => None,
        };
        Ok(ContinuousMoveRequest {
            pan_tilt,
            zoom,
            timeout,
        })
    }
}

fn continuous_move(c: &Call<'_>, _: &mut String) -> Result<(), Fault> {
    c.check_profile()?;
    let r = ContinuousMoveRequest::parse(c.op)?;
    c.ptz
        .continuous_move(r.pan_tilt.0, r.pan_tilt.1, r.zoom, r.timeout)
}

fn stop(c: &Call<'_>, _: &mut String) -> Result<(), Fault> {
    c.check_profile()?;
    c.ptz.stop();
    Ok(())
}

fn get_presets(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    c.check_profile()?;
    for p in c.ptz.presets() {
        let _ = write!(out, "<tptz:Preset token=\"{}\">", escape(&p.token));
        el(out, "tt:Name", &p.name);
        let _ = write!(
            out,
            "<tt:PTZPosition><tt:PanTilt x=\"{}\" y=\"{}\" space=\"{POSITION_SPACE}\"/><tt:Zoom x=\"{}\" space=\"{ZOOM_POSITION_SPACE}\"/></tt:PTZPosition></tptz:Preset>",
            p.pan, p.tilt, p.zoom
        );
    }
    Ok(())
}

fn set_preset(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    c.check_profile()?;
    let token = match c.op.text_of("PresetToken").map(str::trim) {
        Some(t) if !valid_token(t) => {
            return Err(Fault::invalid_arg(
                "NoToken",
                format!("preset token \"{t}\" is not 1 to {MAX_TOKEN_LEN} letters, digits or -_.:"),
            ));
        }
        t => t.map(str::to_string),
    };
    let token = c
        .ptz
        .set_preset(token, c.op.text_of("PresetName").map(str::to_string))?;
    el(out, "tptz:PresetToken", token);
    Ok(())
}

fn remove_preset(c: &Call<'_>, _: &mut String) -> Result<(), Fault> {
    c.check_profile()?;
    c.ptz.remove_preset(c.preset_token()?)
}

fn goto_preset(c: &Call<'_>, _: &mut String) -> Result<(), Fault> {
    c.check_profile()?;
    c.ptz.goto_preset(c.preset_token()?, speed(c.op)?)
}

fn goto_home_position(c: &Call<'_>, _: &mut String) -> Result<(), Fault> {
    c.check_profile()?;
    c.ptz.goto_home(speed(c.op)?)
}

fn set_home_position(c: &Call<'_>, _: &mut String) -> Result<(), Fault> {
    c.check_profile()?;
    c.ptz.set_home()
}

fn send_auxiliary_command(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    c.check_profile()?;
    let answer = crate::deviceio::auxiliary(c.op.text_of("AuxiliaryData"), c.relay)?;
    el(out, "tptz:AuxiliaryResponse", answer);
    Ok(())
}

fn utc_now() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::valid_token;

    #[test]
    fn preset_tokens() {
        for ok in ["1", "preset12", "Door-2_a.b:c", &"a".repeat(64)] {
            assert!(valid_token(ok), "{ok}");
        }
        for bad in ["", "two words", "<x>", "a&b", "ä", "x\n", &"a".repeat(65)] {
            assert!(!valid_token(bad), "{bad}");
        }
    }
}
