//! Keeps the picture in line with the camera's state: greyscale at night, the digital zoom's
//! crop, and on the simulated camera a label with where it points. It also feeds night
//! vision's AUTO with the brightness the capture measures.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::media::{Capture, Hub, Look};
use crate::night::Night;
use crate::platform::hardware::SimPosition;
use crate::ptz::Ptz;

/// Often enough for a smooth zoom while the camera moves ...
const MOVING: Duration = Duration::from_millis(100);
/// ... and rarely while it is still, so an idle camera costs next to nothing.
const STILL: Duration = Duration::from_millis(1000);

pub struct Parts {
    pub settings: Arc<crate::settings::Settings>,
    pub night: Option<Arc<Night>>,
    pub ptz: Option<Arc<Ptz>>,
    pub simulated: Option<Arc<SimPosition>>,
    /// Night vision's state goes out as events (the IR LEDs also as ONVIF's relay).
    pub bus: Arc<crate::events::Bus>,
}

pub async fn run(
    parts: Parts,
    hub: Arc<Hub>,
    capture: Arc<Capture>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut shown: Option<Look> = None;
    let mut period = STILL;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = stop.changed() => break,
        }
        period = if parts.ptz.as_ref().is_some_and(|p| p.status().moving) {
            MOVING
        } else {
            STILL
        };
        if let (Some(night), Some(b)) = (&parts.night, hub.brightness(Duration::from_secs(2))) {
            night.sample(b, Instant::now());
        }
        let is_night = parts.night.as_ref().is_some_and(|n| n.is_night());
        if parts.night.is_some() {
            publish_night(&parts.bus, is_night);
        }
        let zoom = parts.ptz.as_ref().map_or(1.0, |p| p.zoom_factor());
        let label = match &parts.simulated {
            Some(p) => format!(
                "pan {:+.0}°  tilt {:+.0}°  zoom {:.1}x  {}",
                p.pan.load(),
                p.tilt.load(),
                zoom,
                if is_night { "NIGHT (IR)" } else { "DAY" }
            ),
            None => String::new(),
        };
        let video = &parts.settings.current().video;
        let picture = [video.brightness, video.saturation, video.contrast];
        let look = Look {
            greyscale: is_night,
            label,
            zoom,
            picture,
        };
        if shown.as_ref() != Some(&look) {
            capture.set_look(look.clone());
            shown = Some(look);
        }
    }
}

fn publish_night(bus: &crate::events::Bus, night: bool) {
    use crate::events::topics;
    bus.set(
        topics::NIGHT_MODE,
        &[("VideoSourceToken", topics::VIDEO_SOURCE)],
        &[("State", crate::events::flag(night))],
    );
    bus.set(
        topics::RELAY,
        &[("RelayToken", onvif::deviceio::IR_RELAY)],
        &[("LogicalState", if night { "active" } else { "inactive" })],
    );
}
