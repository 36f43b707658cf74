//! `echo-bench ledger`: what each of chapter 4's features costs per
//! message, measured by turning it off.
//!
//! Chapter 4's server takes a hidden `--without FEATURE` flag
//! (`chapters/ch04-async-echo/src/features.rs`). The ledger runs chapter 4
//! with everything, with each feature left out in turn, with all of them
//! left out, and the bare tokio echo (`tokio-echo`) as the reference, in
//! rounds: each round runs every configuration once, so that a disturbance
//! on the machine spreads over all of them. A feature's cost is, per
//! round, chapter 4's CPU per message with everything minus without that
//! feature; the table gives the median of the rounds and their range.
//! It prints a Markdown table, which chapter 4's page shows.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use echo_common::parse_secs;

use super::servers::{self, MAX_CONNECTIONS, RunningServer, ServerSpec};
use super::{Generator, Placement, Window, Workload, command_line, idle, run_workload, utc_date};
use crate::procfs::Machine;
use crate::report::RunReport;
use crate::stats::Spread;

/// Flags of `echo-bench ledger`.
#[derive(Debug, Clone, clap::Args)]
pub struct LedgerArgs {
    /// Rounds; each runs every configuration once
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub repeat: u32,

    /// Seconds measured per configuration and round
    #[arg(long, value_name = "SECS", default_value = "3", value_parser = parse_secs)]
    pub duration: Duration,

    /// Seconds of load before each measurement
    #[arg(long, value_name = "SECS", default_value = "0.5", value_parser = parse_secs)]
    pub warmup: Duration,

    /// Idle connections held to measure each configuration's memory (0:
    /// don't)
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub idle_connections: usize,

    /// Don't build; use the binaries already in the generator's target
    /// directory
    #[arg(long)]
    pub no_build: bool,

    /// Also measure this build of chapter 4's server, as it is (e.g. an
    /// earlier version, built from another checkout)
    #[arg(long, value_name = "PATH")]
    pub also: Option<PathBuf>,
}

/// The rows: a name, chapter 4's `--without` list (`None`: the bare tokio
/// echo instead), and what is left out.
const CONFIGURATIONS: &[(&str, Option<&str>, &str)] = &[
    ("`tokio-echo`", None, "the reference: a bare tokio echo"),
    ("chapter 4", Some(""), "nothing: as shipped"),
    (
        "without the idle timeout",
        Some("idle-timeout"),
        "the clock reading per read, the idle timer in `select!`",
    ),
    (
        "without graceful shutdown",
        Some("grace"),
        "the task tracker, the end-of-grace token in `select!`",
    ),
    (
        "without the cap",
        Some("cap"),
        "the semaphore permit per connection",
    ),
    (
        "without the shared buffer",
        Some("shared-buffer"),
        "idle tasks that hold no buffer (each connection keeps its 8 KiB)",
    ),
    (
        "without all four",
        Some("idle-timeout,grace,cap,shared-buffer"),
        "everything above",
    ),
];

/// The workload: the reference workload of `compare`.
fn workload() -> Workload {
    Workload {
        key: super::reference_key(),
        connections: 100,
        size: 64,
        rate: None,
        generator: Generator::Default,
    }
}

pub fn run(args: &LedgerArgs) -> Result<()> {
    let started = Instant::now();
    let (exe, bin_dir) = super::servers::release_build("ledger")?;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    if cores < 2 {
        bail!(
            "the ledger pins the server and the generator to a CPU each: it needs 2 CPUs (this machine has {cores})"
        );
    }
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    if !args.no_build {
        eprintln!("building (cargo build --release)...");
        if !servers::cargo_build(&root, &["echo-bench", "ch04-async-echo"])? {
            bail!("the build failed");
        }
    }
    let mut specs: Vec<ServerSpec> = CONFIGURATIONS
        .iter()
        .map(|(name, without, _)| spec(&bin_dir, name, *without))
        .collect();
    if let Some(also) = &args.also {
        let mut extra = spec(&bin_dir, "also", Some(""));
        extra.program = also.clone();
        specs.push(extra);
    }
    let placement = Placement {
        server_cpu: Some(0),
        generator_cpu: Some(1),
    };
    let window = Window {
        duration: args.duration,
        warmup: args.warmup,
        // Only the open loop runs on tokio; this is a closed loop.
        threads: 1,
    };

    // runs[configuration][round]
    let mut runs: Vec<Vec<RunReport>> = vec![Vec::new(); specs.len()];
    for round in 1..=args.repeat {
        for (spec, runs) in specs.iter().zip(&mut runs) {
            eprintln!("[round {round}/{}] {}", args.repeat, spec.name);
            let mut server = RunningServer::start(spec, placement.server_cpu)?;
            let report = run_workload(&exe, &mut server, &workload(), window, placement)
                .with_context(|| format!("{}: the generator failed", spec.name))?;
            if report.errors > 0 {
                bail!(
                    "{}: {} connections failed; the first: {}",
                    spec.name,
                    report.errors,
                    report.error_samples.first().map_or("", String::as_str)
                );
            }
            runs.push(report);
        }
    }
    let mut rss_mib = Vec::new();
    for spec in &specs {
        if args.idle_connections == 0 {
            rss_mib.push(None);
            continue;
        }
        eprintln!("{}: {} idle connections", spec.name, args.idle_connections);
        let mut server = RunningServer::start(spec, placement.server_cpu)?;
        let held = idle::measure(
            &mut server,
            args.idle_connections,
            Duration::from_millis(100),
        )?;
        if let Some(shortfall) = held.shortfall {
            bail!("{}: {shortfall}", spec.name);
        }
        rss_mib.push(Some(held.with_connections.rss_kib as f64 / 1024.0));
    }
    eprintln!("measured in {:.0} s", started.elapsed().as_secs_f64());
    print!("{}", render(args, &runs, &rss_mib));
    Ok(())
}

fn spec(bin_dir: &std::path::Path, name: &str, without: Option<&str>) -> ServerSpec {
    let mut args = vec![
        "--quiet".to_string(),
        "--max-connections".to_string(),
        MAX_CONNECTIONS.to_string(),
    ];
    let program = match without {
        None => bin_dir.join("tokio-echo"),
        Some(features) => {
            if !features.is_empty() {
                args.extend(["--without".to_string(), features.to_string()]);
            }
            bin_dir.join("ch04-async-echo")
        }
    };
    ServerSpec {
        name: name.trim_matches('`').to_string(),
        description: String::new(),
        program,
        args,
    }
}

fn cpu(report: &RunReport) -> Option<f64> {
    report.server.map(|c| c.cpu_us_per_msg)
}

/// "median (min–max)".
fn spread(values: impl IntoIterator<Item = f64>, format: impl Fn(f64) -> String) -> String {
    match Spread::of(values) {
        None => "—".into(),
        Some(s) if s.min == s.max => format(s.median),
        Some(s) => format!("{} ({}–{})", format(s.median), format(s.min), format(s.max)),
    }
}

fn render(args: &LedgerArgs, runs: &[Vec<RunReport>], rss_mib: &[Option<f64>]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let machine = Machine::describe();
    let _ = writeln!(out, "$ {}", command_line());
    let others = Spread::of(runs.iter().flatten().filter_map(|r| r.others_cpu_percent));
    let _ = writeln!(
        out,
        "Measured on {} (UTC), {}-core {}, Linux {}: the server on CPU 0, the generator \
         (echo-bench's closed loop, one thread) on CPU 1; 100 connections × 64 B, closed loop; {} \
         round(s) of {} s after {} s of warm-up, every configuration once per round.{}",
        utc_date(SystemTime::now()),
        machine.cores,
        machine.cpu_model,
        machine.kernel,
        args.repeat,
        args.duration.as_secs_f64(),
        args.warmup.as_secs_f64(),
        others.map_or(String::new(), |o| format!(
            " Other processes used a median of {:.0}% of one core (at most {:.0}%).",
            o.median, o.max
        )),
    );
    let _ = writeln!(out);
    let idle_header = format!("RSS, {} idle connections", thousands(args.idle_connections));
    let _ = writeln!(
        out,
        "| configuration | leaves out | server CPU per message | × tokio-echo | cost of what it leaves out, per message | {idle_header} |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    let reference = &runs[0];
    let everything = &runs[1];
    let also = args.also.as_ref().map(|path| {
        (
            format!("`{}`", path.display()),
            None,
            "nothing: that build as it is",
        )
    });
    let rows: Vec<(String, Option<&str>, &str)> = CONFIGURATIONS
        .iter()
        .map(|(name, without, leaves_out)| (name.to_string(), *without, *leaves_out))
        .chain(also)
        .collect();
    for (i, ((name, _, leaves_out), runs)) in rows.iter().zip(runs).enumerate() {
        let per_round = |other: &[RunReport], f: fn(f64, f64) -> f64| {
            runs.iter()
                .zip(other)
                .filter_map(|(a, b)| Some(f(cpu(a)?, cpu(b)?)))
                .collect::<Vec<_>>()
        };
        let ratio = spread(per_round(reference, |a, b| a / b), |v| format!("{v:.2}×"));
        // Per round: everything minus this configuration.
        let cost = if (2..CONFIGURATIONS.len()).contains(&i) {
            let saved: Vec<f64> = everything
                .iter()
                .zip(runs)
                .filter_map(|(all, this)| Some(cpu(all)? - cpu(this)?))
                .collect();
            let share: Vec<f64> = everything
                .iter()
                .zip(runs)
                .filter_map(|(all, this)| Some(100.0 * (cpu(all)? - cpu(this)?) / cpu(all)?))
                .collect();
            format!(
                "{}; {}",
                spread(saved, |v| format!("{v:.2} µs")),
                spread(share, |v| format!("{v:.1}%"))
            )
        } else {
            "—".into()
        };
        let _ = writeln!(
            out,
            "| {name} | {leaves_out} | {} | {ratio} | {cost} | {} |",
            spread(runs.iter().filter_map(cpu), |v| format!("{v:.2} µs")),
            rss_mib[i].map_or("—".into(), |mib| format!("{mib:.1} MiB")),
        );
    }
    out
}

fn thousands(n: usize) -> String {
    super::markdown::thousands(n as f64)
}
