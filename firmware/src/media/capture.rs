//! Runs the capture pipelines on demand and restarts a failed source with back-off.
//!
//! One thread owns the pipelines; everything else talks to it through [`Command`]s, so state
//! changes never happen on a GStreamer streaming thread (which would deadlock).

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use gst::prelude::*;
use tracing::{error, info, warn};

use super::describe;
use super::encoders::Encoders;
use super::hub::{Hub, Track};
use super::stats::PipelineStats;
use crate::audio::room::{self, Room};
use crate::config::{AudioSource, Config, VideoSource};

/// How the picture is dressed, applied to the running pipeline and every rebuilt one.
#[derive(Debug, Clone, PartialEq)]
pub struct Look {
    /// Night: the IR picture has no colour worth showing.
    pub greyscale: bool,
    /// Text on the simulated camera's test picture (its state).
    pub label: String,
    /// Digital zoom factor; 1 or less shows the whole picture.
    pub zoom: f32,
    /// Brightness, saturation and contrast, 0-100 (50 = unchanged).
    pub picture: [f32; 3],
}
impl Default for Look {
    fn default() -> Self {
        Self {
            greyscale: false,
            label: String::new(),
            zoom: 1.0,
            picture: [50.0; 3],
        }
    }
}

/// Brightness, contrast and saturation on the scale videobalance and libcamera share
/// (brightness -1 to 1 with 0 unchanged; contrast and saturation 1 unchanged, saturation 0 grey).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Balance {
    brightness: f32,
    contrast: f32,
    saturation: f32,
}

impl Look {
    fn balance(&self) -> Balance {
        let [brightness, saturation, contrast] = self.picture;
        Balance {
            brightness: (brightness - 50.0) / 100.0,
            contrast: contrast / 50.0,
            // Night: colour off (the IR picture has none worth showing).
            saturation: if self.greyscale {
                0.0
            } else {
                saturation / 50.0
            },
        }
    }
}

/// What a centred digital zoom cuts off each side of `full` pixels, in even pixels (chroma
/// planes are half size).
fn zoom_margin(full: u32, zoom: f32) -> i32 {
    let zoom = zoom.max(1.0);
    (((full as f32 - full as f32 / zoom) / 2.0) as i32) & !1
}

/// The centre of the camera's field of view (x, y, width, height in sensor pixels) at `zoom`.
fn zoomed(field: [i32; 4], zoom: f32) -> [i32; 4] {
    let [x, y, w, h] = field;
    let (dx, dy) = (
        zoom_margin(w.max(0) as u32, zoom),
        zoom_margin(h.max(0) as u32, zoom),
    );
    [x + dx, y + dy, w - 2 * dx, h - 2 * dy]
}

pub(crate) enum Command {
    DemandChanged,
    /// The camera delivered its first frame: controls that need its state (the zoom's field of
    /// view) can be set now.
    CameraRunning {
        generation: u64,
    },
    Look(Look),
    Reconfigure(Box<Plan>),
    Keyframe(Track),
    Failed {
        source: Source,
        generation: u64,
        reason: String,
    },
    Ended {
        source: Source,
        generation: u64,
    },
    Shutdown,
}

/// A capture pipeline: the camera or the microphone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Video,
    Audio,
}

impl Source {
    pub(crate) fn index(self) -> usize {
        match self {
            Source::Video => 0,
            Source::Audio => 1,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Source::Video => "video",
            Source::Audio => "audio",
        }
    }
}

/// A source that ran this long before failing starts its back-off afresh.
const HEALTHY_RUN: Duration = Duration::from_secs(30);
const FIRST_BACKOFF: Duration = Duration::from_secs(1);

struct Slot {
    source: Source,
    description: String,
    /// Runs in the source's place while it is failing, if the source has one.
    stand_in: Option<String>,
    stand_in_pipeline: Option<gst::Pipeline>,
    /// Files loop: their end is not a failure.
    loops: bool,
    pipeline: Option<(gst::Pipeline, Instant)>,
    /// When it stops, now that nobody needs it (after the grace time).
    stop_at: Option<Instant>,
    generation: u64,
    restart_at: Option<Instant>,
    backoff: Duration,
}

pub struct Capture {
    hub: Arc<Hub>,
    /// The simulated microphone's room (`[audio] source = "test"`).
    room: Arc<Room>,
    commands: Sender<Command>,
    thread: crate::platform::worker::Worker,
}

impl Capture {
    pub fn start(config: &Config, encoders: &Encoders) -> anyhow::Result<Self> {
        let (tx, rx) = mpsc::channel();
        let hub = Arc::new(Hub::new(tx.clone()));
        let plan = Plan::new(config, encoders);
        let room = Arc::new(Room::default());
        let controller = Controller {
            hub: Arc::clone(&hub),
            room: Arc::clone(&room),
            commands: tx.clone(),
            slots: plan.slots.into_iter().map(Slot::from).collect(),
            grace: plan.grace,
            start_timeout: plan.start_timeout,
            backoff_max: plan.backoff_max,
            look: Look::default(),
            frame: plan.frame,
            camera_field: None,
        };
        let thread = crate::platform::worker::Worker::spawn("capture", move || controller.run(rx))
            .context("starting the capture thread")?;
        Ok(Self {
            hub,
            room,
            commands: tx,
            thread,
        })
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// What the simulated microphone hears (used when `[audio] source = "test"`).
    pub fn room(&self) -> &Arc<Room> {
        &self.room
    }

    pub fn has_audio(&self, config: &Config, encoders: &Encoders) -> bool {
        config.audio.enabled && encoders.aac.is_some()
    }

    /// Changes how the picture looks (night greyscale, the test overlay) at once.
    pub fn set_look(&self, look: Look) {
        let _ = self.commands.send(Command::Look(look));
    }

    /// Applies new capture settings: sources whose pipeline changed restart at once (viewers
    /// stay connected and continue from the next key frame); the rest run on untouched.
    pub fn reconfigure(&self, config: &Config, encoders: &Encoders) {
        let _ = self
            .commands
            .send(Command::Reconfigure(Box::new(Plan::new(config, encoders))));
    }

    /// Stops every pipeline and waits for the controller to finish.
    pub fn shutdown(&self) {
        let _ = self.commands.send(Command::Shutdown);
        self.thread.join();
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// What the controller should run, derived from the configuration.
pub(crate) struct Plan {
    slots: Vec<SlotPlan>,
    grace: Duration,
    start_timeout: Duration,
    backoff_max: Duration,
    frame: (u32, u32),
}

struct SlotPlan {
    source: Source,
    description: String,
    stand_in: Option<String>,
    loops: bool,
}

impl Plan {
    fn new(config: &Config, encoders: &Encoders) -> Self {
        // The microphone comes first: it is quick to start, and started after the camera it
        // would miss the first picture, whose sound a new viewer must get with it.
        let mut slots = Vec::new();
        if let (true, Some(aac)) = (config.audio.enabled, encoders.aac) {
            slots.push(SlotPlan {
                source: Source::Audio,
                description: describe::audio_pipeline(&config.audio, aac),
                stand_in: Some(describe::silence_pipeline(&config.audio, aac)),
                loops: config.audio.source == AudioSource::File,
            });
        }
        slots.push(SlotPlan {
            source: Source::Video,
            description: describe::video_pipeline(&config.video, encoders),
            stand_in: None,
            loops: config.video.source == VideoSource::File,
        });
        Self {
            slots,
            grace: Duration::from_secs(config.media.idle_grace_s),
            start_timeout: Duration::from_secs(config.media.start_timeout_s),
            backoff_max: Duration::from_secs(config.media.restart_backoff_max_s),
            frame: (config.video.main.width, config.video.main.height),
        }
    }
}

impl From<SlotPlan> for Slot {
    fn from(plan: SlotPlan) -> Self {
        Self {
            source: plan.source,
            description: plan.description,
            stand_in: plan.stand_in,
            stand_in_pipeline: None,
            loops: plan.loops,
            pipeline: None,
            stop_at: None,
            generation: 0,
            restart_at: None,
            backoff: FIRST_BACKOFF,
        }
    }
}

struct Controller {
    hub: Arc<Hub>,
    room: Arc<Room>,
    commands: Sender<Command>,
    slots: Vec<Slot>,
    grace: Duration,
    start_timeout: Duration,
    backoff_max: Duration,
    look: Look,
    /// The main stream's picture size (what the zoom crops).
    frame: (u32, u32),
    /// The running camera's whole field of view in sensor pixels (its ScalerCrop before any
    /// zoom), once it has told.
    camera_field: Option<[i32; 4]>,
}

impl Controller {
    fn run(mut self, rx: Receiver<Command>) {
        let mut next_deadline: Option<Instant> = None;
        loop {
            let command = match next_deadline {
                Some(at) => match rx.recv_timeout(at.saturating_duration_since(Instant::now())) {
                    Ok(c) => Some(c),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => break,
                },
                None => match rx.recv() {
                    Ok(c) => Some(c),
                    Err(_) => break,
                },
            };
            match command {
                Some(Command::Shutdown) => break,
                Some(Command::Keyframe(track)) => self.force_keyframe(track),
                Some(Command::Failed {
                    source,
                    generation,
                    reason,
                }) => self.on_failure(source, generation, &reason, false),
                Some(Command::Ended { source, generation }) => {
                    self.on_failure(source, generation, "the source ended", true)
                }
                Some(Command::Reconfigure(plan)) => self.reconfigure(*plan),
                Some(Command::Look(look)) => {
                    self.look = look;
                    self.apply_look();
                }
                Some(Command::CameraRunning { generation }) => {
                    let current = self
                        .slots
                        .iter()
                        .any(|s| s.source == Source::Video && s.generation == generation);
                    if current {
                        self.apply_look();
                    }
                }
                Some(Command::DemandChanged) | None => {}
            }
            next_deadline = self.reconcile();
        }
        for i in 0..self.slots.len() {
            self.stop(i);
        }
        info!("capture stopped");
    }

    fn reconfigure(&mut self, plan: Plan) {
        self.grace = plan.grace;
        self.start_timeout = plan.start_timeout;
        self.backoff_max = plan.backoff_max;
        self.frame = plan.frame;
        for new in plan.slots {
            // Whether there is a sound track at all is fixed at start-up (it is in every SDP).
            let Some(i) = self.slots.iter().position(|s| s.source == new.source) else {
                continue;
            };
            if self.slots[i].description == new.description
                && self.slots[i].stand_in == new.stand_in
            {
                continue;
            }
            info!(source = new.source.name(), "new capture settings");
            let was_running =
                self.slots[i].pipeline.is_some() || self.slots[i].stand_in_pipeline.is_some();
            self.stop(i);
            let slot = &mut self.slots[i];
            slot.description = new.description;
            slot.stand_in = new.stand_in;
            slot.loops = new.loops;
            slot.backoff = FIRST_BACKOFF;
            slot.restart_at = None;
            if was_running {
                self.start(i);
            }
        }
    }

    /// The camera's pipeline, when it runs.
    fn video_pipeline(&self) -> Option<&gst::Pipeline> {
        self.slots
            .iter()
            .find(|s| s.source == Source::Video)
            .and_then(|s| s.pipeline.as_ref())
            .map(|(p, _)| p)
    }

    fn apply_look(&mut self) {
        let Some(pipeline) = self.video_pipeline().cloned() else {
            return;
        };
        let balance = self.look.balance();
        if let Some(element) = pipeline.by_name(describe::LOOK_BALANCE) {
            element.set_property("brightness", f64::from(balance.brightness));
            element.set_property("contrast", f64::from(balance.contrast));
            element.set_property("saturation", f64::from(balance.saturation));
        }
        if let Some(camera) = pipeline.by_name(describe::CAMERA) {
            self.apply_camera_look(&camera, balance);
        }
        if let Some(text) = pipeline.by_name(describe::LOOK_TEXT) {
            text.set_property("text", &self.look.label);
        }
        if let Some(crop) = pipeline.by_name(describe::LOOK_CROP) {
            // A centred crop, in even pixels (chroma planes are half size).
            let (w, h) = self.frame;
            let (x, y) = (
                zoom_margin(w, self.look.zoom),
                zoom_margin(h, self.look.zoom),
            );
            crop.set_property("left", x);
            crop.set_property("right", x);
            crop.set_property("top", y);
            crop.set_property("bottom", y);
        }
    }

    /// Zoom and the picture adjustments as the camera's own controls (libcamera's ScalerCrop,
    /// Brightness, Contrast and Saturation): the ISP does the work. A libcamera without one of
    /// them leaves that part of the picture as the camera gives it.
    fn apply_camera_look(&mut self, camera: &gst::Element, balance: Balance) {
        for (name, value, neutral) in [
            ("brightness", balance.brightness, 0.0),
            ("contrast", balance.contrast, 1.0),
            ("saturation", balance.saturation, 1.0),
        ] {
            if has_property::<f32>(camera, name) {
                camera.set_property(name, value);
            } else if value != neutral {
                warn!(
                    control = name,
                    "the camera has no such control: left as the camera gives it"
                );
            }
        }
        if !has_property::<gst::Array>(camera, SCALER_CROP) {
            if self.look.zoom > 1.0 {
                warn!("the camera has no ScalerCrop control: no digital zoom");
            }
            return;
        }
        // Read before anything is set, so what the camera reports is its unzoomed field.
        if self.camera_field.is_none() {
            self.camera_field = scaler_crop(camera);
        }
        match self.camera_field {
            Some(field) => {
                let crop = zoomed(field, self.look.zoom);
                camera.set_property(SCALER_CROP, gst::Array::new(crop));
            }
            None if self.look.zoom > 1.0 => {
                info!("zoom waits for the camera's first frame (its field of view)")
            }
            None => {}
        }
    }

    fn stats(&self, source: Source) -> &PipelineStats {
        match source {
            Source::Video => &self.hub.stats.video,
            Source::Audio => &self.hub.stats.audio,
        }
    }

    /// Brings the pipelines in line with demand; returns when it next needs to look again.
    fn reconcile(&mut self) -> Option<Instant> {
        let now = Instant::now();
        let mut deadlines = Vec::new();
        for i in 0..self.slots.len() {
            let source = self.slots[i].source;
            if self.hub.is_wanted(source) {
                self.slots[i].stop_at = None;
                if self.slots[i].pipeline.is_some() {
                    continue;
                }
                match self.slots[i].restart_at {
                    Some(at) if at > now => deadlines.push(at),
                    _ => {
                        self.start(i);
                        // A start that failed tries again after its back-off, whether or not
                        // another command comes before.
                        deadlines.extend(self.slots[i].restart_at);
                    }
                }
                continue;
            }
            self.slots[i].restart_at = None;
            if self.slots[i].pipeline.is_none() && self.slots[i].stand_in_pipeline.is_none() {
                continue;
            }
            let stop_at = *self.slots[i].stop_at.get_or_insert(now + self.grace);
            if stop_at <= now {
                info!(source = source.name(), "nobody needs it: stopping capture");
                self.stop(i);
                self.slots[i].stop_at = None;
            } else {
                deadlines.push(stop_at);
            }
        }
        if self.hub.is_wanted(Source::Video)
            && let Some(at) = self.hub.expire_waiting(self.start_timeout)
        {
            deadlines.push(at);
        }
        self.open_gates();
        deadlines.into_iter().min()
    }

    /// Lets frames into an encoder only while someone watches (or listens to) its stream.
    fn open_gates(&self) {
        let closed = !self.hub.listen.has_listeners();
        let audio = self.slots.iter().filter(|s| s.source == Source::Audio);
        for pipeline in audio.flat_map(|s| {
            [
                s.pipeline.as_ref().map(|(p, _)| p),
                s.stand_in_pipeline.as_ref(),
            ]
        }) {
            if let Some(valve) = pipeline.and_then(|p| p.by_name(describe::LISTEN_VALVE))
                && valve.property::<bool>("drop") != closed
            {
                valve.set_property("drop", closed);
            }
        }
        let Some(pipeline) = self.video_pipeline() else {
            return;
        };
        for (name, track) in [
            (describe::MAIN_GATE, Track::Main),
            (describe::SUB_GATE, Track::Sub),
        ] {
            if let Some(gate) = pipeline.by_name(name) {
                let closed = !self.hub.has_viewers(track);
                if gate.property::<bool>("drop") != closed {
                    gate.set_property("drop", closed);
                }
            }
        }
    }

    fn start(&mut self, i: usize) {
        let source = self.slots[i].source;
        self.slots[i].generation += 1;
        let generation = self.slots[i].generation;
        let description = self.slots[i].description.clone();
        if description.contains(room::ROOM_SRC) && self.room.failing() {
            // The simulated microphone is failing: the stand-in runs on undisturbed, as it
            // would while a real one cannot be opened.
            error!(
                source = source.name(),
                "cannot start capture: the simulated microphone fails"
            );
            self.stats(source).failures.fetch_add(1, Relaxed);
            self.schedule_restart(i, false);
            self.start_stand_in(i);
            return;
        }
        // Never two sources at once on one track: the stand-in goes, and comes back on failure.
        self.stop_stand_in(i);
        if source == Source::Video {
            self.camera_field = None;
        }
        match self.build(source, &description, generation) {
            Ok(pipeline) => {
                info!(source = source.name(), "capture started");
                self.stats(source).starts.fetch_add(1, Relaxed);
                self.stats(source).running.store(true, Relaxed);
                self.slots[i].pipeline = Some((pipeline, Instant::now()));
                self.slots[i].restart_at = None;
                self.apply_look();
            }
            Err(e) => {
                error!(source = source.name(), "cannot start capture: {e:#}");
                self.stats(source).failures.fetch_add(1, Relaxed);
                self.schedule_restart(i, false);
                if !self.start_stand_in(i) {
                    self.hub.fail_waiting("the camera could not be started");
                }
            }
        }
    }

    /// Starts the slot's stand-in unless it runs already; false if it has none or it failed.
    fn start_stand_in(&mut self, i: usize) -> bool {
        if self.slots[i].stand_in_pipeline.is_some() {
            return true;
        }
        let Some(description) = self.slots[i].stand_in.clone() else {
            return false;
        };
        let source = self.slots[i].source;
        // Generation 0 is never a live one, so the stand-in's bus messages are ignored.
        match self.build(source, &description, 0) {
            Ok(pipeline) => {
                warn!(
                    source = source.name(),
                    "using silence until the microphone works again"
                );
                self.slots[i].stand_in_pipeline = Some(pipeline);
                self.stats(source).stand_in.store(true, Relaxed);
                true
            }
            Err(e) => {
                error!(source = source.name(), "stand-in failed too: {e:#}");
                false
            }
        }
    }

    fn stop_stand_in(&mut self, i: usize) {
        if let Some(pipeline) = self.slots[i].stand_in_pipeline.take() {
            let _ = pipeline.set_state(gst::State::Null);
            self.stats(self.slots[i].source)
                .stand_in
                .store(false, Relaxed);
        }
    }

    fn build(
        &self,
        source: Source,
        description: &str,
        generation: u64,
    ) -> anyhow::Result<gst::Pipeline> {
        let pipeline =
            super::launch(description).with_context(|| format!("pipeline `{description}`"))?;
        // Every pipeline in the process runs on the system clock, so the hub's timestamps
        // mean the same thing for the camera, the microphone and each viewer's media.
        pipeline.use_clock(Some(&gst::SystemClock::obtain()));
        match source {
            Source::Video => self.connect_video(&pipeline, generation)?,
            Source::Audio => self.connect_audio(&pipeline)?,
        }
        self.watch_bus(&pipeline, source, generation)?;
        if let Err(e) = pipeline.set_state(gst::State::Playing) {
            let _ = pipeline.set_state(gst::State::Null);
            return Err(anyhow!("{e}"));
        }
        if let Ok(src) = super::element::<gst_app::AppSrc>(&pipeline, room::ROOM_SRC) {
            let rate = src
                .caps()
                .and_then(|c| c.structure(0).and_then(|s| s.get::<i32>("rate").ok()))
                .unwrap_or(48_000);
            if let Err(e) = room::feed(src, Arc::clone(&self.room), rate.max(1) as u32) {
                let _ = pipeline.set_state(gst::State::Null);
                return Err(anyhow!("the simulated microphone's thread: {e}"));
            }
        }
        Ok(pipeline)
    }

    /// The encoded streams, the detectors' grey frames and the snapshot frames go to the hub;
    /// the camera's first frame is reported (it carries the field of view the zoom needs).
    fn connect_video(&self, pipeline: &gst::Pipeline, generation: u64) -> anyhow::Result<()> {
        for (name, track) in [
            (describe::MAIN_SINK, Track::Main),
            (describe::SUB_SINK, Track::Sub),
        ] {
            let hub = Arc::clone(&self.hub);
            connect_sink(pipeline, name, move |sample, t| {
                hub.publish_video(track, sample, t)
            })?;
        }
        let hub = Arc::clone(&self.hub);
        connect_sink(pipeline, describe::GRAY_SINK, move |sample, _| {
            hub.publish_gray(sample)
        })?;
        let hub = Arc::clone(&self.hub);
        connect_sink(pipeline, describe::FRAME_SINK, move |sample, t| {
            hub.publish_frame(sample.clone(), t)
        })?;
        if let Some(pad) = pipeline
            .by_name(describe::CAMERA)
            .and_then(|camera| camera.static_pad("src"))
        {
            let tx = self.commands.clone();
            pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                let _ = tx.send(Command::CameraRunning { generation });
                gst::PadProbeReturn::Remove
            });
        }
        Ok(())
    }

    /// The encoded sound and the sound detector's samples go to the hub.
    fn connect_audio(&self, pipeline: &gst::Pipeline) -> anyhow::Result<()> {
        let hub = Arc::clone(&self.hub);
        connect_sink(pipeline, describe::AUDIO_SINK, move |sample, t| {
            hub.publish_audio(sample, t)
        })?;
        let hub = Arc::clone(&self.hub);
        connect_sink(pipeline, describe::SOUND_SINK, move |sample, _| {
            hub.publish_sound(sample)
        })?;
        let listen = Arc::clone(&self.hub.listen);
        connect_sink(pipeline, describe::LISTEN_SINK, move |sample, _| {
            let frame = sample
                .buffer()
                .and_then(|b| b.map_readable().ok())
                .map(|m| bytes::Bytes::copy_from_slice(&m));
            if let Some(frame) = frame {
                listen.publish(frame);
            }
        })?;
        gate_the_listen_samples(pipeline, &self.hub.listen)
    }

    /// Errors and the end of the stream come back to the capture thread as commands.
    fn watch_bus(
        &self,
        pipeline: &gst::Pipeline,
        source: Source,
        generation: u64,
    ) -> anyhow::Result<()> {
        let bus = pipeline.bus().context("pipeline without a bus")?;
        let tx = self.commands.clone();
        bus.set_sync_handler(move |_, msg| {
            match msg.view() {
                gst::MessageView::Error(err) => {
                    let reason = format!("{} ({})", err.error(), err.debug().unwrap_or_default());
                    if generation == 0 {
                        warn!(source = source.name(), "the stand-in: {reason}");
                    }
                    let _ = tx.send(Command::Failed {
                        source,
                        generation,
                        reason,
                    });
                }
                gst::MessageView::Eos(_) => {
                    let _ = tx.send(Command::Ended { source, generation });
                }
                _ => {}
            }
            gst::BusSyncReply::Drop
        });
        Ok(())
    }

    fn stop(&mut self, i: usize) {
        self.stop_stand_in(i);
        let source = self.slots[i].source;
        if let Some((pipeline, _)) = self.slots[i].pipeline.take() {
            let _ = pipeline.set_state(gst::State::Null);
            self.stats(source).running.store(false, Relaxed);
            if source == Source::Video {
                self.hub.clear_frame();
            }
            drop(pipeline);
            crate::platform::allocator::release_free_memory();
        }
    }

    fn on_failure(&mut self, source: Source, generation: u64, reason: &str, ended: bool) {
        let Some(i) = self
            .slots
            .iter()
            .position(|s| s.source == source && s.generation == generation)
        else {
            return;
        };
        if self.slots[i].pipeline.is_none() {
            return;
        }
        let ran_for = self.slots[i]
            .pipeline
            .as_ref()
            .map(|(_, at)| at.elapsed())
            .unwrap_or_default();
        self.stop(i);
        if ended && self.slots[i].loops {
            // A looped file starts over at once.
            self.slots[i].restart_at = None;
            return;
        }
        let covered = self.hub.is_wanted(source) && self.start_stand_in(i);
        warn!(
            source = source.name(),
            "capture failed after {:.1} s: {reason}",
            ran_for.as_secs_f32()
        );
        self.stats(source).failures.fetch_add(1, Relaxed);
        if ran_for >= HEALTHY_RUN {
            self.slots[i].backoff = FIRST_BACKOFF;
        }
        self.schedule_restart(i, true);
        if !covered {
            self.hub.fail_waiting("the camera failed");
        }
    }

    fn schedule_restart(&mut self, i: usize, log: bool) {
        let slot = &mut self.slots[i];
        slot.restart_at = Some(Instant::now() + slot.backoff);
        if log {
            info!(
                source = slot.source.name(),
                "restarting in {} s",
                slot.backoff.as_secs()
            );
        }
        slot.backoff = (slot.backoff * 2).min(self.backoff_max);
    }

    fn force_keyframe(&self, track: Track) {
        let Some(pipeline) = self.video_pipeline() else {
            return;
        };
        let name = match track {
            Track::Main => describe::MAIN_ENCODER,
            Track::Sub => describe::SUB_ENCODER,
        };
        if let Some(encoder) = pipeline.by_name(name) {
            let event = gst_video::UpstreamForceKeyUnitEvent::builder()
                .all_headers(true)
                .build();
            encoder.send_event(event);
        }
    }
}

/// The noise gate works on the listen stream's samples: a closed gate fades them to silence
/// and an open one back, over one buffer (no click). The samples stay (as silence): muting an
/// element instead marks its buffers as gaps, which the encoder drops, and a phone that gets
/// nothing would take the camera for gone.
fn gate_the_listen_samples(
    pipeline: &gst::Pipeline,
    listen: &Arc<super::listen::Listen>,
) -> anyhow::Result<()> {
    let gate = pipeline
        .by_name(describe::LISTEN_GATE)
        .context("the listen stream's gate is missing")?;
    let pad = gate
        .static_pad("sink")
        .context("the listen gate has no sink pad")?;
    let listen = Arc::clone(listen);
    // The gain reached at the end of the last buffer, in thousandths.
    let reached = std::sync::atomic::AtomicU32::new(if listen.gate_open() { 1000 } else { 0 });
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        let target = if listen.gate_open() { 1.0 } else { 0.0 };
        let mut from = reached.swap((target * 1000.0) as u32, Relaxed) as f32 / 1000.0;
        // The first buffer after the valve opened starts a new stretch: at the gate's state now,
        // not faded from where it was when the last listener left.
        let discont = matches!(&info.data, Some(gst::PadProbeData::Buffer(b)) if b.flags().contains(gst::BufferFlags::DISCONT));
        if discont {
            from = target;
        }
        if from == 1.0 && target == 1.0 {
            return gst::PadProbeReturn::Ok;
        }
        if let Some(gst::PadProbeData::Buffer(buffer)) = &mut info.data
            && let Ok(mut map) = buffer.make_mut().map_writable()
        {
            fade(map.as_mut_slice(), from, target);
        }
        gst::PadProbeReturn::Ok
    });
    Ok(())
}

/// Scales F32LE samples by a gain going from `from` to `to` across them.
fn fade(bytes: &mut [u8], from: f32, to: f32) {
    let n = (bytes.len() / 4).max(1) as f32;
    for (i, b) in bytes.chunks_exact_mut(4).enumerate() {
        let gain = from + (to - from) * (i as f32 + 1.0) / n;
        let s = f32::from_le_bytes([b[0], b[1], b[2], b[3]]) * gain;
        b.copy_from_slice(&s.to_le_bytes());
    }
}

/// libcamerasrc's ScalerCrop control: x, y, width, height in sensor pixels.
const SCALER_CROP: &str = "scaler-crop";

/// Whether `element` has property `name` holding a `T` (set_property would panic otherwise).
fn has_property<T: StaticType>(element: &gst::Element, name: &str) -> bool {
    element
        .find_property(name)
        .is_some_and(|p| p.value_type() == T::static_type())
}

/// The crop the camera last reported; `None` until its first frame.
fn scaler_crop(camera: &gst::Element) -> Option<[i32; 4]> {
    let value = camera.property_value(SCALER_CROP);
    let array = value.get::<gst::Array>().ok()?;
    let numbers: Vec<i32> = array.iter().filter_map(|v| v.get().ok()).collect();
    match numbers[..] {
        [x, y, w, h] if w > 0 && h > 0 => Some([x, y, w, h]),
        _ => None,
    }
}

/// Hands every sample of an appsink to `f` with its capture time on the system clock.
fn connect_sink(
    pipeline: &gst::Pipeline,
    name: &str,
    f: impl Fn(&gst::Sample, u64) + Send + Sync + 'static,
) -> anyhow::Result<()> {
    let sink: gst_app::AppSink = super::element(pipeline, name)?;
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                // Encoders may shift timestamps (x264enc adds an hour so that DTS never goes
                // below zero): only the running time says when a frame was captured.
                let pts = sample.buffer().and_then(|b| b.pts());
                let running = sample
                    .segment()
                    .and_then(|s| s.downcast_ref::<gst::ClockTime>())
                    .and_then(|s| s.to_running_time(pts));
                if let (Some(running), Some(base)) = (running, sink.base_time()) {
                    f(&sample, base.nseconds() + running.nseconds());
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_fades_instead_of_clicking() {
        let mut bytes: Vec<u8> = [0.5f32; 4].iter().flat_map(|s| s.to_le_bytes()).collect();
        fade(&mut bytes, 1.0, 0.0);
        let out: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        assert_eq!(out, vec![0.375, 0.25, 0.125, 0.0]);
    }

    #[test]
    fn night_turns_the_colour_off_and_50_is_neutral() {
        let look = Look::default();
        assert_eq!(
            look.balance(),
            Balance {
                brightness: 0.0,
                contrast: 1.0,
                saturation: 1.0
            }
        );
        let night = Look {
            greyscale: true,
            ..Look::default()
        };
        assert_eq!(night.balance().saturation, 0.0);
    }

    #[test]
    fn the_camera_zoom_crops_the_centre_of_its_field() {
        // An IMX219 in its binned 1640x1232 mode reports its field in full-sensor pixels.
        let field = [8, 4, 3280, 2464];
        assert_eq!(zoomed(field, 1.0), field);
        assert_eq!(zoomed(field, 0.5), field);
        assert_eq!(zoomed(field, 2.0), [8 + 820, 4 + 616, 1640, 1232]);
        let [x, y, w, h] = zoomed(field, 3.0);
        assert_eq!((x % 2, y % 2, w % 2, h % 2), (0, 0, 0, 0));
        assert_eq!((x - 8) * 2 + w, 3280);
        assert_eq!((y - 4) * 2 + h, 2464);
    }
}
