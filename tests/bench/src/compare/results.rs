//! What a comparison measured: written out as `results.json`, and read back
//! by `--render-only` to redraw the tables and charts without measuring.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::procfs::{Footprint, Machine};
use crate::report::RunReport;
use crate::stats::Spread;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    pub machine: Machine,
    /// UTC, YYYY-MM-DD.
    pub date: String,
    /// The exact command that produced these results.
    pub command: String,
    /// How long measuring took, building included.
    #[serde(default)]
    pub elapsed_secs: f64,
    /// Where the server and the generator ran, in words.
    pub placement: String,
    /// The same, as a column heading.
    pub placement_short: String,
    pub settings: Settings,
    pub servers: Vec<ServerResults>,
    /// The bulk workload against the minimal epoll server with
    /// TCP_NODELAY set, one report per repeat: what Nagle's algorithm
    /// costs the others.
    #[serde(default)]
    pub nodelay_bulk: Vec<RunReport>,
    /// Things the reader should know (a chapter that did not build, no
    /// strace, a lowered connection count).
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    pub duration_secs: f64,
    pub warmup_secs: f64,
    pub repeat: u32,
    pub generator_threads: usize,
    pub open_rate: f64,
    pub idle_connections: usize,
    pub idle_secs: f64,
    pub pinned: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerResults {
    /// Short name used in tables and charts, e.g. `ch03-multiplexed`.
    pub name: String,
    /// What it is, e.g. "chapter 3: epoll".
    pub description: String,
    /// Workload key → one report per repeat.
    pub runs: BTreeMap<String, Vec<RunReport>>,
    /// Runs that produced no report, and why.
    pub failures: Vec<String>,
    /// The 100 × 64 B workload again with each other placement (keyed by
    /// its column heading), one report per repeat.
    pub other_placements: BTreeMap<String, Vec<RunReport>>,
    pub idle: Option<Idle>,
    pub syscalls: Option<Syscalls>,
}

impl ServerResults {
    /// The repeats of one workload.
    pub fn reports(&self, key: &str) -> &[RunReport] {
        self.runs.get(key).map_or(&[], Vec::as_slice)
    }

    /// The median and range of `metric` over the repeats of `key` that
    /// had no errors.
    pub fn spread(&self, key: &str, metric: impl Fn(&RunReport) -> Option<f64>) -> Option<Spread> {
        Spread::of(
            self.reports(key)
                .iter()
                .filter(|r| r.errors == 0)
                .filter_map(&metric),
        )
    }

    /// Whether any repeat of `key` had errors.
    pub fn had_errors(&self, key: &str) -> bool {
        self.reports(key).iter().any(|r| r.errors > 0)
    }

    /// The median of `metric` over the repeats of one workload; `None` if
    /// any repeat had errors (a figure from a failed run means nothing).
    pub fn median(&self, key: &str, metric: impl Fn(&RunReport) -> Option<f64>) -> Option<f64> {
        if self.had_errors(key) {
            return None;
        }
        self.spread(key, metric).map(|s| s.median)
    }
}

/// The server holding many idle connections.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Idle {
    /// Connections actually held (each echoed one byte first).
    pub connections: usize,
    pub before: Footprint,
    pub with_connections: Footprint,
    /// Change in the machine's `KernelStack` (thread stacks in the kernel,
    /// not in RSS); machine-wide, so other processes add noise.
    pub kernel_stack_delta_kib: i64,
    /// The server's CPU while every connection sat idle, % of one core.
    pub idle_cpu_percent: f64,
    pub idle_secs: f64,
    /// Why fewer connections than asked for were held, if so.
    pub shortfall: Option<String>,
}

impl Idle {
    pub fn rss_per_connection_kib(&self) -> f64 {
        let grown = self
            .with_connections
            .rss_kib
            .saturating_sub(self.before.rss_kib);
        grown as f64 / self.connections.max(1) as f64
    }
}

/// System calls the server made while echoing a fixed number of messages,
/// counted by `strace -c -f`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Syscalls {
    pub connections: usize,
    pub messages: u64,
    pub total: u64,
    /// Each call's name and count, most frequent first.
    pub calls: Vec<(String, u64)>,
}

impl Syscalls {
    pub fn per_message(&self) -> f64 {
        self.total as f64 / self.messages.max(1) as f64
    }
}
