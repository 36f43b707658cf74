//! What spinning costs, and what sleeping instead costs (Linux: reads
//! /proc).
//!
//!     cargo run --release -p ch02-nonblocking-echo --example ch02-cost
//!
//! For each `--idle-sleep` setting, starts the server, opens idle
//! connections, reads the server's CPU time (utime + stime in
//! /proc/PID/stat) before and after a few seconds of nothing, then times
//! round trips of small messages on one more connection: back to back, and
//! after a random pause of up to 20 ms each (so each message finds a server
//! that has had time to go to sleep). Last, the same for the benchmark's
//! minimal epoll server (tests/bench/src/bin/minimal-epoll-echo.rs), the
//! reference measured in the same run.
//!
//!     cargo run --release -p ch02-nonblocking-echo --example ch02-cost -- --connect ADDR [--paused]
//!
//! runs only the fixed workload (idle connections held open, round trips on
//! one more, back to back or paused) against a server that is already
//! running, e.g. under strace.

use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;
use echo_conformance::net::{open_idle, time_round_trips};
use echo_conformance::{Server, binary, minimal_epoll_binary};

#[derive(Debug, Parser)]
struct Args {
    /// Run only the workload, against this server
    #[arg(long, value_name = "ADDR")]
    connect: Option<String>,
    /// Connections opened and left idle
    #[arg(long, default_value_t = 10)]
    idle_connections: usize,
    /// How long to watch the server's CPU with only idle connections
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Round trips timed back to back, one message at a time
    #[arg(long, default_value_t = 1000)]
    round_trips: usize,
    /// Round trips timed after a pause each
    #[arg(long, default_value_t = 300)]
    paused_round_trips: usize,
    /// With --connect: the paused round trips instead of the back-to-back
    #[arg(long, requires = "connect")]
    paused: bool,
    /// Bytes per message
    #[arg(long, default_value_t = 64)]
    size: usize,
}

/// The `--idle-sleep` settings compared; `None` is the default, no sleep.
const SLEEPS: [Option<&str>; 5] = [
    None,
    Some("0.00001"),
    Some("0.0001"),
    Some("0.001"),
    Some("0.01"),
];

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(addr) = &args.connect {
        let _idle =
            open_idle(addr.as_str(), args.idle_connections).context("opening idle connections")?;
        let (count, pause, how) = match args.paused {
            false => (args.round_trips, None, "back to back"),
            true => (args.paused_round_trips, Some(MAX_PAUSE), "after a pause"),
        };
        let latencies = round_trips(addr, count, args.size, pause)?;
        println!(
            "{count} round trips of {} bytes {how}, {} idle connections open: {}",
            args.size,
            args.idle_connections,
            summary(latencies)
        );
        return Ok(());
    }

    println!(
        "| `--idle-sleep` | server CPU, {} idle connections | back to back: p50 | p99 | after a pause: p50 | p99 |",
        args.idle_connections
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for sleep in SLEEPS {
        let mut command = Command::new(binary("ch02-nonblocking-echo"));
        command.arg("--quiet");
        if let Some(secs) = sleep {
            command.args(["--idle-sleep", secs]);
        }
        let label = sleep.map_or("(none)".to_string(), |s| format!("`{s}`"));
        row(&label, command, &args)?;
    }
    // The same workload against the benchmark's minimal epoll server, in
    // the same run: what waiting in the kernel for readiness (chapter 3's
    // model) gives, and the reference that carries over to another machine.
    row(
        "minimal epoll server (reference)",
        Command::new(minimal_epoll_binary()),
        &args,
    )
}

/// Starts the server, measures its idle CPU and the two kinds of round
/// trips, and prints one row of the table.
fn row(label: &str, command: Command, args: &Args) -> Result<()> {
    let server = Server::start(command);
    let addr = server.addr().to_string();
    let _idle =
        open_idle(server.addr(), args.idle_connections).context("opening idle connections")?;

    let before = server.cpu_time();
    let started = Instant::now();
    thread::sleep(Duration::from_secs(args.seconds));
    let cpu = server.cpu_time() - before;
    let share = cpu.as_secs_f64() / started.elapsed().as_secs_f64();

    let busy = round_trips(&addr, args.round_trips, args.size, None)?;
    let [busy_p50, busy_p99, _] = percentiles(busy);
    let paused = round_trips(&addr, args.paused_round_trips, args.size, Some(MAX_PAUSE))?;
    let [paused_p50, paused_p99, _] = percentiles(paused);
    println!(
        "| {label} | {:.1}% of a core | {} | {} | {} | {} |",
        share * 100.0,
        micros(busy_p50),
        micros(busy_p99),
        micros(paused_p50),
        micros(paused_p99),
    );
    Ok(())
}

/// The longest pause between two paused round trips.
const MAX_PAUSE: Duration = Duration::from_millis(20);

/// Round trips of `size` bytes on a new connection, one at a time, after a
/// random pause of up to `pause` each if given.
fn round_trips(
    addr: &str,
    count: usize,
    size: usize,
    pause: Option<Duration>,
) -> Result<Vec<Duration>> {
    time_round_trips(addr, count, size, pause).context("timing round trips")
}

fn percentiles(mut latencies: Vec<Duration>) -> [Duration; 3] {
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    [at(0.5), at(0.99), at(1.0)]
}

fn summary(latencies: Vec<Duration>) -> String {
    let [p50, p99, max] = percentiles(latencies);
    format!(
        "p50 {}, p99 {}, max {}",
        micros(p50),
        micros(p99),
        micros(max)
    )
}

fn micros(d: Duration) -> String {
    format!("{} µs", d.as_micros())
}
