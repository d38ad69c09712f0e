//! Imaging (IR-cut filter) and the IR-LED relay: both set the night-vision mode, which is
//! stored with the settings and applied by the night controller.

use onvif::deviceio::RelayBackend;
use std::time::Duration;

use onvif::imaging::{AutoAdjustment, ImagingBackend, ImagingChange, IrCutFilter, Picture};
use onvif::soap::{Fault, FaultCode};

use super::Camera;
use crate::config::{NightConfig, NightMode};

/// How far a boundary offset of 1 moves AUTO's brightness thresholds.
const OFFSET_SCALE: f32 = 0.1;

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

    fn picture(&self) -> Picture {
        let v = &self.config().video;
        Picture {
            brightness: v.brightness,
            saturation: v.saturation,
            contrast: v.contrast,
        }
    }

    fn auto_adjustment(&self) -> AutoAdjustment {
        let n = &self.config().night;
        let base = NightConfig::default();
        // Rounded: the thresholds are stored as f32 and 0.5 should read back as 0.5.
        let offset = |now: f32, base: f32| ((now - base) / OFFSET_SCALE * 1000.0).round() / 1000.0;
        AutoAdjustment {
            to_on: offset(n.bright_above, base.bright_above),
            to_off: offset(n.dark_below, base.dark_below),
            response_time: Duration::from_secs(n.dwell_s),
        }
    }

    fn change_imaging(&self, change: ImagingChange) -> Result<(), Fault> {
        if change.ir_cut_filter.is_some() && self.night.is_none() {
            return Err(Fault::action_not_supported(
                "the camera has no night vision",
            ));
        }
        let base = NightConfig::default();
        self.settings
            .change(|state, _| {
                if let Some(mode) = change.ir_cut_filter {
                    state.night_mode = Some(match mode {
                        IrCutFilter::On => NightMode::Day,
                        IrCutFilter::Off => NightMode::Night,
                        IrCutFilter::Auto => NightMode::Auto,
                    });
                }
                if let Some(p) = change.picture {
                    state.picture = Some([p.brightness, p.saturation, p.contrast]);
                }
                if let Some(a) = change.auto_adjustment {
                    state.night_auto = Some([
                        (base.dark_below + a.to_off * OFFSET_SCALE).clamp(0.0, 1.0),
                        (base.bright_above + a.to_on * OFFSET_SCALE).clamp(0.0, 1.0),
                        a.response_time.as_secs() as f32,
                    ]);
                }
                Ok(())
            })
            .map_err(|r| Fault::invalid_arg("SettingsInvalid", r.to_string()))
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
