//! The traps of completion IO, each set up on purpose against the event
//! loop itself, in this process: the test thread turns the loop and plays
//! the client (or starts one in a thread), so it can arrange that a
//! completion is already posted, or a send already stalled, at the moment
//! something else happens, and read the loop's counters afterwards.
//!
//! No sleeps: every wait is `run_until` a condition, with the suite's
//! deadline turning a hang into a failure.

#![cfg(target_os = "linux")]
// Helpers outside #[test] functions too: a failed setup should fail the test.
#![allow(clippy::unwrap_used)]

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use ch06_uring_echo::connection::{MAX_HELD_BUFFERS, Step};
use ch06_uring_echo::event_loop::{EventLoop, Options, RING_BUFFER_SIZE};
use ch06_uring_echo::ring::RingConfig;
use echo_common::Log;
use echo_common::Settings;
use echo_conformance::pattern;
use echo_conformance::process::DEADLINE;
use socket2::SockRef;

/// How long one turn may wait for a completion before the condition is
/// checked again: not a sleep (a completion ends it at once), only how
/// often the deadline is looked at.
const TURN: Duration = Duration::from_millis(10);

fn options(step: Step) -> Options {
    Options {
        step,
        ring: RingConfig {
            entries: 64,
            sqpoll: None,
        },
        fixed_files: false,
        ring_buffers: 64,
        settings: Settings {
            idle_timeout: Duration::from_secs(300),
            max_connections: 10_000,
            grace: Duration::from_secs(5),
            log: Log::new(true),
        },
    }
}

fn start(options: Options) -> EventLoop {
    start_on(echo_common::bind("127.0.0.1:0").unwrap(), options)
}

fn start_on(listener: TcpListener, options: Options) -> EventLoop {
    EventLoop::new(listener, None, options).unwrap()
}

/// Turns the loop until `condition` holds; fails after [`DEADLINE`].
fn run_until(
    server: &mut EventLoop,
    what: &str,
    mut condition: impl FnMut(&mut EventLoop) -> bool,
) {
    let deadline = Instant::now() + DEADLINE;
    while !condition(server) {
        assert!(
            Instant::now() < deadline,
            "{what}: still false after {DEADLINE:?}"
        );
        server.turn(Some(TURN)).unwrap();
    }
}

/// Turns the loop while `client` runs in its own thread; returns its result.
fn serve_while<T: Send + 'static>(
    server: &mut EventLoop,
    client: impl FnOnce() -> T + Send + 'static,
) -> T {
    let client = thread::spawn(client);
    run_until(server, "the client finishing", |_| client.is_finished());
    client.join().expect("the client failed")
}

fn connect(server: &EventLoop) -> TcpStream {
    let stream = TcpStream::connect(server.local_addr()).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    stream.set_write_timeout(Some(DEADLINE)).unwrap();
    stream
}

/// Connects, and turns the loop until the server serves the connection.
fn accepted(server: &mut EventLoop) -> TcpStream {
    let before = server.stats().counters.accepted;
    let stream = connect(server);
    run_until(server, "the server accepting", |s| {
        s.stats().counters.accepted > before
    });
    stream
}

/// Writes without blocking as much of stream `seed` as the kernel takes
/// now, up to `cap` bytes from `from`; returns the new offset.
fn write_what_fits(stream: &TcpStream, seed: u64, from: usize, cap: usize) -> usize {
    stream.set_nonblocking(true).unwrap();
    let mut chunk = vec![0; 4096];
    let mut sent = from;
    while sent < cap {
        let n = chunk.len().min(cap - sent);
        pattern::fill(seed, sent as u64, &mut chunk[..n]);
        match (&*stream).write(&chunk[..n]) {
            Ok(written) => sent += written,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => panic!("writing: {e}"),
        }
    }
    stream.set_nonblocking(false).unwrap();
    sent
}

/// Reads, without blocking, what has arrived; checks it against `seed`.
fn read_what_arrived(stream: &TcpStream, seed: u64, received: &mut usize) {
    stream.set_nonblocking(true).unwrap();
    let mut buf = vec![0; 64 * 1024];
    loop {
        match (&*stream).read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                pattern::check(seed, *received as u64, &buf[..n]);
                *received += n;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => panic!("reading: {e}"),
        }
    }
    stream.set_nonblocking(false).unwrap();
}

/// Sends `len` bytes of stream `seed` while reading the echo, from a
/// thread, and checks every byte; the server turns meanwhile.
fn echo_in_a_thread(server: &mut EventLoop, stream: TcpStream, seed: u64, len: usize) {
    serve_while(server, move || {
        let reader = stream.try_clone().unwrap();
        let reading = thread::spawn(move || echo_conformance::net::read_checked(&reader, seed));
        let mut buf = vec![0; 16 * 1024];
        let mut sent = 0;
        while sent < len {
            let n = buf.len().min(len - sent);
            pattern::fill(seed, sent as u64, &mut buf[..n]);
            (&stream).write_all(&buf[..n]).unwrap();
            sent += n;
        }
        stream.shutdown(Shutdown::Write).unwrap();
        assert_eq!(reading.join().unwrap(), len as u64, "short echo");
    });
}

// ANCHOR: reset_trap
/// The client resets while the server's send is stuck in the kernel (the
/// client reads nothing) and, in step 3, its multishot receive is armed
/// too. Both complete with errors; only after the last of them is the
/// socket closed and every ring buffer back.
#[test]
fn a_reset_while_receive_and_send_are_in_flight_leaks_nothing() {
    for step in [Step::Multishot, Step::Single] {
        let mut server = start(options(step));
        let baseline = server.stats();
        let client = accepted(&mut server);
        let (mut offset, mut stalled) = (0, false);
        let deadline = Instant::now() + DEADLINE;
        while !stalled {
            assert!(
                Instant::now() < deadline,
                "{step:?}: the send never stalled"
            );
            offset = write_what_fits(&client, 1, offset, offset + 4096);
            // Two turns with nothing new from the client: a send that is
            // still in flight after them is waiting in the kernel.
            server.turn(Some(TURN)).unwrap();
            server.turn(Some(TURN)).unwrap();
            let stats = server.stats();
            stalled = stats.sends_in_flight == 1
                && (step == Step::Single || stats.receives_in_flight == 1);
        }
        SockRef::from(&client)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(client); // RST

        run_until(&mut server, "the connection closing", |s| {
            s.stats().connections == 0
        });
        let after = server.stats();
        assert_eq!(after.counters.closed, 1, "{step:?}");
        assert_eq!(
            after.in_flight, baseline.in_flight,
            "{step:?}: only the accept is left"
        );
        assert_eq!(
            after.buffers_in_ring, baseline.buffers_in_ring,
            "{step:?}: buffers back"
        );
        // And the server goes on serving.
        let next = accepted(&mut server);
        echo_in_a_thread(&mut server, next, 2, 100_000);
    }
}
// ANCHOR_END: reset_trap

// ANCHOR: accept_race
/// The accept has already completed (its descriptor is in the completion
/// queue) when shutdown cancels it: the cancellation loses the race, and
/// the descriptor must be closed, not leaked nor served.
#[test]
fn a_cancel_racing_an_accept_closes_the_accepted_socket() {
    for step in [Step::Multishot, Step::Single] {
        let mut server = start(options(step));
        server.turn(Some(TURN)).unwrap(); // the accept is in the kernel
        let mut client = connect(&server);
        let deadline = Instant::now() + DEADLINE;
        while server.flush_kernel_work().unwrap() == 0 {
            assert!(
                Instant::now() < deadline,
                "{step:?}: the accept never completed"
            );
        }
        server.begin_shutdown().unwrap();
        run_until(&mut server, "shutdown finishing", |s| s.is_finished());
        let stats = server.stats();
        assert_eq!(stats.counters.accepted_while_closing, 1, "{step:?}");
        assert_eq!(stats.counters.accepted, 0, "{step:?}: never served");
        assert_eq!(stats.in_flight, 0, "{step:?}: nothing left in the kernel");
        let mut rest = Vec::new();
        let ending = client.read_to_end(&mut rest);
        assert!(
            matches!(&ending, Ok(0))
                || matches!(&ending, Err(e) if e.kind() == ErrorKind::ConnectionReset),
            "{step:?}: the client sees the connection end: {ending:?}"
        );
    }
}
// ANCHOR_END: accept_race

// ANCHOR: receive_race
/// Step 3: more than [`MAX_HELD_BUFFERS`] buffers of bytes arrive in one
/// batch. The connection cancels its receive at the limit, but the
/// completions behind it in the same batch already carry bytes: they are
/// kept and echoed, then the receive is armed again.
#[test]
fn a_cancel_racing_receive_completions_loses_no_data() {
    let mut server = start(options(Step::Multishot));
    let client = accepted(&mut server);
    let want = (MAX_HELD_BUFFERS + 8) * RING_BUFFER_SIZE as usize;
    // Everything is in the server's socket before the loop turns again.
    let sent = write_what_fits(&client, 3, 0, want);
    assert!(
        sent > MAX_HELD_BUFFERS * RING_BUFFER_SIZE as usize,
        "only {sent} bytes fit"
    );
    let mut received = 0;
    run_until(&mut server, "the echo of the burst", |_| {
        read_what_arrived(&client, 3, &mut received);
        received == sent
    });
    assert!(
        server.stats().counters.receive_cancels >= 1,
        "the limit was never reached"
    );
    // The receive was armed again: the connection still echoes.
    echo_in_a_thread(&mut server, client, 4, 300_000);
}
// ANCHOR_END: receive_race

// ANCHOR: no_more
/// Step 3 with a completion queue of 4: a burst of 16 buffers cannot be
/// posted as completions of a live multishot receive, so the kernel ends
/// the receive, with bytes, and without `IORING_CQE_F_MORE`. The server
/// submits it again, and every byte comes back.
#[test]
fn a_multishot_receive_that_ends_without_f_more_is_armed_again() {
    let mut tiny = options(Step::Multishot);
    tiny.ring.entries = 1;
    let mut server = start(tiny);
    let client = accepted(&mut server);
    let sent = write_what_fits(&client, 5, 0, 16 * RING_BUFFER_SIZE as usize);
    let mut received = 0;
    run_until(&mut server, "the echo of the burst", |_| {
        read_what_arrived(&client, 5, &mut received);
        received == sent
    });
    let stats = server.stats();
    assert!(stats.counters.receives_ended_with_data >= 1, "{stats:?}");
    echo_in_a_thread(&mut server, client, 6, 200_000);
}
// ANCHOR_END: no_more

// ANCHOR: enobufs
/// Step 3 with a ring of 2 buffers: the receive takes both, then ends with
/// `ENOBUFS`. The connection waits, is armed again as soon as a send
/// gives a buffer back, and every byte of 1 MiB comes back.
#[test]
fn enobufs_with_an_empty_buffer_ring_rearms_and_echoes_every_byte() {
    let mut small = options(Step::Multishot);
    small.ring_buffers = 2;
    let mut server = start(small);
    let client = accepted(&mut server);
    echo_in_a_thread(&mut server, client, 7, 1 << 20);
    let stats = server.stats();
    assert!(
        stats.counters.no_buffers >= 1,
        "the ring never ran dry: {stats:?}"
    );
    assert_eq!(stats.buffers_in_ring, Some(2));
}
// ANCHOR_END: enobufs

// ANCHOR: overflow
/// A submission queue of 2 and a completion queue of 8, and 200 clients
/// sending at once: far more completions than the queue holds. The kernel
/// keeps the overflow and hands it over as the queue drains; no
/// connection stalls, none is lost, none gets another's bytes.
#[test]
fn completion_queue_overflow_with_a_small_queue_and_many_connections_stalls_no_connection() {
    for step in [Step::Multishot, Step::Single] {
        let mut tiny = options(step);
        tiny.ring.entries = 2;
        let mut server = start(tiny);
        let addr = server.local_addr();
        serve_while(&mut server, move || {
            let mut streams: Vec<TcpStream> = (0..200)
                .map(|_| TcpStream::connect(addr).unwrap())
                .collect();
            for round in 0..5u32 {
                for (i, stream) in streams.iter_mut().enumerate() {
                    stream
                        .write_all(&[round.to_be_bytes(), (i as u32).to_be_bytes()].concat())
                        .unwrap();
                }
                for (i, stream) in streams.iter_mut().enumerate() {
                    let mut echo = [0; 8];
                    stream.read_exact(&mut echo).unwrap();
                    assert_eq!(echo[..4], round.to_be_bytes());
                    assert_eq!(
                        echo[4..],
                        (i as u32).to_be_bytes(),
                        "another connection's bytes"
                    );
                }
            }
            for mut stream in streams {
                stream.shutdown(Shutdown::Write).unwrap();
                let mut rest = Vec::new();
                stream.read_to_end(&mut rest).unwrap();
                assert!(rest.is_empty());
            }
        });
        let stats = server.stats();
        assert!(
            stats.overflows >= 1,
            "{step:?}: the queue never overflowed: {stats:?}"
        );
        assert_eq!(stats.lost_completions, 0, "{step:?}");
        run_until(&mut server, "every connection closed", |s| {
            s.stats().connections == 0
        });
    }
}
// ANCHOR_END: overflow

// ANCHOR: short_send
/// Step 1 behind a send buffer of 8 KiB (set on the listener, inherited by
/// every accepted socket): a send of a 16 KiB buffer cannot be taken
/// whole, so every full buffer is a short send, and the rest must follow.
/// The client first sends without reading until the server is held up
/// (its send waiting in the kernel, no receive in flight: back-pressure),
/// then reads, and every byte of 2 MiB comes back in order.
#[test]
fn a_short_send_under_back_pressure_resends_the_rest() {
    const LEN: usize = 2 << 20;
    let listener = echo_common::bind("127.0.0.1:0").unwrap();
    SockRef::from(&listener).set_send_buffer_size(4096).unwrap();
    let mut server = start_on(listener, options(Step::Single));
    let client = accepted(&mut server);
    let (mut offset, mut held_up) = (0, false);
    let deadline = Instant::now() + DEADLINE;
    while !held_up {
        assert!(Instant::now() < deadline, "the server was never held up");
        offset = write_what_fits(&client, 8, offset, LEN);
        server.turn(Some(TURN)).unwrap();
        server.turn(Some(TURN)).unwrap();
        let stats = server.stats();
        held_up = stats.sends_in_flight == 1 && stats.receives_in_flight == 0;
    }
    serve_while(&mut server, move || {
        let writer = client.try_clone().unwrap();
        let sending = thread::spawn(move || {
            let mut buf = vec![0; 64 * 1024];
            let mut sent = offset;
            while sent < LEN {
                let n = buf.len().min(LEN - sent);
                pattern::fill(8, sent as u64, &mut buf[..n]);
                (&writer).write_all(&buf[..n]).unwrap();
                sent += n;
            }
            writer.shutdown(Shutdown::Write).unwrap();
        });
        assert_eq!(echo_conformance::net::read_checked(&client, 8), LEN as u64);
        sending.join().unwrap();
    });
    let stats = server.stats();
    assert!(stats.counters.short_sends >= 1, "{stats:?}");
}
// ANCHOR_END: short_send
