//! `--max-connections`, `--idle-timeout` and `--threads` do what they say.

// The scenario helper below is not itself a #[test]; a failed IO call in
// it is a failed test all the same.
#![allow(clippy::unwrap_used)]

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::thread;
use std::time::Duration;

use echo_conformance::net::exchange;
use echo_conformance::net::{expect_eof, round_trip};
use echo_conformance::process::DEADLINE;
use echo_conformance::{Server, pattern};

/// How long we watch for something that must not happen. A negative can
/// only be checked for a while; the positive that follows uses DEADLINE.
const NOT_WITHIN: Duration = Duration::from_millis(300);

#[test]
fn over_the_cap_a_client_waits_until_a_slot_frees() {
    let server = Server::start(support::server(&["--max-connections", "2"]));
    let first = server.connect();
    exchange(&first, b"one");
    let second = server.connect();
    exchange(&second, b"two");

    // The kernel completes the handshake (the backlog queues it), but the
    // server does not accept it, so nothing comes back.
    let mut third = server.connect();
    third.write_all(b"three").unwrap();
    third.set_read_timeout(Some(NOT_WITHIN)).unwrap();
    let mut buf = [0; 5];
    match third.read(&mut buf) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!("a third client was served with --max-connections 2: {other:?}"),
    }

    // One closes: its slot goes to the waiting client.
    drop(first);
    third.set_read_timeout(Some(DEADLINE)).unwrap();
    third.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"three");
    exchange(&second, b"two still works");
}

fn idle_timeout_closes_silent_and_stalled_clients(variant: &[&str]) {
    let args = [&["--idle-timeout", "0.5"], variant].concat();
    let server = Server::start(support::server(&args));

    // A client that keeps talking is never idle, however long it stays:
    // twenty exchanges, 50 ms apart, span twice the timeout.
    let talker = server.connect();
    for i in 0..20u8 {
        exchange(&talker, &[i; 100]);
        thread::sleep(Duration::from_millis(50));
    }

    // A client that connects and says nothing is closed.
    let silent = server.connect();
    expect_eof(&silent);

    // A client that sends and never reads stalls the server's writes: no
    // byte moves either way, so it is closed too.
    let stalled = server.connect();
    let mut writer = &stalled;
    writer.set_nonblocking(true).unwrap();
    let chunk = pattern::bytes(0x57a1, 64 * 1024);
    while writer.write(&chunk).is_ok() {}
    let line = format!(
        "{}: closed on error: idle timeout",
        stalled.local_addr().unwrap()
    );
    server.wait_for_stderr(&line);

    // The talker outlived both and still works.
    talker.shutdown(Shutdown::Write).unwrap();
    expect_eof(&talker);
}

#[test]
fn idle_timeout_with_the_hand_written_loop() {
    idle_timeout_closes_silent_and_stalled_clients(&[]);
}

#[test]
fn idle_timeout_with_copy() {
    idle_timeout_closes_silent_and_stalled_clients(&["--copy"]);
}

#[test]
fn threads_flag_picks_the_runtime() {
    // current_thread: the main thread does everything.
    let one = Server::start(support::server(&["--threads", "1"]));
    assert_eq!(round_trip(&mut one.connect(), b"1"), b"1");
    assert_eq!(one.threads(), 1);
    // multi_thread: the main thread, blocked in `block_on`, plus N workers.
    let three = Server::start(support::server(&["--threads", "3"]));
    assert_eq!(round_trip(&mut three.connect(), b"3"), b"3");
    assert_eq!(three.threads(), 4);
}

#[test]
fn threads_must_be_at_least_one() {
    let output = support::server(&["--threads", "0"]).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--threads"), "{stderr}");
}

/// A connection whose client vanished without a trace (no FIN, no RST)
/// would hold its slot for ever without the idle timeout; with it, it goes.
#[test]
fn idle_timeout_frees_the_slot_for_the_next_client() {
    let server = Server::start(support::server(&[
        "--max-connections",
        "1",
        "--idle-timeout",
        "0.3",
    ]));
    let _hog = server.connect(); // connects, then never sends or closes
    let mut next = server.connect();
    assert_eq!(round_trip(&mut next, b"next"), b"next");
}
