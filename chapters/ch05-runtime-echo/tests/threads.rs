//! `--threads N`: what `SO_REUSEPORT` allows that a plain listener does not.

#![cfg(target_os = "linux")]

use std::process::Command;

use echo_conformance::Server;

fn server(threads: &str, listen: Option<&str>) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ch05-runtime-echo"));
    command.args(["--quiet", "--threads", threads]);
    if let Some(addr) = listen {
        command.args(["--listen", addr]);
    }
    command
}

// ANCHOR: shared_port
#[test]
fn a_second_server_with_threads_shares_the_port_silently() {
    let first = Server::start(server("2", None));
    let port = first.addr().to_string();
    // Another `--threads 2` server, started by mistake on the same port:
    // the kernel lets it in, and will give it some of the clients.
    let second = Command::new(env!("CARGO_BIN_EXE_ch05-runtime-echo"))
        .args(["--quiet", "--threads", "2", "--listen", &port])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut second = KillOnDrop(second);
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(second.0.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), format!("listening on {port}"));

    // A plain listener (one runtime) is refused, as in every chapter.
    let output = server("1", Some(&port)).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("in use"), "{stderr}");
}
// ANCHOR_END: shared_port

/// Kills and reaps the child when dropped.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
