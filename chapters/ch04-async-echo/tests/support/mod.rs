//! Helpers the chapter's own tests share.

// Each test file uses some of these helpers, not all; and a failed IO call
// in a helper is a failed test, which `unwrap` reports.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;

/// This chapter's server with extra flags (the suite adds `--listen`).
pub fn server(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ch04-async-echo"));
    command.args(args);
    command
}

/// Sends `data` and reads back exactly as many bytes, which must match.
pub fn exchange(mut stream: &TcpStream, data: &[u8]) {
    stream.write_all(data).unwrap();
    let mut echoed = vec![0; data.len()];
    stream.read_exact(&mut echoed).unwrap();
    assert_eq!(echoed, data, "echo differs from what was sent");
}
