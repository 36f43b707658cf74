//! Scenarios every chapter's client must pass, against every chapter's
//! server (see `tests/matrix.rs`) or against a stand-in server of the test's
//! own where the scenario needs a misbehaving one.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;

use crate::pattern;
use crate::process::{Server, run_client, wait_with_deadline};

/// `echo "Hello World" | client`: prints the line, exits 0.
pub fn pipes_a_line(client: &Path, server: &Server) {
    let run = run_client(client, &server.addr().to_string(), b"Hello World\n");
    assert!(run.status.success(), "client failed: {run:?}");
    assert_eq!(run.stdout, b"Hello World\n");
}

/// Empty stdin: the client half-closes at once, prints nothing, exits 0.
pub fn empty_stdin(client: &Path, server: &Server) {
    let run = run_client(client, &server.addr().to_string(), b"");
    assert!(run.status.success(), "client failed: {run:?}");
    assert!(
        run.stdout.is_empty(),
        "{} bytes printed for empty input",
        run.stdout.len()
    );
}

/// 100 MiB through the client while its output is read: a client that does
/// one direction at a time deadlocks once the buffers fill.
pub fn full_duplex_100_mib(client: &Path, server: &Server) {
    const LEN: u64 = 100 << 20;
    const SEED: u64 = 0x100_0000;
    let mut child = Command::new(client)
        .args(["--connect", &server.addr().to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let feeder = thread::spawn(move || {
        let mut buf = vec![0; 256 * 1024];
        let mut sent = 0;
        while sent < LEN {
            let n = (buf.len() as u64).min(LEN - sent) as usize;
            pattern::fill(SEED, sent, &mut buf[..n]);
            stdin.write_all(&buf[..n]).unwrap();
            sent += n as u64;
        }
        // Dropping stdin closes it: the client must half-close now.
    });
    let reader = thread::spawn(move || {
        let mut buf = vec![0; 256 * 1024];
        let mut received = 0;
        loop {
            let n = stdout.read(&mut buf).unwrap();
            if n == 0 {
                return received;
            }
            pattern::check(SEED, received, &buf[..n]);
            received += n as u64;
        }
    });
    let run = wait_with_deadline(child);
    feeder.join().unwrap();
    let received = reader.join().unwrap();
    assert!(run.status.success(), "client failed: {run:?}");
    assert_eq!(received, LEN, "client printed a short echo");
}

/// A server that sends a few bytes and closes while the client's stdin is
/// still open: the client prints what it got and exits instead of waiting
/// for stdin forever.
pub fn exits_when_server_closes_early(client: &Path) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let stand_in = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.write_all(b"bye\n").unwrap();
        // Dropping the stream closes the connection.
    });
    let mut child = Command::new(client)
        .args(["--connect", &addr])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Keep stdin open (never written, never closed) until the client exits.
    let stdin = child.stdin.take();
    let run = wait_with_deadline(child);
    drop(stdin);
    stand_in.join().unwrap();
    assert_eq!(
        run.stdout, b"bye\n",
        "client did not print what the server sent"
    );
}

/// Nothing listening: one line on stderr, non-zero exit, no panic.
pub fn refused_connection_is_one_line(client: &Path) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let run = run_client(client, &format!("127.0.0.1:{port}"), b"");
    assert!(
        !run.status.success(),
        "client succeeded with no server: {run:?}"
    );
    assert_user_error(&run.stderr);
}

/// An error a user caused: exactly one line, starting `error:`, no panic.
pub fn assert_user_error(stderr: &str) {
    assert!(!stderr.contains("panicked"), "panicked: {stderr}");
    assert_eq!(
        stderr.lines().count(),
        1,
        "want one line on stderr, got: {stderr:?}"
    );
    assert!(
        stderr.starts_with("error: "),
        "want `error: ...`, got: {stderr:?}"
    );
}
