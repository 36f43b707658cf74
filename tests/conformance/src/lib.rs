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

pub mod client;
pub mod pattern;
pub mod process;
pub mod server;

pub use process::{ClientRun, Server, binary};

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
