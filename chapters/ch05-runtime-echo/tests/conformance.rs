//! The shared conformance suite against this chapter's server: one
//! runtime, and two side by side on one port (`--threads 2`).

use std::process::Command;

fn server(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ch05-runtime-echo"));
    command.args(args);
    command
}

mod one_runtime {
    echo_conformance::server_suite!(super::server(&[]));
}

mod two_runtimes_on_one_port {
    echo_conformance::server_suite!(super::server(&["--threads", "2"]));
}
