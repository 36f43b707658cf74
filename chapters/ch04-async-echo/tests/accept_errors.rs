//! Running out of file descriptors does not end the server.
//!
//! With a lowered RLIMIT_NOFILE, `accept` fails with EMFILE as soon as the
//! server holds as many descriptors as it may. `listener.accept().await?`
//! would exit there; this server logs, backs off and keeps serving.

mod support;

use std::net::TcpStream;

use echo_conformance::Server;
use echo_conformance::limits::limit_descriptors;
use echo_conformance::net::{exchange, round_trip};

/// Descriptors the server may hold: stdio, epoll, tokio's wake-up and
/// signal descriptors, the listener, and some fifty connections.
const FD_LIMIT: u64 = 64;
/// More clients than that: the rest wait in the backlog.
const CLIENTS: usize = 100;

// ANCHOR: test
#[test]
fn out_of_descriptors_the_server_keeps_serving_and_recovers() {
    let mut command = support::server(&[]);
    limit_descriptors(&mut command, FD_LIMIT);
    let mut server = Server::start(command);
    let held: Vec<TcpStream> = (0..CLIENTS).map(|_| server.connect()).collect();

    server.wait_for_stderr("accept failed: Too many open files");
    server.assert_running();
    // The connections it did accept are still served while it is stuck.
    exchange(&held[0], b"still serving");

    // Free the descriptors: the server accepts the queued (now closed)
    // connections, sees each one end, and reaches a new client.
    drop(held);
    let mut late = server.connect();
    assert_eq!(round_trip(&mut late, b"after EMFILE"), b"after EMFILE");
    server.assert_running();
}
// ANCHOR_END: test
