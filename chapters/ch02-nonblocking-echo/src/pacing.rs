//! The one knob this model has against spinning: sleep after a pass of the
//! loop that moved nothing. Both the server and the client use it.

use std::thread;
use std::time::Duration;

// ANCHOR: pace
/// What to do after a pass that moved no byte: with no sleep, go straight
/// round again (100% of a core, lowest latency); with one, give the core
/// back for that long, and let whatever arrives meanwhile wait for us.
#[derive(Debug, Clone, Copy)]
pub struct IdleSleep(pub Option<Duration>);

impl IdleSleep {
    pub fn after_pass(self, progress: bool) {
        if let (false, Some(sleep)) = (progress, self.0) {
            thread::sleep(sleep);
        }
    }
}
// ANCHOR_END: pace
