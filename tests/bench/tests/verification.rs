//! The generator against in-process servers that lie: every kind of wrong
//! echo must come out as an error of its own, never as a silently shorter
//! run. And against an honest one, the open loop must measure exactly the
//! messages its timetable put in the window.

// Helpers outside #[test] functions too: a failed setup should fail the test.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use echo_bench::epoll_load::Latency;
use echo_bench::payload::{EchoError, Payload};
use echo_bench::{LoadConfig, epoll_load, load, threaded};

/// A server on a free loopback port that handles each connection with
/// `serve` on its own thread.
fn server(serve: fn(TcpStream)) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || serve(stream));
        }
    });
    addr
}

/// Echoes every byte, except that it flips the bit 0 of byte number
/// `CORRUPT_AT` of the connection's stream.
const CORRUPT_AT: usize = 3 * 64 + 8; // message 3, byte 8
fn corrupting(mut stream: TcpStream) {
    let mut buf = [0; 4096];
    let mut offset = 0;
    while let Ok(n @ 1..) = stream.read(&mut buf) {
        if (offset..offset + n).contains(&CORRUPT_AT) {
            buf[CORRUPT_AT - offset] ^= 1;
        }
        offset += n;
        if stream.write_all(&buf[..n]).is_err() {
            return;
        }
    }
}

/// Echoes the first 100 bytes, then closes its sending side (and reads
/// on, so that closing never turns into a reset).
fn closing_early(mut stream: TcpStream) {
    let mut left = 100;
    let mut buf = [0; 4096];
    while left > 0 {
        let Ok(n @ 1..) = stream.read(&mut buf) else {
            return;
        };
        let echo = n.min(left);
        if stream.write_all(&buf[..echo]).is_err() {
            return;
        }
        left -= echo;
    }
    let _ = stream.shutdown(Shutdown::Write);
    let _ = std::io::copy(&mut stream, &mut std::io::sink());
}

/// Echoes faithfully, then says one byte more before closing.
fn adding_a_byte(mut stream: TcpStream) {
    let mut buf = [0; 4096];
    while let Ok(n @ 1..) = stream.read(&mut buf) {
        if stream.write_all(&buf[..n]).is_err() {
            return;
        }
    }
    let _ = stream.write_all(b"!");
    let _ = stream.shutdown(Shutdown::Write);
}

/// Echoes the first three 64-byte messages, then reads on and says
/// nothing.
fn falling_silent(mut stream: TcpStream) {
    let mut left = 3 * 64;
    let mut buf = [0; 4096];
    while let Ok(n @ 1..) = stream.read(&mut buf) {
        let echo = n.min(left);
        if stream.write_all(&buf[..echo]).is_err() {
            return;
        }
        left -= echo;
    }
}

fn honest(mut stream: TcpStream) {
    let mut buf = [0; 4096];
    while let Ok(n @ 1..) = stream.read(&mut buf) {
        if stream.write_all(&buf[..n]).is_err() {
            return;
        }
    }
}

fn config(addr: SocketAddr) -> LoadConfig {
    LoadConfig {
        addr,
        connections: 2,
        size: 64,
        duration: Duration::from_secs(1),
        warmup: Duration::ZERO,
        messages: Some(10),
        rate: None,
        timeout: Duration::from_secs(30),
        server_pid: None,
    }
}

#[test]
fn a_flipped_bit_is_an_error_naming_message_and_byte() {
    let config = config(server(corrupting));
    for outcome in [
        load::run(&config, 1, false).unwrap(),
        threaded::run(&config).unwrap(),
        epoll_load::run(&config, Latency::Record, false).unwrap(),
        epoll_load::run(&config, Latency::Skip, false).unwrap(),
    ] {
        assert_eq!(outcome.errors.len(), 2, "{:?}", outcome.errors);
        for (id, error) in &outcome.errors {
            let sent = Payload::new(*id as u64, 64).message(3)[8];
            match error {
                EchoError::Wrong { message, mismatch } => {
                    assert_eq!(*message, 3);
                    assert_eq!(mismatch.offset, 8);
                    assert_eq!((mismatch.expected, mismatch.got), (sent, sent ^ 1));
                }
                other => panic!("expected a wrong byte, got {other}"),
            }
        }
        // Messages 0..3 of each connection were fine and counted.
        assert_eq!(outcome.completed, 6);
    }
}

#[test]
fn an_echo_cut_short_is_an_error_not_a_shorter_run() {
    let config = config(server(closing_early));
    for outcome in [
        load::run(&config, 2, false).unwrap(),
        threaded::run(&config).unwrap(),
        epoll_load::run(&config, Latency::Record, false).unwrap(),
        epoll_load::run(&config, Latency::Skip, false).unwrap(),
    ] {
        assert_eq!(outcome.errors.len(), 2, "{:?}", outcome.errors);
        for (_, error) in &outcome.errors {
            assert_eq!(
                *error,
                EchoError::Short {
                    message: 1,
                    got: 36,
                    expected: 64
                }
            );
        }
    }
}

#[test]
fn bytes_after_the_last_echo_are_an_error() {
    let config = config(server(adding_a_byte));
    for outcome in [
        load::run(&config, 1, false).unwrap(),
        threaded::run(&config).unwrap(),
        epoll_load::run(&config, Latency::Record, false).unwrap(),
        epoll_load::run(&config, Latency::Skip, false).unwrap(),
    ] {
        assert_eq!(outcome.completed, 20);
        assert_eq!(outcome.errors.len(), 2, "{:?}", outcome.errors);
        for (_, error) in &outcome.errors {
            assert_eq!(*error, EchoError::Extra { bytes: 1 });
        }
    }
}

#[test]
fn an_overdue_echo_is_a_timeout_naming_the_message() {
    let mut config = config(server(falling_silent));
    config.timeout = Duration::from_millis(300);
    for outcome in [
        load::run(&config, 1, false).unwrap(),
        load::run(&config, 2, false).unwrap(),
        threaded::run(&config).unwrap(),
        epoll_load::run(&config, Latency::Record, false).unwrap(),
        epoll_load::run(&config, Latency::Skip, false).unwrap(),
    ] {
        assert_eq!(outcome.errors.len(), 2, "{:?}", outcome.errors);
        for (_, error) in &outcome.errors {
            assert!(
                matches!(error, EchoError::Timeout { message: 3, .. }),
                "{error}"
            );
        }
        assert_eq!(outcome.completed, 6);
    }
}

#[test]
fn a_refused_connection_is_an_error() {
    // Bind and drop: nothing listens on this port now.
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    for outcome in [
        load::run(&config(addr), 1, false).unwrap(),
        epoll_load::run(&config(addr), Latency::Record, false).unwrap(),
    ] {
        assert_eq!(outcome.errors.len(), 2);
        assert!(matches!(outcome.errors[0].1, EchoError::Connect(_)));
    }
}

#[test]
fn the_open_loop_measures_every_message_due_in_the_window() {
    let mut config = config(server(honest));
    config.connections = 4;
    config.messages = None;
    config.rate = Some(2000.0);
    config.warmup = Duration::from_millis(100);
    config.duration = Duration::from_millis(300);
    let outcome = load::run(&config, 1, false).unwrap();
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    // Messages n = 200..800 of the run are due in [0.1 s, 0.4 s): each one
    // is measured, however late its echo.
    assert_eq!(outcome.latency.len(), 600);
    assert_eq!(outcome.service.as_ref().map(|h| h.len()), Some(600));
    // Late means later than due: never a negative latency.
    assert!(outcome.latency.min() >= outcome.service.as_ref().unwrap().min());
}
