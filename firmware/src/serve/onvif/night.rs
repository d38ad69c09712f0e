//! Imaging (picture levels, IR-cut filter) and the IR-LED relay, translated to the picture's
//! and night vision's controls.

use onvif::deviceio::RelayBackend;

use onvif::imaging::{AutoAdjustment, ImagingBackend, ImagingChange, IrCutFilter, Picture};
use onvif::soap::{Fault, FaultCode};

use super::Camera;
use crate::config::NightMode;
use crate::media::picture::{Levels, PictureError};
use crate::night::{Boundaries, Change, NightError};

/// The fault ONVIF clients expect for each refusal.
fn fault(e: NightError) -> Fault {
    let reason = e.to_string();
    match e {
        NightError::NoNightVision => Fault::action_not_supported(&reason),
        NightError::Storage(_) => Fault::new(FaultCode::Receiver, &["Action"], reason),
    }
}

fn imaging_fault(e: PictureError) -> Fault {
    match e {
        PictureError::Night(e) => fault(e),
        PictureError::Refused(r) => Fault::invalid_arg("SettingsInvalid", r.to_string()),
    }
}

impl ImagingBackend for Camera {
    fn video_source(&self) -> String {
        "vs".into()
    }

    fn ir_cut_filter(&self) -> IrCutFilter {
        match self.night.state().map(|n| n.mode) {
            Some(NightMode::Night) => IrCutFilter::Off,
            Some(NightMode::Auto) => IrCutFilter::Auto,
            _ => IrCutFilter::On,
        }
    }

    fn picture(&self) -> Picture {
        let Levels {
            brightness,
            saturation,
            contrast,
        } = self.picture.levels();
        Picture {
            brightness,
            saturation,
            contrast,
        }
    }

    fn auto_adjustment(&self) -> AutoAdjustment {
        let b = self.night.boundaries();
        AutoAdjustment {
            to_on: b.to_day,
            to_off: b.to_night,
            response_time: b.dwell,
        }
    }

    fn change_imaging(&self, change: ImagingChange) -> Result<(), Fault> {
        let levels = change.picture.map(|p| Levels {
            brightness: p.brightness,
            saturation: p.saturation,
            contrast: p.contrast,
        });
        let night = Change {
            mode: change.ir_cut_filter.map(|f| match f {
                IrCutFilter::On => NightMode::Day,
                IrCutFilter::Off => NightMode::Night,
                IrCutFilter::Auto => NightMode::Auto,
            }),
            boundaries: change.auto_adjustment.map(|a| Boundaries {
                to_day: a.to_on,
                to_night: a.to_off,
                dwell: a.response_time,
            }),
        };
        self.picture.change(levels, night).map_err(imaging_fault)
    }
}

impl RelayBackend for Camera {
    fn relay_active(&self) -> bool {
        self.night.state().is_some_and(|n| n.night)
    }

    fn set_relay(&self, active: bool) -> Result<(), Fault> {
        let mode = if active {
            NightMode::Night
        } else {
            NightMode::Day
        };
        self.night.set_mode(mode).map_err(fault)
    }

    fn ir_lamp(&self, command: &str) -> Result<(), Fault> {
        let mode = match command {
            "On" => NightMode::Night,
            "Off" => NightMode::Day,
            "Auto" => NightMode::Auto,
            other => {
                return Err(Fault::invalid_arg(
                    "AuxiliaryDataNotSupported",
                    format!("IRLamp {other}"),
                ));
            }
        };
        self.night.set_mode(mode).map_err(fault)
    }
}
