//! What this chapter's own tests share.

use std::process::Command;

use echo_conformance::Server;

/// Every backend.
pub const BACKENDS: &[&str] = &["poll", "epoll-level", "epoll-edge"];

/// Starts the server with `--backend backend` and `args`.
pub fn start(backend: &str, args: &[&str]) -> Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ch03-multiplexed-echo"));
    command.args(["--backend", backend]).args(args);
    Server::start(command)
}
