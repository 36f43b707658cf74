//! The event loop: submissions out, completions in, one thread.
//!
//! Chapter 3's loop asked the kernel "which sockets are ready?" and then
//! did the reads and writes itself. This one tells the kernel what to do
//! ("receive into this buffer", "send these bytes", "accept", "wake me in
//! 300 s") and hears back when each is *done*. One pass of the loop:
//!
//! 1. hand the kernel every submission queued since the last pass, and
//!    sleep until at least one completion is there (one system call);
//! 2. for each completion, find the operation it finishes from its user
//!    data, and update that connection's state;
//! 3. queue whatever that state now calls for (the echo's send, the next
//!    receive, a cancellation), to go out at the next step 1.
//!
//! The rest of the server is split by topic: `serve.rs` (connections),
//! `accept.rs`, `shutdown.rs`.

use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use echo_common::Settings;
use io_uring::{cqueue, opcode, squeue, types};

use crate::buf::KernelCell;
use crate::buf_ring::BufRing;
use crate::connection::{Connection, Step};
use crate::ring::{Ring, RingConfig};
use crate::signals::SignalFd;
use crate::slab::Slab;
use crate::user_data::{Op, UserData};

/// The size of one buffer in the ring of step 3. Small, because many are
/// in use at once (one per message on its way back), and a 64-byte message
/// needs no more; a 1 MiB message simply takes many.
pub const RING_BUFFER_SIZE: u32 = 4096;

/// Everything that shapes the server: the step, the ring, the flags.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub step: Step,
    pub ring: RingConfig,
    /// Register each connection's socket in the ring's file table.
    pub fixed_files: bool,
    /// Buffers in the ring of step 3 (a power of two).
    pub ring_buffers: u16,
    pub settings: Settings,
}

/// The submission side: the ring, and how many submissions are still to
/// see their last completion.
pub(crate) struct Queue {
    pub(crate) ring: Ring,
    pub(crate) unfinished: usize,
}

impl Queue {
    // ANCHOR: submit
    /// Queues `entry` with `data` as its user data.
    ///
    /// # Safety
    ///
    /// As [`Ring::push`]: whatever `entry` points to stays valid and
    /// untouched until its last completion.
    pub(crate) unsafe fn submit(&mut self, entry: squeue::Entry, data: UserData) -> Result<()> {
        let entry = entry.user_data(data.encode());
        // SAFETY: the caller's promise.
        unsafe { self.ring.push(&entry) }.context("cannot queue a submission")?;
        self.unfinished += 1;
        Ok(())
    }
    // ANCHOR_END: submit
}

/// What the loop has counted; the chapter's tests read it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    pub accepted: u64,
    pub closed: u64,
    /// Sends that took fewer bytes than asked (step 2).
    pub short_sends: u64,
    /// Multishot receives that ended, with bytes, without `F_MORE`.
    pub receives_ended_with_data: u64,
    /// Multishot receives that ended because the ring was empty.
    pub no_buffers: u64,
    /// Receives cancelled because the client was not reading.
    pub receive_cancels: u64,
    /// Connections accepted after shutdown began (closed at once).
    pub accepted_while_closing: u64,
    /// Connections registered in the ring's file table.
    pub fixed_files: u64,
}

/// A snapshot of the loop, for tests and for the curious.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub connections: usize,
    /// Accepted, waiting for a slot under `--max-connections`.
    pub parked: usize,
    /// Submissions whose last completion is still to come.
    pub in_flight: usize,
    pub receives_in_flight: usize,
    pub sends_in_flight: usize,
    /// Buffers in the ring, free for the kernel to pick (step 3).
    pub buffers_in_ring: Option<u16>,
    /// Turns on which the completion queue had overflowed.
    pub overflows: u64,
    /// Completions the kernel dropped (it should never need to).
    pub lost_completions: u32,
    pub counters: Counters,
}

pub(crate) struct AcceptState {
    pub(crate) armed: bool,
    pub(crate) cancelled: bool,
    pub(crate) backing_off: bool,
    pub(crate) backoff_timespec: KernelCell<types::Timespec>,
}

pub(crate) struct ShutdownState {
    pub(crate) grace_armed: bool,
    pub(crate) grace_timespec: KernelCell<types::Timespec>,
    pub(crate) loop_ops_cancelled: bool,
}

pub struct EventLoop {
    // The ring is dropped first: by then (see `Drop`) nothing is in
    // flight, and the buffers below may go.
    pub(crate) queue: Queue,
    pub(crate) buf_ring: Option<BufRing>,
    pub(crate) step: Step,
    pub(crate) settings: Settings,
    pub(crate) listener: Option<TcpListener>,
    pub(crate) local_addr: SocketAddr,
    pub(crate) accept: AcceptState,
    pub(crate) signals: Option<SignalFd>,
    pub(crate) signal_armed: bool,
    pub(crate) connections: Slab<Connection>,
    /// Accepted over the cap (a multishot accept cannot be stopped at
    /// exactly N): served, in order, as slots free up.
    pub(crate) parked: VecDeque<TcpStream>,
    /// Step 3 connections waiting for a ring buffer: (slot, generation).
    pub(crate) starved: Vec<(usize, u32)>,
    /// How many slots the registered file table has (0: `--fixed-files`
    /// is off).
    pub(crate) file_table: u32,
    pub(crate) shutdown: Option<ShutdownState>,
    pub(crate) finished: bool,
    pub(crate) counters: Counters,
    completions: Vec<cqueue::Entry>,
    pub(crate) now: Instant,
}

impl EventLoop {
    /// Sets up the ring (and the buffer ring and file table the options
    /// ask for) around `listener`, and queues the first accept and the
    /// first read of `signals`. Nothing reaches the kernel before the first
    /// [`EventLoop::turn`].
    pub fn new(
        listener: TcpListener,
        signals: Option<SignalFd>,
        options: Options,
    ) -> Result<EventLoop> {
        let local_addr = listener
            .local_addr()
            .context("cannot read the listener's address")?;
        let ring = Ring::new(options.ring)?;
        let buf_ring = match options.step {
            Step::Single => None,
            Step::Multishot => {
                let buf_ring = BufRing::new(options.ring_buffers, RING_BUFFER_SIZE, 0)
                    .context("cannot allocate the buffer ring")?;
                buf_ring
                    .register(&ring.submitter())
                    .context("cannot register the buffer ring")?;
                Some(buf_ring)
            }
        };
        let file_table = if options.fixed_files {
            let slots = open_files_limit().min(options.settings.max_connections as u64);
            let slots = u32::try_from(slots).unwrap_or(u32::MAX).max(1);
            ring.submitter()
                .register_files_sparse(slots)
                .context("cannot register a file table")?;
            slots
        } else {
            0
        };
        let mut event_loop = EventLoop {
            queue: Queue {
                ring,
                unfinished: 0,
            },
            buf_ring,
            step: options.step,
            settings: options.settings,
            listener: Some(listener),
            local_addr,
            accept: AcceptState {
                armed: false,
                cancelled: false,
                backing_off: false,
                backoff_timespec: KernelCell::new(types::Timespec::new()),
            },
            signals,
            signal_armed: false,
            connections: Slab::new(),
            parked: VecDeque::new(),
            starved: Vec::new(),
            file_table,
            shutdown: None,
            finished: false,
            counters: Counters::default(),
            completions: Vec::new(),
            now: Instant::now(),
        };
        event_loop.arm_signal_read()?;
        event_loop.update_accept()?;
        Ok(event_loop)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The listener, until shutdown closes it.
    pub fn listener(&self) -> Option<&TcpListener> {
        self.listener.as_ref()
    }

    /// Serves until a signal asks us to stop and shutdown has finished.
    pub fn run(&mut self) -> Result<()> {
        while !self.finished {
            self.turn(None)?;
        }
        Ok(())
    }

    /// True once shutdown is complete: no connection, nothing in flight.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    // ANCHOR: turn
    /// One pass: submit, wait (at most `timeout`), handle every completion.
    pub fn turn(&mut self, timeout: Option<Duration>) -> Result<()> {
        self.queue
            .ring
            .submit_and_wait(timeout)
            .context("waiting for completions failed")?;
        self.now = Instant::now();
        let mut completions = std::mem::take(&mut self.completions);
        self.queue.ring.reap(&mut completions);
        for cqe in &completions {
            self.dispatch(cqe.result(), cqe.flags(), cqe.user_data())?;
        }
        completions.clear();
        self.completions = completions;
        self.after_completions()
    }

    fn dispatch(&mut self, result: i32, flags: u32, user_data: u64) -> Result<()> {
        // A multishot operation stays in flight for as long as its
        // completions carry F_MORE; any other completion is its last.
        if !cqueue::more(flags) {
            self.queue.unfinished = self.queue.unfinished.saturating_sub(1);
        }
        let Some(data) = UserData::decode(user_data) else {
            return Ok(()); // not ours: cannot happen
        };
        match data.op {
            Op::Accept => self.on_accept(result, flags),
            Op::Signal => self.on_signal(result),
            Op::AcceptBackoff => self.on_backoff_over(),
            Op::Grace => self.on_grace_over(result),
            Op::Cancel => Ok(()),
            Op::Recv | Op::Send | Op::Idle | Op::CancelConnection => {
                self.on_connection(data, result, flags)
            }
        }
    }

    /// What no single completion decides: starved connections whose buffers
    /// are back, the accept, the progress of a shutdown.
    fn after_completions(&mut self) -> Result<()> {
        self.feed_starved()?;
        self.unpark()?;
        self.update_accept()?;
        self.progress_shutdown()
    }
    // ANCHOR_END: turn

    pub fn stats(&mut self) -> Stats {
        let (mut receives, mut sends) = (0, 0);
        for conn in self.connections.values() {
            receives += usize::from(conn.in_flight.recv);
            sends += usize::from(conn.in_flight.send.is_some());
        }
        Stats {
            connections: self.connections.len(),
            parked: self.parked.len(),
            in_flight: self.queue.unfinished,
            receives_in_flight: receives,
            sends_in_flight: sends,
            buffers_in_ring: self.buf_ring.as_ref().map(BufRing::available),
            overflows: self.queue.ring.overflows_seen(),
            lost_completions: self.queue.ring.lost_completions(),
            counters: self.counters,
        }
    }

    /// Runs the kernel's pending work without handling any completion,
    /// and says how many completions are waiting. For tests that need a
    /// completion to be already posted when something else happens.
    #[doc(hidden)]
    pub fn flush_kernel_work(&mut self) -> io::Result<usize> {
        self.queue.ring.flush_kernel_work()
    }
}

impl Drop for EventLoop {
    // ANCHOR: drop
    /// After a clean shutdown nothing is in flight. After an error, cancel
    /// everything and wait for the completions before the buffers and
    /// sockets in `self` are freed: the kernel may be writing into them.
    fn drop(&mut self) {
        if self.queue.unfinished > 0 {
            let cancel_all = opcode::AsyncCancel2::new(types::CancelBuilder::any()).build();
            // SAFETY: a cancellation points to no memory of ours.
            let _ = unsafe { self.queue.submit(cancel_all, UserData::of_loop(Op::Cancel)) };
            let give_up = Instant::now() + Duration::from_secs(10);
            let mut completions = Vec::new();
            while self.queue.unfinished > 0 && Instant::now() < give_up {
                if self
                    .queue
                    .ring
                    .submit_and_wait(Some(Duration::from_millis(100)))
                    .is_err()
                {
                    break;
                }
                self.queue.ring.reap(&mut completions);
                for cqe in completions.drain(..) {
                    if !cqueue::more(cqe.flags()) {
                        self.queue.unfinished = self.queue.unfinished.saturating_sub(1);
                    }
                }
            }
        }
        if let Some(buf_ring) = &self.buf_ring {
            let _ = buf_ring.unregister(&self.queue.ring.submitter());
        }
    }
    // ANCHOR_END: drop
}

/// The soft limit on open descriptors: the most a file table may hold.
fn open_files_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes only the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 1024;
    }
    limit.rlim_cur
}
