//! The picture as users set it: its levels (brightness, saturation, contrast), stored with
//! the settings and applied by the capture. ONVIF's imaging settings change them together
//! with night vision's, in one stored change, so a refused part leaves all as it was.

use std::sync::Arc;

use crate::config::Config;
use crate::night;
use crate::settings::{Refused, Settings};

/// 0 to 100 each; 50 leaves the camera's picture as it is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Levels {
    pub brightness: f32,
    pub saturation: f32,
    pub contrast: f32,
}

impl Levels {
    pub fn of(config: &Config) -> Self {
        let v = &config.video;
        Self {
            brightness: v.brightness,
            saturation: v.saturation,
            contrast: v.contrast,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PictureError {
    #[error(transparent)]
    Night(#[from] night::NightError),
    /// Out of range, or the settings could not store it.
    #[error(transparent)]
    Refused(#[from] Refused),
}

pub struct Picture {
    settings: Arc<Settings>,
    night: Arc<night::Controls>,
}

impl Picture {
    pub fn new(settings: Arc<Settings>, night: Arc<night::Controls>) -> Self {
        Self { settings, night }
    }

    pub fn levels(&self) -> Levels {
        Levels::of(&self.settings.current())
    }

    /// New levels and night-vision settings, all or none.
    pub fn change(&self, levels: Option<Levels>, night: night::Change) -> Result<(), PictureError> {
        self.night.check(&night)?;
        self.settings.change(|state, _| {
            if let Some(l) = levels {
                state.picture = Some([l.brightness, l.saturation, l.contrast]);
            }
            night.store(state);
            Ok(())
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NightMode;

    #[test]
    fn a_refused_level_changes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let settings = crate::settings::for_tests(dir.path(), Config::default());
        let night = Arc::new(night::Controls::new(None, Arc::clone(&settings)));
        let picture = Picture::new(Arc::clone(&settings), night);
        let grey = Levels {
            saturation: 0.0,
            ..picture.levels()
        };
        picture
            .change(Some(grey), night::Change::default())
            .expect("change");
        assert_eq!(picture.levels(), grey);
        let too_bright = Levels {
            brightness: 101.0,
            ..grey
        };
        assert!(matches!(
            picture.change(Some(too_bright), night::Change::default()),
            Err(PictureError::Refused(_))
        ));
        let by_hand = night::Change {
            mode: Some(NightMode::Night),
            boundaries: None,
        };
        assert_eq!(
            picture.change(None, by_hand),
            Err(PictureError::Night(night::NightError::NoNightVision))
        );
        assert_eq!(picture.levels(), grey);
    }
}
