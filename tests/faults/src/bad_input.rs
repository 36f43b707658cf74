//! Bad input to the binaries, beyond what `tests/conformance/tests/matrix.rs`
//! already covers (malformed and unresolvable `--listen`, a port in use, a
//! refused `--connect`):
//!
//! - `--listen` without a port, or on an address no interface has;
//! - a privileged port: run as the user `nobody` it must fail with one
//!   line; run as root (as CI and this machine do) the bind is allowed, and
//!   we assert that instead: the server listens there;
//! - malformed and unresolvable `--connect` for every client;
//! - invalid values for `--idle-timeout`, `--max-connections`, `--grace`.
//!
//! Each is one line on stderr starting `error:`, a non-zero exit, no panic.
//! For flag values clap reports the error, and adds a blank line and
//! "For more information, try '--help'." under it: there we require the
//! first line to name the flag and the exit code to be clap's 2.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;

use echo_conformance::binary;
use echo_conformance::client::assert_user_error;
use echo_conformance::process::{ClientRun, DEADLINE, wait_with_deadline};

use crate::expectations::{Expect, Fault, no_assertion_for};
use crate::process::{as_nobody, running_as_root};
use crate::{Subject, report};

pub fn run(subject: &Subject, expect: Expect) {
    const FAULT: Fault = Fault::BadInput;
    match expect {
        Expect::Survives => {}
        Expect::Limitation(other, _) => no_assertion_for(FAULT, other),
    }
    for bad in ["127.0.0.1", "localhost", "192.0.2.1:0"] {
        let run = run_server(subject, &["--listen", bad]);
        assert_failed_with_one_line(&run, &format!("{} --listen {bad}", subject.name()));
    }
    privileged_port(subject, FAULT);
    for bad in [
        "not-an-address",
        "127.0.0.1",
        "127.0.0.1:99999",
        echo_conformance::net::UNRESOLVABLE,
    ] {
        let run = run_binary(Command::new(binary(subject.chapter.client)).args(["--connect", bad]));
        assert_failed_with_one_line(&run, &format!("{} --connect {bad}", subject.chapter.client));
    }
    for (flag, value) in [
        ("--idle-timeout", "soon"),
        ("--idle-timeout", "-1"),
        ("--max-connections", "0"),
        ("--max-connections", "lots"),
        ("--grace", "-1"),
    ] {
        // `--flag=-1`: as two words clap would take `-1` for a flag.
        let arg = format!("{flag}={value}");
        let run = run_server(subject, &[&arg]);
        let what = format!("{} {arg}", subject.name());
        assert_eq!(run.status.code(), Some(2), "{what}: {run:?}");
        assert!(!run.stderr.contains("panicked"), "{what}: {}", run.stderr);
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert!(
            lines.len() == 1 && lines[0].starts_with("error:") && lines[0].contains(flag),
            "{what}: want one error line naming {flag}, got: {:?}",
            run.stderr
        );
    }
    report(
        subject,
        FAULT,
        format_args!("bad --listen, --connect and flag values: one error line each, no panic"),
    );
}

/// Ports below `ip_unprivileged_port_start` (1024 unless changed) need
/// privileges, which root has.
fn privileged_port(subject: &Subject, fault: Fault) {
    let port = free_privileged_port();
    let addr = format!("127.0.0.1:{port}");
    let privileged = u32::from(port) < unprivileged_port_start();
    if !privileged {
        // Some containers set ip_unprivileged_port_start to 0: then no
        // port needs privileges, and binding must simply work.
        let line = first_stdout_line(subject.server(), &addr);
        assert_eq!(line, format!("listening on {addr}"));
        return report(
            subject,
            fault,
            format_args!("ports below 1024 need no privileges on this machine: {line}"),
        );
    }
    if !running_as_root() {
        let run = run_server(subject, &["--listen", &addr]);
        assert_cannot_bind_privileged(&run, &format!("{} --listen {addr}", subject.name()));
        return;
    }
    // Root: see what an ordinary user gets by running a copy of the binary
    // as `nobody` (the build directory may not be open to other users).
    let copy = NobodyCopy::of(&binary(subject.chapter.server));
    let mut command = Command::new(&copy.path);
    command.args(subject.args).args(["--listen", &addr]);
    as_nobody(&mut command);
    let run = run_binary(&mut command);
    assert_cannot_bind_privileged(
        &run,
        &format!("{} as nobody --listen {addr}", subject.name()),
    );
    let line = first_stdout_line(subject.server(), &addr);
    assert_eq!(line, format!("listening on {addr}"));
    report(
        subject,
        fault,
        format_args!(
            "running as root: --listen {addr} is allowed (\"{line}\"); as nobody it fails \
             with: {}",
            run.stderr.trim_end()
        ),
    );
}

fn assert_cannot_bind_privileged(run: &ClientRun, what: &str) {
    assert_failed_with_one_line(run, what);
    assert!(
        run.stderr.contains("ports below 1024 need privileges"),
        "{what}: {}",
        run.stderr
    );
}

/// The lowest port an unprivileged process may bind (Linux).
fn unprivileged_port_start() -> u32 {
    let path = "/proc/sys/net/ipv4/ip_unprivileged_port_start";
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(1024)
}

/// A port below 1024 nothing listens on now. Only root can find one by
/// binding; for anyone else every such port fails the same way.
fn free_privileged_port() -> u16 {
    if !running_as_root() {
        return 1;
    }
    (600..1024)
        .rev()
        .find(|port| TcpListener::bind(("127.0.0.1", *port)).is_ok())
        .expect("some port below 1024 is free")
}

/// A copy of a binary in a directory every user may enter, removed on drop.
struct NobodyCopy {
    dir: PathBuf,
    path: PathBuf,
}

impl NobodyCopy {
    fn of(binary: &Path) -> NobodyCopy {
        let dir = std::env::temp_dir().join(format!(
            "echo-faults-{}-{}",
            std::process::id(),
            binary
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("server")
        ));
        std::fs::create_dir_all(&dir).expect("creating a temporary directory");
        let path = dir.join(binary.file_name().expect("a binary has a file name"));
        std::fs::copy(binary, &path).expect("copying the binary");
        for p in [&dir, &path] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).expect("chmod 755");
        }
        NobodyCopy { dir, path }
    }
}

impl Drop for NobodyCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn run_server(subject: &Subject, args: &[&str]) -> ClientRun {
    let mut command = subject.server();
    command.args(args);
    run_binary(&mut command)
}

/// Runs a binary that must exit by itself (it fails at start-up), with
/// nothing on stdin.
fn run_binary(command: &mut Command) -> ClientRun {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    wait_with_deadline(child)
}

fn assert_failed_with_one_line(run: &ClientRun, what: &str) {
    assert!(!run.status.success(), "{what} succeeded: {run:?}");
    assert!(
        run.stdout.is_empty(),
        "{what} printed on stdout: {:?}",
        String::from_utf8_lossy(&run.stdout)
    );
    assert_user_error(&run.stderr);
}

/// Starts `server` on `addr` and returns its first stdout line.
fn first_stdout_line(mut server: Command, addr: &str) -> String {
    let mut child = server
        .args(["--quiet", "--listen", addr])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the server");
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(DEADLINE);
    let _ = child.kill();
    let run = wait_with_deadline(child);
    let line = line.unwrap_or_else(|_| panic!("{server:?} printed no line"));
    assert!(!line.is_empty(), "{server:?} failed: {}", run.stderr);
    line.trim_end().to_owned()
}
