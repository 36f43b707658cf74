//! `echo-bench compare`: every chapter's server through the same workloads.
//!
//! Each workload is a run of `echo-bench` itself, as a child process with
//! `--json`, exactly what a reader would type; the comparison only starts
//! servers, runs the generator against them, and writes down the results:
//! `book/src/measuring/results.md` (tables, included by the book's page),
//! `book/src/measuring/results.json` (every run), and
//! `book/src/images/bench-*.svg` (charts).

mod charts;
mod idle;
pub mod ledger;
pub(crate) mod markdown;
pub mod results;
pub mod servers;
mod strace;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, anyhow, bail};
use echo_common::parse_secs;

use crate::report::RunReport;
use crate::system;
use results::{Results, ServerResults, Settings};
use servers::RunningServer;

pub use charts::FILES as CHARTS;
pub use markdown::ANCHORS;

/// Flags of `echo-bench compare`.
#[derive(Debug, Clone, clap::Args)]
pub struct CompareArgs {
    /// Seconds measured per workload
    #[arg(long, value_name = "SECS", default_value = "1", value_parser = parse_secs)]
    pub duration: Duration,

    /// Seconds of load before each measurement
    #[arg(long, value_name = "SECS", default_value = "0.3", value_parser = parse_secs)]
    pub warmup: Duration,

    /// Runs of every workload; tables show the median and the min–max range
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub repeat: u32,

    /// Pin each server to CPU 0 and the generator to CPU 1 (the placement
    /// check then runs unpinned instead)
    #[arg(long)]
    pub pin: bool,

    /// Worker threads of the generator's tokio runtime [default: one per
    /// CPU the generator may run on: 1 with --pin]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub threads: Option<u32>,

    /// Rate of the open-loop workload (100 connections, 64 B), messages/s
    #[arg(long, value_name = "MSGS_PER_SEC", default_value_t = 10_000.0)]
    pub open_rate: f64,

    /// Idle connections held to measure memory per connection
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub idle_connections: usize,

    /// Seconds over which the CPU of a server with only idle connections
    /// is measured
    #[arg(long, value_name = "SECS", default_value = "2", value_parser = parse_secs)]
    pub idle_duration: Duration,

    /// Compare only these servers (names as in the tables, comma-separated)
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    pub only: Vec<String>,

    /// Don't count system calls, even where strace is installed
    #[arg(long)]
    pub no_strace: bool,

    /// Don't build; use the binaries already in the generator's target
    /// directory
    #[arg(long)]
    pub no_build: bool,

    /// Redraw the tables and charts from an earlier results.json without
    /// measuring anything
    #[arg(long, value_name = "RESULTS_JSON")]
    pub render_only: Option<PathBuf>,

    /// The book whose src/measuring/ and src/images/ receive the results
    #[arg(long, value_name = "DIR", default_value = default_book())]
    pub book: PathBuf,
}

fn default_book() -> &'static str {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../book")
}

/// One workload: a run of the generator with these settings.
#[derive(Debug, Clone)]
pub struct Workload {
    pub key: String,
    pub connections: usize,
    pub size: usize,
    pub rate: Option<f64>,
    pub generator: Generator,
}

/// Which of `echo-bench`'s generators runs a workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generator {
    /// The default, which every table but the generator's own uses: the
    /// closed loop on one thread's epoll loop, the open loop on tokio.
    Default,
    /// `--tokio`: the closed loop as a tokio task per connection.
    TokioTasks,
    /// `--threads-per-connection`: the obvious way to write one.
    ThreadPerConnection,
    /// `--minimal-epoll`: the least a generator can do, the yardstick.
    MinimalEpoll,
}

pub const CONNECTION_COUNTS: [usize; 4] = [1, 10, 100, 1000];
pub const SIZES: [usize; 2] = [64, 4096];
pub const BULK_SIZE: usize = 1024 * 1024;

pub fn closed_key(connections: usize, size: usize) -> String {
    format!("closed-c{connections}-{size}B")
}
pub const BULK: &str = "bulk-c1-1MiB";
pub const OPEN: &str = "open-c100-64B";
pub const THREADED_GENERATOR: &str = "thread-per-connection-generator-c100-64B";
/// The connection counts at which the generator is measured against the
/// minimal epoll generator.
pub const YARDSTICK_CONNECTIONS: [usize; 2] = [100, 1000];
pub fn yardstick_key(connections: usize) -> String {
    format!("minimal-epoll-generator-c{connections}-64B")
}
/// The closed loop as tokio tasks, 100 connections × 64 B.
pub const TOKIO_GENERATOR: &str = "tokio-generator-c100-64B";
/// The workload the CPU-per-message, generator and placement comparisons
/// use.
pub fn reference_key() -> String {
    closed_key(100, 64)
}

fn workloads(open_rate: f64) -> Vec<Workload> {
    let mut all = Vec::new();
    for size in SIZES {
        for connections in CONNECTION_COUNTS {
            all.push(Workload {
                key: closed_key(connections, size),
                connections,
                size,
                rate: None,
                generator: Generator::Default,
            });
        }
    }
    all.push(Workload {
        key: BULK.into(),
        connections: 1,
        size: BULK_SIZE,
        rate: None,
        generator: Generator::Default,
    });
    all.push(Workload {
        key: OPEN.into(),
        connections: 100,
        size: 64,
        rate: Some(open_rate),
        generator: Generator::Default,
    });
    all.push(Workload {
        key: THREADED_GENERATOR.into(),
        connections: 100,
        size: 64,
        rate: None,
        generator: Generator::ThreadPerConnection,
    });
    all.push(Workload {
        key: TOKIO_GENERATOR.into(),
        connections: 100,
        size: 64,
        rate: None,
        generator: Generator::TokioTasks,
    });
    for connections in YARDSTICK_CONNECTIONS {
        all.push(Workload {
            key: yardstick_key(connections),
            connections,
            size: 64,
            rate: None,
            generator: Generator::MinimalEpoll,
        });
    }
    all
}

/// Messages per connection, and connections, for the syscall count.
/// One connection: every message is then a wake-up of its own, so the
/// count is what one echo costs, unchanged by strace slowing the server
/// (with many connections, a slowed server finds more of them ready per
/// wake-up than it would at full speed).
const STRACE_CONNECTIONS: usize = 1;
const STRACE_MESSAGES: u64 = 5_000;

pub fn run(args: &CompareArgs) -> Result<()> {
    let book = args.book.clone();
    if let Some(json) = &args.render_only {
        let text = std::fs::read_to_string(json)
            .with_context(|| format!("cannot read {}", json.display()))?;
        let results: Results = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a comparison's results", json.display()))?;
        return write_outputs(&book, &results, false);
    }
    let results = measure(args)?;
    write_outputs(&book, &results, true)
}

fn measure(args: &CompareArgs) -> Result<Results> {
    let started = Instant::now();
    let (exe, bin_dir) = servers::release_build("compare")?;
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    if args.pin && cores < 2 {
        bail!("--pin needs at least 2 CPUs (this machine has {cores})");
    }

    let mut notes = Vec::new();
    eprintln!("building the servers (cargo build --release)...");
    let mut specs = servers::discover(&root, &bin_dir, !args.no_build, &mut notes)?;
    if !args.only.is_empty() {
        specs.retain(|s| args.only.contains(&s.name));
    }
    if specs.is_empty() {
        bail!("no server to compare");
    }
    let fd_limit = system::raise_fd_limit().unwrap_or(1024) as usize;
    let mut idle_connections = args.idle_connections;
    // The bench holds one descriptor per connection, plus a few of its own.
    if idle_connections + 64 > fd_limit {
        idle_connections = fd_limit.saturating_sub(64);
        notes.push(format!(
            "The open-file limit here is {fd_limit}, so the idle measurement holds {idle_connections} connections, not {}.",
            args.idle_connections
        ));
    }
    let use_strace = !args.no_strace && strace::available();
    if !args.no_strace && !use_strace {
        notes.push("strace is not installed, so there are no system-call counts.".into());
    }

    let unpinned = Placement {
        server_cpu: None,
        generator_cpu: None,
    };
    let split = Placement {
        server_cpu: Some(0),
        generator_cpu: Some(1),
    };
    let shared_core = Placement {
        server_cpu: Some(0),
        generator_cpu: Some(0),
    };
    let main_placement = if args.pin { split } else { unpinned };
    // The reference workload again with the other placements.
    let other_placements: Vec<Placement> = if cores >= 2 {
        [unpinned, split, shared_core]
            .into_iter()
            .filter(|p| p.describe_short() != main_placement.describe_short())
            .collect()
    } else {
        Vec::new()
    };

    let workloads = workloads(args.open_rate);
    let mut results: Vec<ServerResults> = specs
        .iter()
        .map(|spec| ServerResults {
            name: spec.name.clone(),
            description: spec.description.clone(),
            runs: BTreeMap::new(),
            failures: Vec::new(),
            other_placements: BTreeMap::new(),
            idle: None,
            syscalls: None,
        })
        .collect();

    let nodelay_reference = specs.iter().find(|s| s.name == "minimal-epoll").map(|s| {
        let mut spec = s.clone();
        spec.args.push("--nodelay".into());
        spec
    });
    let mut nodelay_bulk = Vec::new();

    // Repeats outermost, so a disturbance on the machine (another process
    // waking up) spreads over all servers instead of hitting one.
    for round in 1..=args.repeat {
        for (spec, result) in specs.iter().zip(&mut results) {
            eprintln!("[round {round}/{}] {}", args.repeat, spec.name);
            let mut server = match RunningServer::start(spec, main_placement.server_cpu) {
                Ok(server) => server,
                Err(e) => {
                    result.failures.push(format!("cannot start: {e:#}"));
                    continue;
                }
            };
            for workload in &workloads {
                match run_workload(
                    &exe,
                    &mut server,
                    workload,
                    Window::of(args, main_placement),
                    main_placement,
                ) {
                    Ok(report) => result
                        .runs
                        .entry(workload.key.clone())
                        .or_default()
                        .push(report),
                    Err(e) => {
                        eprintln!("  {}: {e:#}", workload.key);
                        result.failures.push(format!("{}: {e:#}", workload.key));
                        if server.check_alive().is_err() {
                            break;
                        }
                    }
                }
            }
            drop(server);

            for &other in &other_placements {
                let reference = workloads
                    .iter()
                    .find(|w| w.key == reference_key())
                    .context("the reference workload is in the list")?;
                let run = RunningServer::start(spec, other.server_cpu).and_then(|mut server| {
                    run_workload(&exe, &mut server, reference, Window::of(args, other), other)
                });
                match run {
                    Ok(report) => result
                        .other_placements
                        .entry(other.describe_short())
                        .or_default()
                        .push(report),
                    Err(e) => result
                        .failures
                        .push(format!("{}: {e:#}", other.describe_short())),
                }
            }
        }

        if let Some(spec) = &nodelay_reference {
            let bulk = workloads
                .iter()
                .find(|w| w.key == BULK)
                .context("the bulk workload is in the list")?;
            eprintln!("[round {round}/{}] minimal-epoll --nodelay", args.repeat);
            let run =
                RunningServer::start(spec, main_placement.server_cpu).and_then(|mut server| {
                    run_workload(
                        &exe,
                        &mut server,
                        bulk,
                        Window::of(args, main_placement),
                        main_placement,
                    )
                });
            match run {
                Ok(report) => nodelay_bulk.push(report),
                Err(e) => notes.push(format!("minimal-epoll --nodelay, bulk: {e:#}")),
            }
        }
    }

    for (spec, result) in specs.iter().zip(&mut results) {
        eprintln!("{}: {idle_connections} idle connections", spec.name);
        match RunningServer::start(spec, main_placement.server_cpu)
            .and_then(|mut server| idle::measure(&mut server, idle_connections, args.idle_duration))
        {
            Ok(idle) => result.idle = Some(idle),
            Err(e) => result.failures.push(format!("idle connections: {e:#}")),
        }
        if use_strace {
            eprintln!("{}: counting system calls", spec.name);
            let workload = Workload {
                key: "strace".into(),
                connections: STRACE_CONNECTIONS,
                size: 64,
                rate: None,
                generator: Generator::Default,
            };
            let counted =
                RunningServer::start(spec, main_placement.server_cpu).and_then(|mut server| {
                    let mut bench = bench_command(
                        &exe,
                        &server,
                        &workload,
                        Window::of(args, main_placement),
                        main_placement,
                    );
                    bench.args(["--messages", &STRACE_MESSAGES.to_string()]);
                    strace::count(&mut server, bench)
                });
            match counted {
                Ok(syscalls) => result.syscalls = Some(syscalls),
                Err(e) => result.failures.push(format!("system calls: {e:#}")),
            }
        }
    }
    eprintln!("measured in {:.0} s", started.elapsed().as_secs_f64());

    Ok(Results {
        machine: crate::procfs::Machine::describe(),
        date: utc_date(SystemTime::now()),
        command: command_line(),
        elapsed_secs: started.elapsed().as_secs_f64(),
        placement: describe_placement(main_placement, cores),
        placement_short: main_placement.describe_short(),
        settings: Settings {
            duration_secs: args.duration.as_secs_f64(),
            warmup_secs: args.warmup.as_secs_f64(),
            repeat: args.repeat,
            generator_threads: generator_threads(args.threads, main_placement),
            open_rate: args.open_rate,
            idle_connections,
            idle_secs: args.idle_duration.as_secs_f64(),
            pinned: args.pin,
        },
        servers: results,
        nodelay_bulk,
        notes,
    })
}

/// Which CPU (if any) the server and the generator are confined to.
#[derive(Debug, Clone, Copy)]
struct Placement {
    server_cpu: Option<usize>,
    generator_cpu: Option<usize>,
}

impl Placement {
    /// A column heading.
    fn describe_short(&self) -> String {
        match (self.server_cpu, self.generator_cpu) {
            (Some(s), Some(g)) if s == g => format!("both on CPU {s}"),
            (Some(s), Some(g)) => format!("server CPU {s}, generator CPU {g}"),
            _ => "unpinned".into(),
        }
    }
}

fn describe_placement(placement: Placement, cores: usize) -> String {
    match (placement.server_cpu, placement.generator_cpu) {
        (Some(server), Some(generator)) => format!(
            "pinned: every server on CPU {server}, the generator on CPU {generator} (of {cores})"
        ),
        _ => format!(
            "unpinned: the scheduler places the server and the generator on any of the {cores} CPUs, which they share"
        ),
    }
}

/// The generator's tokio threads: as asked, or one per CPU it may run on.
fn generator_threads(threads: Option<u32>, placement: Placement) -> usize {
    match (threads, placement.generator_cpu) {
        (Some(threads), _) => threads as usize,
        (None, Some(_)) => 1,
        (None, None) => std::thread::available_parallelism().map_or(1, usize::from),
    }
}

/// How long the generator measures, after how much warm-up, with how
/// many tokio threads.
#[derive(Debug, Clone, Copy)]
struct Window {
    duration: Duration,
    warmup: Duration,
    threads: usize,
}

impl Window {
    fn of(args: &CompareArgs, placement: Placement) -> Window {
        Window {
            duration: args.duration,
            warmup: args.warmup,
            threads: generator_threads(args.threads, placement),
        }
    }
}

fn bench_command(
    exe: &Path,
    server: &RunningServer,
    workload: &Workload,
    window: Window,
    placement: Placement,
) -> Command {
    let mut command = Command::new(exe);
    command
        .arg("--connect")
        .arg(server.addr.to_string())
        .args(["--connections", &workload.connections.to_string()])
        .args(["--size", &workload.size.to_string()])
        .args(["--duration", &window.duration.as_secs_f64().to_string()])
        .args(["--warmup", &window.warmup.as_secs_f64().to_string()])
        .args(["--threads", &window.threads.to_string()])
        .args(["--server-pid", &server.pid().to_string()])
        .arg("--json");
    if let Some(rate) = workload.rate {
        command.args(["--rate", &rate.to_string()]);
    }
    match workload.generator {
        Generator::Default => {}
        Generator::TokioTasks => {
            command.arg("--tokio");
        }
        Generator::ThreadPerConnection => {
            command.arg("--threads-per-connection");
        }
        Generator::MinimalEpoll => {
            command.arg("--minimal-epoll");
        }
    }
    if let Some(cpu) = placement.generator_cpu {
        system::pin(&mut command, cpu);
    }
    command
}

fn run_workload(
    exe: &Path,
    server: &mut RunningServer,
    workload: &Workload,
    window: Window,
    placement: Placement,
) -> Result<RunReport> {
    let output = bench_command(exe, server, workload, window, placement)
        .output()
        .context("cannot run the generator")?;
    // The generator prints its JSON even when connections failed (and
    // then exits non-zero): a report with errors is a result too.
    match serde_json::from_slice::<RunReport>(&output.stdout) {
        Ok(report) => Ok(report),
        Err(_) => {
            server.check_alive()?;
            Err(anyhow!(
                "{}",
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    }
}

fn write_outputs(book: &Path, results: &Results, write_json: bool) -> Result<()> {
    let book = book.canonicalize().unwrap_or_else(|_| book.to_path_buf());
    let dir = book.join("src/measuring");
    let images = book.join("src/images");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::create_dir_all(&images)
        .with_context(|| format!("cannot create {}", images.display()))?;
    let write = |path: PathBuf, text: String| {
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
    };
    if write_json {
        write(
            dir.join("results.json"),
            serde_json::to_string_pretty(results)? + "\n",
        )?;
    }
    write(dir.join("results.md"), markdown::render(results))?;
    for (name, svg) in charts::render(results)? {
        write(images.join(name), svg)?;
    }
    eprintln!("wrote {}", dir.join("results.md").display());
    Ok(())
}

/// The command as it should be typed to regenerate these results.
fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).map(|a| shell_quote(&a)).collect();
    format!("cargo run --release -p echo-bench -- {}", args.join(" "))
}

fn shell_quote(arg: &str) -> String {
    if !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,".contains(c))
    {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// YYYY-MM-DD in UTC (days to civil date, after Howard Hinnant's
/// algorithm), so the results need no date library.
pub fn utc_date(now: SystemTime) -> String {
    let secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        let at = |secs| utc_date(SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0), "1970-01-01");
        assert_eq!(at(951_782_400), "2000-02-29");
        assert_eq!(at(1_709_251_199), "2024-02-29");
        assert_eq!(at(1_735_689_600), "2025-01-01");
    }

    #[test]
    fn commands_are_quoted_for_the_shell() {
        assert_eq!(shell_quote("--only"), "--only");
        assert_eq!(shell_quote("ch01-blocking,ch03"), "ch01-blocking,ch03");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn every_workload_has_its_own_key() {
        let all = workloads(1000.0);
        let mut keys: Vec<_> = all.iter().map(|w| w.key.as_str()).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), all.len());
        assert!(keys.contains(&reference_key().as_str()));
    }
}
