//! `echo-bench`: drives any echo server and reports throughput and latency;
//! `echo-bench compare` runs every chapter's server through the same
//! workloads and writes the book's results.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use echo_bench::epoll_load::Latency;
use echo_bench::report::RunReport;
use echo_bench::{LoadConfig, compare, epoll_load, load, soak, system, threaded};
use echo_common::{DEFAULT_ADDR, parse_secs};

/// A load generator for echo servers: every echoed byte is checked, latency
/// percentiles come from an HDR histogram.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    #[command(flatten)]
    load: LoadArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run every chapter's server (and the Python asyncio one, when python3
    /// is there) through the same workloads; write the book's tables,
    /// charts and raw JSON
    Compare(compare::CompareArgs),
    /// What each of chapter 4's features costs per message: chapter 4 with
    /// each turned off in turn, against the bare tokio echo, pinned; prints
    /// the table of chapter 4's page
    Ledger(compare::ledger::LedgerArgs),
    /// One server (or every chapter's) under a random mix of every fault
    /// at once, for a given time and seed: every byte checked, no leak
    /// allowed; exits non-zero naming the seed on any failure
    Soak(soak::SoakArgs),
}

#[derive(Debug, Args)]
struct LoadArgs {
    /// The echo server, as HOST:PORT
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_ADDR)]
    connect: String,

    /// Connections open at once, each sending one message at a time
    /// (closed loop) or on its share of --rate (open loop)
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    connections: u32,

    /// Bytes per message
    #[arg(long, value_name = "BYTES", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    size: u32,

    /// How long to measure, after the warm-up
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = parse_secs)]
    duration: Duration,

    /// How long to run before measuring
    #[arg(long, value_name = "SECS", default_value = "1", value_parser = parse_secs)]
    warmup: Duration,

    /// Instead of a duration, stop each connection after this many messages
    /// (closed loop; no warm-up: everything is measured)
    #[arg(long, value_name = "N", conflicts_with = "rate")]
    messages: Option<u64>,

    /// Open loop: send this many messages per second in all, on a fixed
    /// schedule, and measure latency from when each message was due
    #[arg(long, value_name = "MSGS_PER_SEC", value_parser = parse_rate)]
    rate: Option<f64>,

    /// Worker threads of the tokio runtime that runs the open loop (and the
    /// closed loop with --tokio; 1 runs everything on one thread)
    /// [default: one per CPU this process may run on, so 1 under
    /// `taskset -c 1`]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    threads: Option<u32>,

    /// Use a blocking thread per connection instead of tokio: the baseline
    /// the event-driven generator is measured against (closed loop only)
    #[arg(long)]
    threads_per_connection: bool,

    /// Run the closed loop as tokio tasks, one per connection, instead of
    /// on one thread's epoll loop (the open loop always runs on tokio)
    #[arg(long, conflicts_with_all = ["threads_per_connection", "minimal_epoll"])]
    tokio: bool,

    /// The yardstick this generator is measured against: the same epoll
    /// loop without the latency measurement (closed loop only; checks
    /// every echo)
    #[arg(long, conflicts_with = "threads_per_connection")]
    minimal_epoll: bool,

    /// Give up on an echo after this long (counted as an error)
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_secs)]
    timeout: Duration,

    /// Also report this server process's CPU time and context switches per
    /// message during the window (Linux: /proc/PID)
    #[arg(long, value_name = "PID")]
    server_pid: Option<u32>,

    /// Print the results as JSON on stdout instead of a table
    #[arg(long)]
    json: bool,
}

fn parse_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err(format!(
            "'{text}' is not a positive number of messages per second"
        )),
    }
}

fn main() -> ExitCode {
    echo_common::run(|| {
        let cli = Cli::parse();
        // Best effort: with the default limit the bench still works, up to
        // about a thousand connections.
        if let Err(error) = system::raise_fd_limit() {
            eprintln!("warning: cannot raise the open-file limit: {error}");
        }
        match cli.command {
            Some(Command::Compare(args)) => compare::run(&args),
            Some(Command::Ledger(args)) => compare::ledger::run(&args),
            Some(Command::Soak(args)) => soak::run(&args),
            None => run_load(&cli.load),
        }
    })
}

fn run_load(args: &LoadArgs) -> Result<()> {
    let addr = *echo_common::resolve(&args.connect, "--connect")?
        .first()
        .context("no address")?;
    let config = LoadConfig {
        addr,
        connections: args.connections as usize,
        size: args.size as usize,
        duration: args.duration,
        warmup: args.warmup,
        messages: args.messages,
        rate: args.rate,
        timeout: args.timeout,
        server_pid: args.server_pid,
    };
    let progress = std::io::stderr().is_terminal();
    let report = if args.minimal_epoll {
        let outcome = epoll_load::run(&config, Latency::Skip, false)?;
        RunReport::new(&config, "minimal-epoll", 1, &outcome)
    } else if args.rate.is_none() && !args.tokio && !args.threads_per_connection {
        let outcome = epoll_load::run(&config, Latency::Record, progress)?;
        RunReport::new(&config, "epoll", 1, &outcome)
    } else if args.threads_per_connection {
        let outcome = threaded::run(&config)?;
        RunReport::new(&config, "thread-per-connection", 0, &outcome)
    } else {
        // Two workers on one CPU would only take turns on it, and pay
        // for handing tasks to each other.
        let threads = args.threads.map_or_else(
            || std::thread::available_parallelism().map_or(1, usize::from),
            |threads| threads as usize,
        );
        let outcome = load::run(&config, threads, progress)?;
        RunReport::new(&config, "tokio", threads, &outcome)
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    if report.errors > 0 {
        bail!(
            "{} of {} connections failed; the first: {}",
            report.errors,
            report.connections,
            report.error_samples.first().map_or("", String::as_str)
        );
    }
    Ok(())
}
