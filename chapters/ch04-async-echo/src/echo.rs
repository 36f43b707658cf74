//! Step 1: the echo loop, written by hand.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::idle::Activity;

/// How many bytes we read at a time, and all the buffer a connection costs
/// while bytes are in flight: we read no more until these are written back.
pub const BUF_SIZE: usize = 8 * 1024;

// ANCHOR: echo
/// Sends everything `stream` receives back to it until the client
/// half-closes. Returns how many bytes were echoed.
pub async fn echo(stream: TcpStream, activity: &Activity) -> io::Result<u64> {
    // Reads and writes through `watch` note the time of every byte moved,
    // for the idle timeout; otherwise it is the socket itself.
    let mut stream = activity.watch(stream);
    let mut echoed = 0;
    loop {
        // Nothing to read yet: the task is suspended here, and the thread
        // goes on to other tasks. We wait *before* taking a buffer, so a
        // task parked here holds none: an idle connection costs about
        // 1.5 KiB in all (measure/idle_rss.py), not 8 KiB more.
        stream.get_ref().readable().await?;
        let mut buf = Vec::with_capacity(BUF_SIZE);
        // No `Interrupted` arm, unlike chapter 1: a non-blocking read never
        // sleeps, so no signal can interrupt it.
        let n = stream.read_buf(&mut buf).await?;
        if n == 0 {
            // The client half-closed and everything it sent went back.
            // Dropping the stream closes our side.
            return Ok(echoed);
        }
        // Suspended while the client isn't reading; meanwhile we read
        // nothing more, so back-pressure works as in chapter 1.
        stream.write_all(&buf).await?;
        echoed += n as u64;
    }
}
// ANCHOR_END: echo
