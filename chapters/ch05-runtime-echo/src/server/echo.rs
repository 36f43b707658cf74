//! Step 6: one connection's echo, an `async fn` on our runtime.

use std::io;
use std::time::Duration;

use crate::runtime::net::TcpStream;
use crate::runtime::{Elapsed, timeout};

use super::buffers::Buffer;

// ANCHOR: echo
/// Sends everything the client sends back to it, until the client
/// half-closes. Returns how many bytes were echoed. Fails with the shared
/// idle-timeout error when no byte moves for `idle`.
pub async fn echo(stream: &TcpStream, idle: Duration) -> io::Result<u64> {
    let mut echoed = 0;
    loop {
        // Wait for data before taking a buffer: a task parked here holds
        // none, so an idle connection costs only its task.
        or_idle(timeout(idle, stream.readable()).await, idle)?;
        let mut buf = Buffer::take();
        let n = or_idle(timeout(idle, stream.read(&mut buf)).await, idle)?;
        if n == 0 {
            // The client half-closed and has every byte back.
            return Ok(echoed);
        }
        // Nothing more is read until these bytes are written back: a
        // client that does not read gets back-pressure, not a buffer that
        // grows.
        let mut rest = &buf[..n];
        while !rest.is_empty() {
            let sent = or_idle(timeout(idle, stream.write(rest)).await, idle)?;
            rest = &rest[sent..];
        }
        echoed += n as u64;
    }
}

/// What an operation under `timeout(idle, …)` gave: its own result, or the
/// connection's idle timeout, the same error every chapter closes an idle
/// connection with. Each operation that moves bytes starts a new period,
/// so the limit is on silence, not on the length of the connection.
fn or_idle<T>(result: Result<io::Result<T>, Elapsed>, idle: Duration) -> io::Result<T> {
    result.unwrap_or_else(|Elapsed| Err(echo_common::idle_timeout_error(idle)))
}
// ANCHOR_END: echo
