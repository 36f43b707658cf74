//! Cancel-safety: what `select!` does to the futures that lose. A reader
//! of 4-byte messages also takes commands from a channel; half a message
//! has arrived when a command does. Run it with
//!
//!     cargo run -q -p ch04-async-echo --example ch04-cancel-safety
//!
//! and its tests with
//!
//!     cargo test -q -p ch04-async-echo --example ch04-cancel-safety

use std::fmt;
use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// What one turn of a reader's loop produced.
#[derive(PartialEq, Eq)]
enum Event {
    Message([u8; 4]),
    Command(&'static str),
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Message(bytes) => write!(f, "message {:?}", String::from_utf8_lossy(bytes)),
            Event::Command(command) => write!(f, "command {command:?}"),
        }
    }
}

// ANCHOR: losing
/// One turn: the next 4-byte message, or a command, whichever is first.
/// NOT cancel-safe: when the command wins, `select!` drops the unfinished
/// `read_exact`, and the bytes it had already read go with it.
async fn turn_losing(
    socket: &mut (impl AsyncRead + Unpin),
    commands: &mut mpsc::Receiver<&'static str>,
) -> io::Result<Event> {
    let mut message = [0; 4];
    tokio::select! {
        // Poll the branches in this order (not at random), so that the
        // demonstration does the same thing every time.
        biased;
        read = socket.read_exact(&mut message) => read.map(|_| Event::Message(message)),
        Some(command) = commands.recv() => Ok(Event::Command(command)),
    }
}
// ANCHOR_END: losing

// ANCHOR: keeping
/// The same turn, cancel-safe: the partial message lives in `self`, not in
/// the future, and the only read in the race is `read`, which tokio
/// documents as cancel-safe (when it has not completed, it has taken no
/// bytes). Dropping the future loses nothing; the next turn goes on where
/// this one stopped.
struct MessageReader<S> {
    socket: S,
    message: [u8; 4],
    filled: usize,
}

impl<S: AsyncRead + Unpin> MessageReader<S> {
    async fn turn(&mut self, commands: &mut mpsc::Receiver<&'static str>) -> io::Result<Event> {
        loop {
            tokio::select! {
                biased;
                read = self.socket.read(&mut self.message[self.filled..]) => {
                    match read? {
                        0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                        n => self.filled += n,
                    }
                    if self.filled == self.message.len() {
                        self.filled = 0;
                        return Ok(Event::Message(self.message));
                    }
                }
                Some(command) = commands.recv() => return Ok(Event::Command(command)),
            }
        }
    }
}
// ANCHOR_END: keeping

// ANCHOR: scenario
/// Which of the two turns a reader uses.
#[derive(Debug, Clone, Copy)]
enum Turn {
    Losing,
    Keeping,
}

/// Sends "ab", then a command, then "cdefgh": two messages, "abcd" and
/// "efgh", with a command between the halves of the first. Returns what
/// the reader saw, turn after turn, until the end of the stream.
async fn scenario(turn: Turn) -> io::Result<Vec<Event>> {
    // An in-memory pipe, so that each write arrives exactly when we say.
    let (mut peer, socket) = tokio::io::duplex(64);
    let (commands_in, mut commands) = mpsc::channel(1);
    let mut reader = MessageReader {
        socket,
        message: [0; 4],
        filled: 0,
    };
    let mut seen = Vec::new();

    peer.write_all(b"ab").await?;
    commands_in
        .send("status")
        .await
        .map_err(|_| io::Error::other("the reader has gone"))?;
    // The read takes "ab" and waits for two more bytes; then the command
    // is ready, and wins.
    seen.push(one_turn(turn, &mut reader, &mut commands).await?);

    peer.write_all(b"cdefgh").await?;
    drop(peer); // end of stream: what has been sent is all there will be
    while let Ok(event) = one_turn(turn, &mut reader, &mut commands).await {
        seen.push(event);
    }
    Ok(seen)
}

async fn one_turn<S: AsyncRead + Unpin>(
    turn: Turn,
    reader: &mut MessageReader<S>,
    commands: &mut mpsc::Receiver<&'static str>,
) -> io::Result<Event> {
    match turn {
        Turn::Losing => turn_losing(&mut reader.socket, commands).await,
        Turn::Keeping => reader.turn(commands).await,
    }
}
// ANCHOR_END: scenario

#[tokio::main(flavor = "current_thread")]
async fn main() -> io::Result<()> {
    for turn in [Turn::Losing, Turn::Keeping] {
        println!("{turn:?}: {:?}", scenario(turn).await?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn read_exact_in_select_loses_the_half_message_it_had_read() {
        let seen = scenario(Turn::Losing).await.unwrap();
        // "ab" is gone: the next message read is "cdef", and "gh" never
        // makes a whole one.
        assert_eq!(
            seen,
            [Event::Command("status"), Event::Message(*b"cdef")],
            "expected the bytes read before the command to be lost"
        );
    }

    #[tokio::test]
    async fn keeping_the_partial_message_outside_the_future_loses_nothing() {
        let seen = scenario(Turn::Keeping).await.unwrap();
        assert_eq!(
            seen,
            [
                Event::Command("status"),
                Event::Message(*b"abcd"),
                Event::Message(*b"efgh"),
            ]
        );
    }
}
