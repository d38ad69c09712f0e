//! What the camera senses and does now, as the payloads of its retained state topics.

use std::sync::Arc;

use crate::alerts::Alerts;
use crate::audio::Audio;
use crate::climate::ClimateTask;
use crate::config::NightMode;
use crate::detect::Detectors;
use crate::events::{Bus, topics};
use crate::mqtt::discovery::{self, NOTHING};
use crate::night::Controls as NightControls;

/// Where the states come from.
pub struct Sources {
    pub bus: Arc<Bus>,
    pub climate: Option<Arc<ClimateTask>>,
    pub detectors: Arc<Detectors>,
    pub night: Arc<NightControls>,
    pub audio: Option<Arc<Audio>>,
    pub alerts: Arc<Alerts>,
    pub has_microphone: bool,
}

/// The sensors' topics, published at least once a minute even when nothing changed (a
/// dashboard can then tell a quiet room from a dead camera).
pub const SENSORS: [&str; 4] = ["temperature", "humidity", "pressure", "sound_level"];

/// Whether a sensor's new reading differs enough from the one published to be worth a
/// message: the sound level moves a little every second, and nobody needs each 0.1 dB.
pub fn worth_publishing(object: &str, published: Option<&str>, now: &str) -> bool {
    let step = match object {
        "temperature" => 0.1,
        "humidity" | "pressure" => 0.5,
        "sound_level" => 3.0,
        _ => return published != Some(now),
    };
    match (
        published.and_then(|p| p.parse::<f64>().ok()),
        now.parse::<f64>(),
    ) {
        (Some(old), Ok(new)) => (new - old).abs() >= step - 1e-9,
        _ => published != Some(now),
    }
}

fn on_off(on: bool) -> String {
    if on { "ON" } else { "OFF" }.to_string()
}

impl Sources {
    /// Every state that is known now, by object id.
    pub fn states(&self, options: &[(String, String)]) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let flag = |topic: &str, item: &str| self.bus.value(topic, item).map(|v| v == "true");
        if self.has_microphone {
            if let Some(on) = flag(topics::DETECTED_SOUND, "IsSoundDetected") {
                out.push(("cry", on_off(on)));
            }
            out.push(("microphone_failure", on_off(!self.alerts.mic_ok())));
            if let Some(db) = self.detectors.levels().sound_db.filter(|d| d.is_finite()) {
                out.push(("sound_level", format!("{db:.1}")));
            }
        }
        if let Some(on) = flag(topics::MOTION_ALARM, "State") {
            out.push(("motion", on_off(on)));
        }
        if let Some(c) = &self.climate {
            let now = c.current();
            out.push(("sensor_failure", on_off(now.failing)));
            if let Some(r) = now.reading {
                out.push(("too_hot", on_off(now.too_hot)));
                out.push(("too_cold", on_off(now.too_cold)));
                out.push(("too_dry", on_off(now.too_dry)));
                out.push(("too_humid", on_off(now.too_humid)));
                out.push(("temperature", format!("{:.1}", r.temperature_c)));
                out.push(("humidity", format!("{:.1}", r.humidity_pct)));
                out.push(("pressure", format!("{:.1}", r.pressure_hpa)));
            }
        }
        if let Some(n) = self.night.state() {
            out.push(("night", on_off(n.night)));
            let mode = match n.mode {
                NightMode::Day => "day",
                NightMode::Night => "night",
                NightMode::Auto => "auto",
            };
            out.push(("night_mode", mode.to_string()));
        }
        if let Some(audio) = &self.audio {
            let playing = audio.output.playing().and_then(|p| {
                options
                    .iter()
                    .find(|(token, _)| *token == p.token)
                    .map(|(_, option)| option.clone())
            });
            out.push(("sound", playing.unwrap_or_else(|| NOTHING.to_string())));
            let master = audio.output.volumes().master;
            out.push(("volume", format!("{}", (master * 100.0).round() as i64)));
        }
        out
    }

    /// The sound select's options with the token each plays: what can play now.
    pub fn sound_options(&self) -> Vec<(String, String)> {
        let Some(audio) = &self.audio else {
            return Vec::new();
        };
        let sounds: Vec<_> = audio.sounds().into_iter().filter(|s| s.playable).collect();
        let options = discovery::sound_options(sounds.iter().map(|s| s.name.as_str()));
        // The first option is "nothing", which no token plays.
        sounds
            .into_iter()
            .zip(options.into_iter().skip(1))
            .map(|(s, option)| (s.token, option))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_moves_of_a_sensor_wait_for_the_refresh() {
        assert!(worth_publishing("sound_level", None, "-30.0"));
        assert!(!worth_publishing("sound_level", Some("-30.0"), "-28.1"));
        assert!(worth_publishing("sound_level", Some("-30.0"), "-27.0"));
        assert!(worth_publishing("temperature", Some("20.5"), "20.6"));
        assert!(!worth_publishing("temperature", Some("20.5"), "20.5"));
        assert!(!worth_publishing("humidity", Some("50.0"), "50.4"));
        assert!(worth_publishing("cry", Some("OFF"), "ON"));
        assert!(!worth_publishing("cry", Some("ON"), "ON"));
    }
}
