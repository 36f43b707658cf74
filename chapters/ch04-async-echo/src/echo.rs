//! Step 1: the echo loop, written by hand.

use std::cell::RefCell;
use std::future::poll_fn;
use std::io::{self, ErrorKind};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use crate::idle::Activity;

/// How many bytes we read at a time, and all the buffer a connection costs
/// while bytes are in flight: we read no more until these are written back.
pub const BUF_SIZE: usize = 8 * 1024;

// ANCHOR: scratch
thread_local! {
    /// One read's worth, shared by every task this thread polls. A task
    /// borrows it only between two `.await`s, within one poll, so no task
    /// can find it taken: the next task runs only once this one returns.
    static SCRATCH: RefCell<[u8; BUF_SIZE]> = const { RefCell::new([0; BUF_SIZE]) };
}
// ANCHOR_END: scratch

// ANCHOR: echo
/// Sends everything `stream` receives back to it until the client
/// half-closes. Returns how many bytes were echoed.
pub async fn echo(mut stream: TcpStream, activity: &Activity) -> io::Result<u64> {
    let mut echoed = 0;
    loop {
        // Nothing to read yet: the task is suspended here, and the thread
        // goes on to other tasks. A task parked here holds no buffer: an
        // idle connection costs about 1.5 KiB in all (measure/idle_rss.py),
        // not 8 KiB more.
        let step = poll_fn(|cx| poll_read_and_echo(&mut stream, activity, cx)).await?;
        let owed = match step {
            Step::Closed => return Ok(echoed),
            Step::Echoed(n) => {
                echoed += n as u64;
                continue;
            }
            Step::Owed(owed) => owed,
        };
        // The client isn't reading fast enough: keep what it has not
        // taken yet, and wait until it makes room. Meanwhile we read
        // nothing more, so back-pressure works as in chapter 1.
        activity.watch(&mut stream).write_all(&owed.bytes).await?;
        echoed += owed.read as u64;
    }
}

/// What one read and its immediate echo came to.
enum Step {
    /// The client half-closed and everything it sent went back. Dropping
    /// the stream closes our side.
    Closed,
    /// This many bytes were read and written back.
    Echoed(usize),
    /// The socket took only part of the echo; the rest is owed.
    Owed(Owed),
}

/// The part of one read's echo that the socket did not take.
struct Owed {
    /// Bytes read.
    read: usize,
    bytes: Vec<u8>,
}

/// One poll of a future written by hand (like `ReadSome` in
/// `examples/ch04-poll-by-hand.rs`): read into
/// the thread's buffer if the socket has bytes (`Pending` if not), then
/// write back as much as the socket takes now. The buffer is borrowed
/// only for this poll, never across an `.await`, so it is never part of
/// the task. Only when the client is slow are the bytes it is owed copied
/// out of it, into a buffer of their own.
fn poll_read_and_echo(
    stream: &mut TcpStream,
    activity: &Activity,
    cx: &mut Context<'_>,
) -> Poll<io::Result<Step>> {
    SCRATCH.with_borrow_mut(|scratch| {
        let mut buf = ReadBuf::new(scratch);
        // No `Interrupted` arm, unlike chapter 1: a non-blocking read never
        // sleeps, so no signal can interrupt it.
        ready!(Pin::new(&mut *stream).poll_read(cx, &mut buf))?;
        let read = buf.filled();
        let n = read.len();
        if n == 0 {
            return Poll::Ready(Ok(Step::Closed));
        }
        // One note for both directions: the write below is immediate.
        activity.touch();
        let sent = match stream.try_write(read) {
            Ok(sent) => sent,
            Err(e) if e.kind() == ErrorKind::WouldBlock => 0,
            Err(e) => return Poll::Ready(Err(e)),
        };
        Poll::Ready(Ok(if sent == n {
            Step::Echoed(n)
        } else {
            Step::Owed(Owed {
                read: n,
                bytes: read[sent..].to_vec(),
            })
        }))
    })
}
// ANCHOR_END: echo

/// The echo as tokio's own example writes it, with a buffer that lives as
/// long as the connection: what the cost ledger measures the shared buffer
/// against (`--without shared-buffer`). An idle connection holds its 8 KiB.
pub async fn echo_with_own_buffer(mut stream: TcpStream, activity: &Activity) -> io::Result<u64> {
    let mut buf = vec![0; BUF_SIZE];
    let mut echoed = 0;
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(echoed);
        }
        // As in `read_and_echo`: one note, then as much as the socket takes
        // now, then the rest (usually nothing) with `write_all`.
        activity.touch();
        let sent = match stream.try_write(&buf[..n]) {
            Ok(sent) => sent,
            Err(e) if e.kind() == ErrorKind::WouldBlock => 0,
            Err(e) => return Err(e),
        };
        activity.watch(&mut stream).write_all(&buf[sent..n]).await?;
        echoed += n as u64;
    }
}
