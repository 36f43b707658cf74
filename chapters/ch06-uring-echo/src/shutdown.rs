//! Signals and graceful shutdown (step 5).
//!
//! The first SIGINT or SIGTERM stops accepting at once and gives open
//! connections `--grace` to finish; a second one exits at once. What is
//! new here is the end: before the loop returns (and the ring, the
//! buffers and the sockets are freed), every operation it ever submitted
//! must have completed: the multishot accept and the signal read are
//! cancelled, the timers too, and the loop waits for each one's last
//! completion.

use std::time::Duration;

use anyhow::{Context, Result};
use io_uring::{opcode, types};

use crate::buf::KernelCell;
use crate::event_loop::{EventLoop, ShutdownState};
use crate::user_data::{Op, UserData};

impl EventLoop {
    pub(crate) fn arm_signal_read(&mut self) -> Result<()> {
        let Some(signals) = self.signals.as_mut() else {
            return Ok(());
        };
        let entry = signals.read(UserData::of_loop(Op::Signal).encode());
        // SAFETY: the read writes into `signals`' own buffer; `signals`
        // lives in `self`, which waits for this read's completion before it
        // goes (`progress_shutdown` cancels it, `Drop` drains it).
        unsafe { self.queue.submit(entry, UserData::of_loop(Op::Signal)) }?;
        self.signal_armed = true;
        Ok(())
    }

    // ANCHOR: on_signal
    pub(crate) fn on_signal(&mut self, result: i32) -> Result<()> {
        self.signal_armed = false;
        if result == -libc::ECANCELED {
            return Ok(()); // the end of a shutdown
        }
        if result == -libc::EINTR || result == -libc::EAGAIN {
            return self.arm_signal_read();
        }
        if result < 0 {
            return Err(std::io::Error::from_raw_os_error(-result))
                .context("reading the signal descriptor failed");
        }
        if self.shutdown.is_some() {
            echo_common::exit_on_second_signal(self.settings.log);
        }
        self.begin_shutdown()?;
        // Keep listening: the second signal must be heard.
        self.arm_signal_read()
    }
    // ANCHOR_END: on_signal

    // ANCHOR: begin_shutdown
    /// Stops accepting at once and starts the grace period. Public so that
    /// tests (which have no signal descriptor) can ask for it.
    pub fn begin_shutdown(&mut self) -> Result<()> {
        if self.shutdown.is_some() {
            return Ok(());
        }
        let open = self.connections.len();
        let grace = self.settings.grace;
        self.settings.log.server(format_args!(
            "shutting down: no new connections; {open} open connection(s) get {grace:?} to finish"
        ));
        let mut shutdown = ShutdownState {
            grace_armed: false,
            grace_timespec: KernelCell::new(types::Timespec::from(grace)),
            loop_ops_cancelled: false,
        };
        // The accept is cancelled; the listener closes with its last
        // completion (`on_accept`), or now if none is in flight.
        if self.accept.armed {
            self.cancel_loop_op(Op::Accept)?;
            self.accept.cancelled = true;
        } else {
            self.listener = None;
        }
        if self.accept.backing_off {
            self.cancel_loop_op(Op::AcceptBackoff)?;
        }
        // Accepted over the cap, never served: they go like the backlog.
        self.parked.clear();
        if grace_fits(grace) {
            let entry = opcode::Timeout::new(shutdown.grace_timespec.as_ptr()).build();
            // SAFETY: the timespec lives in `self.shutdown` from now until
            // the loop is dropped, after the timer's completion.
            unsafe { self.queue.submit(entry, UserData::of_loop(Op::Grace)) }?;
            shutdown.grace_armed = true;
        }
        self.shutdown = Some(shutdown);
        Ok(())
    }
    // ANCHOR_END: begin_shutdown

    pub(crate) fn on_grace_over(&mut self, result: i32) -> Result<()> {
        if let Some(shutdown) = &mut self.shutdown {
            shutdown.grace_armed = false;
        }
        if result == -libc::ETIME {
            self.close_all("grace period over")?;
        }
        Ok(())
    }

    // ANCHOR: progress_shutdown
    /// Once every connection is gone: cancel the loop's own operations and
    /// wait until the kernel holds nothing of ours. Only then is the
    /// shutdown finished and the loop may return.
    pub(crate) fn progress_shutdown(&mut self) -> Result<()> {
        let Some(shutdown) = &self.shutdown else {
            return Ok(());
        };
        if !self.connections.is_empty() || !self.parked.is_empty() {
            return Ok(());
        }
        if !shutdown.loop_ops_cancelled {
            let grace_armed = shutdown.grace_armed;
            if self.signal_armed {
                self.cancel_loop_op(Op::Signal)?;
            }
            if grace_armed {
                self.cancel_loop_op(Op::Grace)?;
            }
            if self.accept.armed && !self.accept.cancelled {
                self.cancel_loop_op(Op::Accept)?;
                self.accept.cancelled = true;
            }
            if let Some(shutdown) = &mut self.shutdown {
                shutdown.loop_ops_cancelled = true;
            }
        }
        if self.queue.unfinished == 0 && !self.finished {
            self.finished = true;
            self.settings.log.server("shut down");
        }
        Ok(())
    }
    // ANCHOR_END: progress_shutdown
}

/// Whether `grace` fits in a kernel timespec (it need not: a grace of
/// centuries never ends).
fn grace_fits(grace: Duration) -> bool {
    i64::try_from(grace.as_secs()).is_ok()
}
