//! What each chapter's model is expected to do under each fault: the one
//! table the whole suite reads.
//!
//! `Survives` means the fault's full requirement is asserted. A
//! `Limitation` names a behaviour the model cannot avoid by design; the
//! fault's test then asserts *that* behaviour, so a limitation is checked
//! as a fact (and the table must change when a chapter outgrows it), never
//! skipped. A chapter missing from the table is held to every requirement.

use std::fmt;

/// The faults, in the book's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Out of descriptors on accept (EMFILE).
    Emfile,
    /// Per-connection accept errors and EINTR.
    AcceptErrors,
    /// Clients that reset with full buffers.
    Resets,
    /// Idle and non-reading clients; the connection cap.
    Slowloris,
    /// Hundreds of MiB offered by clients that don't read.
    BackPressure,
    /// SIGINT / SIGTERM with connections open.
    Shutdown,
    /// Malformed flags and addresses given to the binaries.
    BadInput,
}

impl Fault {
    /// Every fault, in the book's order.
    pub const ALL: [Fault; 7] = [
        Fault::Emfile,
        Fault::AcceptErrors,
        Fault::Resets,
        Fault::Slowloris,
        Fault::BackPressure,
        Fault::Shutdown,
        Fault::BadInput,
    ];
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Fault::Emfile => "out of descriptors on accept",
            Fault::AcceptErrors => "accept errors and EINTR",
            Fault::Resets => "resets with full buffers",
            Fault::Slowloris => "slow and stalled clients",
            Fault::BackPressure => "back-pressure",
            Fault::Shutdown => "shutdown on a signal",
            Fault::BadInput => "bad input",
        };
        f.write_str(name)
    }
}

/// A behaviour a model cannot avoid by design. Each variant is asserted by
/// the faults it belongs to (see those faults' modules).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limitation {
    /// Emfile: the loop polls every socket without ever sleeping, so it
    /// burns a core whether accept fails or not.
    BusyPolls,
    /// Shutdown: SIGINT/SIGTERM keep their default action, so the process
    /// dies at once and its open connections are cut mid-echo.
    KilledBySignal,
    /// Slowloris and Emfile: the server has one listen backlog per thread
    /// (`SO_REUSEPORT`), so clients waiting over the connection cap, or
    /// for descriptors, are served as slots free, but not in the order
    /// they connected.
    BacklogPerThread,
}

impl Limitation {
    /// The faults whose tests assert this limitation.
    pub fn faults(self) -> &'static [Fault] {
        match self {
            Limitation::BusyPolls => &[Fault::Emfile],
            Limitation::KilledBySignal => &[Fault::Shutdown],
            Limitation::BacklogPerThread => &[Fault::Emfile, Fault::Slowloris],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Limitation::BusyPolls => "busy-polls: spins on a core whether accept fails or not",
            Limitation::KilledBySignal => {
                "killed by the signal: no graceful shutdown, open connections are cut"
            }
            Limitation::BacklogPerThread => {
                "one backlog per thread: waiting clients are served out of order"
            }
        }
    }
}

/// What one chapter does under one fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    Survives,
    /// The named behaviour, and why this chapter's model has it.
    Limitation(Limitation, &'static str),
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expect::Survives => f.write_str("survives"),
            Expect::Limitation(limitation, why) => {
                write!(f, "limitation \"{}\" ({why})", limitation.name())
            }
        }
    }
}

/// One chapter's row.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    pub emfile: Expect,
    pub accept_errors: Expect,
    pub resets: Expect,
    pub slowloris: Expect,
    pub back_pressure: Expect,
    pub shutdown: Expect,
    pub bad_input: Expect,
}

impl Row {
    pub fn get(&self, fault: Fault) -> Expect {
        match fault {
            Fault::Emfile => self.emfile,
            Fault::AcceptErrors => self.accept_errors,
            Fault::Resets => self.resets,
            Fault::Slowloris => self.slowloris,
            Fault::BackPressure => self.back_pressure,
            Fault::Shutdown => self.shutdown,
            Fault::BadInput => self.bad_input,
        }
    }
}

use Expect::Survives;

/// Every requirement, for a chapter with no row of its own.
pub const ALL_SURVIVE: Row = Row {
    emfile: Survives,
    accept_errors: Survives,
    resets: Survives,
    slowloris: Survives,
    back_pressure: Survives,
    shutdown: Survives,
    bad_input: Survives,
};

/// One line of the table: a chapter's server, run with `args` (none: the
/// chapter as shipped; otherwise a variant the suite also runs), and what
/// it does under each fault.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    pub package: &'static str,
    pub args: &'static [&'static str],
    pub row: Row,
}

/// Chapter (and variant) → fault → expected behaviour.
pub const TABLE: &[Entry] = &[
    Entry {
        package: "ch01-blocking-echo",
        args: &[],
        row: Row {
            shutdown: Expect::Limitation(
                Limitation::KilledBySignal,
                "SIGINT and SIGTERM keep their default action; the threads \
                 are blocked in accept(2) and read(2), and waking each to \
                 finish up would take a signal thread plus shutdown(2) on \
                 every socket, which chapter 3's one loop gets for free",
            ),
            ..ALL_SURVIVE
        },
    },
    Entry {
        package: "ch02-nonblocking-echo",
        args: &[],
        row: Row {
            emfile: Expect::Limitation(
                Limitation::BusyPolls,
                "by default the loop never sleeps (--idle-sleep is off), so \
                 it burns a core idle or not; pausing accept after EMFILE \
                 stops the accept storm, not the polling",
            ),
            ..ALL_SURVIVE
        },
    },
    // With a sleep after each pass that moved nothing, the same loop
    // stops spinning, and the accept pause is what keeps EMFILE cheap.
    Entry {
        package: "ch02-nonblocking-echo",
        args: &["--idle-sleep", "0.001"],
        row: ALL_SURVIVE,
    },
    // Level-triggered readiness is where a readable listener that cannot
    // be accepted from spins; poll(2) is level-triggered too.
    Entry {
        package: "ch03-multiplexed-echo",
        args: &["--backend", "epoll-level"],
        row: ALL_SURVIVE,
    },
    Entry {
        package: "ch03-multiplexed-echo",
        args: &["--backend", "poll"],
        row: ALL_SURVIVE,
    },
    // `tokio::io::copy` on split halves instead of the hand-written loop.
    Entry {
        package: "ch04-async-echo",
        args: &["--copy"],
        row: ALL_SURVIVE,
    },
    // Two runtimes on two threads, one SO_REUSEPORT listener each.
    Entry {
        package: "ch05-runtime-echo",
        args: &["--threads", "2"],
        row: Row {
            emfile: Expect::Limitation(
                Limitation::BacklogPerThread,
                "the descriptors are the process's, the backlogs the \
                 runtimes': one runtime may take every descriptor for the \
                 clients of its backlog while the first client waits in \
                 the other's",
            ),
            slowloris: Expect::Limitation(
                Limitation::BacklogPerThread,
                "the kernel puts each new client in the backlog of one \
                 runtime's listener, chosen by a hash of its address; when \
                 a slot frees, the runtime that takes it serves the oldest \
                 client of its own backlog, which need not be the oldest \
                 client of the server",
            ),
            ..ALL_SURVIVE
        },
    },
    // io_uring: one operation at a time into each connection's own buffer
    // (the default is multishot receive into a shared buffer ring).
    Entry {
        package: "ch06-uring-echo",
        args: &["--step", "single"],
        row: ALL_SURVIVE,
    },
    // Sockets in the ring's registered file table.
    Entry {
        package: "ch06-uring-echo",
        args: &["--fixed-files"],
        row: ALL_SURVIVE,
    },
    // A kernel thread polls the submission queue; its CPU time counts in
    // the out-of-descriptors fault like the server's own.
    Entry {
        package: "ch06-uring-echo",
        args: &["--sqpoll"],
        row: ALL_SURVIVE,
    },
];

/// The row for `package` run with `args`; every requirement if the table
/// has no such line.
pub fn of(package: &str, args: &[&str]) -> Row {
    TABLE
        .iter()
        .find(|entry| entry.package == package && entry.args == args)
        .map_or(ALL_SURVIVE, |entry| entry.row)
}

/// For a fault's `match` on a limitation it has no assertion for: a table
/// entry that names the wrong fault's limitation fails loudly.
pub fn no_assertion_for(fault: Fault, limitation: Limitation) -> ! {
    panic!(
        "the table gives {fault} the limitation \"{}\", which that fault cannot assert",
        limitation.name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_limitation_sits_under_the_fault_that_asserts_it() {
        for entry in TABLE {
            for fault in Fault::ALL {
                if let Expect::Limitation(limitation, _) = entry.row.get(fault) {
                    assert!(
                        limitation.faults().contains(&fault),
                        "{} {:?}: \"{}\" under {fault}",
                        entry.package,
                        entry.args,
                        limitation.name()
                    );
                }
            }
        }
    }

    #[test]
    fn no_server_appears_twice() {
        for (i, a) in TABLE.iter().enumerate() {
            for b in &TABLE[i + 1..] {
                assert!(
                    (a.package, a.args) != (b.package, b.args),
                    "{} {:?} is in the table twice",
                    a.package,
                    a.args
                );
            }
        }
    }

    #[test]
    fn a_chapter_without_a_line_is_held_to_everything() {
        let row = of("ch99-not-written-yet", &[]);
        assert!(
            Fault::ALL
                .iter()
                .all(|&fault| row.get(fault) == Expect::Survives)
        );
    }
}
