//! What each backend costs (Linux: reads /proc).
//!
//!     taskset -c 0 cargo run --release -p ch03-multiplexed-echo --example ch03-cost
//!
//! (`taskset -c 0` puts this program and the servers it starts on one core,
//! so that every run places them the same way: unpinned, the scheduler
//! sometimes puts client and server on one core and sometimes on two, and
//! on a virtual machine the CPU per message differs three- to fourfold between
//! the two.)
//!
//! For each `--backend`, starts the server, opens idle connections and reads
//! the server's CPU time (utime + stime in /proc/PID/stat) before and after
//! a few seconds of nothing: the same measurement as chapter 2's. Then it
//! times round trips of small messages on one more connection, with 10 and
//! with 1,000 idle connections open, and divides the server's CPU time by
//! the number of messages: poll(2)'s cost grows with the idle connections,
//! epoll's does not. The minimal epoll server of the benchmark
//! (tests/bench/src/bin/minimal-epoll-echo.rs) goes first, as the reference
//! for the ratios, which carry over to another machine where the absolute
//! figures do not.
//!
//!     cargo run --release -p ch03-multiplexed-echo --example ch03-cost -- --connect ADDR
//!
//! runs only the fixed workload (idle connections held open, round trips on
//! one more) against a server that is already running, e.g. under strace.

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
    /// Round trips, one message at a time
    #[arg(long, default_value_t = 1000)]
    round_trips: usize,
    /// Round trips for the CPU-per-message figures (more, to outweigh the
    /// 10 ms resolution of /proc's CPU times)
    #[arg(long, default_value_t = 50_000)]
    measured_round_trips: usize,
    /// Idle connections for the second CPU-per-message figure
    #[arg(long, default_value_t = 1000)]
    many_idle: usize,
    /// Bytes per message
    #[arg(long, default_value_t = 64)]
    size: usize,
}

const BACKENDS: [&str; 3] = ["poll", "epoll-level", "epoll-edge"];

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(addr) = &args.connect {
        let _idle =
            open_idle(addr.as_str(), args.idle_connections).context("opening idle connections")?;
        let elapsed = round_trips(addr, args.round_trips, args.size)?;
        println!(
            "{} round trips of {} bytes with {} idle connections open: {:.1} µs each",
            args.round_trips,
            args.size,
            args.idle_connections,
            micros(elapsed / args.round_trips as u32)
        );
        return Ok(());
    }

    println!(
        "| server | server CPU, {} idle connections | server CPU per message, {} idle | × minimal-epoll | {} idle | × minimal-epoll | round trip, {} idle | {} idle |",
        args.idle_connections,
        args.idle_connections,
        args.many_idle,
        args.idle_connections,
        args.many_idle
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    // The reference first, in the same run: the ratios to it are what
    // carries over to another machine.
    let reference = measure(Command::new(minimal_epoll_binary()), &args)?;
    reference.print("minimal-epoll (reference)", &reference);
    for backend in BACKENDS {
        let mut command = Command::new(binary("ch03-multiplexed-echo"));
        command.args(["--quiet", "--backend", backend]);
        measure(command, &args)?.print(&format!("`--backend {backend}`"), &reference);
    }
    Ok(())
}

/// One server's figures.
struct Figures {
    idle_share: f64,
    few: (Duration, Duration),
    many: (Duration, Duration),
}

impl Figures {
    fn print(&self, name: &str, reference: &Figures) {
        // /proc counts CPU in 10 ms ticks: a run too short to see any
        // gives no ratio, rather than a division by zero.
        let ratio = |ours: Duration, theirs: Duration| {
            if theirs.is_zero() {
                "–".to_string()
            } else {
                format!("{:.2}×", ours.as_secs_f64() / theirs.as_secs_f64())
            }
        };
        println!(
            "| {name} | {:.1}% of a core | {:.1} µs | {} | {:.1} µs | {} | {:.1} µs | {:.1} µs |",
            self.idle_share * 100.0,
            micros(self.few.0),
            ratio(self.few.0, reference.few.0),
            micros(self.many.0),
            ratio(self.many.0, reference.many.0),
            micros(self.few.1),
            micros(self.many.1),
        );
    }
}

/// Idle CPU, then CPU per message and round trip with few and with many
/// idle connections open.
fn measure(command: Command, args: &Args) -> Result<Figures> {
    let server = Server::start(command);
    let addr = server.addr().to_string();
    let mut idle =
        open_idle(server.addr(), args.idle_connections).context("opening idle connections")?;

    let before = server.cpu_time();
    let started = Instant::now();
    thread::sleep(Duration::from_secs(args.seconds));
    let cpu = server.cpu_time() - before;
    let idle_share = cpu.as_secs_f64() / started.elapsed().as_secs_f64();

    let few = per_message(&server, &addr, args)?;
    idle.extend(
        open_idle(server.addr(), args.many_idle - args.idle_connections)
            .context("opening idle connections")?,
    );
    let many = per_message(&server, &addr, args)?;
    Ok(Figures {
        idle_share,
        few,
        many,
    })
}

/// Server CPU time and wall-clock time per round trip.
fn per_message(server: &Server, addr: &str, args: &Args) -> Result<(Duration, Duration)> {
    let count = args.measured_round_trips as u32;
    let before = server.cpu_time();
    let elapsed = round_trips(addr, args.measured_round_trips, args.size)?;
    let cpu = server.cpu_time() - before;
    Ok((cpu / count, elapsed / count))
}

/// `count` round trips of `size` bytes on a new connection, one after the
/// other; returns the time they took.
fn round_trips(addr: &str, count: usize, size: usize) -> Result<Duration> {
    let times = time_round_trips(addr, count, size, None).context("timing round trips")?;
    Ok(times.iter().sum())
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}
