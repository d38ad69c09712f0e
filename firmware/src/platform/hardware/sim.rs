//! Simulated servos: they remember where they were sent (the controller does the timing).

use std::sync::Arc;

use std::sync::atomic::Ordering;

use super::{Servo, SimPosition, SimSwitches, Switch};

pub(super) struct SimServo {
    position: Arc<SimPosition>,
    pan: bool,
}

impl SimServo {
    pub(super) fn new(position: Arc<SimPosition>, pan: bool) -> Self {
        Self { position, pan }
    }
}

impl Servo for SimServo {
    fn set_angle(&mut self, degrees: f32) -> anyhow::Result<()> {
        if self.pan {
            self.position.pan.store(degrees)
        } else {
            self.position.tilt.store(degrees)
        }
        Ok(())
    }

    fn release(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}

pub(super) struct SimSwitch {
    state: Arc<SimSwitches>,
    ir_cut: bool,
}

impl SimSwitch {
    pub(super) fn new(state: Arc<SimSwitches>, ir_cut: bool) -> Self {
        Self { state, ir_cut }
    }
}

impl Switch for SimSwitch {
    fn set(&mut self, on: bool) -> anyhow::Result<()> {
        if self.ir_cut {
            self.state.ir_cut.store(on, Ordering::Relaxed)
        } else {
            self.state.leds.store(on, Ordering::Relaxed)
        }
        Ok(())
    }
}
