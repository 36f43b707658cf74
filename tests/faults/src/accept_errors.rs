//! Fault 2: per-connection accept errors, and EINTR.
//!
//! Two things we can provoke from outside the process:
//!
//! - **EINTR.** A signal whose default action is "ignore" interrupts
//!   nothing, and a handler installed with `SA_RESTART` makes most calls
//!   restart by themselves. But on Linux a process stopped with SIGSTOP
//!   (Ctrl-Z) and continued with SIGCONT (`fg`) gets EINTR from
//!   `epoll_wait(2)` and from socket calls on sockets with a timeout
//!   (`SO_RCVTIMEO`/`SO_SNDTIMEO`), handler or not (signal(7), "Interruption
//!   of system calls and library functions by stop signals"). So we stop
//!   and continue the server over and over while clients echo through it,
//!   and send the signals a server is likely to see and ought to ignore
//!   (SIGWINCH, SIGCHLD, SIGURG, SIGPIPE) in between.
//! - **A connection that dies in the accept queue.** With the server at its
//!   `--max-connections` cap, clients queue in the backlog; twenty of them
//!   reset (SO_LINGER 0) before being accepted. When a slot frees, the
//!   server's `accept` returns each dead connection (Linux) or fails with
//!   ECONNABORTED (BSDs), and the first read fails with ECONNRESET. That
//!   must cost those connections only.
//!
//! What we cannot provoke on loopback: EPROTO, ENOBUFS/ENOMEM (kernel
//! memory pressure) and ENFILE (the system-wide table, which would starve
//! every process on the machine). The servers treat them like the errors
//! above (`echo_common::AcceptError`), but no test here exercises them.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use echo_conformance::net::round_trip;
use echo_conformance::process::DEADLINE;
use echo_conformance::{Server, pattern};
use socket2::SockRef;

use crate::expectations::{Expect, Fault, no_assertion_for};
use crate::net::exchange;
use crate::process::{resume, stop};
use crate::{Subject, report};

/// Stop/continue rounds at least, each followed by the ignorable signals.
pub const ROUNDS: u32 = 25;
/// Rounds go on until every client has had this many echoes meanwhile.
pub const EXCHANGES_PER_CLIENT: u64 = 25;
/// Clients echoing through the server while it is stopped and continued.
pub const CLIENTS: u64 = 4;
/// Connections that reset while waiting in the accept queue.
pub const DEAD_IN_QUEUE: usize = 20;

const IGNORABLE: [(i32, &str); 4] = [
    (libc::SIGWINCH, "SIGWINCH"),
    (libc::SIGCHLD, "SIGCHLD"),
    (libc::SIGURG, "SIGURG"),
    (libc::SIGPIPE, "SIGPIPE"),
];

pub fn run(subject: &Subject, expect: Expect) {
    const FAULT: Fault = Fault::AcceptErrors;
    match expect {
        Expect::Survives => {}
        Expect::Limitation(other, _) => no_assertion_for(FAULT, other),
    }
    signals_interrupt_nothing(subject, FAULT);
    dead_connections_in_the_queue(subject, FAULT);
}

/// Clients keep echoing (every byte checked) while the server is stopped,
/// continued and sent ignorable signals; short-lived connections keep
/// arriving so `accept` is in play too.
fn signals_interrupt_nothing(subject: &Subject, fault: Fault) {
    let mut command = subject.server();
    command.arg("--quiet");
    let mut server = Server::start(command);
    let done = AtomicBool::new(false);
    let exchanges: Vec<AtomicU64> = (0..CLIENTS).map(|_| AtomicU64::new(0)).collect();
    let started = Instant::now();
    let rounds = thread::scope(|scope| {
        for client in 0..CLIENTS {
            let (server, done) = (&server, &done);
            let exchanges = &exchanges[client as usize];
            scope.spawn(move || {
                let _stop_all = SetOnPanic(done);
                let stream = server.connect();
                let seed = 0xe1_0000 + client;
                let mut rng = fastrand::Rng::with_seed(seed);
                let mut round = 0u64;
                while !done.load(Ordering::Relaxed) {
                    let len = rng.usize(1..=32 * 1024);
                    let message = pattern::bytes(seed ^ round, len);
                    exchange(&stream, &message);
                    exchanges.fetch_add(1, Ordering::Relaxed);
                    round += 1;
                }
            });
        }
        {
            let (server, done) = (&server, &done);
            scope.spawn(move || {
                let _stop_all = SetOnPanic(done);
                let mut i = 0u32;
                while !done.load(Ordering::Relaxed) {
                    let message = i.to_be_bytes();
                    assert_eq!(round_trip(&mut server.connect(), &message), message);
                    i += 1;
                }
            });
        }
        // Stop the others however this thread ends, so a failure here
        // does not leave them echoing forever.
        let _stop_clients = SetOnDrop(&done);
        let mut rounds = 0;
        // A client that failed sets `done` too: stop, and let the scope
        // report its panic.
        while !done.load(Ordering::Relaxed)
            && (rounds < ROUNDS
                || exchanges
                    .iter()
                    .any(|n| n.load(Ordering::Relaxed) < EXCHANGES_PER_CLIENT))
        {
            assert!(
                started.elapsed() < DEADLINE,
                "clients made too little progress in {DEADLINE:?}"
            );
            rounds += 1;
            stop(&server);
            resume(&server);
            for (signal, _) in IGNORABLE {
                server.signal(signal);
            }
        }
        rounds
    });
    server.assert_running();
    let names: Vec<&str> = IGNORABLE.iter().map(|(_, name)| *name).collect();
    report(
        subject,
        fault,
        format_args!(
            "{rounds} rounds of SIGSTOP/SIGCONT + {} in {:.2} s: {} echoes on {CLIENTS} \
             connections meanwhile, every byte right, server still running",
            names.join("/"),
            started.elapsed().as_secs_f64(),
            exchanges
                .iter()
                .map(|n| n.load(Ordering::Relaxed))
                .sum::<u64>()
        ),
    );
}

/// With the server at its cap of one connection, connections queue in
/// the backlog and reset there; once the slot frees the server meets them
/// one after another, and the healthy client queued behind them is served.
fn dead_connections_in_the_queue(subject: &Subject, fault: Fault) {
    let mut command = subject.server();
    command.args(["--quiet", "--max-connections", "1"]);
    let mut server = Server::start(command);
    let holder = server.connect();
    exchange(&holder, b"holding the only slot");

    // ANCHOR: dead_in_queue
    for _ in 0..DEAD_IN_QUEUE {
        let doomed = server.connect();
        let mut writer = &doomed;
        std::io::Write::write_all(&mut writer, b"never read").expect("sending");
        SockRef::from(&doomed)
            .set_linger(Some(Duration::ZERO))
            .expect("SO_LINGER");
        drop(doomed); // RST while still in the accept queue
    }
    // ANCHOR_END: dead_in_queue
    let mut healthy = server.connect();
    drop(holder);
    let freed = Instant::now();
    assert_eq!(round_trip(&mut healthy, b"served"), b"served");
    server.assert_running();
    report(
        subject,
        fault,
        format_args!(
            "{DEAD_IN_QUEUE} connections reset in the accept queue; the client queued behind \
             them was echoed {:.0} ms after the slot freed",
            freed.elapsed().as_secs_f64() * 1000.0
        ),
    );
}

/// Sets the flag when dropped (also while unwinding from a panic).
struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Sets the flag if dropped while its thread panics.
struct SetOnPanic<'a>(&'a AtomicBool);

impl Drop for SetOnPanic<'_> {
    fn drop(&mut self) {
        if thread::panicking() {
            self.0.store(true, Ordering::Relaxed);
        }
    }
}
