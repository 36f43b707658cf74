//! Client-side moves the faults share, beyond those of
//! [`echo_conformance::net`].

use std::io::{self, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use echo_conformance::pattern;
use echo_conformance::process::DEADLINE;

pub use echo_conformance::net::{exchange, read_checked};

/// Whether any byte arrives within `window`. The window bounds how long
/// we watch for something that must *not* happen; `stream`'s read timeout
/// is restored afterwards.
pub fn anything_arrives_within(mut stream: &TcpStream, window: Duration) -> bool {
    stream
        .set_read_timeout(Some(window))
        .expect("set_read_timeout");
    let mut byte = [0; 1];
    let arrived = match stream.read(&mut byte) {
        Ok(_) => true, // a byte, or EOF: either way the server acted
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
        Err(_) => true, // reset: the server acted too
    };
    stream
        .set_read_timeout(Some(DEADLINE))
        .expect("set_read_timeout");
    arrived
}

/// How the server ended a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// An orderly close (FIN): we read EOF.
    Eof,
    /// A reset (RST), which a close with unread input sends.
    Reset,
}

/// Reads (and discards) until the server ends the connection, and says
/// how. Panics if a read waits longer than the stream's read timeout
/// ([`DEADLINE`] unless the caller set another).
pub fn read_until_closed(stream: &TcpStream) -> Ending {
    match try_read_until_closed(stream) {
        Ok(ending) => ending,
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => panic!(
            "the server kept the connection open past the read timeout ({:?})",
            stream.read_timeout().ok().flatten()
        ),
        Err(e) => panic!("waiting for the server to close the connection: {e}"),
    }
}

/// [`read_until_closed`], returning instead of panicking: a read that
/// waited past the read timeout is `WouldBlock` (or `TimedOut`).
pub fn try_read_until_closed(mut stream: &TcpStream) -> io::Result<Ending> {
    let mut buf = vec![0; 64 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(Ending::Eof),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => {
                return Ok(Ending::Reset);
            }
            Err(e) => return Err(e),
        }
    }
}

/// Writes without reading until the kernel takes no more for now (the
/// server has stopped draining the connection), up to `cap` bytes.
/// Returns how many bytes went out.
pub fn fill_until_blocked(stream: &TcpStream, cap: usize) -> usize {
    // One chunk, sent again and again: these bytes are reset, never
    // checked, and generating hundreds of MiB of pattern in a debug build
    // would slow the flood down to something else than a flood.
    let mut chunk = pattern::bytes(0xf111, 64 * 1024);
    fill(stream, cap, &mut chunk, |_, _| {})
        .unwrap_or_else(|(sent, e)| panic!("filling the connection after {sent} bytes: {e}"))
}

/// [`fill_until_blocked`] with stream `seed` (see `echo_conformance::pattern`),
/// so that the echo can be checked, returning instead of panicking: the
/// bytes sent before the error, and the error.
pub fn try_fill_until_blocked(
    stream: &TcpStream,
    seed: u64,
    cap: usize,
) -> Result<usize, (usize, io::Error)> {
    let mut chunk = vec![0; 64 * 1024];
    fill(stream, cap, &mut chunk, |sent, chunk| {
        pattern::fill(seed, sent as u64, chunk);
    })
}

/// Writes `chunk` on the non-blocking `stream`, again and again (after
/// `refill(bytes sent so far, chunk)`), until it would block or `cap` bytes
/// went out.
fn fill(
    stream: &TcpStream,
    cap: usize,
    chunk: &mut [u8],
    mut refill: impl FnMut(usize, &mut [u8]),
) -> Result<usize, (usize, io::Error)> {
    let mut writer = stream;
    writer.set_nonblocking(true).map_err(|e| (0, e))?;
    let mut sent = 0;
    let result = loop {
        if sent >= cap {
            break Ok(sent);
        }
        let n = chunk.len().min(cap - sent);
        refill(sent, &mut chunk[..n]);
        match writer.write(&chunk[..n]) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break Ok(sent),
            Err(e) => break Err((sent, e)),
        }
    };
    writer.set_nonblocking(false).map_err(|e| (sent, e))?;
    result
}

// ANCHOR: send_until_stalled
/// Writes stream `seed` without reading until a write makes no progress
/// for `stall` (the server stopped draining us), `cap` bytes are out, or
/// the server ends the connection. Returns the bytes sent and, if the
/// server closed it, when (measured from `start`).
pub fn send_until_stalled(
    stream: &TcpStream,
    seed: u64,
    cap: usize,
    stall: Duration,
    start: Instant,
) -> (usize, Option<Duration>) {
    let mut writer = stream;
    writer
        .set_write_timeout(Some(stall))
        .expect("set_write_timeout");
    let mut buf = vec![0; 64 * 1024];
    let mut sent = 0;
    let closed = loop {
        if sent >= cap {
            break None;
        }
        let n = buf.len().min(cap - sent);
        pattern::fill(seed, sent as u64, &mut buf[..n]);
        match writer.write(&buf[..n]) {
            Ok(written) => sent += written,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break None;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => {
                break Some(start.elapsed());
            }
            Err(e) => panic!("sending after {sent} bytes: {e}"),
        }
    };
    writer
        .set_write_timeout(Some(DEADLINE))
        .expect("set_write_timeout");
    (sent, closed)
}
// ANCHOR_END: send_until_stalled

/// Writes stream `seed` from `from` up to `to`.
pub fn send_pattern(mut stream: &TcpStream, seed: u64, from: usize, to: usize) -> io::Result<()> {
    let mut buf = vec![0; 64 * 1024];
    let mut sent = from;
    while sent < to {
        let n = buf.len().min(to - sent);
        pattern::fill(seed, sent as u64, &mut buf[..n]);
        stream.write_all(&buf[..n])?;
        sent += n;
    }
    Ok(())
}

/// Sends all of `data` (without reading anything back).
/// Waits (up to [`DEADLINE`]) until one of `streams` has something to read
/// (or has been closed), and returns its index.
pub fn first_readable(streams: &[&TcpStream]) -> usize {
    use std::os::fd::AsRawFd;
    let mut fds: Vec<libc::pollfd> = streams
        .iter()
        .map(|stream| libc::pollfd {
            fd: stream.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let timeout = i32::try_from(DEADLINE.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: `fds` is a valid array of `fds.len()` pollfd structs, and the
    // descriptors stay open (borrowed from `streams`) for the call.
    let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
    assert!(
        ready > 0,
        "none of {} clients was served within {DEADLINE:?}",
        streams.len()
    );
    fds.iter()
        .position(|fd| fd.revents != 0)
        .expect("poll returned a ready descriptor")
}

pub fn send_all(mut stream: &TcpStream, data: &[u8]) {
    stream.write_all(data).expect("sending");
}
