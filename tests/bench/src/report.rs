//! One run's results, as a table for people and JSON for programs.

use std::fmt::Write as _;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::LoadConfig;
use crate::load::{Outcome, Snapshot};
use crate::procfs::ProcessSample;
use crate::stats::{LatencySummary, MIB, Spread, per_second};

/// Everything one run measured. `compare` reads these back as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// `"epoll"` (the closed loop's default), `"tokio"`,
    /// `"thread-per-connection"` or `"minimal-epoll"` (the yardstick).
    pub generator: String,
    /// Worker threads of the tokio generator (1: a single-threaded runtime).
    pub threads: usize,
    pub connections: usize,
    pub size: usize,
    /// Open loop's target rate, messages per second; `None` for closed loop.
    pub rate: Option<f64>,
    pub window_secs: f64,
    /// Echoes that completed inside the window.
    pub messages: u64,
    pub msgs_per_sec: f64,
    /// Echoed bytes per second (one direction).
    pub mib_per_sec: f64,
    /// Echoes in the window per connection: the fewest, the median and the
    /// most any one connection completed. A wide range means the server
    /// served some connections far more often than others.
    #[serde(default)]
    pub per_connection: Option<Spread>,
    /// Closed loop: send to whole echo. Open loop: intended send to whole echo.
    pub latency_us: LatencySummary,
    /// Open loop: actual send to whole echo.
    pub service_us: Option<LatencySummary>,
    pub errors: usize,
    /// The first few errors, as "connection N: what happened".
    pub error_samples: Vec<String>,
    pub server: Option<CpuUse>,
    pub generator_cpu: Option<CpuUse>,
    /// CPU used during the window by every other process on the machine,
    /// in % of one core: how much the measurement was disturbed.
    #[serde(default)]
    pub others_cpu_percent: Option<f64>,
}

/// CPU time and context switches of a process during the window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CpuUse {
    pub cpu_secs: f64,
    /// Share of one core, in percent.
    pub cpu_percent: f64,
    pub cpu_us_per_msg: f64,
    pub context_switches: u64,
    pub context_switches_per_msg: f64,
}

impl CpuUse {
    /// One process's use between two snapshots, per echo completed between
    /// them.
    fn of(
        (first, last): &(Snapshot, Snapshot),
        process: impl Fn(&Snapshot) -> Option<ProcessSample>,
    ) -> Option<CpuUse> {
        let samples = process(first).zip(process(last))?;
        Some(CpuUse::between(
            samples,
            (last.at - first.at).as_secs_f64(),
            last.echoes - first.echoes,
        ))
    }

    fn between(samples: (ProcessSample, ProcessSample), window_secs: f64, messages: u64) -> CpuUse {
        let (before, after) = samples;
        let cpu_secs = after.cpu.saturating_sub(before.cpu).as_secs_f64();
        let switches = after
            .context_switches
            .saturating_sub(before.context_switches);
        let per_msg = |x: f64| {
            if messages == 0 {
                0.0
            } else {
                x / messages as f64
            }
        };
        CpuUse {
            cpu_secs,
            cpu_percent: if window_secs > 0.0 {
                100.0 * cpu_secs / window_secs
            } else {
                0.0
            },
            cpu_us_per_msg: per_msg(cpu_secs * 1e6),
            context_switches: switches,
            context_switches_per_msg: per_msg(switches as f64),
        }
    }
}

/// The machine's busy time in the window minus the server's and the
/// generator's, as % of one core.
fn others_cpu_percent((first, last): &(Snapshot, Snapshot)) -> Option<f64> {
    let machine = last.machine_busy?.saturating_sub(first.machine_busy?);
    let own = |s: &Snapshot| {
        s.server.map_or(Duration::ZERO, |p| p.cpu) + s.generator.map_or(Duration::ZERO, |p| p.cpu)
    };
    let ours = own(last).saturating_sub(own(first));
    let secs = (last.at - first.at).as_secs_f64();
    (secs > 0.0).then(|| 100.0 * machine.saturating_sub(ours).as_secs_f64() / secs)
}

/// How many errors a report spells out.
const ERROR_SAMPLES: usize = 5;

impl RunReport {
    pub fn new(config: &LoadConfig, generator: &str, threads: usize, outcome: &Outcome) -> Self {
        let window_secs = outcome.window.as_secs_f64();
        let messages = outcome.completed;
        RunReport {
            generator: generator.to_string(),
            threads,
            connections: config.connections,
            size: config.size,
            rate: config.rate,
            window_secs,
            messages,
            msgs_per_sec: per_second(messages, outcome.window),
            mib_per_sec: per_second(messages * config.size as u64, outcome.window) / MIB,
            per_connection: Spread::of(outcome.per_connection.iter().map(|&n| n as f64)),
            latency_us: LatencySummary::of(&outcome.latency),
            service_us: outcome.service.as_ref().map(LatencySummary::of),
            errors: outcome.errors.len(),
            error_samples: outcome
                .errors
                .iter()
                .take(ERROR_SAMPLES)
                .map(|(id, error)| format!("connection {id}: {error}"))
                .collect(),
            server: CpuUse::of(&outcome.snapshots, |s| s.server),
            generator_cpu: CpuUse::of(&outcome.snapshots, |s| s.generator),
            others_cpu_percent: others_cpu_percent(&outcome.snapshots),
        }
    }

    /// The run as an aligned table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let mode = match self.rate {
            None => "closed loop".to_string(),
            Some(rate) => format!("open loop at {rate} msgs/s"),
        };
        let generator = match self.generator.as_str() {
            "tokio" => format!("tokio, {} thread(s)", self.threads),
            "epoll" => "one thread's epoll loop".to_string(),
            other => other.to_string(),
        };
        let _ = writeln!(
            out,
            "{} connections, {}-byte messages, {mode}, {:.1} s measured ({generator})",
            self.connections, self.size, self.window_secs
        );
        let mut row = |label: &str, value: String| {
            let _ = writeln!(out, "  {label:<20} {value}");
        };
        row(
            "throughput",
            format!(
                "{:.0} msgs/s, {:.2} MiB/s ({} echoes)",
                self.msgs_per_sec, self.mib_per_sec, self.messages
            ),
        );
        let latency = |l: &LatencySummary| {
            format!(
                "p50 {}  p99 {}  p99.9 {}  max {}",
                micros(l.p50),
                micros(l.p99),
                micros(l.p999),
                micros(l.max)
            )
        };
        match &self.service_us {
            None if self.latency_us.count == 0 => row("latency", "not measured".into()),
            None => row("latency", latency(&self.latency_us)),
            Some(service) => {
                row("latency (intended)", latency(&self.latency_us));
                row("latency (sent)", latency(service));
            }
        }
        for (label, cpu) in [("server", &self.server), ("generator", &self.generator_cpu)] {
            if let Some(cpu) = cpu {
                row(
                    &format!("{label} CPU"),
                    format!(
                        "{:.0}% of a core, {:.2} µs/msg, {:.2} context switches/msg",
                        cpu.cpu_percent, cpu.cpu_us_per_msg, cpu.context_switches_per_msg
                    ),
                );
            }
        }
        if let Some(others) = self.others_cpu_percent {
            // Without --server-pid the server is one of the "others".
            let label = if self.server.is_some() {
                "other processes"
            } else {
                "server and others"
            };
            row(label, format!("{others:.0}% of a core"));
        }
        row("errors", self.errors.to_string());
        for sample in &self.error_samples {
            row("", sample.clone());
        }
        out
    }
}

/// A latency in the unit that keeps it readable: 85 µs, 1.25 ms, 2.10 s.
pub fn micros(us: f64) -> String {
    if us < 1_000.0 {
        format!("{us:.0} µs")
    } else if us < 1_000_000.0 {
        format!("{:.2} ms", us / 1_000.0)
    } else {
        format!("{:.2} s", us / 1_000_000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_per_message() {
        let before = ProcessSample {
            cpu: Duration::from_millis(100),
            context_switches: 10,
        };
        let after = ProcessSample {
            cpu: Duration::from_millis(600),
            context_switches: 2_010,
        };
        let cpu = CpuUse::between((before, after), 2.0, 1_000);
        assert!((cpu.cpu_secs - 0.5).abs() < 1e-9);
        assert!((cpu.cpu_percent - 25.0).abs() < 1e-9);
        assert!((cpu.cpu_us_per_msg - 500.0).abs() < 1e-6);
        assert_eq!(cpu.context_switches, 2_000);
        assert!((cpu.context_switches_per_msg - 2.0).abs() < 1e-9);
        // No messages: no division by zero.
        assert_eq!(CpuUse::between((before, after), 2.0, 0).cpu_us_per_msg, 0.0);
    }

    #[test]
    fn latency_units() {
        assert_eq!(micros(85.4), "85 µs");
        assert_eq!(micros(1_250.0), "1.25 ms");
        assert_eq!(micros(2_100_000.0), "2.10 s");
    }
}
