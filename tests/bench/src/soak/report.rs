//! What a soak found: counts per behaviour, bytes verified, errors by kind,
//! the server before and after; printed for people, and as one row of the
//! table `--every-server` ends with.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use echo_faults::expectations::{Expect, Fault, Limitation};

use super::behaviours::{Behaviour, Failure, FailureKind};
use super::{ClientTally, ServerState, Settings, Shutdown, Subject};
use crate::compare::markdown::thousands;

/// One behaviour's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub runs: u64,
    pub connections: u64,
    pub verified: u64,
}

/// How many errors of each kind a report spells out.
const SAMPLES: usize = 3;

#[derive(Debug, Clone)]
pub struct SoakReport {
    pub name: String,
    pub command: String,
    pub settings: Settings,
    pub soaked_for: Duration,
    pub behaviours: BTreeMap<Behaviour, Tally>,
    /// Per kind: how many, and the first few.
    pub failures: BTreeMap<FailureKind, (u64, Vec<(Behaviour, String)>)>,
    pub server_cpu: Duration,
    /// Silent connections the server closed in time, and the shortest and
    /// longest time from their last byte to the close.
    pub idle_closes: (u64, Option<(Duration, Duration)>),
    /// Why the server is gone, if it exited during the soak.
    pub died: Option<String>,
    pub baseline: Option<ServerState>,
    pub end: Option<ServerState>,
    pub peak_rss_kib: u64,
    pub still_answers: Result<(), String>,
    pub shutdown: Option<Shutdown>,
    /// The fault table's limitations for this server, and what the soak
    /// does about each.
    pub limitations: Vec<String>,
    /// The same, by name only.
    pub limitation_names: Vec<&'static str>,
}

impl SoakReport {
    pub fn new(subject: &Subject, settings: Settings) -> SoakReport {
        let (mut limitations, mut limitation_names) = (Vec::new(), Vec::new());
        for fault in Fault::ALL {
            if let Some(Expect::Limitation(limitation, _)) = subject.row.map(|r| r.get(fault)) {
                // "busy-polls: spins on a core …" → "busy-polls".
                let name = limitation.name();
                let short = name.split(':').next().unwrap_or(name);
                // One limitation may be named under several faults.
                if !limitation_names.contains(&short) {
                    limitation_names.push(short);
                }
                limitations.push(format!(
                    "{} ({fault}): {}",
                    limitation.name(),
                    what_the_soak_does(limitation)
                ));
            }
        }
        SoakReport {
            name: subject.name.clone(),
            command: std::iter::once(subject.program.display().to_string())
                .chain(subject.args.iter().cloned())
                .collect::<Vec<_>>()
                .join(" "),
            settings,
            soaked_for: Duration::ZERO,
            behaviours: BTreeMap::new(),
            failures: BTreeMap::new(),
            server_cpu: Duration::ZERO,
            idle_closes: (0, None),
            died: None,
            baseline: None,
            end: None,
            peak_rss_kib: 0,
            still_answers: Err("not checked".into()),
            shutdown: None,
            limitations,
            limitation_names,
        }
    }

    pub fn add(&mut self, tally: ClientTally) {
        for (behaviour, t) in tally.behaviours {
            let entry = self.behaviours.entry(behaviour).or_default();
            entry.runs += t.runs;
            entry.connections += t.connections;
            entry.verified += t.verified;
        }
        for (behaviour, Failure { kind, detail }) in tally.failures {
            let entry = self.failures.entry(kind).or_default();
            entry.0 += 1;
            if entry.1.len() < SAMPLES {
                entry.1.push((behaviour, detail));
            }
        }
    }

    pub fn connections(&self) -> u64 {
        self.behaviours.values().map(|t| t.connections).sum()
    }

    pub fn verified(&self) -> u64 {
        self.behaviours.values().map(|t| t.verified).sum()
    }

    /// Behaviours that were faults: resets, stalls, silences, half-closes,
    /// bursts.
    pub fn faults(&self) -> u64 {
        self.behaviours
            .iter()
            .filter(|(b, _)| b.is_fault())
            .map(|(_, t)| t.runs)
            .sum()
    }

    pub fn errors(&self) -> u64 {
        self.failures.values().map(|(n, _)| n).sum()
    }

    /// What leaked: descriptors, threads, memory beyond the bound.
    pub fn leaks(&self) -> Vec<String> {
        let (Some(before), Some(after)) = (self.baseline, self.end) else {
            return Vec::new();
        };
        let mut leaks = Vec::new();
        if after.fds > before.fds {
            leaks.push(format!("{} descriptors", after.fds - before.fds));
        }
        if after.threads > before.threads {
            leaks.push(format!("{} threads", after.threads - before.threads));
        }
        let grown = after.rss_kib.saturating_sub(before.rss_kib) as f64 / 1024.0;
        if grown > self.settings.rss_bound_mib {
            leaks.push(format!(
                "{grown:.1} MiB of memory (bound {} MiB)",
                self.settings.rss_bound_mib
            ));
        }
        leaks
    }

    /// Everything that makes the soak fail.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(died) = &self.died {
            problems.push(format!("the server died: {died}"));
        }
        if self.errors() > 0 {
            problems.push(format!("{} errors", self.errors()));
        }
        problems.extend(self.leaks().into_iter().map(|l| format!("leaked {l}")));
        if self.died.is_none() {
            if let Err(why) = &self.still_answers {
                problems.push(format!("no longer answers: {why}"));
            }
        }
        if let Some(Shutdown::Wrong(why)) = &self.shutdown {
            problems.push(format!("shutdown: {why}"));
        }
        problems
    }

    pub fn passed(&self) -> bool {
        self.problems().is_empty()
    }
}

/// How a soak treats a limitation the fault table names.
fn what_the_soak_does(limitation: Limitation) -> &'static str {
    match limitation {
        Limitation::KilledBySignal => {
            "the closing SIGTERM is expected to kill it, and the soak checks that it does"
        }
        Limitation::BusyPolls => {
            "the soak never runs it out of descriptors, and asserts nothing about its CPU \
             (see its CPU above: it spins whether clients are there or not)"
        }
        Limitation::BacklogPerThread => {
            "the soak asserts no order among clients over the cap, only that each is served"
        }
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn state(kib_pair: (u64, u64)) -> String {
    format!(
        "{:.1} → {:.1} MiB",
        kib_pair.0 as f64 / 1024.0,
        kib_pair.1 as f64 / 1024.0
    )
}

impl fmt::Display for SoakReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.settings;
        writeln!(
            f,
            "soak of {} for {:.0} s, seed {}, {} clients, --idle-timeout {:?} --max-connections {} --grace {:?}",
            self.name,
            self.soaked_for.as_secs_f64(),
            s.seed,
            s.clients,
            s.idle_timeout,
            s.max_connections,
            s.grace
        )?;
        let row = |f: &mut fmt::Formatter<'_>, label: &str, value: String| {
            writeln!(f, "  {label:<30} {value}")
        };
        for behaviour in Behaviour::ALL {
            let t = self.behaviours.get(&behaviour).copied().unwrap_or_default();
            row(
                f,
                behaviour.name(),
                format!(
                    "{} times, {} connections, {} verified",
                    thousands(t.runs as f64),
                    thousands(t.connections as f64),
                    mib(t.verified)
                ),
            )?;
        }
        if let (closed, Some((least, most))) = self.idle_closes {
            row(
                f,
                "idle closes",
                format!(
                    "{} silent connections closed by the server {:.2}–{:.2} s after their last byte",
                    thousands(closed as f64),
                    least.as_secs_f64(),
                    most.as_secs_f64()
                ),
            )?;
        }
        row(
            f,
            "in all",
            format!(
                "{} connections, {} verified byte by byte, {} faults injected",
                thousands(self.connections() as f64),
                mib(self.verified()),
                thousands(self.faults() as f64)
            ),
        )?;
        if self.failures.is_empty() {
            row(f, "errors", "none".into())?;
        }
        for (kind, (count, samples)) in &self.failures {
            row(f, &format!("error: {}", kind.name()), format!("{count}"))?;
            for (behaviour, detail) in samples {
                row(f, "", format!("{}: {detail}", behaviour.name()))?;
            }
        }
        row(
            f,
            "server CPU",
            format!(
                "{:.1} s, {:.0}% of a core",
                self.server_cpu.as_secs_f64(),
                100.0 * self.server_cpu.as_secs_f64() / self.soaked_for.as_secs_f64().max(1e-9)
            ),
        )?;
        if let Some(died) = &self.died {
            row(f, "the server", format!("died: {died}"))?;
        }
        if let (Some(before), Some(after)) = (self.baseline, self.end) {
            row(
                f,
                "descriptors, before → after",
                format!("{} → {}", before.fds, after.fds),
            )?;
            row(
                f,
                "threads, before → after",
                format!("{} → {}", before.threads, after.threads),
            )?;
            row(
                f,
                "memory, before → after",
                format!(
                    "{} (at most {:.1} MiB during the soak; bound: {} MiB of growth)",
                    state((before.rss_kib, after.rss_kib)),
                    self.peak_rss_kib as f64 / 1024.0,
                    s.rss_bound_mib
                ),
            )?;
            row(
                f,
                "still answers a hello",
                match &self.still_answers {
                    Ok(()) => "yes".into(),
                    Err(why) => format!("no: {why}"),
                },
            )?;
        }
        if let Some(shutdown) = &self.shutdown {
            row(
                f,
                "SIGTERM",
                match shutdown {
                    Shutdown::Graceful(after) => {
                        format!("exit 0 after {:.0} ms", after.as_secs_f64() * 1000.0)
                    }
                    Shutdown::Limitation(name) => {
                        format!("killed by it, as the fault table says (\"{name}\")")
                    }
                    Shutdown::NotChecked => "not checked: not a chapter's server".into(),
                    Shutdown::Wrong(why) => format!("wrong: {why}"),
                },
            )?;
        }
        for limitation in &self.limitations {
            row(f, "limitation", limitation.clone())?;
        }
        let problems = self.problems();
        if problems.is_empty() {
            writeln!(f, "soak passed (seed {})\n", s.seed)
        } else {
            writeln!(
                f,
                "soak FAILED (seed {}): {}\n  replay: echo-bench soak --seed {} --duration {} --clients {} -- {}\n",
                s.seed,
                problems.join("; "),
                s.seed,
                s.duration.as_secs_f64(),
                s.clients,
                self.command
            )
        }
    }
}

/// The `--every-server` summary, as Markdown.
pub fn table(reports: &[&SoakReport], settings: Settings) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Each server soaked for {:.0} s with seed {}: {} clients, `--idle-timeout {:?}`, \
         `--max-connections {}`, `--grace {:?}`.\n",
        settings.duration.as_secs_f64(),
        settings.seed,
        settings.clients,
        settings.idle_timeout,
        settings.max_connections,
        settings.grace
    );
    let _ = writeln!(
        out,
        "| server | connections | bytes verified | faults injected | errors | leaks | SIGTERM | limitations (fault table) |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    for r in reports {
        let leaks = r.leaks();
        let _ = writeln!(
            out,
            // The name in backticks: Markdown would make `--flag` a dash.
            "| `{}` | {} | {} | {} | {} | {} | {} | {} |",
            r.name,
            thousands(r.connections() as f64),
            mib(r.verified()),
            thousands(r.faults() as f64),
            if r.errors() == 0 {
                "none".to_string()
            } else {
                r.failures
                    .iter()
                    .map(|(kind, (n, _))| format!("{n} {}", kind.name()))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            match (&r.died, leaks.is_empty()) {
                (Some(_), _) => "the server died".to_string(),
                (None, true) => "none".to_string(),
                (None, false) => leaks.join(", "),
            },
            match &r.shutdown {
                Some(Shutdown::Graceful(_)) => "exit 0".to_string(),
                Some(Shutdown::Limitation(_)) => "killed (limitation)".to_string(),
                Some(Shutdown::NotChecked) | None => "—".to_string(),
                Some(Shutdown::Wrong(why)) => format!("wrong: {why}"),
            },
            if r.limitation_names.is_empty() {
                "—".to_string()
            } else {
                r.limitation_names.join("; ")
            }
        );
    }
    out
}
