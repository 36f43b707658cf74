//! Faults every chapter's server must survive, run against the real
//! binaries as processes (issue 5; the book's "When things go wrong").
//!
//! Each fault is a module with one entry point, `run(subject, expect)`;
//! `tests/faults.rs` runs each fault against every chapter in
//! [`echo_conformance::CHAPTERS`], and against the variants (a chapter's
//! server with other flags, e.g. chapter 3's `--backend poll`) that the
//! table lists. What each is expected to do comes from the one table in
//! [`expectations`]: either the full requirement, or a named limitation
//! that the fault then asserts instead.
//!
//! Each run prints what it measured (CPU while saturated, RSS growth, how
//! long a close took) on stderr, prefixed `[server] fault:`; see them with
//! `cargo test -p echo-faults -- --nocapture`. Those lines are the figures
//! in the book's table.

pub mod expectations;
pub mod net;
pub mod process;

pub mod accept_errors;
pub mod back_pressure;
pub mod bad_input;
pub mod emfile;
pub mod resets;
pub mod shutdown;
pub mod slowloris;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::Command;

use echo_conformance::{CHAPTERS, Chapter, binary};
use expectations::{Expect, Fault, Row};

/// One server the faults run against: a chapter's server binary, with the
/// extra flags of a variant (none for the chapter as shipped), and what
/// the table expects of it.
#[derive(Debug, Clone, Copy)]
pub struct Subject {
    pub chapter: Chapter,
    pub args: &'static [&'static str],
    pub row: Row,
}

impl Subject {
    /// The server's command line, before the scenario's own flags.
    pub fn server(&self) -> Command {
        let mut command = Command::new(binary(self.chapter.server));
        command.args(self.args);
        command
    }

    /// The package, and the variant's flags if any.
    pub fn name(&self) -> String {
        std::iter::once(self.chapter.package)
            .chain(self.args.iter().copied())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Every chapter in [`CHAPTERS`] as shipped, each followed by the variants
/// the table lists for it.
pub fn subjects() -> Vec<Subject> {
    let mut subjects = Vec::new();
    for &chapter in CHAPTERS {
        subjects.push(Subject {
            chapter,
            args: &[],
            row: expectations::of(chapter.package, &[]),
        });
        for entry in expectations::TABLE {
            if entry.package == chapter.package && !entry.args.is_empty() {
                subjects.push(Subject {
                    chapter,
                    args: entry.args,
                    row: entry.row,
                });
            }
        }
    }
    subjects
}

/// How [`for_each_chapter`] goes through the servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// One server at a time: for faults that measure CPU or memory, or
    /// keep the machine busy, which would disturb the other servers (and
    /// the CPU figures of the test running beside this one).
    OneAtATime,
    /// Every server at once: for faults that mostly wait (for timeouts and
    /// grace periods), so that the waits overlap.
    AllAtOnce,
}

/// Runs `scenario` against every subject with its expectation for
/// `fault`. One subject failing does not hide the others: every one runs,
/// and the test fails at the end naming each that failed.
pub fn for_each_chapter(fault: Fault, pace: Pace, scenario: fn(&Subject, Expect)) {
    let run = |subject: &Subject| -> Result<(), String> {
        let expect = subject.row.get(fault);
        report(subject, fault, format_args!("expecting: {expect}"));
        catch_unwind(AssertUnwindSafe(|| scenario(subject, expect))).map_err(|panic| {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            format!("{}: {message}", subject.name())
        })
    };
    let subjects = subjects();
    let results: Vec<Result<(), String>> = match pace {
        Pace::OneAtATime => subjects.iter().map(run).collect(),
        Pace::AllAtOnce => std::thread::scope(|scope| {
            let runs: Vec<_> = subjects
                .iter()
                .map(|subject| scope.spawn(move || run(subject)))
                .collect();
            runs.into_iter()
                .map(|handle| handle.join().unwrap_or_else(|_| Err("panicked".into())))
                .collect()
        }),
    };
    let failures: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    assert!(
        failures.is_empty(),
        "{fault}: {} server(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Prints one measurement or observation, tagged with subject and fault.
pub fn report(subject: &Subject, fault: Fault, what: std::fmt::Arguments<'_>) {
    eprintln!("[{}] {fault}: {what}", subject.name());
}
