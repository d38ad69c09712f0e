//! PTZ backend: the motion controller plus presets and home, stored with the settings.

use std::time::Duration;

use onvif::ptz::{Preset, PtzBackend, PtzStatus};
use onvif::soap::Fault;
use tracing::info;

use super::Camera;
use crate::ptz::{Ptz, PtzError};
use crate::settings::{PresetState, Refused};

fn bad(e: PtzError) -> Fault {
    Fault::invalid_arg("InvalidPosition", e.to_string())
}

fn stored(r: Refused) -> Fault {
    Fault::new(onvif::soap::FaultCode::Receiver, &["Action"], r.to_string())
}

impl Camera {
    fn ptz(&self) -> Result<&Ptz, Fault> {
        self.motion
            .as_deref()
            .ok_or_else(|| Fault::action_not_supported("the camera has no pan/tilt"))
    }
}

impl PtzBackend for Camera {
    fn max_presets(&self) -> usize {
        self.config().ptz.max_presets
    }

    fn status(&self) -> PtzStatus {
        match self.motion.as_deref() {
            Some(p) => {
                let s = p.status();
                PtzStatus {
                    pan: s.pan,
                    tilt: s.tilt,
                    zoom: s.zoom,
                    moving: s.moving,
                    pan_tilt_moving: s.pan_tilt_moving,
                    zoom_moving: s.zoom_moving,
                }
            }
            None => PtzStatus {
                pan: 0.0,
                tilt: 0.0,
                zoom: 0.0,
                moving: false,
                pan_tilt_moving: false,
                zoom_moving: false,
            },
        }
    }

    fn absolute_move(
        &self,
        pan_tilt: Option<(Option<f32>, Option<f32>)>,
        zoom: Option<f32>,
        speed: Option<f32>,
    ) -> Result<(), Fault> {
        let p = self.ptz()?;
        if let Some((pan, tilt)) = pan_tilt {
            p.absolute(pan, tilt, speed).map_err(bad)?;
        }
        if let Some(z) = zoom {
            p.zoom_absolute(z, speed).map_err(bad)?;
        }
        Ok(())
    }

    fn relative_move(
        &self,
        pan_tilt: Option<(f32, f32)>,
        zoom: Option<f32>,
        fov: bool,
        speed: Option<f32>,
    ) -> Result<(), Fault> {
        let p = self.ptz()?;
        if let Some((pan, tilt)) = pan_tilt {
            if fov {
                p.relative_fov(pan, tilt, speed)
            } else {
                p.relative(pan, tilt, speed)
            }
            .map_err(bad)?;
        }
        if let Some(z) = zoom {
            p.zoom_relative(z, speed).map_err(bad)?;
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
        let p = self.ptz()?;
        p.continuous(pan, tilt, timeout).map_err(bad)?;
        p.zoom_continuous(zoom, timeout).map_err(bad)
    }

    fn stop(&self) {
        if let Some(p) = self.motion.as_deref() {
            p.stop();
        }
    }

    fn presets(&self) -> Vec<Preset> {
        let Some(p) = self.motion.as_deref() else {
            return Vec::new();
        };
        let config = &p.config().clone();
        let norm = |axis: &crate::config::AxisConfig, d: f32| {
            -1.0 + 2.0 * (d - axis.limit_min_deg) / (axis.limit_max_deg - axis.limit_min_deg)
        };
        self.settings
            .state()
            .presets
            .into_iter()
            .map(|s| Preset {
                token: s.token,
                name: s.name,
                pan: norm(&config.pan, s.position[0]),
                tilt: norm(&config.tilt, s.position[1]),
                zoom: if config.max_zoom > 1.0 {
                    (s.zoom - 1.0) / (config.max_zoom - 1.0)
                } else {
                    0.0
                },
            })
            .collect()
    }

    fn set_preset(&self, token: Option<String>, name: Option<String>) -> Result<String, Fault> {
        let position = self.ptz()?.position_degrees();
        let zoom = self.ptz()?.zoom_factor();
        let max = self.config().ptz.max_presets;
        let mut result = Err(Fault::invalid_arg("NoToken", "no such preset"));
        self.settings
            .change(|state, _| {
                let existing = token
                    .as_ref()
                    .and_then(|t| state.presets.iter().position(|p| &p.token == t));
                let index = match existing {
                    Some(i) => i,
                    // A new preset, under the client's token (ZoneMinder picks its own) or ours.
                    None => {
                        if state.presets.len() >= max {
                            result = Err(Fault::new(
                                onvif::soap::FaultCode::Receiver,
                                &["Action", "TooManyPresets"],
                                format!("at most {max} presets"),
                            ));
                            return Ok(());
                        }
                        let token = token.clone().unwrap_or_else(|| {
                            let n = (1..)
                                .find(|n| {
                                    !state
                                        .presets
                                        .iter()
                                        .any(|p| p.token == format!("preset{n}"))
                                })
                                .unwrap_or(0);
                            format!("preset{n}")
                        });
                        state.presets.push(PresetState {
                            token,
                            name: String::new(),
                            position,
                            zoom,
                        });
                        state.presets.len() - 1
                    }
                };
                let slot = &mut state.presets[index];
                slot.position = position;
                slot.zoom = zoom;
                if let Some(name) = &name {
                    slot.name = name.clone();
                } else if slot.name.is_empty() {
                    slot.name = slot.token.clone();
                }
                result = Ok(slot.token.clone());
                Ok(())
            })
            .map_err(stored)?;
        if let Ok(t) = &result {
            info!(preset = t, "preset saved");
        }
        result
    }

    fn remove_preset(&self, token: &str) -> Result<(), Fault> {
        let mut found = false;
        self.settings
            .change(|state, _| {
                let before = state.presets.len();
                state.presets.retain(|p| p.token != token);
                found = state.presets.len() != before;
                Ok(())
            })
            .map_err(stored)?;
        if found {
            Ok(())
        } else {
            Err(Fault::invalid_arg(
                "NoToken",
                format!("no preset \"{token}\""),
            ))
        }
    }

    fn goto_preset(&self, token: &str, speed: Option<f32>) -> Result<(), Fault> {
        let preset = self
            .settings
            .state()
            .presets
            .into_iter()
            .find(|p| p.token == token);
        let preset = preset
            .ok_or_else(|| Fault::invalid_arg("NoToken", format!("no preset \"{token}\"")))?;
        let p = self.ptz()?;
        p.goto_degrees(preset.position, speed).map_err(bad)?;
        p.zoom_to_factor(preset.zoom, speed).map_err(bad)
    }

    fn goto_home(&self, speed: Option<f32>) -> Result<(), Fault> {
        let home = self.settings.state().ptz_home.unwrap_or([0.0, 0.0]);
        self.ptz()?.goto_degrees(home, speed).map_err(bad)
    }

    fn set_home(&self) -> Result<(), Fault> {
        let position = self.ptz()?.position_degrees();
        self.settings
            .change(|state, _| {
                state.ptz_home = Some(position);
                Ok(())
            })
            .map_err(stored)
    }
}
