//! The two pieces both servers share: echoing one connection and accepting
//! the next one.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use echo_common::{AcceptError, Log};

/// How many bytes we read at a time. It is also all the memory a connection
/// costs us beyond its thread: we never read more before writing this back.
pub const BUF_SIZE: usize = 8 * 1024;

/// How long to wait after `accept` failed for lack of descriptors or memory.
/// Retrying at once would fail at once, over and over, at 100% CPU.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

// ANCHOR: echo
/// Sends everything `stream` receives back to it, until the client
/// half-closes. Returns how many bytes were echoed.
pub fn echo(mut stream: TcpStream, idle_timeout: Duration) -> io::Result<u64> {
    // A client that goes quiet, or stops reading our replies, for this long
    // loses its connection: otherwise it would hold this thread forever.
    stream.set_read_timeout(Some(idle_timeout))?;
    stream.set_write_timeout(Some(idle_timeout))?;

    let mut buf = [0u8; BUF_SIZE];
    let mut echoed = 0;
    loop {
        let n = match stream.read(&mut buf) {
            // End of stream: the client will send no more, and all it did
            // send has been written back. Dropping `stream` closes our side.
            Ok(0) => return Ok(echoed),
            Ok(n) => n,
            // A signal arrived while we were blocked; nothing was read.
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(idle(err, idle_timeout)),
        };
        // Blocks while the client isn't reading. Meanwhile we read nothing
        // more, so the client's sends fill the kernel's buffers and then
        // block too: back-pressure, for free.
        stream
            .write_all(&buf[..n])
            .map_err(|err| idle(err, idle_timeout))?;
        echoed += n as u64;
    }
}

/// A read or write that timed out fails with `WouldBlock`: say what it
/// means, in the words every chapter uses for an idle connection.
fn idle(err: io::Error, idle_timeout: Duration) -> io::Error {
    match err.kind() {
        io::ErrorKind::WouldBlock => echo_common::idle_timeout_error(idle_timeout),
        _ => err,
    }
}
// ANCHOR_END: echo

// ANCHOR: accept
/// Waits for the next connection. Errors never end the server: they belong
/// to one would-be connection (skip it), or say we are out of descriptors
/// (pause, so the retry has a chance to succeed).
pub fn accept(listener: &TcpListener, log: Log) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept() {
            Ok(connection) => return connection,
            Err(err) => {
                log.server(format_args!("accept failed: {err}"));
                if AcceptError::classify(&err) == AcceptError::BackOff {
                    thread::sleep(ACCEPT_BACKOFF);
                }
            }
        }
    }
}
// ANCHOR_END: accept
