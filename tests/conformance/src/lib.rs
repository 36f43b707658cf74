//! The echo contract, as scenarios that run against real binaries.
//!
//! Every chapter's server must pass [`server`] scenarios unchanged; each
//! chapter runs them from its own `tests/conformance.rs` with
//! [`server_suite!`]. Every chapter's client must work against every chapter's
//! server: `tests/matrix.rs` in this crate runs the [`client`] scenarios over
//! that cross product, using the chapters listed in [`CHAPTERS`].
//!
//! Rules the scenarios keep: loopback only, port 0, no sleeps to wait for
//! something to happen (a deadline only turns a hang into a failure), and
//! every byte checked.
//!
//! # The test helpers, for every crate
//!
//! This crate is also the one home of the plumbing that tests and
//! measurements share. A chapter's own tests, the fault suite, the
//! benchmark and the measuring examples use these and write no copy:
//!
//! - [`Server`]: start a server binary (`--listen 127.0.0.1:0`), read its
//!   `listening on` line, connect with deadlines, signal it, wait for its
//!   exit, read its stderr. Anything the server may not have written yet
//!   is read with [`Server::wait_for_stderr`], never with a snapshot of
//!   [`Server::stderr`].
//! - [`process::eventually`], [`process::Rendezvous`], [`process::DEADLINE`]:
//!   waiting on a condition with a deadline instead of sleeping.
//! - [`net`]: [`net::exchange`] (send, read the same bytes back),
//!   [`net::round_trip`], [`net::read_to_eof`], [`net::read_checked`],
//!   [`net::open_idle`].
//! - [`pattern`]: reproducible byte streams that can be checked at any
//!   offset.
//! - [`procfs`]: a process's CPU time (`/proc/PID/stat`, command names with
//!   spaces and parentheses included), run state, threads, RSS, open
//!   descriptors and context switches.
//! - [`limits`]: raising this process's descriptor limit, and starting a
//!   child with a lowered one ([`limits::limit_descriptors`], for EMFILE).
//! - [`scripted::Scripted`]: a stand-in socket that plays back a script,
//!   for unit tests of a connection's state machine.
//!
//! A new chapter adds itself to [`CHAPTERS`] (the client × server matrix,
//! the fault suite and the benchmark pick it up), runs [`server_suite!`]
//! from its `tests/conformance.rs`, and uses the helpers above in its own
//! tests:
//!
//! ```ignore
//! use echo_conformance::Server;
//! use echo_conformance::net::exchange;
//!
//! #[test]
//! fn idle_connection_is_closed() {
//!     let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_ch05-runtime-echo"));
//!     command.args(["--idle-timeout", "0.3"]);
//!     let server = Server::start(command);
//!     let stream = server.connect();
//!     exchange(&stream, b"then silence");
//!     server.wait_for_stderr("idle timeout: no byte moved for 300ms");
//! }
//! ```

// This crate is test code run by tests: an IO call that fails is a failed
// test, and `unwrap`'s panic names the line. (The workspace lint against
// `unwrap` is for the servers and clients.)
#![allow(clippy::unwrap_used)]

pub mod client;
pub mod limits;
pub mod net;
pub mod pattern;
pub mod process;
pub mod procfs;
pub mod scripted;
pub mod server;

pub use process::{ClientRun, Server, binary, minimal_epoll_binary};

/// One chapter: its package and the names of its two binaries.
#[derive(Debug, Clone, Copy)]
pub struct Chapter {
    pub package: &'static str,
    pub server: &'static str,
    pub client: &'static str,
}

/// Every chapter, in book order. A new chapter adds a line here, and the
/// client × server matrix picks it up.
pub const CHAPTERS: &[Chapter] = &[
    Chapter {
        package: "ch01-blocking-echo",
        server: "ch01-blocking-echo",
        client: "ch01-blocking-client",
    },
    Chapter {
        package: "ch02-nonblocking-echo",
        server: "ch02-nonblocking-echo",
        client: "ch02-nonblocking-client",
    },
    Chapter {
        package: "ch03-multiplexed-echo",
        server: "ch03-multiplexed-echo",
        client: "ch03-multiplexed-client",
    },
    Chapter {
        package: "ch04-async-echo",
        server: "ch04-async-echo",
        client: "ch04-async-client",
    },
    Chapter {
        package: "ch05-runtime-echo",
        server: "ch05-runtime-echo",
        client: "ch05-runtime-client",
    },
    Chapter {
        package: "ch06-uring-echo",
        server: "ch06-uring-echo",
        client: "ch06-uring-client",
    },
];

/// Generates one `#[test]` per server scenario, each against a fresh server
/// process made from `$command` (a `std::process::Command`; the suite appends
/// `--listen 127.0.0.1:0`).
///
/// ```ignore
/// echo_conformance::server_suite!(std::process::Command::new(env!("CARGO_BIN_EXE_ch01-blocking-echo")));
/// ```
#[macro_export]
macro_rules! server_suite {
    ($command:expr) => {
        $crate::server_suite!(@tests $command;
            hello_line,
            echoes_without_waiting_for_more,
            empty_connection,
            half_close_with_100_kib_pending,
            all_256_byte_values,
            stream_32_mib_while_reading,
            one_byte_and_fragmented_writes,
            fifty_clients_interleaved,
            reset_mid_stream_leaves_others_alone,
            sender_that_never_reads_gets_back_pressure,
            thousand_sequential_connections_leak_no_descriptors,
            thousand_concurrent_connections,
        );
    };
    (@tests $command:expr; $($scenario:ident),* $(,)?) => {
        $(
            #[test]
            fn $scenario() {
                let server = $crate::Server::start($command);
                $crate::server::$scenario(&server);
            }
        )*
    };
}
