//! `[night]`: night vision (IR-cut filter and IR LEDs) and when AUTO switches.

use serde::{Deserialize, Serialize};

use super::Problems;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NightMode {
    /// Filter in, LEDs off, colour.
    Day,
    /// Filter out, LEDs on, grey.
    Night,
    /// Decided from the scene's brightness.
    Auto,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NightConfig {
    pub mode: NightMode,
    pub ir_cut_gpio: u8,
    /// Whether driving the pin high puts the filter in.
    pub ir_cut_active_high: bool,
    pub ir_led_gpio: u8,
    /// AUTO goes to night below this mean brightness (0-1) ...
    pub dark_below: f32,
    /// ... and back to day above this one (the gap keeps it from flickering at dusk).
    pub bright_above: f32,
    /// Seconds the scene must stay dark (or bright) before AUTO switches.
    pub dwell_s: u64,
}

impl Default for NightConfig {
    fn default() -> Self {
        Self {
            mode: NightMode::Auto,
            ir_cut_gpio: 23,
            ir_cut_active_high: true,
            ir_led_gpio: 24,
            dark_below: 0.15,
            bright_above: 0.35,
            dwell_s: 10,
        }
    }
}

impl NightConfig {
    pub(super) fn check(&self, p: &mut Problems) {
        p.range("night.ir_cut_gpio", self.ir_cut_gpio, 2, 27);
        p.range("night.ir_led_gpio", self.ir_led_gpio, 2, 27);
        if self.ir_cut_gpio == self.ir_led_gpio {
            p.add("night.ir_led_gpio", "the IR LEDs need their own GPIO");
        }
        p.range("night.dark_below", self.dark_below, 0.0, 1.0);
        p.range("night.bright_above", self.bright_above, 0.0, 1.0);
        if self.bright_above <= self.dark_below {
            p.add(
                "night.bright_above",
                "must be above dark_below, or AUTO would flicker",
            );
        }
        p.range("night.dwell_s", self.dwell_s, 0, 3600);
    }
}
