//! Fault 3: resets and broken pipes.
//!
//! Fifty clients each fill the buffers in both directions (they send
//! without reading until the kernel takes no more, so the server is stuck
//! writing back to them) and then close with SO_LINGER 0, which sends a
//! reset instead of a FIN. The server's pending write fails with EPIPE or
//! ECONNRESET (and, were SIGPIPE not ignored, would kill the process).
//! Required: the server survives, five connections opened before and one
//! opened after echo as if nothing happened, and the server's descriptor
//! (and thread) count returns to what it was before.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use echo_conformance::Server;
use echo_conformance::net::round_trip;
use echo_conformance::process::eventually;
use socket2::SockRef;

use crate::expectations::{Expect, Fault, no_assertion_for};
use crate::net::{exchange, fill_until_blocked, read_until_closed};
use crate::{Subject, report};

/// Clients that fill the buffers and reset.
pub const RESETTERS: usize = 50;
/// Connections that must not notice.
pub const HEALTHY: usize = 5;
/// Most a resetting client sends before it resets.
const FILL_CAP: usize = 16 << 20;

pub fn run(subject: &Subject, expect: Expect) {
    const FAULT: Fault = Fault::Resets;
    match expect {
        Expect::Survives => {}
        Expect::Limitation(other, _) => no_assertion_for(FAULT, other),
    }
    let mut command = subject.server();
    command.arg("--quiet");
    let mut server = Server::start(command);

    let healthy: Vec<TcpStream> = (0..HEALTHY).map(|_| server.connect()).collect();
    for stream in &healthy {
        exchange(stream, b"before");
    }
    let (fds_before, threads_before) = (server.open_fds(), server.threads());

    // ANCHOR: reset
    let resetters: Vec<TcpStream> = (0..RESETTERS).map(|_| server.connect()).collect();
    let mut filled = 0;
    for stream in &resetters {
        // Served first, so the reset hits a connection the server is in
        // the middle of, not one still in the accept queue.
        exchange(stream, b"served");
        filled += fill_until_blocked(stream, FILL_CAP);
    }
    let reset_at = Instant::now();
    for stream in resetters {
        SockRef::from(&stream)
            .set_linger(Some(Duration::ZERO))
            .expect("SO_LINGER");
        drop(stream); // sends RST
    }

    for stream in &healthy {
        exchange(stream, b"after");
    }
    assert_eq!(round_trip(&mut server.connect(), b"late"), b"late");
    eventually(
        "the server's descriptors back to their count before",
        || {
            server.assert_running();
            server.open_fds() <= fds_before
        },
    );
    let settled = reset_at.elapsed();
    // ANCHOR_END: reset
    eventually("the server's threads back to their count before", || {
        server.threads() <= threads_before
    });
    report(
        subject,
        FAULT,
        format_args!(
            "{RESETTERS} clients reset with {:.1} MiB in flight; {HEALTHY} healthy \
             connections unaffected; descriptors back to {fds_before} after {:.0} ms",
            filled as f64 / (1 << 20) as f64,
            settled.as_secs_f64() * 1000.0
        ),
    );
    for stream in healthy {
        stream
            .shutdown(std::net::Shutdown::Write)
            .expect("half-close");
        assert_eq!(read_until_closed(&stream), crate::net::Ending::Eof);
    }
}
