//! Fault 1: out of file descriptors on accept (EMFILE).
//!
//! The server starts with `ulimit -n 64` and we hold 150 connections: it
//! can accept about 60, the rest wait in the listen backlog, so the
//! listener stays readable and every `accept` fails with EMFILE. A loop
//! that retries at once spins at 100% of a core; one that gives up exits.
//! Required: the server keeps running, uses next to no CPU while
//! saturated, and serves a new client as soon as descriptors free up.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use echo_conformance::Server;
use echo_conformance::net::round_trip;
use echo_conformance::process::eventually;

use crate::expectations::{Expect, Fault, Limitation, no_assertion_for};
use crate::net::exchange;
use crate::process::{busyness, limit_descriptors};
use crate::{Subject, report};

/// The server's descriptor limit.
pub const FD_LIMIT: u64 = 64;
/// Connections we hold: well over the limit.
pub const CLIENTS: usize = 150;
/// How long we measure the server's CPU while it is saturated.
pub const WINDOW: Duration = Duration::from_millis(1500);
/// Below this share of a core, the server is not spinning.
pub const IDLE_CPU: f64 = 0.10;
/// Runnable in more than this share of samples, the server is spinning. (Its
/// CPU share would say so on an idle machine, a whole core, but not on one
/// busy compiling, where a spinning loop got 7% of a core.)
pub const SPINNING_RUNNABLE: f64 = 0.5;

pub fn run(subject: &Subject, expect: Expect) {
    const FAULT: Fault = Fault::Emfile;
    // ANCHOR: saturate
    let mut command = subject.server();
    // Quiet: a server that logs every failed accept while spinning would
    // write megabytes a second.
    command.arg("--quiet");
    limit_descriptors(&mut command, FD_LIMIT);
    let mut server = Server::start(command);

    let clients: Vec<TcpStream> = (0..CLIENTS).map(|_| server.connect()).collect();
    if let Expect::Limitation(Limitation::BacklogPerThread, _) = expect {
        // Some client is served while the descriptors run out, not
        // necessarily the first.
        for client in &clients {
            crate::net::send_all(client, b"first");
        }
        let all: Vec<&TcpStream> = clients.iter().collect();
        let served = crate::net::first_readable(&all);
        let mut echoed = [0; 5];
        std::io::Read::read_exact(&mut &clients[served], &mut echoed).expect("reading the echo");
        assert_eq!(&echoed, b"first");
        report(
            subject,
            FAULT,
            format_args!(
                "the first client served was client {} of {CLIENTS}",
                served + 1
            ),
        );
    } else {
        // The first client was accepted before the descriptors ran out.
        exchange(&clients[0], b"first");
    }
    eventually("the server holds all the descriptors it may", || {
        server.assert_running();
        server.open_fds() as u64 >= FD_LIMIT - 2
    });
    let saturated = busyness(&server, WINDOW);
    server.assert_running();
    report(
        subject,
        FAULT,
        format_args!(
            "saturated ({} descriptors open, {CLIENTS} clients): {saturated}",
            server.open_fds()
        ),
    );
    match expect {
        Expect::Survives => assert!(
            saturated.cpu.fraction() < IDLE_CPU,
            "the server spins while out of descriptors: {saturated}"
        ),
        Expect::Limitation(Limitation::BusyPolls, _) => assert!(
            saturated.runnable > SPINNING_RUNNABLE,
            "expected the busy-polling loop to spin, but: {saturated}"
        ),
        // The order clients are served in is the limitation; spinning is not.
        Expect::Limitation(Limitation::BacklogPerThread, _) => assert!(
            saturated.cpu.fraction() < IDLE_CPU,
            "the server spins while out of descriptors: {saturated}"
        ),
        Expect::Limitation(other, _) => no_assertion_for(FAULT, other),
    }
    // ANCHOR_END: saturate

    drop(clients);
    let released = Instant::now();
    let mut fresh = server.connect();
    assert_eq!(round_trip(&mut fresh, b"after"), b"after");
    report(
        subject,
        FAULT,
        format_args!(
            "released {CLIENTS} clients; a new client was echoed {:.0} ms later",
            released.elapsed().as_secs_f64() * 1000.0
        ),
    );
    server.assert_running();
}
