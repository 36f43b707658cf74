//! The shared conformance suite, against this chapter's server with each of
//! its backends: the default (edge-triggered epoll; `tests/flags.rs`
//! checks that it is), poll, and level-triggered epoll.

use std::process::Command;

fn server(backend: Option<&str>) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ch03-multiplexed-echo"));
    if let Some(backend) = backend {
        command.args(["--backend", backend]);
    }
    command
}

mod default_backend {
    echo_conformance::server_suite!(super::server(None));
}

mod poll {
    echo_conformance::server_suite!(super::server(Some("poll")));
}

mod epoll_level {
    echo_conformance::server_suite!(super::server(Some("epoll-level")));
}
