//! Moves the camera: one thread steps the servos towards where they should be, at the
//! configured speed, so nothing ever jumps; clients only set targets and read the status.
//! The presets and home, stored with the settings, are in [`presets`].

mod presets;
pub use presets::{Controls, Position, Preset};

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tracing::{debug, warn};

use crate::config::{AxisConfig, PtzConfig};
use crate::platform::hardware::Servo;

/// How often a moving camera's servos are updated.
const TICK: Duration = Duration::from_millis(20);
/// How long a still camera keeps holding before the pulses stop.
const HOLD: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Motion {
    Idle,
    /// Towards a position (degrees) at a speed (degrees per second) per axis.
    To {
        target: [f32; 2],
        speed: [f32; 2],
    },
    /// At a velocity (degrees per second) until a deadline or a stop.
    Velocity {
        velocity: [f32; 2],
        until: Option<Instant>,
    },
}

/// The digital zoom's own motion (it moves no servo, but takes time like one).
#[derive(Debug, Clone, Copy, PartialEq)]
enum ZoomMotion {
    Idle,
    To {
        target: f32,
        speed: f32,
    },
    Velocity {
        velocity: f32,
        until: Option<Instant>,
    },
}

struct State {
    /// Where the camera points now, in degrees: [pan, tilt].
    position: [f32; 2],
    motion: Motion,
    /// Zoom factor, 1 to `max_zoom`.
    zoom: f32,
    zoom_motion: ZoomMotion,
    /// Stopped moving since (for releasing the servos).
    still_since: Instant,
    released: bool,
    shutdown: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Status {
    /// Pan and tilt in ONVIF's generic space, -1 to 1 between the soft limits.
    pub pan: f32,
    pub tilt: f32,
    /// Zoom in ONVIF's generic space, 0 (none) to 1 (`max_zoom`).
    pub zoom: f32,
    /// The zoom factor itself.
    pub zoom_factor: f32,
    /// Either axis group moves.
    pub moving: bool,
    pub pan_tilt_moving: bool,
    pub zoom_moving: bool,
}

/// Why a pan/tilt/zoom request was not carried out.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PtzError {
    #[error("{0} is not a finite number")]
    NotFinite(&'static str),
    #[error("{0} must be between {1} and {2}")]
    OutOfRange(&'static str, f32, f32),
    #[error("the camera has no pan/tilt")]
    NoPtz,
    #[error("no preset \"{0}\"")]
    UnknownPreset(String),
    #[error("at most {0} presets")]
    TooManyPresets(usize),
    /// The settings refused or could not store the change.
    #[error(transparent)]
    Storage(#[from] crate::settings::Refused),
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    config: PtzConfig,
    /// Told where the camera came to rest (to store it).
    on_rest: Box<dyn Fn([f32; 2]) + Send + Sync>,
}

pub struct Ptz {
    shared: Arc<Shared>,
    thread: crate::platform::worker::Worker,
}

fn axes(config: &PtzConfig) -> [&AxisConfig; 2] {
    [&config.pan, &config.tilt]
}

fn to_norm(axis: &AxisConfig, degrees: f32) -> f32 {
    -1.0 + 2.0 * (degrees - axis.limit_min_deg) / (axis.limit_max_deg - axis.limit_min_deg)
}

/// A zoom factor (1 to `max_zoom`) in the generic space (0 to 1).
fn zoom_level(config: &PtzConfig, factor: f32) -> f32 {
    if config.max_zoom > 1.0 {
        (factor - 1.0) / (config.max_zoom - 1.0)
    } else {
        0.0
    }
}

/// A position in degrees within the soft limits.
fn within_limits(config: &PtzConfig, degrees: [f32; 2]) -> [f32; 2] {
    let [pan, tilt] = axes(config);
    [
        degrees[0].clamp(pan.limit_min_deg, pan.limit_max_deg),
        degrees[1].clamp(tilt.limit_min_deg, tilt.limit_max_deg),
    ]
}

/// A speed of 0..1 as a share of full speed (none: full speed).
fn speed_share(speed: Option<f32>) -> Result<f32, PtzError> {
    match speed {
        Some(s) => Ok(in_range("speed", s, 0.0, 1.0)?.max(0.01)),
        None => Ok(1.0),
    }
}

fn to_degrees(axis: &AxisConfig, norm: f32) -> f32 {
    axis.limit_min_deg
        + (norm.clamp(-1.0, 1.0) + 1.0) / 2.0 * (axis.limit_max_deg - axis.limit_min_deg)
}

fn finite(name: &'static str, v: f32) -> Result<f32, PtzError> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(PtzError::NotFinite(name))
    }
}

fn in_range(name: &'static str, v: f32, min: f32, max: f32) -> Result<f32, PtzError> {
    let v = finite(name, v)?;
    if (min..=max).contains(&v) {
        Ok(v)
    } else {
        Err(PtzError::OutOfRange(name, min, max))
    }
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Ptz {
    /// Starts the motion thread with the camera at `start` (degrees), where it was left.
    pub fn start(
        config: PtzConfig,
        servos: [Box<dyn Servo>; 2],
        start: [f32; 2],
        on_rest: impl Fn([f32; 2]) + Send + Sync + 'static,
    ) -> anyhow::Result<Self> {
        let position = within_limits(&config, start);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                position,
                motion: Motion::Idle,
                zoom: 1.0,
                zoom_motion: ZoomMotion::Idle,
                still_since: Instant::now(),
                released: false,
                shutdown: false,
            }),
            wake: Condvar::new(),
            config,
            on_rest: Box::new(on_rest),
        });
        let worker = Arc::clone(&shared);
        let thread = crate::platform::worker::Worker::spawn("ptz", move || run(&worker, servos))?;
        Ok(Self { shared, thread })
    }

    pub fn config(&self) -> &PtzConfig {
        &self.shared.config
    }

    pub fn status(&self) -> Status {
        let state = lock(&self.shared.state);
        let [pan, tilt] = axes(&self.shared.config);
        Status {
            pan: to_norm(pan, state.position[0]),
            tilt: to_norm(tilt, state.position[1]),
            zoom: zoom_level(&self.shared.config, state.zoom),
            zoom_factor: state.zoom,
            moving: state.motion != Motion::Idle || state.zoom_motion != ZoomMotion::Idle,
            pan_tilt_moving: state.motion != Motion::Idle,
            zoom_moving: state.zoom_motion != ZoomMotion::Idle,
        }
    }

    /// Degrees per second for a speed of 0..1 (none: full speed).
    fn speeds(&self, speed: Option<f32>) -> Result<[f32; 2], PtzError> {
        let s = speed_share(speed)?;
        let [pan, tilt] = axes(&self.shared.config);
        Ok([pan.speed_deg_s * s, tilt.speed_deg_s * s])
    }

    fn go(&self, target: [f32; 2], speed: [f32; 2]) {
        let mut state = lock(&self.shared.state);
        state.motion = Motion::To { target, speed };
        drop(state);
        self.shared.wake.notify_all();
    }

    /// To a position in the generic space (-1..1 each; beyond is clamped to the limits).
    pub fn absolute(
        &self,
        pan: Option<f32>,
        tilt: Option<f32>,
        speed: Option<f32>,
    ) -> Result<(), PtzError> {
        let speed = self.speeds(speed)?;
        let [pa, ta] = axes(&self.shared.config);
        let current = lock(&self.shared.state).position;
        let target = [
            pan.map(|p| finite("pan", p).map(|p| to_degrees(pa, p)))
                .transpose()?
                .unwrap_or(current[0]),
            tilt.map(|t| finite("tilt", t).map(|t| to_degrees(ta, t)))
                .transpose()?
                .unwrap_or(current[1]),
        ];
        self.go(target, speed);
        Ok(())
    }

    /// By a translation in the generic space (-2..2 spans the whole range).
    pub fn relative(&self, dpan: f32, dtilt: f32, speed: Option<f32>) -> Result<(), PtzError> {
        let (dpan, dtilt) = (
            in_range("pan", dpan, -2.0, 2.0)?,
            in_range("tilt", dtilt, -2.0, 2.0)?,
        );
        let status = self.status();
        self.absolute(Some(status.pan + dpan), Some(status.tilt + dtilt), speed)
    }

    /// By a fraction of the field of view (1 = a whole picture width or height).
    pub fn relative_fov(&self, dx: f32, dy: f32, speed: Option<f32>) -> Result<(), PtzError> {
        let (dx, dy) = (
            in_range("pan", dx, -1.0, 1.0)?,
            in_range("tilt", dy, -1.0, 1.0)?,
        );
        let speed = self.speeds(speed)?;
        let c = &self.shared.config;
        let (current, zoom) = {
            let state = lock(&self.shared.state);
            (state.position, state.zoom)
        };
        // Zoomed in, the picture spans less of the world.
        let (dx, dy) = (dx / zoom, dy / zoom);
        let target = [current[0] + dx * c.fov_h_deg, current[1] + dy * c.fov_v_deg];
        self.go(within_limits(c, target), speed);
        Ok(())
    }

    /// At a velocity (-1..1 of full speed per axis) until `timeout` or a stop.
    pub fn continuous(&self, vx: f32, vy: f32, timeout: Option<Duration>) -> Result<(), PtzError> {
        let (vx, vy) = (
            in_range("pan velocity", vx, -1.0, 1.0)?,
            in_range("tilt velocity", vy, -1.0, 1.0)?,
        );
        let [pa, ta] = axes(&self.shared.config);
        let mut state = lock(&self.shared.state);
        state.motion = if vx == 0.0 && vy == 0.0 {
            Motion::Idle
        } else {
            Motion::Velocity {
                velocity: [vx * pa.speed_deg_s, vy * ta.speed_deg_s],
                until: timeout.map(|t| Instant::now() + t),
            }
        };
        drop(state);
        self.shared.wake.notify_all();
        Ok(())
    }

    /// Zoom to a level in the generic space (0 = none, 1 = `max_zoom`; beyond is clamped).
    pub fn zoom_absolute(&self, level: f32, speed: Option<f32>) -> Result<(), PtzError> {
        let level = finite("zoom", level)?.clamp(0.0, 1.0);
        let target = 1.0 + level * (self.shared.config.max_zoom - 1.0);
        self.zoom_to(target, speed)
    }

    /// Zoom by a step in the generic space (-1..1).
    pub fn zoom_relative(&self, delta: f32, speed: Option<f32>) -> Result<(), PtzError> {
        let delta = in_range("zoom", delta, -1.0, 1.0)?;
        self.zoom_absolute((self.status().zoom + delta).clamp(0.0, 1.0), speed)
    }

    /// Zoom to a factor (1 = none), e.g. a preset's.
    pub fn zoom_to_factor(&self, factor: f32, speed: Option<f32>) -> Result<(), PtzError> {
        self.zoom_to(finite("zoom", factor)?, speed)
    }

    fn zoom_to(&self, factor: f32, speed: Option<f32>) -> Result<(), PtzError> {
        let s = speed_share(speed)?;
        let c = &self.shared.config;
        let mut state = lock(&self.shared.state);
        state.zoom_motion = ZoomMotion::To {
            target: factor.clamp(1.0, c.max_zoom),
            speed: c.zoom_speed * s,
        };
        drop(state);
        self.shared.wake.notify_all();
        Ok(())
    }

    /// Zoom at a velocity (-1..1 of full speed) until `timeout` or a stop.
    pub fn zoom_continuous(
        &self,
        velocity: f32,
        timeout: Option<Duration>,
    ) -> Result<(), PtzError> {
        let v = in_range("zoom velocity", velocity, -1.0, 1.0)?;
        let mut state = lock(&self.shared.state);
        state.zoom_motion = if v == 0.0 {
            ZoomMotion::Idle
        } else {
            ZoomMotion::Velocity {
                velocity: v * self.shared.config.zoom_speed,
                until: timeout.map(|t| Instant::now() + t),
            }
        };
        drop(state);
        self.shared.wake.notify_all();
        Ok(())
    }

    /// The zoom factor now (1 = none).
    pub fn zoom_factor(&self) -> f32 {
        lock(&self.shared.state).zoom
    }

    pub fn stop(&self) {
        let mut state = lock(&self.shared.state);
        state.zoom_motion = ZoomMotion::Idle;
        if state.motion != Motion::Idle {
            state.motion = Motion::Idle;
            state.still_since = Instant::now();
            let at = state.position;
            drop(state);
            (self.shared.on_rest)(at);
        }
        self.shared.wake.notify_all();
    }

    /// Where the camera points, in degrees [pan, tilt] (for presets).
    pub fn position_degrees(&self) -> [f32; 2] {
        lock(&self.shared.state).position
    }

    /// To a position in degrees (a preset or home).
    pub fn goto_degrees(&self, target: [f32; 2], speed: Option<f32>) -> Result<(), PtzError> {
        let speed = self.speeds(speed)?;
        self.go(within_limits(&self.shared.config, target), speed);
        Ok(())
    }

    pub fn shutdown(&self) {
        lock(&self.shared.state).shutdown = true;
        self.shared.wake.notify_all();
        self.thread.join();
    }
}

impl Drop for Ptz {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn run(shared: &Shared, mut servos: [Box<dyn Servo>; 2]) {
    // Hold where the camera was left: the servos are there already, so nothing jumps.
    let start = lock(&shared.state).position;
    drive(&mut servos, start);
    let mut last = Instant::now();
    let mut state = lock(&shared.state);
    while !state.shutdown {
        if is_idle(&state) {
            state = rest(shared, state, &mut servos);
            last = Instant::now();
            continue;
        }
        let now = Instant::now();
        let dt = now.duration_since(last).as_secs_f32().min(0.1);
        last = now;
        let tick = step(&mut state, &shared.config, now, dt);
        drop(state);
        if tick.pan_tilt_moved {
            drive(&mut servos, tick.position);
        }
        if tick.arrived {
            (shared.on_rest)(tick.position);
        }
        if tick.still_moving {
            std::thread::sleep(TICK);
        }
        state = lock(&shared.state);
    }
}

fn is_idle(state: &State) -> bool {
    state.motion == Motion::Idle && state.zoom_motion == ZoomMotion::Idle
}

fn drive(servos: &mut [Box<dyn Servo>; 2], position: [f32; 2]) {
    for (servo, angle) in servos.iter_mut().zip(position) {
        if let Err(e) = servo.set_angle(angle) {
            warn!("servo: {e:#}");
        }
    }
}

/// A still camera: lets the servos go after a while, then waits for the next move.
fn rest<'a>(
    shared: &'a Shared,
    mut state: MutexGuard<'a, State>,
    servos: &mut [Box<dyn Servo>; 2],
) -> MutexGuard<'a, State> {
    let release = shared.config.release_when_idle;
    if !state.released && release && state.still_since.elapsed() >= HOLD {
        state.released = true;
        for servo in servos.iter_mut() {
            if let Err(e) = servo.release() {
                warn!("servo: {e:#}");
            }
        }
        debug!("servos released");
    }
    let wait = if state.released || !release {
        Duration::from_secs(3600)
    } else {
        HOLD
    };
    shared
        .wake
        .wait_timeout(state, wait)
        .unwrap_or_else(PoisonError::into_inner)
        .0
}

/// What one step of the motion did, for the work done without the lock.
struct Tick {
    position: [f32; 2],
    pan_tilt_moved: bool,
    arrived: bool,
    still_moving: bool,
}

fn step(state: &mut State, config: &PtzConfig, now: Instant, dt: f32) -> Tick {
    let pan_tilt_moved = state.motion != Motion::Idle;
    let arrived = step_pan_tilt(state, config, now, dt);
    if step_zoom(state, config.max_zoom, now, dt) {
        state.zoom_motion = ZoomMotion::Idle;
    }
    if pan_tilt_moved {
        state.released = false;
    }
    if arrived {
        state.motion = Motion::Idle;
        state.still_since = now;
    }
    Tick {
        position: state.position,
        pan_tilt_moved,
        arrived,
        still_moving: !is_idle(state),
    }
}

/// Moves pan and tilt by one step; true when the move has ended.
fn step_pan_tilt(state: &mut State, config: &PtzConfig, now: Instant, dt: f32) -> bool {
    match state.motion {
        Motion::To { target, speed } => {
            let mut done = true;
            for i in 0..2 {
                let (at, arrived) = towards(state.position[i], target[i], speed[i] * dt);
                state.position[i] = at;
                done &= arrived;
            }
            done
        }
        Motion::Velocity { velocity, until } => {
            let mut at_limits = true;
            for (i, axis) in axes(config).into_iter().enumerate() {
                let (min, max) = (axis.limit_min_deg, axis.limit_max_deg);
                state.position[i] = (state.position[i] + velocity[i] * dt).clamp(min, max);
                at_limits &= at_end(state.position[i], velocity[i], min, max);
            }
            until.is_some_and(|u| now >= u) || at_limits
        }
        Motion::Idle => false,
    }
}

/// Moves the zoom by one step; true when its move has ended.
fn step_zoom(state: &mut State, max_zoom: f32, now: Instant, dt: f32) -> bool {
    match state.zoom_motion {
        ZoomMotion::To { target, speed } => {
            let (at, arrived) = towards(state.zoom, target, speed * dt);
            state.zoom = at;
            arrived
        }
        ZoomMotion::Velocity { velocity, until } => {
            state.zoom = (state.zoom + velocity * dt).clamp(1.0, max_zoom);
            until.is_some_and(|u| now >= u) || at_end(state.zoom, velocity, 1.0, max_zoom)
        }
        ZoomMotion::Idle => false,
    }
}

/// Whether a move at `velocity` can go no further: at the end it heads for (a first step
/// too short to leave the other end does not count), or not moving at all.
fn at_end(at: f32, velocity: f32, min: f32, max: f32) -> bool {
    velocity == 0.0 || (velocity > 0.0 && at >= max) || (velocity < 0.0 && at <= min)
}

/// One step of at most `step` from `at` towards `target`, and whether it got there.
fn towards(at: f32, target: f32, step: f32) -> (f32, bool) {
    let delta = target - at;
    if delta.abs() <= step {
        (target, true)
    } else {
        (at + step * delta.signum(), false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::hardware::SimPosition;

    struct Probe(Arc<SimPosition>, bool);
    impl Servo for Probe {
        fn set_angle(&mut self, d: f32) -> anyhow::Result<()> {
            if self.1 {
                self.0.pan.store(d)
            } else {
                self.0.tilt.store(d)
            }
            Ok(())
        }
        fn release(&mut self) -> anyhow::Result<()> {
            Ok(())
        }
    }

    fn ptz() -> (Ptz, Arc<SimPosition>) {
        let pos = Arc::new(SimPosition::default());
        let servos: [Box<dyn Servo>; 2] = [
            Box::new(Probe(Arc::clone(&pos), true)),
            Box::new(Probe(Arc::clone(&pos), false)),
        ];
        (
            Ptz::start(PtzConfig::default(), servos, [0.0, 0.0], |_| {}).expect("start"),
            pos,
        )
    }

    fn settle(p: &Ptz) -> Status {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let s = p.status();
            if !s.moving || Instant::now() > deadline {
                return s;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn moves_step_by_step_and_end_where_asked() {
        let (p, servo) = ptz();
        p.absolute(Some(1.0), Some(-1.0), Some(1.0)).expect("move");
        assert!(p.status().moving);
        let s = settle(&p);
        assert!(!s.moving);
        assert!(
            (s.pan - 1.0).abs() < 1e-4 && (s.tilt + 1.0).abs() < 1e-4,
            "{s:?}"
        );
        assert_eq!(servo.pan.load(), 80.0);
        assert_eq!(servo.tilt.load(), -30.0);
    }

    #[test]
    fn limits_clamp_and_bad_numbers_are_refused() {
        let (p, _) = ptz();
        p.absolute(Some(5.0), None, None).expect("clamped");
        assert!((settle(&p).pan - 1.0).abs() < 1e-4);
        assert_eq!(
            p.absolute(Some(f32::NAN), None, None),
            Err(PtzError::NotFinite("pan"))
        );
        assert_eq!(
            p.relative(f32::INFINITY, 0.0, None),
            Err(PtzError::NotFinite("pan"))
        );
        assert!(p.continuous(2.0, 0.0, None).is_err());
        assert!(p.absolute(None, None, Some(1.5)).is_err());
    }

    #[test]
    fn fov_moves_go_by_the_picture() {
        let (p, servo) = ptz();
        p.relative_fov(0.5, 0.0, None).expect("move");
        settle(&p);
        assert!(
            (servo.pan.load() - 31.1).abs() < 0.01,
            "{}",
            servo.pan.load()
        );
    }

    #[test]
    fn each_axis_group_reports_its_own_motion() {
        let (p, _) = ptz();
        p.continuous(0.5, 0.0, None).expect("move");
        p.zoom_continuous(0.0, None).expect("no zoom");
        let s = p.status();
        assert!(s.moving && s.pan_tilt_moving && !s.zoom_moving, "{s:?}");
        p.stop();
        p.zoom_continuous(0.5, None).expect("zoom");
        let s = p.status();
        assert!(s.moving && !s.pan_tilt_moving && s.zoom_moving, "{s:?}");
        p.stop();
        assert!(!p.status().moving);
    }

    /// The first step after a wake-up can be too short to move off an end: a move away from
    /// it must go on all the same, and one into it must end.
    #[test]
    fn a_continuous_move_away_from_an_end_does_not_end_there() {
        let config = PtzConfig::default();
        let now = Instant::now();
        let mut state = State {
            position: [config.pan.limit_min_deg, 0.0],
            motion: Motion::Velocity {
                velocity: [10.0, 0.0],
                until: None,
            },
            zoom: 1.0,
            zoom_motion: ZoomMotion::Velocity {
                velocity: 0.1,
                until: None,
            },
            still_since: now,
            released: false,
            shutdown: false,
        };
        assert!(
            !step_pan_tilt(&mut state, &config, now, 0.0),
            "pan ended at once"
        );
        assert!(
            !step_zoom(&mut state, config.max_zoom, now, 0.0),
            "zoom ended at once"
        );
        state.motion = Motion::Velocity {
            velocity: [-10.0, 0.0],
            until: None,
        };
        state.zoom_motion = ZoomMotion::Velocity {
            velocity: -0.1,
            until: None,
        };
        assert!(step_pan_tilt(&mut state, &config, now, 0.0));
        assert!(step_zoom(&mut state, config.max_zoom, now, 0.0));
    }

    #[test]
    fn continuous_moves_stop_by_themselves_or_on_stop() {
        let (p, _) = ptz();
        p.continuous(0.5, 0.0, Some(Duration::from_millis(200)))
            .expect("move");
        let s = settle(&p);
        assert!(!s.moving && s.pan > 0.0, "{s:?}");
        p.continuous(-1.0, 0.0, None).expect("move");
        std::thread::sleep(Duration::from_millis(100));
        assert!(p.status().moving);
        p.stop();
        assert!(!p.status().moving);
    }
}
