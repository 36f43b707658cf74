//! Accepting: one-shot (step 1) or multishot (step 3), the connection
//! cap, and backing off when the process is out of descriptors (step 6).

use std::io;
use std::net::TcpStream;
use std::os::fd::{AsRawFd, FromRawFd};
use std::time::Duration;

use anyhow::Result;
use echo_common::AcceptError;
use io_uring::{cqueue, opcode, types};

use crate::connection::Step;
use crate::event_loop::EventLoop;
use crate::user_data::{Op, UserData};

/// How long to wait before accepting again after running out of
/// descriptors or memory: the failed connection is still queued, so
/// accepting again at once would fail again at once, forever.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

impl EventLoop {
    // ANCHOR: update_accept
    /// Whether to accept now: not shutting down, below the cap (counting
    /// connections accepted over it and parked), not backing off.
    fn accepting(&self) -> bool {
        self.listener.is_some()
            && self.shutdown.is_none()
            && !self.accept.backing_off
            && self.connections.len() + self.parked.len() < self.settings.max_connections
    }

    /// Arms the accept when we should accept and it is not armed; cancels a
    /// multishot accept when we should not. (A one-shot accept is armed
    /// only below the cap, so it can never take us over it.)
    pub(crate) fn update_accept(&mut self) -> Result<()> {
        let Some(listener) = &self.listener else {
            return Ok(());
        };
        let listener = types::Fd(listener.as_raw_fd());
        if self.accepting() && !self.accept.armed {
            let entry = match self.step {
                Step::Single => {
                    opcode::Accept::new(listener, std::ptr::null_mut(), std::ptr::null_mut())
                        .flags(libc::SOCK_CLOEXEC)
                        .build()
                }
                Step::Multishot => opcode::AcceptMulti::new(listener)
                    .flags(libc::SOCK_CLOEXEC)
                    .build(),
            };
            // SAFETY: no address is asked for (null pointers), so the entry
            // points to no memory of ours; the listener stays open until the
            // accept's last completion (`on_accept` closes it).
            unsafe { self.queue.submit(entry, UserData::of_loop(Op::Accept)) }?;
            self.accept.armed = true;
            self.accept.cancelled = false;
        } else if !self.accepting()
            && self.accept.armed
            && !self.accept.cancelled
            && (self.step == Step::Multishot || self.shutdown.is_some())
        {
            self.cancel_loop_op(Op::Accept)?;
            self.accept.cancelled = true;
        }
        Ok(())
    }
    // ANCHOR_END: update_accept

    // ANCHOR: on_accept
    pub(crate) fn on_accept(&mut self, result: i32, flags: u32) -> Result<()> {
        if !cqueue::more(flags) {
            self.accept.armed = false;
            if self.shutdown.is_some() {
                // The accept's last completion: now the listener can close,
                // and new clients are refused.
                self.listener = None;
            }
        }
        if result >= 0 {
            // SAFETY: the kernel just created this descriptor for us, and
            // nothing else owns it.
            let stream = unsafe { TcpStream::from_raw_fd(result) };
            if self.shutdown.is_some() {
                // The accept raced its cancellation: close, do not leak.
                self.counters.accepted_while_closing += 1;
                return Ok(());
            }
            if self.connections.len() < self.settings.max_connections {
                return self.start(stream);
            }
            self.parked.push_back(stream);
            return Ok(());
        }
        let err = io::Error::from_raw_os_error(-result);
        match -result {
            libc::ECANCELED => return Ok(()),
            // The listener itself is unusable: accepting again would fail
            // the same way at once, forever.
            libc::EBADF | libc::EINVAL | libc::ENOTSOCK | libc::EOPNOTSUPP | libc::EFAULT => {
                return Err(anyhow::Error::new(err).context("accept failed"));
            }
            _ => {}
        }
        self.settings
            .log
            .server(format_args!("accept failed: {err}"));
        if AcceptError::classify(&err) == AcceptError::BackOff {
            self.start_backoff()?;
        }
        Ok(())
    }
    // ANCHOR_END: on_accept

    // ANCHOR: backoff
    /// Out of descriptors or memory: a `Timeout` operation wakes us in
    /// [`ACCEPT_BACKOFF`], and until then nothing accepts. No spinning, and
    /// no timer of our own: the kernel keeps it.
    fn start_backoff(&mut self) -> Result<()> {
        if self.accept.backing_off {
            return Ok(());
        }
        if self.accept.armed && !self.accept.cancelled {
            // A multishot accept that failed may still be armed.
            self.cancel_loop_op(Op::Accept)?;
            self.accept.cancelled = true;
        }
        // SAFETY: no back-off timer is in flight (`backing_off` is false),
        // so the kernel is not reading the timespec.
        unsafe {
            self.accept
                .backoff_timespec
                .set(types::Timespec::from(ACCEPT_BACKOFF))
        };
        let entry = opcode::Timeout::new(self.accept.backoff_timespec.as_ptr()).build();
        // SAFETY: the timespec lives in `self`, which outlives the timer.
        unsafe {
            self.queue
                .submit(entry, UserData::of_loop(Op::AcceptBackoff))
        }?;
        self.accept.backing_off = true;
        Ok(())
    }

    pub(crate) fn on_backoff_over(&mut self) -> Result<()> {
        // Expired or cancelled: either way, `update_accept` decides next.
        self.accept.backing_off = false;
        Ok(())
    }
    // ANCHOR_END: backoff

    /// Cancels the loop's own operation `op` (the accept, a timer, the
    /// signal read). Its last completion arrives later, as `ECANCELED`.
    pub(crate) fn cancel_loop_op(&mut self, op: Op) -> Result<()> {
        let target = UserData::of_loop(op).encode();
        let entry = opcode::AsyncCancel::new(target).build();
        // SAFETY: a cancellation points to no memory of ours.
        unsafe { self.queue.submit(entry, UserData::of_loop(Op::Cancel)) }
    }
}
