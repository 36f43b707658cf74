//! `Connection` driven by a scripted socket (`echo_conformance::scripted`).

use echo_conformance::scripted::{Scripted, script};

use super::*;

const SCRATCH: usize = 64;

fn connection(socket: Scripted) -> Connection<Scripted> {
    let peer = SocketAddr::from(([127, 0, 0, 1], 40_000));
    Connection::new(socket, peer, 7, Instant::now())
}

fn readable() -> Event {
    Event {
        token: 2,
        readable: true,
        writable: false,
        read_closed: false,
    }
}

fn writable() -> Event {
    Event {
        token: 2,
        readable: false,
        writable: true,
        read_closed: false,
    }
}

/// `drive` with a fresh scratch buffer, as the loop does on an event.
fn drive(conn: &mut Connection<Scripted>, drain: bool) {
    let mut scratch = [0; SCRATCH];
    conn.drive(&mut scratch, drain, Instant::now()).unwrap();
}

#[test]
fn a_new_connection_waits_to_be_told_it_is_readable() {
    let mut conn = connection(script(vec![Ok(b"early".to_vec())], vec![64]));
    assert_eq!(conn.interest(), Interest::READ);
    drive(&mut conn, true);
    assert_eq!(conn.stream.read_calls, 0, "read before any event");
    conn.ready(&readable());
    drive(&mut conn, true);
    assert_eq!(conn.stream.sent, b"early");
}

#[test]
fn a_partial_write_keeps_the_rest_and_asks_for_writability() {
    // The kernel takes 5 of 11 bytes, then has no room.
    let mut conn = connection(script(vec![Ok(b"hello world".to_vec())], vec![5, 0]));
    conn.ready(&readable());
    drive(&mut conn, false);
    assert_eq!(conn.stream.sent, b"hello");
    assert_eq!(&conn.pending[conn.written..], b" world");
    let write_only = Interest {
        read: false,
        write: true,
    };
    assert_eq!(conn.interest(), write_only);

    // The next try finds no room: only `WouldBlock` clears the belief.
    assert!(conn.writable);
    drive(&mut conn, false);
    assert!(!conn.writable, "a write returned WouldBlock");
    assert_eq!(conn.interest(), write_only);

    // Room again: the rest goes, from where it stopped, and the
    // connection wants to read again, holding no buffer.
    conn.stream.write_room.push_back(64);
    conn.ready(&writable());
    drive(&mut conn, false);
    assert_eq!(conn.stream.sent, b"hello world");
    assert_eq!(conn.echoed(), 11);
    assert_eq!(conn.interest(), Interest::READ);
    assert_eq!(conn.pending.capacity(), 0, "memory given back");
}

#[test]
fn without_drain_one_read_per_event_with_drain_until_would_block() {
    let messages = || vec![Ok(b"one".to_vec()), Ok(b"two".to_vec())];

    // Level-triggered: one read, and the belief stays (no WouldBlock
    // yet); the next wait would report the socket again.
    let mut level = connection(script(messages(), vec![64, 64]));
    level.ready(&readable());
    drive(&mut level, false);
    assert_eq!(level.stream.read_calls, 1);
    assert_eq!(level.stream.sent, b"one");
    assert!(level.readable);

    // Edge-triggered: reads until the socket says WouldBlock, which
    // clears the belief.
    let mut edge = connection(script(messages(), vec![64, 64]));
    edge.ready(&readable());
    drive(&mut edge, true);
    assert_eq!(edge.stream.read_calls, 3, "two messages, then WouldBlock");
    assert_eq!(edge.stream.sent, b"onetwo");
    assert!(!edge.readable);
}

#[test]
fn readiness_is_kept_until_would_block_across_back_pressure() {
    // Two messages arrive in one edge; the client takes only part of
    // the first echo, so the connection stops reading (back-pressure)
    // with the second message still in the socket.
    let reads = vec![Ok(b"first".to_vec()), Ok(b"second".to_vec())];
    let mut conn = connection(script(reads, vec![2, 0]));
    conn.ready(&readable());
    drive(&mut conn, true);
    assert_eq!(conn.stream.read_calls, 1, "no read while bytes are pending");
    assert!(conn.readable, "not cleared: no read has said WouldBlock");

    // Edge-triggered epoll will not report the second message again:
    // only the writable edge comes. The kept belief makes the same
    // `drive` flush the rest and then read the second message.
    conn.stream.write_room.extend([64, 64]);
    conn.ready(&writable());
    drive(&mut conn, true);
    assert_eq!(conn.stream.sent, b"firstsecond");
    assert!(!conn.readable, "cleared by the final WouldBlock");
    assert_eq!(conn.stream.read_calls, 3);
}

#[test]
fn half_close_with_data_pending_finishes_only_once_all_is_back() {
    let reads = vec![Ok(b"bye".to_vec()), Ok(vec![])];
    let mut conn = connection(script(reads, vec![1, 0]));
    conn.ready(&readable());
    drive(&mut conn, true);
    // "b" went back; "ye" waits for room. The EOF is not read yet:
    // nothing is read while bytes are pending.
    assert!(!conn.is_finished());
    assert_eq!(
        conn.interest(),
        Interest {
            read: false,
            write: true
        }
    );

    conn.stream.write_room.push_back(64);
    conn.ready(&writable());
    drive(&mut conn, true);
    assert_eq!(conn.stream.sent, b"bye");
    assert!(conn.is_finished(), "EOF read and every byte back");
    assert_eq!(conn.interest(), Interest::NONE, "nothing more to wait for");
}

#[test]
fn an_error_is_the_connection_s_own() {
    let reset = io::Error::from(io::ErrorKind::ConnectionReset);
    let mut conn = connection(script(vec![Err(reset)], vec![]));
    conn.ready(&readable());
    let mut scratch = [0; SCRATCH];
    let err = conn.drive(&mut scratch, true, Instant::now()).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
}

#[test]
fn interrupted_calls_are_retried() {
    let interrupted = io::Error::from(io::ErrorKind::Interrupted);
    let reads = vec![Err(interrupted), Ok(b"x".to_vec())];
    let mut conn = connection(script(reads, vec![64]));
    conn.ready(&readable());
    drive(&mut conn, true);
    assert_eq!(conn.stream.sent, b"x");
}
