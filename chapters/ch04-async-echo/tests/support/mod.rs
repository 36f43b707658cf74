//! What the chapter's own tests share beyond `echo_conformance`'s helpers.

use std::process::Command;

/// This chapter's server with extra flags (the suite adds `--listen`).
pub fn server(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ch04-async-echo"));
    command.args(args);
    command
}
