//! What this chapter's own tests share.

#![allow(dead_code)] // each test file uses its own part

use std::process::Command;

use echo_conformance::Server;

/// Every backend this system has.
#[cfg(target_os = "linux")]
pub const BACKENDS: &[&str] = &["poll", "epoll-level", "epoll-edge"];
#[cfg(not(target_os = "linux"))]
pub const BACKENDS: &[&str] = &["poll"];

/// Starts the server with `--backend backend` and `args`.
pub fn start(backend: &str, args: &[&str]) -> Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ch03-multiplexed-echo"));
    command.args(["--backend", backend]).args(args);
    Server::start(command)
}

/// CPU time the process has used so far (user + system), in clock ticks
/// (1/100 s on Linux), from `/proc/PID/stat`.
pub fn cpu_ticks(pid: u32) -> u64 {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).expect("cannot read /proc/PID/stat");
    // The command name (field 2) is in parentheses and may hold spaces:
    // count fields from after its closing parenthesis.
    let after_name = &stat[stat.rfind(')').expect("no command name") + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of the line (utime, stime) are 11 and 12 here.
    let ticks = |i: usize| fields[i].parse::<u64>().expect("CPU time is a number");
    ticks(11) + ticks(12)
}
