//! Graceful shutdown, against the real binary: SIGINT or SIGTERM stops
//! accepting at once and lets open connections finish, up to `--grace`; a
//! second signal exits at once with the status every chapter uses.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};

use echo_conformance::net::{exchange, expect_eof};
use echo_conformance::pattern;

use common::{BACKENDS, start};

/// A connection the server has accepted: the handshake alone only puts it
/// in the listen backlog, which closing the listener discards.
fn accepted_connection(server: &echo_conformance::Server) -> TcpStream {
    let stream = server.connect();
    exchange(&stream, b"ping");
    stream
}

/// Waits until the server has handled the first signal (it says so on
/// stderr), then checks that it no longer accepts.
fn wait_for_shutdown_to_begin(server: &echo_conformance::Server) {
    server.wait_for_stderr("shutting down");
    let refused = TcpStream::connect(server.addr());
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.kind() == ErrorKind::ConnectionRefused),
        "a new connection after the signal: {refused:?}"
    );
}

#[test]
fn sigint_lets_in_flight_echoes_finish_then_exits_0() {
    const SEED: u64 = 0x519;
    for backend in BACKENDS {
        // A long grace: the server must exit because the work is done, not
        // because the grace period ran out.
        let mut server = start(backend, &["--grace", "600"]);
        let mut stream = accepted_connection(&server);

        // Fill every buffer between us and back: bytes in flight in both
        // directions, the server holding some it cannot write back yet.
        stream.set_nonblocking(true).unwrap();
        let mut sent = 0u64;
        let mut chunk = vec![0; 64 * 1024];
        loop {
            pattern::fill(SEED, sent, &mut chunk);
            match stream.write(&chunk) {
                Ok(n) => sent += n as u64,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("{backend}: sending: {e}"),
            }
        }
        stream.set_nonblocking(false).unwrap();

        server.signal(libc::SIGINT);
        wait_for_shutdown_to_begin(&server);

        // Everything sent before the signal comes back...
        let mut echoed = vec![0; sent as usize];
        stream.read_exact(&mut echoed).unwrap();
        pattern::check(SEED, 0, &echoed);
        // ...the connection is still served...
        stream.write_all(b"still here").unwrap();
        let mut more = [0; 10];
        stream.read_exact(&mut more).unwrap();
        assert_eq!(&more, b"still here");
        // ...and when the client is done, it gets EOF and the server exits 0.
        stream.shutdown(Shutdown::Write).unwrap();
        expect_eof(&stream);
        let status = server.wait_exit();
        assert!(status.success(), "{backend}: exited with {status}");
    }
}

#[test]
fn sigterm_closes_what_is_left_when_the_grace_period_ends() {
    for backend in BACKENDS {
        let mut server = start(backend, &["--grace", "0.2"]);
        // Connected and echoed, then idle: never half-closes by itself.
        let idle = accepted_connection(&server);

        server.signal(libc::SIGTERM);
        let status = server.wait_exit();
        assert!(status.success(), "{backend}: exited with {status}");
        server.wait_for_stderr("grace period over");
        expect_eof(&idle);
    }
}

#[test]
fn a_second_sigint_exits_at_once() {
    for backend in BACKENDS {
        // Were the second signal ignored, the open connection would keep
        // the server alive for 600 s, far past `wait_exit`'s deadline.
        let mut server = start(backend, &["--grace", "600"]);
        let _open = accepted_connection(&server);
        server.signal(libc::SIGINT);
        wait_for_shutdown_to_begin(&server);

        server.signal(libc::SIGINT);
        let status = server.wait_exit();
        assert_eq!(
            status.code(),
            Some(i32::from(echo_common::EXIT_SECOND_SIGNAL)),
            "{backend}: want the second-signal exit, got {status}"
        );
        server.wait_for_stderr("second signal: exiting now");
    }
}
