//! The shared conformance suite against the project's Python asyncio server,
//! `asyncio/echo_server.py`, which the chapter shows beside the Rust one.

use std::process::Command;

/// `python3 asyncio/echo_server.py`. Without python3 this fails, loudly:
/// a skipped suite would look like a passing one.
fn asyncio_server() -> Command {
    let found = Command::new("python3").arg("--version").output();
    assert!(
        found.as_ref().is_ok_and(|out| out.status.success()),
        "these tests run the asyncio echo server and need python3 (3.8 or later) on PATH: {found:?}"
    );
    let mut command = Command::new("python3");
    command.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/asyncio/echo_server.py"
    ));
    command
}

echo_conformance::server_suite!(asyncio_server());
