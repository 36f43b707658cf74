//! Graceful shutdown, with real signals to the real binary.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};

use echo_conformance::net::{exchange, expect_eof};
use echo_conformance::{Server, pattern};

/// Longer than any test's deadline: a server that waited out the grace
/// period instead of exiting when its last connection closed would fail
/// `wait_exit`.
const LONG_GRACE: &str = "600";

fn wait_until_not_accepting(server: &Server) {
    server.wait_for_stderr("stopped accepting");
}

// ANCHOR: in_flight
#[test]
fn sigint_lets_an_echo_in_flight_finish_then_exits_0() {
    const SEED: u64 = 0x51c;
    let mut server = Server::start(support::server(&["--grace", LONG_GRACE]));
    let stream = server.connect();
    exchange(&stream, b"before");

    // Send without reading until the buffers are full: the server now has
    // bytes it cannot write back until we read. That echo is in flight.
    let mut writer = &stream;
    writer.set_nonblocking(true).unwrap();
    let mut buf = vec![0; 64 * 1024];
    let mut sent = 0u64;
    loop {
        pattern::fill(SEED, sent, &mut buf);
        match writer.write(&buf) {
            Ok(n) => sent += n as u64,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => panic!("filling the buffers: {e}"),
        }
    }
    writer.set_nonblocking(false).unwrap();
    assert!(sent > 0);

    server.signal(libc::SIGINT);
    wait_until_not_accepting(&server);
    let refused = TcpStream::connect(server.addr());
    assert!(
        refused.is_err(),
        "a new connection was accepted after SIGINT"
    );

    // The echo in flight completes: every byte comes back, then EOF.
    stream.shutdown(Shutdown::Write).unwrap();
    let mut echoed = Vec::new();
    (&stream).read_to_end(&mut echoed).unwrap();
    assert_eq!(
        echoed.len() as u64,
        sent,
        "bytes lost in the graceful shutdown"
    );
    pattern::check(SEED, 0, &echoed);

    let status = server.wait_exit();
    assert!(
        status.success(),
        "exit status {status}: {}",
        server.stderr()
    );
}
// ANCHOR_END: in_flight

#[test]
fn a_second_sigint_exits_at_once() {
    let mut server = Server::start(support::server(&["--grace", LONG_GRACE]));
    let mut open = server.connect();
    exchange(&open, b"still open");

    server.signal(libc::SIGINT);
    wait_until_not_accepting(&server);
    server.signal(libc::SIGINT);

    // Within the deadline, so long before the grace period is over.
    let status = server.wait_exit();
    assert_eq!(
        status.code(),
        Some(i32::from(echo_common::EXIT_SECOND_SIGNAL)),
        "want 128 + SIGINT: {}",
        server.stderr()
    );
    server.wait_for_stderr("second signal: exiting now");
    // The connection went with the process.
    let mut rest = Vec::new();
    let _ = open.read_to_end(&mut rest);
    assert!(rest.is_empty(), "unexpected bytes after the exit");
}

#[test]
fn sigterm_closes_connections_left_after_the_grace_period_and_exits_0() {
    let mut server = Server::start(support::server(&["--grace", "0.3"]));
    let idle = server.connect();
    exchange(&idle, b"then silence");

    server.signal(libc::SIGTERM);
    let status = server.wait_exit();
    assert!(
        status.success(),
        "exit status {status}: {}",
        server.stderr()
    );
    server.wait_for_stderr("grace period of 300ms over; closing 1 connection(s)");
    // Closed by the server with nothing pending: a clean end of stream.
    expect_eof(&idle);
}
