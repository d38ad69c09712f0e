//! Motion from small grey frames (64x36, a few per second): the share of pixels that changed
//! against the previous frame, outside the ignored regions.
//!
//! A change over most of the picture at once is light (a lamp, the camera's exposure, night
//! vision switching), not a baby moving, and does not count. The camera's own moves are
//! handled by the caller, which tells the detector to [`MotionDetector::rest`] meanwhile.

use crate::config::MotionConfig;

/// A change over more of the picture than this is lighting, not motion.
const LIGHTING_CHANGE: f32 = 0.6;
/// Frames in a row that must show motion before the alarm starts (one is often a glitch).
const CONFIRM_FRAMES: u32 = 2;

pub struct MotionDetector {
    config: MotionConfig,
    previous: Option<Vec<u8>>,
    streak: u32,
    active: bool,
    last_motion: Option<f64>,
    last_share: f32,
}

impl MotionDetector {
    pub fn new(config: MotionConfig) -> Self {
        Self {
            config,
            previous: None,
            streak: 0,
            active: false,
            last_motion: None,
            last_share: 0.0,
        }
    }

    pub fn set_config(&mut self, config: MotionConfig) {
        self.config = config;
        self.previous = None;
    }

    pub fn is_active(&self) -> bool {
        self.active
    }

    /// Share of the picture that changed in the last frame (0-1).
    pub fn last_share(&self) -> f32 {
        self.last_share
    }

    /// The picture is not comparable (the camera moves, zooms or switches to IR): the next
    /// frame becomes the new reference. An alarm in progress may still end.
    pub fn rest(&mut self, now: f64) -> Option<bool> {
        self.previous = None;
        self.streak = 0;
        self.settle(now)
    }

    /// A grey frame of `width` x `height` taken at `now` (seconds); returns the new alarm
    /// state when it changed.
    pub fn frame(&mut self, pixels: &[u8], width: usize, height: usize, now: f64) -> Option<bool> {
        if width == 0 || height == 0 || pixels.len() < width * height {
            return None;
        }
        let pixels = &pixels[..width * height];
        let Some(previous) = self.previous.replace(pixels.to_vec()) else {
            return self.settle(now);
        };
        // Sensitivity 1 counts a change of 6 grey levels, 0 one of 60.
        let threshold = (6.0 + (1.0 - self.config.sensitivity) * 54.0) as i16;
        let mut considered = 0u32;
        let mut changed = 0u32;
        for y in 0..height {
            let fy = (y as f32 + 0.5) / height as f32;
            for x in 0..width {
                let fx = (x as f32 + 0.5) / width as f32;
                if self.ignored(fx, fy) {
                    continue;
                }
                considered += 1;
                let i = y * width + x;
                if (i16::from(pixels[i]) - i16::from(previous[i])).abs() > threshold {
                    changed += 1;
                }
            }
        }
        let share = if considered == 0 {
            0.0
        } else {
            changed as f32 / considered as f32
        };
        self.last_share = share;
        if share >= self.config.min_area && share <= LIGHTING_CHANGE {
            self.streak += 1;
        } else {
            self.streak = 0;
        }
        if self.streak >= CONFIRM_FRAMES {
            self.last_motion = Some(now);
            if !self.active {
                self.active = true;
                return Some(true);
            }
        }
        self.settle(now)
    }

    fn ignored(&self, x: f32, y: f32) -> bool {
        self.config
            .ignore
            .iter()
            .any(|[rx, ry, rw, rh]| x >= *rx && x < rx + rw && y >= *ry && y < ry + rh)
    }

    fn settle(&mut self, now: f64) -> Option<bool> {
        let quiet_for = self.last_motion.map_or(f64::INFINITY, |t| now - t);
        if self.active && quiet_for > f64::from(self.config.hold_s) {
            self.active = false;
            return Some(false);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: usize = 64;
    const H: usize = 36;

    /// A grey picture with a bright square at (x, y).
    fn picture(square: Option<(usize, usize)>) -> Vec<u8> {
        let mut p = vec![80u8; W * H];
        if let Some((sx, sy)) = square {
            for y in sy..(sy + 6).min(H) {
                for x in sx..(sx + 6).min(W) {
                    p[y * W + x] = 220;
                }
            }
        }
        p
    }

    fn config() -> MotionConfig {
        MotionConfig {
            hold_s: 2.0,
            ..Default::default()
        }
    }

    #[test]
    fn a_moving_object_raises_the_alarm_and_stillness_ends_it() {
        let mut d = MotionDetector::new(config());
        let mut changes = Vec::new();
        let mut t = 0.0;
        for i in 0..10 {
            if let Some(c) = d.frame(&picture(Some((i * 5, 10))), W, H, t) {
                changes.push((t, c));
            }
            t += 0.5;
        }
        for _ in 0..10 {
            if let Some(c) = d.frame(&picture(Some((45, 10))), W, H, t) {
                changes.push((t, c));
            }
            t += 0.5;
        }
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert!(changes[0].1 && changes[0].0 <= 1.0);
        assert!(!changes[1].1);
    }

    #[test]
    fn a_still_picture_is_no_motion() {
        let mut d = MotionDetector::new(config());
        for i in 0..20 {
            assert_eq!(d.frame(&picture(None), W, H, f64::from(i) * 0.5), None);
        }
    }

    #[test]
    fn a_light_switched_on_is_no_motion() {
        let mut d = MotionDetector::new(config());
        let dark = vec![20u8; W * H];
        let bright = vec![200u8; W * H];
        for i in 0..10 {
            let p = if i % 2 == 0 { &dark } else { &bright };
            assert_eq!(d.frame(p, W, H, f64::from(i) * 0.5), None);
        }
    }

    #[test]
    fn motion_in_an_ignored_region_does_not_count() {
        let mut d = MotionDetector::new(MotionConfig {
            ignore: vec![[0.0, 0.0, 1.0, 0.5]],
            ..config()
        });
        for i in 0..10 {
            assert_eq!(
                d.frame(&picture(Some((i * 5, 2))), W, H, i as f64 * 0.5),
                None
            );
        }
    }

    #[test]
    fn after_a_rest_the_new_view_is_the_reference() {
        let mut d = MotionDetector::new(config());
        d.frame(&picture(None), W, H, 0.0);
        d.rest(0.5);
        // The camera turned: everything is different, but only once.
        for i in 0..6 {
            assert_eq!(
                d.frame(&picture(Some((30, 20))), W, H, 1.0 + f64::from(i) * 0.5),
                None
            );
        }
    }
}
