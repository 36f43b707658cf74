//! Fault 5: back-pressure under clients that send without reading.
//!
//! Four clients each offer 64 MiB (256 MiB in all) and read nothing. A
//! server with back-pressure stops reading a connection whose echo it
//! cannot write, so each client's writes stall once the kernel's buffers
//! are full, and the server's memory stays where it was. Meanwhile a fifth
//! client is still served. Then the four start reading, send the rest, and
//! every byte comes back in order.

use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use echo_conformance::Server;

use crate::expectations::{Expect, Fault, no_assertion_for};
use crate::net::{exchange, read_checked, send_pattern, send_until_stalled};
use crate::{Subject, report};

/// Clients that send without reading.
pub const SENDERS: usize = 4;
/// What each offers.
pub const OFFERED: usize = 64 << 20;
/// A write that makes no progress for this long has stalled.
pub const STALL: Duration = Duration::from_secs(1);
/// How much the server's RSS may grow meanwhile: "a few MiB".
pub const RSS_GROWTH_LIMIT: u64 = 4 << 20;

const MIB: f64 = (1 << 20) as f64;

pub fn run(subject: &Subject, expect: Expect) {
    const FAULT: Fault = Fault::BackPressure;
    match expect {
        Expect::Survives => {}
        Expect::Limitation(other, _) => no_assertion_for(FAULT, other),
    }
    let mut command = subject.server();
    command.arg("--quiet");
    let mut server = Server::start(command);

    let senders: Vec<TcpStream> = (0..SENDERS).map(|_| server.connect()).collect();
    let bystander = server.connect();
    for stream in senders.iter().chain([&bystander]) {
        exchange(stream, b"warm-up");
    }
    // ANCHOR: measure
    let rss_before = server.rss_bytes();

    let start = Instant::now();
    let sent: Vec<usize> = thread::scope(|scope| {
        let workers: Vec<_> = senders
            .iter()
            .enumerate()
            .map(|(i, stream)| {
                scope.spawn(move || {
                    let (sent, closed) = send_until_stalled(stream, seed(i), OFFERED, STALL, start);
                    assert!(
                        closed.is_none(),
                        "the server reset a client that sent without reading"
                    );
                    assert!(
                        sent < OFFERED,
                        "the server took all {OFFERED} bytes from a client that reads nothing"
                    );
                    sent
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a sender failed"))
            .collect()
    });
    let rss_stalled = server.rss_bytes();
    let growth = rss_stalled.saturating_sub(rss_before);
    exchange(&bystander, b"still served while the others are stalled");
    let taken: usize = sent.iter().sum();
    assert!(
        growth < RSS_GROWTH_LIMIT,
        "server RSS grew {:.1} MiB while {:.1} MiB were unread (limit {:.0} MiB)",
        growth as f64 / MIB,
        taken as f64 / MIB,
        RSS_GROWTH_LIMIT as f64 / MIB
    );
    // ANCHOR_END: measure

    let draining = Instant::now();
    thread::scope(|scope| {
        for (i, (stream, &sent)) in senders.iter().zip(&sent).enumerate() {
            scope.spawn(move || {
                let reader = thread::scope(|inner| {
                    let reader = inner.spawn(|| read_checked(stream, seed(i)));
                    send_pattern(stream, seed(i), sent, OFFERED).expect("sending");
                    stream.shutdown(Shutdown::Write).expect("half-close");
                    reader.join().expect("reading the echo failed")
                });
                assert_eq!(reader, OFFERED as u64, "bytes lost after back-pressure");
            });
        }
    });
    server.assert_running();
    report(
        subject,
        FAULT,
        format_args!(
            "{SENDERS} clients offered {:.0} MiB without reading; their writes stalled after \
             {:.1} MiB in all (kernel socket buffers); RSS {:.1} -> {:.1} MiB (growth {:.2} \
             MiB); all {:.0} MiB echoed intact in {:.2} s once they read",
            (SENDERS * OFFERED) as f64 / MIB,
            taken as f64 / MIB,
            rss_before as f64 / MIB,
            rss_stalled as f64 / MIB,
            growth as f64 / MIB,
            (SENDERS * OFFERED) as f64 / MIB,
            draining.elapsed().as_secs_f64()
        ),
    );
}

fn seed(sender: usize) -> u64 {
    0xb9_0000 + sender as u64
}
