//! Imaging (IR-cut filter) and the IR-LED relay: both set the night-vision mode, which is
//! stored with the settings and applied by the night controller.

use onvif::deviceio::RelayBackend;
use onvif::imaging::{ImagingBackend, IrCutFilter};
use onvif::soap::{Fault, FaultCode};

use super::Camera;
use crate::config::NightMode;

impl Camera {
    fn set_night_mode(&self, mode: NightMode) -> Result<(), Fault> {
        if self.night.is_none() {
            return Err(Fault::action_not_supported(
                "the camera has no night vision",
            ));
        }
        self.settings
            .change(|state, _| {
                state.night_mode = Some(mode);
                Ok(())
            })
            .map_err(|r| Fault::new(FaultCode::Receiver, &["Action"], r.to_string()))
    }
}

impl ImagingBackend for Camera {
    fn video_source(&self) -> String {
        "vs".into()
    }

    fn ir_cut_filter(&self) -> IrCutFilter {
        match self.night.as_deref().map(|n| n.mode()) {
            Some(NightMode::Night) => IrCutFilter::Off,
            Some(NightMode::Auto) => IrCutFilter::Auto,
            _ => IrCutFilter::On,
        }
    }

    fn set_ir_cut_filter(&self, mode: IrCutFilter) -> Result<(), Fault> {
        self.set_night_mode(match mode {
            IrCutFilter::On => NightMode::Day,
            IrCutFilter::Off => NightMode::Night,
            IrCutFilter::Auto => NightMode::Auto,
        })
    }
}

impl RelayBackend for Camera {
    fn relay_active(&self) -> bool {
        self.night.as_deref().is_some_and(|n| n.is_night())
    }

    fn set_relay(&self, active: bool) -> Result<(), Fault> {
        self.set_night_mode(if active {
            NightMode::Night
        } else {
            NightMode::Day
        })
    }

    fn ir_lamp(&self, command: &str) -> Result<(), Fault> {
        match command {
            "On" => self.set_night_mode(NightMode::Night),
            "Off" => self.set_night_mode(NightMode::Day),
            "Auto" => self.set_night_mode(NightMode::Auto),
            other => Err(Fault::invalid_arg(
                "AuxiliaryDataNotSupported",
                format!("IRLamp {other}"),
            )),
        }
    }
}
