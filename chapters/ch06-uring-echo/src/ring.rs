//! The ring: creating it, queueing submissions, entering the kernel.
//!
//! An io_uring is two queues in memory shared with the kernel. We write
//! submission queue entries (SQEs) and advance the submission tail; the
//! kernel posts completion queue entries (CQEs) and advances the
//! completion tail. One system call, `io_uring_enter`, does both halves of
//! a turn of the event loop: "here are N new submissions; wake me when at
//! least one completion is there". Everything else here is what can go
//! wrong around those two queues.

use std::io;
use std::time::Duration;

use anyhow::Result;
use io_uring::types::{SubmitArgs, Timespec};
use io_uring::{IoUring, Submitter, cqueue, squeue};

use crate::setup::{self, SystemFacts};

/// How to build the ring.
#[derive(Debug, Clone, Copy)]
pub struct RingConfig {
    /// Submission queue entries; the completion queue gets four times as
    /// many, since one submission (a multishot receive) can complete many
    /// times.
    pub entries: u32,
    /// A kernel thread that polls the submission queue (`--sqpoll`).
    pub sqpoll: Option<SqPoll>,
}

#[derive(Debug, Clone, Copy)]
pub struct SqPoll {
    /// How long the thread keeps polling after the last submission before
    /// it sleeps (and the next submission must wake it with a system call).
    pub idle: Duration,
}

pub struct Ring {
    uring: IoUring,
    sqpoll: bool,
    /// Turns on which the kernel said it was holding completions that did
    /// not fit in the completion queue (`IORING_SQ_CQ_OVERFLOW`).
    overflows_seen: u64,
}

// ANCHOR: setup
impl Ring {
    pub fn new(config: RingConfig) -> Result<Ring> {
        setup::require_kernel(&SystemFacts::read())?;
        let mut builder = IoUring::builder();
        builder
            .setup_cqsize(config.entries.saturating_mul(4))
            // Keep submitting the rest of a batch when one entry fails.
            .setup_submit_all();
        match config.sqpoll {
            Some(sqpoll) => {
                let idle = u32::try_from(sqpoll.idle.as_millis()).unwrap_or(u32::MAX);
                builder.setup_sqpoll(idle.max(1));
                // A server confined to one CPU (`taskset -c N`) keeps its
                // polling thread there too, whatever the kernel's default
                // placement: "one core" must not become two.
                if let Some(cpu) = setup::only_allowed_cpu() {
                    builder.setup_sqpoll_cpu(cpu);
                }
            }
            None => {
                // One thread submits and reaps; the kernel runs the work of
                // finished operations only when that thread asks for
                // completions, in a batch, instead of interrupting it.
                builder.setup_single_issuer().setup_defer_taskrun();
            }
        }
        let uring = builder
            .build(config.entries)
            .map_err(|err| setup::explain(err, &SystemFacts::read()))?;
        Ok(Ring {
            uring,
            sqpoll: config.sqpoll.is_some(),
            overflows_seen: 0,
        })
    }
    // ANCHOR_END: setup

    pub fn submitter(&self) -> Submitter<'_> {
        self.uring.submitter()
    }

    pub fn is_sqpoll(&self) -> bool {
        self.sqpoll
    }

    pub fn overflows_seen(&self) -> u64 {
        self.overflows_seen
    }

    /// Completions the kernel had to drop: none while it can hold the
    /// overflow (`IORING_FEAT_NODROP`, 5.5), unless it ran out of memory.
    pub fn lost_completions(&mut self) -> u32 {
        self.uring.completion().overflow()
    }

    // ANCHOR: push
    /// Queues one submission. It reaches the kernel at the next
    /// [`Ring::submit_and_wait`], together with every other one queued
    /// meanwhile: that batching is where io_uring saves system calls.
    ///
    /// # Safety
    ///
    /// Every pointer in `entry` (a buffer, a timespec, a socket address)
    /// must stay valid, and must not be touched by us, until the entry's
    /// completion has been reaped.
    pub unsafe fn push(&mut self, entry: &squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: the caller's promise about `entry`'s pointers.
            if unsafe { self.uring.submission().push(entry) }.is_ok() {
                return Ok(());
            }
            // The queue is full: hand the kernel what is there, and try
            // again. With SQPOLL, wait for its thread to take some.
            if self.sqpoll {
                self.uring.submit()?;
                self.uring.submitter().squeue_wait()?;
            } else {
                self.uring.submit()?;
            }
        }
    }
    // ANCHOR_END: push

    // ANCHOR: enter
    /// Submits everything queued and sleeps until at least one completion
    /// is there (or `timeout` passes). A signal, a full completion queue
    /// the kernel must flush first, or a momentary shortage of kernel
    /// memory end the wait early: the caller reaps what is there and calls
    /// again.
    pub fn submit_and_wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        if self.uring.submission().cq_overflow() {
            self.overflows_seen += 1;
        }
        let result = match timeout {
            None => self.uring.submit_and_wait(1),
            Some(timeout) => {
                let timespec = Timespec::from(timeout);
                let args = SubmitArgs::new().timespec(&timespec);
                self.uring.submitter().submit_with_args(1, &args)
            }
        };
        match result {
            Ok(_) => Ok(()),
            Err(err) => match err.raw_os_error() {
                Some(libc::EINTR | libc::EBUSY | libc::EAGAIN | libc::ETIME) => Ok(()),
                _ => Err(err),
            },
        }
    }

    /// Moves every completion the kernel has posted into `into`.
    pub fn reap(&mut self, into: &mut Vec<cqueue::Entry>) {
        into.extend(self.uring.completion());
    }
    // ANCHOR_END: enter

    /// Runs the kernel's pending work (finishing operations, posting their
    /// completions) without reaping anything. For tests that must arrange
    /// a completion to be already posted when something else happens.
    #[doc(hidden)]
    pub fn flush_kernel_work(&mut self) -> io::Result<usize> {
        // SAFETY: no submissions (0), no pointer argument; GETEVENTS with a
        // minimum of 0 runs deferred work and returns at once.
        let flags = io_uring::EnterFlags::GETEVENTS.bits();
        match unsafe {
            self.uring
                .submitter()
                .enter::<libc::sigset_t>(0, 0, flags, None)
        } {
            Ok(_) => {}
            Err(err) if err.raw_os_error() == Some(libc::EINTR) => {}
            Err(err) => return Err(err),
        }
        Ok(self.uring.completion().len())
    }
}
