//! PTZ service: ONVIF's moves, presets and home, translated to the pan/tilt's controls.

use std::time::Duration;

use onvif::ptz::{Preset, PtzBackend, PtzStatus};
use onvif::soap::{Fault, FaultCode};

use super::Camera;
use crate::ptz::PtzError;

/// The fault ONVIF clients expect for each refusal.
fn fault(e: PtzError) -> Fault {
    let reason = e.to_string();
    match e {
        PtzError::NotFinite(_) | PtzError::OutOfRange(..) => {
            Fault::invalid_arg("InvalidPosition", reason)
        }
        PtzError::NoPtz => Fault::action_not_supported(&reason),
        PtzError::UnknownPreset(_) => Fault::invalid_arg("NoToken", reason),
        PtzError::TooManyPresets(_) => {
            Fault::new(FaultCode::Receiver, &["Action", "TooManyPresets"], reason)
        }
        PtzError::Storage(_) => Fault::new(FaultCode::Receiver, &["Action"], reason),
    }
}

impl PtzBackend for Camera {
    fn max_presets(&self) -> usize {
        self.ptz.max_presets()
    }

    fn status(&self) -> PtzStatus {
        let s = self.ptz.status().unwrap_or_default();
        PtzStatus {
            pan: s.pan,
            tilt: s.tilt,
            zoom: s.zoom,
            moving: s.moving,
            pan_tilt_moving: s.pan_tilt_moving,
            zoom_moving: s.zoom_moving,
        }
    }

    fn absolute_move(
        &self,
        pan_tilt: Option<(Option<f32>, Option<f32>)>,
        zoom: Option<f32>,
        speed: Option<f32>,
    ) -> Result<(), Fault> {
        let p = self.ptz.motion().map_err(fault)?;
        if let Some((pan, tilt)) = pan_tilt {
            p.absolute(pan, tilt, speed).map_err(fault)?;
        }
        if let Some(z) = zoom {
            p.zoom_absolute(z, speed).map_err(fault)?;
        }
        Ok(())
    }

    fn relative_move(
        &self,
        translation: Option<(f32, f32)>,
        zoom: Option<f32>,
        in_fov: bool,
        speed: Option<f32>,
    ) -> Result<(), Fault> {
        let p = self.ptz.motion().map_err(fault)?;
        match translation {
            Some((x, y)) if in_fov => p.relative_fov(x, y, speed).map_err(fault)?,
            Some((pan, tilt)) => p.relative(pan, tilt, speed).map_err(fault)?,
            None => {}
        }
        if let Some(z) = zoom {
            p.zoom_relative(z, speed).map_err(fault)?;
        }
        Ok(())
    }

    fn continuous_move(
        &self,
        pan: f32,
        tilt: f32,
        zoom: f32,
        timeout: Option<Duration>,
    ) -> Result<(), Fault> {
        self.ptz
            .move_continuously(pan, tilt, zoom, timeout)
            .map_err(fault)
    }

    fn stop(&self) {
        self.ptz.stop();
    }

    fn presets(&self) -> Vec<Preset> {
        self.ptz
            .presets()
            .into_iter()
            .map(|p| Preset {
                token: p.token,
                name: p.name,
                pan: p.at.pan,
                tilt: p.at.tilt,
                zoom: p.at.zoom,
            })
            .collect()
    }

    fn set_preset(&self, token: Option<String>, name: Option<String>) -> Result<String, Fault> {
        self.ptz.save_preset(token, name).map_err(fault)
    }

    fn remove_preset(&self, token: &str) -> Result<(), Fault> {
        self.ptz.remove_preset(token).map_err(fault)
    }

    fn goto_preset(&self, token: &str, speed: Option<f32>) -> Result<(), Fault> {
        self.ptz.go_to_preset(token, speed).map_err(fault)
    }

    fn goto_home(&self, speed: Option<f32>) -> Result<(), Fault> {
        self.ptz.go_home(speed).map_err(fault)
    }

    fn set_home(&self) -> Result<(), Fault> {
        self.ptz.set_home().map_err(fault)
    }
}
