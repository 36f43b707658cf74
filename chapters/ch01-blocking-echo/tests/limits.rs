//! What the blocking model cannot do, shown by name.

use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::process::Command;
use std::time::Duration;

use echo_conformance::Server;

/// How long we watch for an echo that must not come. A window, not a
/// synchronisation: the assertion is that nothing arrives within it.
const WINDOW: Duration = Duration::from_millis(500);

// ANCHOR: second_client_waits
#[test]
fn iterative_server_makes_the_second_client_wait() {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ch01-blocking-echo"));
    command.arg("--iterative");
    let server = Server::start(command);

    let mut first = server.connect();
    first.write_all(b"first").unwrap();
    let mut echo = [0; 5];
    first.read_exact(&mut echo).unwrap(); // the server is now inside echo(first)

    let mut second = server.connect(); // completes: the kernel queues it
    second.write_all(b"second").unwrap();
    second.set_read_timeout(Some(WINDOW)).unwrap();
    let mut buf = [0; 6];
    let waited = second.read(&mut buf).unwrap_err();
    assert!(
        matches!(waited.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "the second client got an answer while the first was connected: {waited}"
    );

    first.shutdown(Shutdown::Write).unwrap(); // the first client is done...
    first.read_to_end(&mut Vec::new()).unwrap();
    second.set_read_timeout(None).unwrap();
    second.read_exact(&mut buf).unwrap(); // ...so now the second is served
    assert_eq!(&buf, b"second");
}
// ANCHOR_END: second_client_waits
