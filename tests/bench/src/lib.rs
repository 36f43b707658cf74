//! `echo-bench`: a load generator for echo servers, and the comparison of
//! every chapter's server that the book's "Measuring the models" page shows.
//!
//! - [`payload`]: what each connection sends, and checking every echoed byte;
//! - [`schedule`]: when an open-loop connection *intends* to send each message;
//! - [`stats`]: percentiles, rates, medians;
//! - [`load`]: the event-driven generator (tokio, few threads), reading
//!   through [`echoes`] and timing out through [`deadline`];
//! - [`threaded`]: the same load from a thread per connection, the baseline
//!   `load` must beat;
//! - [`epoll_load`]: the least a closed-loop generator can do (one thread,
//!   raw epoll), the yardstick `load` is measured against;
//! - [`report`]: one run's results, as a table and as JSON;
//! - [`procfs`] and [`system`]: what Linux tells about a process, and the
//!   process limits and CPU placement the bench sets;
//! - [`compare`]: every chapter's server under the same workloads, written
//!   out as the book's tables and charts (and [`compare::ledger`], chapter
//!   4's cost ledger);
//! - [`soak`]: one server under a random mix of every fault at once, for
//!   minutes, every byte checked.

pub mod compare;
pub mod deadline;
pub mod echoes;
pub mod epoll_load;
pub mod load;
pub mod payload;
pub mod procfs;
pub mod report;
pub mod schedule;
pub mod soak;
pub mod stats;
pub mod system;
pub mod threaded;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// What one run of the generator does.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    pub addr: SocketAddr,
    pub connections: usize,
    /// Bytes per message.
    pub size: usize,
    /// How long the measured window lasts (ignored with `messages`).
    pub duration: Duration,
    /// How long the load runs before the window opens: connections have
    /// connected, caches and the server's buffers are warm.
    pub warmup: Duration,
    /// Stop each connection after this many messages instead of after
    /// `duration` (closed loop only). Used to count syscalls per message.
    pub messages: Option<u64>,
    /// Open loop: this many messages per second, spread over the
    /// connections. `None` is closed loop.
    pub rate: Option<f64>,
    /// How long to wait for one echo before calling it an error.
    pub timeout: Duration,
    /// Sample this server process's CPU time and context switches at the
    /// window's edges.
    pub server_pid: Option<u32>,
}

/// The instants every connection works to, fixed once all have connected.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// When the load starts (open-loop schedules count from here).
    pub start: Instant,
    /// When measuring starts (`start` + warm-up).
    pub window_start: Instant,
    /// When measuring ends and connections stop sending. With a message
    /// count, the far future: connections stop by count.
    pub end: Instant,
    pub messages: Option<u64>,
    pub timeout: Duration,
}

impl Plan {
    pub fn new(config: &LoadConfig, start: Instant) -> Plan {
        match config.messages {
            Some(_) => Plan {
                start,
                window_start: start,
                // About 30 years: far enough to never come, near enough
                // that `Instant` arithmetic does not overflow.
                end: start + Duration::from_secs(1 << 30),
                messages: config.messages,
                timeout: config.timeout,
            },
            None => {
                let window_start = start + config.warmup;
                Plan {
                    start,
                    window_start,
                    end: window_start + config.duration,
                    messages: None,
                    timeout: config.timeout,
                }
            }
        }
    }

    /// Whether a message that completed at `at` is counted.
    pub fn in_window(&self, at: Instant) -> bool {
        at >= self.window_start && at < self.end
    }

    /// Whether a connection that has done `sent` messages sends another now.
    pub fn keep_sending(&self, sent: u64, now: Instant) -> bool {
        match self.messages {
            Some(limit) => sent < limit,
            None => now < self.end,
        }
    }
}
