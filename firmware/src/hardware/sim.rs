//! Simulated servos: they remember where they were sent (the controller does the timing).

use std::sync::Arc;

use super::{Servo, SimPosition};

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
