//! Running out of file descriptors does not end the server.
//!
//! With a lowered RLIMIT_NOFILE, `accept` fails with EMFILE as soon as the
//! server holds as many descriptors as it may. `listener.accept().await?`
//! would exit there; this server logs, backs off and keeps serving.

mod support;

use std::io;
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::Command;

use echo_conformance::Server;
use echo_conformance::process::eventually;
use echo_conformance::server::round_trip;
use support::exchange;

/// Descriptors the server may hold: stdio, epoll, tokio's wake-up and
/// signal descriptors, the listener, and some fifty connections.
const FD_LIMIT: libc::rlim_t = 64;
/// More clients than that: the rest wait in the backlog.
const CLIENTS: usize = 100;

// ANCHOR: fd_limit
fn with_fd_limit(mut command: Command, limit: libc::rlim_t) -> Command {
    // SAFETY: the closure runs in the child between fork and exec, where
    // only async-signal-safe calls are allowed; setrlimit is one, and it
    // only reads the struct we pass. No allocation happens in the closure.
    unsafe {
        command.pre_exec(move || {
            let rlimit = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &rlimit) == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        });
    }
    command
}
// ANCHOR_END: fd_limit

// ANCHOR: test
#[test]
fn out_of_descriptors_the_server_keeps_serving_and_recovers() {
    let mut server = Server::start(with_fd_limit(support::server(&[]), FD_LIMIT));
    let held: Vec<TcpStream> = (0..CLIENTS).map(|_| server.connect()).collect();

    eventually("the server reports running out of descriptors", || {
        server
            .stderr()
            .contains("accept failed: Too many open files")
    });
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
