//! `echo-bench soak`: one server, for a given time and seed, under a random
//! mix of everything the conformance and fault suites try one at a time
//! (see [`behaviours`]), from several clients at once. Every byte of every
//! echo that should have completed is checked. At the end the server must
//! still answer, its descriptors and threads must be back to where they
//! were before the first client, its memory within a bound, and a SIGTERM
//! must shut it down as the fault table says it does. Anything else is a
//! failure, reported with the seed that replays the same mix.
//!
//! The server list and what each server is expected to do come from the
//! fault suite (`echo_faults::subjects`, `expectations`): a limitation the
//! table names is reported by name, and asserted where the soak can.

pub mod behaviours;
mod report;
mod watcher;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use echo_common::parse_secs;
use echo_conformance::procfs;
use echo_faults::expectations::{Expect, Fault, Limitation, Row};

use crate::compare::servers::{RunningServer, ServerSpec, cargo_build};
use behaviours::{Behaviour, Done, Failure, FailureKind, Target};
pub use report::{SoakReport, Tally, table};
use watcher::Watcher;

/// Flags of `echo-bench soak`.
#[derive(Debug, Clone, clap::Args)]
pub struct SoakArgs {
    /// How long the clients run
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = parse_secs)]
    pub duration: Duration,

    /// Seed of the random mix (default: from the clock; printed, so that a
    /// failure can be replayed)
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Clients running behaviours at once
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    pub clients: u32,

    /// The server's --idle-timeout
    #[arg(long, value_name = "SECS", default_value = "2", value_parser = parse_secs)]
    pub idle_timeout: Duration,

    /// The server's --max-connections
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = clap::value_parser!(u32).range(2..))]
    pub max_connections: u32,

    /// The server's --grace
    #[arg(long, value_name = "SECS", default_value = "1", value_parser = parse_secs)]
    pub grace: Duration,

    /// How much the server's resident memory may have grown by the end
    #[arg(long, value_name = "MIB", default_value_t = 32.0)]
    pub rss_bound: f64,

    /// How long any one connect, read or write may wait before it counts
    /// as an error
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = parse_secs)]
    pub timeout: Duration,

    /// How long the server may take, once the clients are done, to close
    /// its last connections and end their threads
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_secs)]
    pub settle: Duration,

    /// Soak every chapter's server and every variant the fault table lists,
    /// one after another (or --parallel at once), and print a table
    #[arg(long, conflicts_with = "server")]
    pub every_server: bool,

    /// With --every-server: how many soaks run at once
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub parallel: u32,

    /// Don't build; use the binaries already in the generator's target
    /// directory
    #[arg(long)]
    pub no_build: bool,

    /// The server and its flags (the soak adds --listen, --quiet,
    /// --idle-timeout, --max-connections and --grace)
    #[arg(
        value_name = "SERVER",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub server: Vec<String>,
}

/// The settings one soak runs with.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub duration: Duration,
    pub seed: u64,
    pub clients: usize,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub grace: Duration,
    pub rss_bound_mib: f64,
    pub timeout: Duration,
    pub settle: Duration,
}

/// A server to soak.
#[derive(Debug, Clone)]
pub struct Subject {
    /// As the fault suite names it, e.g. `ch03-multiplexed-echo --backend poll`.
    pub name: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    /// What the fault table expects of it; `None` for a server that is not
    /// a chapter's (then its shutdown is not checked).
    pub row: Option<Row>,
}

impl Subject {
    /// `program args`, with the table's row if it is a chapter's server
    /// (or a variant the table lists).
    pub fn from_command(program: &str, args: &[String]) -> Subject {
        let file = Path::new(program)
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let chapter = echo_conformance::CHAPTERS.iter().find(|c| c.server == file);
        let args_str: Vec<&str> = args.iter().map(String::as_str).collect();
        let name = std::iter::once(chapter.map_or(file.as_str(), |c| c.package))
            .chain(args_str.iter().copied())
            .collect::<Vec<_>>()
            .join(" ");
        Subject {
            name,
            program: PathBuf::from(program),
            args: args.to_vec(),
            row: chapter.map(|c| echo_faults::expectations::of(c.package, &args_str)),
        }
    }
}

/// The command line, from `main`.
pub fn run(args: &SoakArgs) -> Result<()> {
    let seed = args.seed.unwrap_or_else(seed_from_clock);
    let settings = Settings {
        duration: args.duration,
        seed,
        clients: args.clients as usize,
        idle_timeout: args.idle_timeout,
        max_connections: args.max_connections as usize,
        grace: args.grace,
        rss_bound_mib: args.rss_bound,
        timeout: args.timeout,
        settle: args.settle,
    };
    let subjects = if args.every_server {
        every_server(!args.no_build)?
    } else {
        let Some((program, rest)) = args.server.split_first() else {
            bail!(
                "name the server to soak (`echo-bench soak -- SERVER [ARGS]`), or pass --every-server"
            );
        };
        vec![Subject::from_command(program, rest)]
    };
    let reports = soak_all(&subjects, settings, args.parallel as usize);
    let mut failed = Vec::new();
    for (subject, report) in subjects.iter().zip(&reports) {
        match report {
            Ok(report) => {
                print!("{report}");
                if !report.passed() {
                    failed.push(subject.name.clone());
                }
            }
            Err(e) => {
                println!("{}: the soak could not run: {e:#}\n", subject.name);
                failed.push(subject.name.clone());
            }
        }
    }
    if subjects.len() > 1 {
        let ok: Vec<&SoakReport> = reports.iter().filter_map(|r| r.as_ref().ok()).collect();
        print!("{}", table(&ok, settings));
    }
    if !failed.is_empty() {
        bail!(
            "the soak failed with seed {seed} for {}; replay with `echo-bench soak --seed {seed} --duration {} -- SERVER`",
            failed.join(", "),
            settings.duration.as_secs_f64()
        );
    }
    Ok(())
}

fn seed_from_clock() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
}

/// Every subject of the fault suite, built in release.
fn every_server(build: bool) -> Result<Vec<Subject>> {
    let exe = std::env::current_exe().context("cannot find the echo-bench binary")?;
    let bin_dir = exe
        .parent()
        .context("the echo-bench binary has no directory")?
        .to_path_buf();
    if build {
        let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
        let packages: Vec<&str> = echo_conformance::CHAPTERS
            .iter()
            .map(|c| c.package)
            .collect();
        eprintln!("building the servers (cargo build --release)...");
        if !cargo_build(&root, &packages)? {
            bail!("the chapters' servers do not build");
        }
    }
    Ok(echo_faults::subjects()
        .iter()
        .map(|subject| Subject {
            name: subject.name(),
            program: bin_dir.join(subject.chapter.server),
            args: subject.args.iter().map(|a| a.to_string()).collect(),
            row: Some(subject.row),
        })
        .collect())
}

/// Soaks each subject, `parallel` at a time; the reports in order.
pub fn soak_all(
    subjects: &[Subject],
    settings: Settings,
    parallel: usize,
) -> Vec<Result<SoakReport>> {
    let next = Mutex::new(0..subjects.len());
    let results: Mutex<BTreeMap<usize, Result<SoakReport>>> = Mutex::new(BTreeMap::new());
    std::thread::scope(|scope| {
        for _ in 0..parallel.max(1) {
            scope.spawn(|| {
                loop {
                    let Some(i) = next.lock().unwrap_or_else(|e| e.into_inner()).next() else {
                        return;
                    };
                    eprintln!(
                        "soaking {} for {:?}...",
                        subjects[i].name, settings.duration
                    );
                    let report = soak(&subjects[i], settings);
                    results
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(i, report);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_values()
        .collect()
}

/// One soak of one server.
pub fn soak(subject: &Subject, settings: Settings) -> Result<SoakReport> {
    let mut args = subject.args.clone();
    args.extend([
        "--quiet".to_string(),
        "--idle-timeout".to_string(),
        settings.idle_timeout.as_secs_f64().to_string(),
        "--max-connections".to_string(),
        settings.max_connections.to_string(),
        "--grace".to_string(),
        settings.grace.as_secs_f64().to_string(),
    ]);
    let spec = ServerSpec {
        name: subject.name.clone(),
        description: String::new(),
        program: subject.program.clone(),
        args,
    };
    let mut server = RunningServer::start(&spec, None)?;
    let pid = server.pid();
    let target = Target {
        addr: server.addr,
        timeout: settings.timeout,
        idle_timeout: settings.idle_timeout,
        max_connections: settings.max_connections,
    };
    // One echo before the baseline: whatever a server sets up on its first
    // connection (a thread-local buffer, a lazily started thread) is not a
    // leak.
    hello(&target).map_err(|f| anyhow::anyhow!("the first hello failed: {}", f.detail))?;
    let baseline = ServerState::take(pid)?;
    let cpu_before = procfs::cpu_time(pid)?;
    let started = Instant::now();
    let deadline = started + settings.duration;

    let mut peak_rss_kib = baseline.rss_kib;
    let mut died = None;
    let watcher = Watcher::new(settings.idle_timeout);
    let finished = AtomicUsize::new(0);
    let tallies = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..settings.clients)
            .map(|i| {
                let (watcher, finished) = (&watcher, &finished);
                scope.spawn(move || {
                    let tally = client(i, &target, settings.seed, deadline, watcher);
                    finished.fetch_add(1, Ordering::Release);
                    tally
                })
            })
            .collect();
        let watching = scope.spawn(|| {
            watcher.run(|| finished.load(Ordering::Acquire) == settings.clients);
        });
        // Meanwhile: the server's memory, and whether it is still there.
        while !watching.is_finished() {
            if let Ok(rss) = procfs::rss_kib(pid) {
                peak_rss_kib = peak_rss_kib.max(rss);
            }
            if died.is_none() {
                if let Err(e) = server.check_alive() {
                    died = Some(format!("{e:#}"));
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = watching.join();
        clients
            .into_iter()
            .map(|c| c.join().unwrap_or_default())
            .collect::<Vec<ClientTally>>()
    });
    let watched = watcher.into_outcome();
    let soaked_for = started.elapsed();
    let cpu = procfs::cpu_time(pid)
        .map(|after| after.saturating_sub(cpu_before))
        .unwrap_or_default();

    let mut report = SoakReport::new(subject, settings);
    report.soaked_for = soaked_for;
    report.server_cpu = cpu;
    for tally in tallies {
        report.add(tally);
    }
    report.add(ClientTally {
        behaviours: BTreeMap::new(),
        failures: watched
            .failures
            .into_iter()
            .map(|failure| (Behaviour::Silent, failure))
            .collect(),
    });
    report.idle_closes = (watched.closed, watched.after);
    report.died = died;
    if report.died.is_none() {
        report.still_answers = hello(&target).map_err(|f| f.detail);
        report.end = Some(settle(pid, &baseline, settings.settle));
        report.baseline = Some(baseline);
        report.peak_rss_kib = peak_rss_kib;
        report.shutdown = Some(shut_down(&mut server, subject.row, settings.grace));
    }
    Ok(report)
}

/// What one client did over the whole soak.
#[derive(Debug, Default)]
pub struct ClientTally {
    pub behaviours: BTreeMap<Behaviour, Tally>,
    pub failures: Vec<(Behaviour, Failure)>,
}

/// One client: behaviour after behaviour until `deadline`, from its own
/// random sequence (the soak's seed and the client's number).
fn client(
    number: usize,
    target: &Target,
    seed: u64,
    deadline: Instant,
    watcher: &Watcher,
) -> ClientTally {
    let mut rng =
        fastrand::Rng::with_seed(seed ^ (number as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut tally = ClientTally::default();
    while Instant::now() < deadline {
        let behaviour = match Behaviour::pick(&mut rng) {
            // Enough idlers hold slots already (half the cap): a plain
            // echo instead. (So which silent picks run depends on timing;
            // the sequence of picks does not.)
            Behaviour::Silent if watcher.len() >= target.max_connections / 2 => Behaviour::Echo,
            behaviour => behaviour,
        };
        let entry = tally.behaviours.entry(behaviour).or_default();
        entry.runs += 1;
        match behaviours::run(behaviour, target, &mut rng, watcher) {
            Ok(Done {
                connections,
                verified,
            }) => {
                entry.connections += connections;
                entry.verified += verified;
            }
            Err(failure) => {
                entry.connections += 1;
                tally.failures.push((behaviour, failure));
            }
        }
    }
    tally
}

fn hello(target: &Target) -> Result<(), Failure> {
    use std::io::{Read, Write};
    let mut stream =
        std::net::TcpStream::connect_timeout(&target.addr, target.timeout).map_err(|e| {
            Failure {
                kind: FailureKind::Connect,
                detail: e.to_string(),
            }
        })?;
    let io = |e: std::io::Error| Failure {
        kind: FailureKind::Io,
        detail: format!("hello: {e}"),
    };
    stream.set_read_timeout(Some(target.timeout)).map_err(io)?;
    stream.write_all(b"hello\n").map_err(io)?;
    stream.shutdown(std::net::Shutdown::Write).map_err(io)?;
    let mut echoed = Vec::new();
    stream.read_to_end(&mut echoed).map_err(io)?;
    if echoed != b"hello\n" {
        return Err(Failure {
            kind: FailureKind::WrongByte,
            detail: format!("hello came back as {:?}", String::from_utf8_lossy(&echoed)),
        });
    }
    Ok(())
}

/// Descriptors, threads and memory of the server at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerState {
    pub fds: usize,
    pub threads: u64,
    pub rss_kib: u64,
}

impl ServerState {
    fn take(pid: u32) -> Result<ServerState> {
        Ok(ServerState {
            fds: procfs::open_fds(pid).context("the server's descriptors")?,
            threads: procfs::threads(pid).context("the server's threads")?,
            rss_kib: procfs::rss_kib(pid).context("the server's memory")?,
        })
    }
}

/// The server's state once its descriptors and threads are back to the
/// baseline, or as it is after `limit` if they never are.
fn settle(pid: u32, baseline: &ServerState, limit: Duration) -> ServerState {
    let deadline = Instant::now() + limit;
    loop {
        let now = ServerState::take(pid).unwrap_or(ServerState {
            fds: usize::MAX,
            threads: u64::MAX,
            rss_kib: u64::MAX,
        });
        let back = now.fds <= baseline.fds && now.threads <= baseline.threads;
        if back || Instant::now() >= deadline {
            return now;
        }
        // Waiting for another process to settle: no event to wait on.
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How the server ended on SIGTERM, against what the table expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shutdown {
    /// Exited 0, as required: after this long.
    Graceful(Duration),
    /// The table's limitation, and it held.
    Limitation(&'static str),
    /// Not a chapter's server: nothing to check it against.
    NotChecked,
    Wrong(String),
}

fn shut_down(server: &mut RunningServer, row: Option<Row>, grace: Duration) -> Shutdown {
    use std::os::unix::process::ExitStatusExt;
    let Some(row) = row else {
        return Shutdown::NotChecked;
    };
    let sent = Instant::now();
    if let Err(e) = server.signal(libc::SIGTERM) {
        return Shutdown::Wrong(format!("{e:#}"));
    }
    let status = match server.wait_exit(grace + Duration::from_secs(10)) {
        Ok(Some(status)) => status,
        Ok(None) => return Shutdown::Wrong("still running 10 s after its grace period".into()),
        Err(e) => return Shutdown::Wrong(format!("{e:#}")),
    };
    match row.get(Fault::Shutdown) {
        Expect::Survives if status.success() => Shutdown::Graceful(sent.elapsed()),
        Expect::Limitation(limitation @ Limitation::KilledBySignal, _)
            if status.signal() == Some(libc::SIGTERM) =>
        {
            Shutdown::Limitation(limitation.name())
        }
        expect => Shutdown::Wrong(format!("exited with {status}, expected: {expect}")),
    }
}
