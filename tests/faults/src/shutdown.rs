//! Fault 6: SIGINT and SIGTERM with connections open.
//!
//! Required (graceful shutdown), for each of the two signals:
//! - the server stops accepting at once: new connections are refused
//!   within [`STOP_ACCEPTING_WITHIN`];
//! - a connection in the middle of an echo (128 KiB sent, its echo not yet
//!   read) finishes: it sends the rest after the signal and gets every
//!   byte back, then EOF;
//! - a connection that stays open is closed when `--grace` runs out, and
//!   the server exits 0 within `--grace` (plus [`EXIT_SLACK`]);
//! - a second signal, with `--grace 30` and a connection open, ends the
//!   process within [`AT_ONCE`], and the same way in every chapter: the
//!   line `second signal: exiting now` on stderr and exit status
//!   [`echo_common::EXIT_SECOND_SIGNAL`] (130). Every chapter in
//!   `CHAPTERS` without the `KilledBySignal` limitation is held to it.
//!
//! The limitation `KilledBySignal` asserts instead that the signal's
//! default action ends the process at once and the kernel closes the
//! connection mid-echo.

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::ExitStatusExt;
use std::thread;
use std::time::{Duration, Instant};

use echo_conformance::Server;

use crate::expectations::{Expect, Fault, Limitation, no_assertion_for};
use crate::net::{exchange, read_checked, read_until_closed, send_pattern};
use crate::{Subject, report};

/// `--grace` for the graceful run: far more than the echo in flight takes
/// (milliseconds), because on a loaded machine a server that sleeps between
/// passes (chapter 2 with `--idle-sleep`) can take a second or more to move
/// 256 KiB through its 8 KiB buffer, and the grace period would cut it.
pub const GRACE: Duration = Duration::from_secs(3);
/// How late after `--grace` the exit may come (a loaded CI machine).
pub const EXIT_SLACK: Duration = Duration::from_secs(3);
/// How soon after the signal new connections must be refused.
pub const STOP_ACCEPTING_WITHIN: Duration = Duration::from_secs(2);
/// How soon after a second signal the process must be gone.
pub const AT_ONCE: Duration = Duration::from_secs(2);
/// The echo in flight when the signal arrives: half sent before it.
const MESSAGE: usize = 256 * 1024;
const SEED: u64 = 0x5167;

pub fn run(subject: &Subject, expect: Expect) {
    const FAULT: Fault = Fault::Shutdown;
    for (signal, name) in [(libc::SIGINT, "SIGINT"), (libc::SIGTERM, "SIGTERM")] {
        match expect {
            Expect::Survives => {
                graceful(subject, FAULT, signal, name);
                second_signal(subject, FAULT, signal, name);
            }
            Expect::Limitation(Limitation::KilledBySignal, _) => {
                killed(subject, FAULT, signal, name);
            }
            Expect::Limitation(other, _) => no_assertion_for(FAULT, other),
        }
    }
}

/// A connection with half a message sent and its echo unread.
fn mid_echo(server: &Server) -> TcpStream {
    let stream = server.connect();
    exchange(&stream, b"hello");
    send_pattern(&stream, SEED, 0, MESSAGE / 2).expect("sending half the message");
    stream
}

fn graceful(subject: &Subject, fault: Fault, signal: i32, name: &str) {
    let mut command = subject.server();
    command.args(["--quiet", "--grace", &GRACE.as_secs_f64().to_string()]);
    let mut server = Server::start(command);
    let in_flight = mid_echo(&server);
    let lingering = server.connect();
    exchange(&lingering, b"I will not leave");

    // ANCHOR: graceful
    let signalled = Instant::now();
    server.signal(signal);
    let refused_after = wait_until_refused(server.addr(), signalled, name);

    let finished = thread::scope(|scope| {
        let reader = scope.spawn(|| read_checked(&in_flight, SEED));
        if let Err(e) = send_pattern(&in_flight, SEED, MESSAGE / 2, MESSAGE) {
            panic!(
                "sending the rest of the echo in flight {:?} after {name}: {e}",
                signalled.elapsed()
            );
        }
        in_flight
            .shutdown(std::net::Shutdown::Write)
            .expect("half-close");
        reader.join().expect("reading the in-flight echo failed")
    });
    assert_eq!(
        finished, MESSAGE as u64,
        "the echo in flight at {name} was cut short"
    );
    // ANCHOR_END: graceful
    let echo_done_after = signalled.elapsed();

    let ending = read_until_closed(&lingering);
    let lingering_closed_after = signalled.elapsed();
    let status = server.wait_exit();
    let exited_after = signalled.elapsed();
    assert!(
        status.success(),
        "after {name} the server exited with {status}; stderr: {}",
        server.stderr()
    );
    assert!(
        exited_after <= GRACE + EXIT_SLACK,
        "after {name} the server took {exited_after:?} to exit (--grace {GRACE:?})"
    );
    report(
        subject,
        fault,
        format_args!(
            "{name} with --grace {:.0}: refusing new connections after {:.0} ms; in-flight \
             echo completed ({} KiB) at {:.0} ms; lingering connection closed ({ending:?}) at \
             {:.0} ms; exit 0 at {:.0} ms",
            GRACE.as_secs_f64(),
            refused_after.as_secs_f64() * 1000.0,
            MESSAGE / 1024,
            echo_done_after.as_secs_f64() * 1000.0,
            lingering_closed_after.as_secs_f64() * 1000.0,
            exited_after.as_secs_f64() * 1000.0
        ),
    );
}

/// What every chapter writes on stderr when a second signal ends it.
pub const SECOND_SIGNAL_LINE: &str = "second signal: exiting now";

fn second_signal(subject: &Subject, fault: Fault, signal: i32, name: &str) {
    let mut command = subject.server();
    // Not --quiet: the line it logs is part of the contract.
    command.args(["--grace", "30"]);
    let mut server = Server::start(command);
    let open = server.connect();
    exchange(&open, b"keep me");

    let first = Instant::now();
    server.signal(signal);
    wait_until_refused(server.addr(), first, name);
    let second = Instant::now();
    server.signal(signal);
    let status = server.wait_exit();
    let exited_after = second.elapsed();
    assert!(
        exited_after <= AT_ONCE,
        "a second {name} took {exited_after:?} to end the server (--grace 30)"
    );
    assert_eq!(
        status.code(),
        Some(i32::from(echo_common::EXIT_SECOND_SIGNAL)),
        "a second {name} must exit with status {} (128 + SIGINT), as in every chapter; got {status}",
        echo_common::EXIT_SECOND_SIGNAL
    );
    server.wait_for_stderr(SECOND_SIGNAL_LINE);
    read_until_closed(&open);
    report(
        subject,
        fault,
        format_args!(
            "second {name} (--grace 30, one connection open): exited ({status}) {:.0} ms later",
            exited_after.as_secs_f64() * 1000.0
        ),
    );
}

fn killed(subject: &Subject, fault: Fault, signal: i32, name: &str) {
    let mut command = subject.server();
    command.arg("--quiet");
    let mut server = Server::start(command);
    let in_flight = mid_echo(&server);

    let signalled = Instant::now();
    server.signal(signal);
    let status = server.wait_exit();
    let exited_after = signalled.elapsed();
    assert_eq!(
        status.signal(),
        Some(signal),
        "expected {name} to kill the server, but it exited with {status}"
    );
    let ending = read_until_closed(&in_flight);
    report(
        subject,
        fault,
        format_args!(
            "{name}: killed by the signal ({status}) after {:.0} ms; the connection \
             mid-echo was cut ({ending:?})",
            exited_after.as_secs_f64() * 1000.0
        ),
    );
}

/// Connects until the server refuses, which must happen within
/// [`STOP_ACCEPTING_WITHIN`] of `since`. Returns how long it took.
fn wait_until_refused(addr: SocketAddr, since: Instant, signal: &str) -> Duration {
    loop {
        match TcpStream::connect(addr) {
            // Not yet: the server had not handled the signal. Closing at
            // once leaves it a connection that ends straight away.
            Ok(stream) => drop(stream),
            // Refused: the listener is closed. Reset: it closed while our
            // handshake was under way, and the kernel reset the connection
            // it had queued for it.
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::ConnectionRefused | ErrorKind::ConnectionReset
                ) =>
            {
                return since.elapsed();
            }
            Err(e) => panic!("connecting after {signal}: {e}"),
        }
        assert!(
            since.elapsed() <= STOP_ACCEPTING_WITHIN,
            "the server still took connections {STOP_ACCEPTING_WITHIN:?} after {signal}"
        );
        thread::sleep(Duration::from_millis(5));
    }
}
