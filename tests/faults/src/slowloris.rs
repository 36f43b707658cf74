//! Fault 4: slow and stalled clients (slowloris), and the connection cap.
//!
//! - With `--idle-timeout 1`, a client that connects and never sends,
//!   and one that sends without ever reading (so the server's write is
//!   stuck and it stops reading too: no byte moves either way), are both
//!   closed by the server within [`CLOSE_DEADLINE`]; a client that
//!   exchanges a byte every 100 ms all the while is not. Both closes are
//!   logged the same way in every chapter: `PEER: closed on error:` and
//!   [`echo_common::idle_timeout_error`]'s text, `idle timeout: no byte
//!   moved for 1s`. (The timeout is ten times the active client's period,
//!   so that a loaded machine that delays the client a few hundred
//!   milliseconds does not make it look idle.)
//! - With `--max-connections 4`, four connections are served; a fifth is
//!   accepted by the kernel (it waits in the listen backlog) but gets no
//!   echo during [`OVER_CAP_WINDOW`], nor do sixteen more behind it, and
//!   no thread is started for any of them; once one of the four closes,
//!   the fifth is echoed, and the rest in turn. Never a hang, never an
//!   unbounded number of threads.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use echo_conformance::Server;

use crate::expectations::{Expect, Fault, Limitation, no_assertion_for};
use crate::net::{anything_arrives_within, exchange, read_until_closed, send_until_stalled};
use crate::{Subject, report};

/// The idle timeout the servers run with here.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long after going idle a stalled client may still be open.
pub const CLOSE_DEADLINE: Duration = Duration::from_secs(5);
/// How long the active client keeps exchanging: several idle timeouts.
pub const ACTIVE_FOR: Duration = Duration::from_secs(3);
/// The connection cap in the second part.
pub const MAX_CONNECTIONS: usize = 4;
/// How long a client over the cap is watched for an echo it must not get.
pub const OVER_CAP_WINDOW: Duration = Duration::from_millis(500);
/// Clients queued behind the first one over the cap.
pub const MORE_OVER_CAP: usize = 16;

pub fn run(subject: &Subject, expect: Expect) {
    const FAULT: Fault = Fault::Slowloris;
    let in_order = match expect {
        Expect::Survives => true,
        Expect::Limitation(Limitation::BacklogPerThread, _) => false,
        Expect::Limitation(other, _) => no_assertion_for(FAULT, other),
    };
    idle_clients_are_closed(subject, FAULT);
    clients_over_the_cap_wait(subject, FAULT, in_order);
}

fn idle_clients_are_closed(subject: &Subject, fault: Fault) {
    let mut command = subject.server();
    // Not --quiet: how the server logs an idle close is part of the contract.
    command.args(["--idle-timeout", &IDLE_TIMEOUT.as_secs_f64().to_string()]);
    let mut server = Server::start(command);
    let idle_fds = server.open_fds();

    let (silent, non_reader) = thread::scope(|scope| {
        let silent = scope.spawn(|| {
            let stream = server.connect();
            stream
                .set_read_timeout(Some(IDLE_TIMEOUT + CLOSE_DEADLINE))
                .expect("set_read_timeout");
            let start = Instant::now();
            let ending = read_until_closed(&stream);
            (start.elapsed(), ending, local_addr(&stream))
        });
        let non_reader = scope.spawn(|| {
            let stream = server.connect();
            let peer = local_addr(&stream);
            let start = Instant::now();
            let stall = IDLE_TIMEOUT + CLOSE_DEADLINE;
            let (sent, closed) = send_until_stalled(&stream, 0x510, usize::MAX, stall, start);
            let closed = closed.unwrap_or_else(|| {
                panic!(
                    "a client that sent {sent} bytes and reads nothing was still open \
                     {stall:?} after its last write went through"
                )
            });
            (closed, sent, peer)
        });
        // Meanwhile, an active client: one byte each way every 100 ms.
        let active = server.connect();
        let start = Instant::now();
        let (mut echoed, mut longest_pause) = (Instant::now(), Duration::ZERO);
        while start.elapsed() < ACTIVE_FOR {
            longest_pause = longest_pause.max(echoed.elapsed());
            if let Err(e) = try_exchange(&active, b".") {
                panic!(
                    "the server closed a client that exchanged a byte every 100 ms (its \
                     longest pause was {longest_pause:?}, the idle timeout {IDLE_TIMEOUT:?}): \
                     {e}; the server wrote:\n{}",
                    server.stderr()
                );
            }
            echoed = Instant::now();
            thread::sleep(Duration::from_millis(100));
        }
        exchange(&active, b"still open");
        active.shutdown(Shutdown::Write).expect("half-close");
        let mut rest = Vec::new();
        (&active).read_to_end(&mut rest).expect("reading to EOF");
        assert!(rest.is_empty(), "unexpected bytes before EOF");
        (
            silent.join().expect("the silent client failed"),
            non_reader.join().expect("the non-reading client failed"),
        )
    });

    let (silent_after, silent_ending, silent_peer) = silent;
    assert!(
        silent_after >= IDLE_TIMEOUT / 2,
        "a silent client was closed after {silent_after:?}, well before the idle timeout"
    );
    assert!(
        silent_after <= IDLE_TIMEOUT + CLOSE_DEADLINE,
        "a silent client was closed only after {silent_after:?}"
    );
    let (non_reader_after, sent, non_reader_peer) = non_reader;
    server.assert_running();
    let idle = echo_common::idle_timeout_error(IDLE_TIMEOUT);
    for peer in [silent_peer, non_reader_peer] {
        server.wait_for_stderr(&format!("{peer}: closed on error: {idle}"));
    }
    echo_conformance::process::eventually("descriptors back to the idle count", || {
        server.open_fds() <= idle_fds
    });
    report(
        subject,
        fault,
        format_args!(
            "--idle-timeout {:.1}: silent client closed ({silent_ending:?}) after {:.0} ms; \
             non-reading client (sent {:.1} MiB) cut after {:.0} ms; a client active every \
             100 ms kept its connection for {:.1} s",
            IDLE_TIMEOUT.as_secs_f64(),
            silent_after.as_secs_f64() * 1000.0,
            sent as f64 / (1 << 20) as f64,
            non_reader_after.as_secs_f64() * 1000.0,
            ACTIVE_FOR.as_secs_f64()
        ),
    );
}

/// Sends `data` and reads the echo, returning an error rather than panicking.
fn try_exchange(mut stream: &TcpStream, data: &[u8]) -> std::io::Result<()> {
    stream.write_all(data)?;
    let mut echoed = vec![0; data.len()];
    stream.read_exact(&mut echoed)?;
    assert!(echoed == data, "the echo differs from what was sent");
    Ok(())
}

/// Our end's address: the server's log names the connection by it.
fn local_addr(stream: &TcpStream) -> SocketAddr {
    stream.local_addr().expect("local_addr")
}

/// `in_order`: the clients over the cap are served in the order they
/// connected (one listen backlog). Otherwise each is still served once
/// slots free, in whatever order the server takes them.
fn clients_over_the_cap_wait(subject: &Subject, fault: Fault, in_order: bool) {
    let mut command = subject.server();
    command.args(["--quiet", "--max-connections", &MAX_CONNECTIONS.to_string()]);
    let mut server = Server::start(command);
    let threads_idle = server.threads();

    let mut served: Vec<TcpStream> = (0..MAX_CONNECTIONS).map(|_| server.connect()).collect();
    for stream in &served {
        exchange(stream, b"served");
    }
    let threads_at_cap = server.threads();
    assert!(
        threads_at_cap <= threads_idle + MAX_CONNECTIONS as u64,
        "{threads_at_cap} threads for {MAX_CONNECTIONS} connections (idle: {threads_idle})"
    );

    let fifth = server.connect();
    crate::net::send_all(&fifth, b"fifth");
    let queued: Vec<TcpStream> = (0..MORE_OVER_CAP).map(|_| server.connect()).collect();
    for stream in &queued {
        crate::net::send_all(stream, b"queued");
    }
    assert!(
        !anything_arrives_within(&fifth, OVER_CAP_WINDOW),
        "a client over --max-connections {MAX_CONNECTIONS} was served"
    );
    let threads_over_cap = server.threads();
    assert!(
        threads_over_cap <= threads_at_cap,
        "threads grew from {threads_at_cap} to {threads_over_cap} for clients over the cap"
    );

    drop(served.remove(0));
    let freed = Instant::now();
    if !in_order {
        // Whoever is served first, every waiting client is served as the
        // slots free.
        let mut waiting: Vec<(TcpStream, &[u8])> = queued
            .into_iter()
            .map(|stream| (stream, &b"queued"[..]))
            .collect();
        waiting.insert(0, (fifth, b"fifth"));
        let mut order = Vec::new();
        while !waiting.is_empty() {
            let streams: Vec<&TcpStream> = waiting.iter().map(|(stream, _)| stream).collect();
            let (stream, sent) = waiting.remove(crate::net::first_readable(&streams));
            finish(&stream, sent, "a waiting client is served");
            order.push(sent == b"fifth");
            if order.len() == 1 {
                served.clear(); // free the other slots as well
            }
        }
        server.assert_running();
        report(
            subject,
            fault,
            format_args!(
                "--max-connections {MAX_CONNECTIONS}: {} clients over the cap got nothing for \
                 {} ms, then all were served as slots freed; the fifth client was served {}",
                MORE_OVER_CAP + 1,
                OVER_CAP_WINDOW.as_millis(),
                match order.iter().position(|&fifth| fifth) {
                    Some(0) => "first, as in one backlog".to_string(),
                    Some(n) => format!("after {n} clients that connected later"),
                    None => "never".to_string(),
                }
            ),
        );
        return;
    }
    let mut echoed = [0; 5];
    (&fifth)
        .read_exact(&mut echoed)
        .expect("the fifth client is served once a slot frees");
    assert_eq!(&echoed, b"fifth");
    let waited = freed.elapsed();

    // Free every slot in turn: each queued client is served as one does.
    drop(served);
    drop(fifth);
    for stream in &queued {
        finish(stream, b"queued", "a queued client is served");
    }
    server.assert_running();
    report(
        subject,
        fault,
        format_args!(
            "--max-connections {MAX_CONNECTIONS}: {} clients over the cap got nothing for \
             {} ms; threads {threads_idle} idle, {threads_at_cap} at the cap, \
             {threads_over_cap} with clients waiting; the fifth was echoed {:.0} ms after a \
             slot freed",
            MORE_OVER_CAP + 1,
            OVER_CAP_WINDOW.as_millis(),
            waited.as_secs_f64() * 1000.0
        ),
    );
}

/// Reads the echo of `sent` (failing with `what` if it does not come),
/// then half-closes and reads until the server closes too.
fn finish(mut stream: &TcpStream, sent: &[u8], what: &str) {
    let mut echoed = vec![0; sent.len()];
    stream.read_exact(&mut echoed).expect(what);
    assert_eq!(echoed, sent);
    stream.shutdown(Shutdown::Write).expect("half-close");
    read_until_closed(stream);
}
