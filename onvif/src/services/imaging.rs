//! Imaging service (ver20): the IR-cut filter (night vision) of the one video source.

use std::fmt::Write as _;
use std::time::Duration;

use crate::service::Access::*;
use crate::service::{Table, op, respond};
use crate::soap::{Fault, Request};
use crate::write::{el, range};
use crate::xml::Element;

/// ON = filter in (day, colour), OFF = filter out (night, IR), AUTO = the camera decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IrCutFilter {
    On,
    Off,
    Auto,
}

impl IrCutFilter {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::On => "ON",
            Self::Off => "OFF",
            Self::Auto => "AUTO",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "ON" => Some(Self::On),
            "OFF" => Some(Self::Off),
            "AUTO" => Some(Self::Auto),
            _ => None,
        }
    }
}

/// Picture adjustments, 0 to 100 (50 = as the camera sees it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Picture {
    pub brightness: f32,
    pub saturation: f32,
    pub contrast: f32,
}

/// How AUTO night vision switches: each boundary shifted by -1..1, and how long a scene must
/// stay past it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AutoAdjustment {
    /// Boundary for switching to ON (day).
    pub to_on: f32,
    /// Boundary for switching to OFF (night).
    pub to_off: f32,
    pub response_time: Duration,
}

/// Everything SetImagingSettings may change; `None` keeps the current value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImagingChange {
    pub ir_cut_filter: Option<IrCutFilter>,
    pub picture: Option<Picture>,
    pub auto_adjustment: Option<AutoAdjustment>,
}

pub trait ImagingBackend: Send + Sync {
    fn video_source(&self) -> String;
    fn ir_cut_filter(&self) -> IrCutFilter;
    fn picture(&self) -> Picture;
    fn auto_adjustment(&self) -> AutoAdjustment;
    /// Applies a change as a whole, or nothing of it.
    fn change_imaging(&self, change: ImagingChange) -> Result<(), Fault>;
}

pub(crate) fn capabilities(out: &mut String) {
    out.push_str("<timg:Capabilities ImageStabilization=\"false\" Presets=\"false\" AdaptablePreset=\"false\"/>");
}

/// Every operation but GetServiceCapabilities names the one video source.
fn check_source(op: &Element, imaging: &dyn ImagingBackend) -> Result<(), Fault> {
    match op.text_of("VideoSourceToken") {
        Some(t) if t == imaging.video_source() => Ok(()),
        Some(t) => Err(Fault::invalid_arg(
            "NoSource",
            format!("no video source \"{t}\""),
        )),
        None => Err(Fault::missing_arg("VideoSourceToken")),
    }
}

fn invalid(why: String) -> Fault {
    Fault::invalid_arg("SettingsInvalid", why)
}

fn level(e: &Element, name: &str) -> Result<Option<f32>, Fault> {
    match e.text_of(name) {
        None => Ok(None),
        Some(v) => match v.trim().parse::<f32>() {
            Ok(n) if (0.0..=100.0).contains(&n) => Ok(Some(n)),
            _ => Err(invalid(format!(
                "{name} must be a number from 0 to 100 (got {v})"
            ))),
        },
    }
}

/// Reads a (partial) ImagingSettings into a change, refusing what the camera cannot do.
fn read_change(settings: &Element, imaging: &dyn ImagingBackend) -> Result<ImagingChange, Fault> {
    const SETTABLE: [&str; 5] = [
        "Brightness",
        "ColorSaturation",
        "Contrast",
        "IrCutFilter",
        "Extension",
    ];
    // Anything else would be a silent lie.
    if let Some(other) = settings
        .children
        .iter()
        .find(|c| !SETTABLE.contains(&c.name.as_str()))
    {
        return Err(invalid(format!(
            "{} cannot be set on this camera",
            other.name
        )));
    }
    let mut change = ImagingChange::default();
    if let Some(mode) = settings.text_of("IrCutFilter") {
        change.ir_cut_filter = Some(
            IrCutFilter::parse(mode)
                .ok_or_else(|| invalid(format!("IrCutFilter {mode} is not ON, OFF or AUTO")))?,
        );
    }
    let (b, s, c) = (
        level(settings, "Brightness")?,
        level(settings, "ColorSaturation")?,
        level(settings, "Contrast")?,
    );
    if b.is_some() || s.is_some() || c.is_some() {
        let now = imaging.picture();
        change.picture = Some(Picture {
            brightness: b.unwrap_or(now.brightness),
            saturation: s.unwrap_or(now.saturation),
            contrast: c.unwrap_or(now.contrast),
        });
    }
    let adjustments: Vec<&Element> = settings
        .path(&["Extension", "Extension"])
        .map(|e| e.children_named("IrCutFilterAutoAdjustment").collect())
        .unwrap_or_default();
    if !adjustments.is_empty() {
        let mut auto = imaging.auto_adjustment();
        for adj in adjustments {
            adjust(&mut auto, adj)?;
        }
        change.auto_adjustment = Some(auto);
    }
    Ok(change)
}

/// One `IrCutFilterAutoAdjustment`: its response time, and its boundary offset for the
/// boundary it names.
fn adjust(auto: &mut AutoAdjustment, adj: &Element) -> Result<(), Fault> {
    let offset = match adj.text_of("BoundaryOffset") {
        None => None,
        Some(v) => match v.trim().parse::<f32>() {
            Ok(n) if (-1.0..=1.0).contains(&n) => Some(n),
            _ => {
                return Err(invalid(format!(
                    "BoundaryOffset must be from -1 to 1 (got {v})"
                )));
            }
        },
    };
    if let Some(t) = adj.text_of("ResponseTime") {
        auto.response_time = crate::duration::parse(t)
            .filter(|d| *d <= Duration::from_secs(3600))
            .ok_or_else(|| invalid(format!("ResponseTime {t} is not a duration up to an hour")))?;
    }
    let Some(o) = offset else {
        return Ok(());
    };
    match adj.text_of("BoundaryType").map(str::trim) {
        Some("Common") => (auto.to_on, auto.to_off) = (o, o),
        Some("ToOn") => auto.to_on = o,
        Some("ToOff") => auto.to_off = o,
        other => {
            return Err(invalid(format!(
                "BoundaryType {other:?} is not Common, ToOn or ToOff"
            )));
        }
    }
    Ok(())
}

type Run = fn(&Element, &dyn ImagingBackend, &mut String) -> Result<(), Fault>;

#[rustfmt::skip]
pub(crate) static OPERATIONS: Table<Run> = Table {
    operations: &[
        op("GetServiceCapabilities", PreAuth, get_service_capabilities),
        op("GetImagingSettings", ReadMedia, get_imaging_settings),
        op("SetImagingSettings", Actuate, set_imaging_settings),
        op("GetOptions", ReadMedia, get_options),
        op("GetMoveOptions", ReadMedia, get_move_options),
        op("GetStatus", ReadMedia, get_status),
    ],
};

pub(crate) fn handle(req: &Request, imaging: &dyn ImagingBackend) -> Result<String, Fault> {
    let operation = OPERATIONS.find(req.name())?;
    respond("timg", req.name(), |out| {
        (operation.run)(&req.operation, imaging, out)
    })
}

fn get_imaging_settings(
    op: &Element,
    imaging: &dyn ImagingBackend,
    out: &mut String,
) -> Result<(), Fault> {
    check_source(op, imaging)?;
    let p = imaging.picture();
    let a = imaging.auto_adjustment();
    out.push_str("<timg:ImagingSettings>");
    el(out, "tt:Brightness", p.brightness);
    el(out, "tt:ColorSaturation", p.saturation);
    el(out, "tt:Contrast", p.contrast);
    el(out, "tt:IrCutFilter", imaging.ir_cut_filter().as_str());
    out.push_str("<tt:Extension><tt:Extension>");
    for (kind, offset) in [("ToOn", a.to_on), ("ToOff", a.to_off)] {
        let _ = write!(
            out,
            "<tt:IrCutFilterAutoAdjustment><tt:BoundaryType>{kind}</tt:BoundaryType><tt:BoundaryOffset>{offset}</tt:BoundaryOffset><tt:ResponseTime>PT{}S</tt:ResponseTime></tt:IrCutFilterAutoAdjustment>",
            a.response_time.as_secs()
        );
    }
    out.push_str("</tt:Extension></tt:Extension></timg:ImagingSettings>");
    Ok(())
}

fn set_imaging_settings(
    op: &Element,
    imaging: &dyn ImagingBackend,
    _: &mut String,
) -> Result<(), Fault> {
    check_source(op, imaging)?;
    let settings = op
        .child("ImagingSettings")
        .ok_or_else(|| Fault::missing_arg("ImagingSettings"))?;
    imaging.change_imaging(read_change(settings, imaging)?)
}

fn get_options(op: &Element, imaging: &dyn ImagingBackend, out: &mut String) -> Result<(), Fault> {
    check_source(op, imaging)?;
    out.push_str("<timg:ImagingOptions>");
    for name in ["tt:Brightness", "tt:ColorSaturation", "tt:Contrast"] {
        range(out, name, 0, 100);
    }
    for mode in [IrCutFilter::On, IrCutFilter::Off, IrCutFilter::Auto] {
        el(out, "tt:IrCutFilterModes", mode.as_str());
    }
    out.push_str(
        "<tt:Extension><tt:Extension><tt:IrCutFilterAutoAdjustment><tt:BoundaryType>Common</tt:BoundaryType>\
         <tt:BoundaryType>ToOn</tt:BoundaryType><tt:BoundaryType>ToOff</tt:BoundaryType><tt:BoundaryOffset>true</tt:BoundaryOffset>\
         <tt:ResponseTimeRange><tt:Min>PT0S</tt:Min><tt:Max>PT3600S</tt:Max></tt:ResponseTimeRange>\
         </tt:IrCutFilterAutoAdjustment></tt:Extension></tt:Extension></timg:ImagingOptions>",
    );
    Ok(())
}

fn get_service_capabilities(
    _: &Element,
    _: &dyn ImagingBackend,
    out: &mut String,
) -> Result<(), Fault> {
    capabilities(out);
    Ok(())
}

/// No focus or zoom lens: nothing moves.
fn get_move_options(
    op: &Element,
    imaging: &dyn ImagingBackend,
    out: &mut String,
) -> Result<(), Fault> {
    check_source(op, imaging)?;
    out.push_str("<timg:MoveOptions/>");
    Ok(())
}

fn get_status(op: &Element, imaging: &dyn ImagingBackend, out: &mut String) -> Result<(), Fault> {
    check_source(op, imaging)?;
    out.push_str("<timg:Status/>");
    Ok(())
}
