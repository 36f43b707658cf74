//! The shared conformance suite, against every step of this chapter's
//! server: the default (multishot receive into a buffer ring), one
//! operation at a time, each with registered files, and with a kernel
//! thread polling the submission queue.

#![cfg(target_os = "linux")]

use std::process::Command;

fn server(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ch06-uring-echo"));
    command.args(args);
    command
}

mod multishot {
    echo_conformance::server_suite!(super::server(&[]));
}

mod single {
    echo_conformance::server_suite!(super::server(&["--step", "single"]));
}

mod multishot_fixed_files {
    echo_conformance::server_suite!(super::server(&["--fixed-files"]));
}

mod single_fixed_files {
    echo_conformance::server_suite!(super::server(&["--step", "single", "--fixed-files"]));
}

mod sqpoll {
    echo_conformance::server_suite!(super::server(&["--sqpoll"]));
}
