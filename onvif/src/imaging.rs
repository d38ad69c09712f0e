//! Imaging service (ver20): the IR-cut filter (night vision) of the one video source.

use std::fmt::Write as _;

use crate::service::Access;
use crate::soap::{Fault, Request};
use crate::write::el;

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

pub trait ImagingBackend: Send + Sync {
    fn video_source(&self) -> String;
    fn ir_cut_filter(&self) -> IrCutFilter;
    fn set_ir_cut_filter(&self, mode: IrCutFilter) -> Result<(), Fault>;
}

pub fn access(operation: &str) -> Access {
    match operation {
        "GetServiceCapabilities" => Access::PreAuth,
        op if op.starts_with("Get") => Access::ReadMedia,
        _ => Access::Actuate,
    }
}

pub(crate) fn capabilities(out: &mut String) {
    out.push_str("<timg:Capabilities ImageStabilization=\"false\" Presets=\"false\" AdaptablePreset=\"false\"/>");
}

fn check_source(req: &Request, imaging: &dyn ImagingBackend) -> Result<(), Fault> {
    match req.operation.text_of("VideoSourceToken") {
        Some(t) if t == imaging.video_source() => Ok(()),
        Some(t) => Err(Fault::invalid_arg(
            "NoSource",
            format!("no video source \"{t}\""),
        )),
        None => Err(Fault::missing_arg("VideoSourceToken")),
    }
}

pub fn handle(req: &Request, imaging: &dyn ImagingBackend) -> Result<String, Fault> {
    let op = &req.operation;
    let name = op.name.as_str();
    let mut out = String::with_capacity(512);
    let _ = write!(out, "<timg:{name}Response>");
    match name {
        "GetServiceCapabilities" => capabilities(&mut out),
        "GetImagingSettings" => {
            check_source(req, imaging)?;
            out.push_str("<timg:ImagingSettings>");
            el(&mut out, "tt:IrCutFilter", imaging.ir_cut_filter().as_str());
            out.push_str("</timg:ImagingSettings>");
        }
        "SetImagingSettings" => {
            check_source(req, imaging)?;
            let settings = op
                .child("ImagingSettings")
                .ok_or_else(|| Fault::missing_arg("ImagingSettings"))?;
            // Only night vision can be set; anything else would be a silent lie.
            if let Some(other) = settings.children.iter().find(|c| c.name != "IrCutFilter") {
                return Err(Fault::invalid_arg(
                    "SettingsInvalid",
                    format!("{} cannot be set on this camera", other.name),
                ));
            }
            if let Some(mode) = settings.text_of("IrCutFilter") {
                let mode = IrCutFilter::parse(mode).ok_or_else(|| {
                    Fault::invalid_arg(
                        "SettingsInvalid",
                        format!("IrCutFilter {mode} is not ON, OFF or AUTO"),
                    )
                })?;
                imaging.set_ir_cut_filter(mode)?;
            }
        }
        "GetOptions" => {
            check_source(req, imaging)?;
            out.push_str("<timg:ImagingOptions>");
            for mode in [IrCutFilter::On, IrCutFilter::Off, IrCutFilter::Auto] {
                el(&mut out, "tt:IrCutFilterModes", mode.as_str());
            }
            out.push_str("</timg:ImagingOptions>");
        }
        "GetMoveOptions" => {
            check_source(req, imaging)?;
            out.push_str("<timg:MoveOptions/>");
        }
        "GetStatus" => {
            check_source(req, imaging)?;
            out.push_str("<timg:Status/>");
        }
        _ => return Err(Fault::action_not_supported(name)),
    }
    let _ = write!(out, "</timg:{name}Response>");
    Ok(out)
}
