//! The server's own flags and signals, against the real binary:
//! `--idle-timeout`, `--max-connections`, graceful shutdown on SIGINT.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use echo_conformance::Server;
use echo_conformance::net::{exchange, read_to_eof};
use echo_conformance::process::eventually;

/// How long we watch for an echo that must not come. A window, not a
/// synchronisation: the assertion is that nothing arrives within it.
const WINDOW: Duration = Duration::from_millis(300);

fn server(args: &[&str]) -> Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ch02-nonblocking-echo"));
    command.args(args);
    Server::start(command)
}

#[test]
fn idle_connection_is_closed_after_the_timeout() {
    let server = server(&["--idle-timeout", "0.3"]);
    let quiet = server.connect();
    // Taken before the exchange: the server's last byte moved after it.
    let silent_since = Instant::now();
    exchange(&quiet, b"then silence");

    // The server closes it: we see EOF, not our deadline.
    assert!(read_to_eof(&quiet).is_empty());
    assert!(
        silent_since.elapsed() >= Duration::from_millis(300),
        "closed after {:?}, before the timeout",
        silent_since.elapsed()
    );
    server.wait_for_stderr("closed on error: idle timeout: no byte moved for 300ms");
}

#[test]
fn busy_connection_outlives_the_idle_timeout() {
    let server = server(&["--idle-timeout", "0.5"]);
    let stream = server.connect();
    let start = Instant::now();
    // Three timeouts' worth of steady traffic: never idle, never closed.
    while start.elapsed() < Duration::from_millis(1500) {
        exchange(&stream, b"still here");
    }
}

#[test]
fn over_the_cap_a_client_waits_in_the_backlog() {
    let server = server(&["--max-connections", "2"]);
    let first = server.connect();
    let second = server.connect();
    exchange(&first, b"1");
    exchange(&second, b"2");

    let mut third = server.connect(); // the kernel completes the handshake
    third.write_all(b"3").unwrap();
    third.set_read_timeout(Some(WINDOW)).unwrap();
    let waited = third.read(&mut [0]).unwrap_err();
    assert!(
        matches!(waited.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "served beyond --max-connections 2: {waited}"
    );

    first.shutdown(Shutdown::Write).unwrap();
    assert!(read_to_eof(&first).is_empty());
    // A slot is free: the third client is accepted and echoed.
    third.set_read_timeout(None).unwrap();
    let mut echo = [0];
    third.read_exact(&mut echo).unwrap();
    assert_eq!(&echo, b"3");
}

// ANCHOR: sigint
#[test]
fn sigint_stops_accepting_and_lets_connections_finish() {
    let mut server = server(&["--grace", "60"]);
    let open = server.connect();
    exchange(&open, b"before");

    server.signal(libc::SIGINT);
    eventually("the listener closes: new clients are refused", || {
        TcpStream::connect(server.addr()).is_err()
    });
    server.assert_running();

    // The connection that was open still echoes, to the end.
    exchange(&open, b"after");
    open.shutdown(Shutdown::Write).unwrap();
    assert!(read_to_eof(&open).is_empty());
    let status = server.wait_exit();
    assert!(status.success(), "exited with {status}");
}
// ANCHOR_END: sigint

#[test]
fn sigint_closes_what_is_left_when_the_grace_period_ends() {
    let mut server = server(&["--grace", "0.2"]);
    let lingering = server.connect();
    exchange(&lingering, b"never closes");

    server.signal(libc::SIGINT);
    let status = server.wait_exit();
    assert!(status.success(), "exited with {status}");
    assert!(read_to_eof(&lingering).is_empty());
    server.wait_for_stderr("grace period over");
}

#[test]
fn a_second_sigint_exits_at_once() {
    let mut server = server(&["--grace", "60"]);
    let lingering = server.connect();
    exchange(&lingering, b"keeps the server waiting");

    server.signal(libc::SIGINT);
    eventually("the first SIGINT is handled (listener closed)", || {
        TcpStream::connect(server.addr()).is_err()
    });
    server.signal(libc::SIGINT);
    let status = server.wait_exit();
    assert_eq!(
        status.code(),
        Some(i32::from(echo_common::EXIT_SECOND_SIGNAL)),
        "exited with {status}"
    );
    server.wait_for_stderr("second signal: exiting now");
}
