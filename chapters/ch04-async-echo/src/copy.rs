//! Step 2: the same echo with `tokio::io::copy`.

use std::io;

use tokio::net::TcpStream;

use crate::idle::Activity;

// ANCHOR: echo
/// Sends everything `stream` receives back to it until the client
/// half-closes. Returns how many bytes were echoed.
pub async fn echo(mut stream: TcpStream, activity: &Activity) -> io::Result<u64> {
    // `copy` wants a reader and a writer, two `&mut` borrows; one socket
    // cannot lend both. `split` borrows it as a read half and a write half,
    // for use in this task (`into_split` makes owned halves that can go to
    // two tasks, at the price of an `Arc`).
    let (reader, writer) = stream.split();
    let mut reader = activity.watch(reader);
    let mut writer = activity.watch(writer);
    // Reads into an 8 KiB buffer, writes it out, handles short writes, and
    // returns at end of stream once everything read has been written.
    tokio::io::copy(&mut reader, &mut writer).await
}
// ANCHOR_END: echo
