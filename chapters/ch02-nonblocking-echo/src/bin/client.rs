//! Chapter 2's client: one loop, a non-blocking socket, both directions
//! tried in turn.
//!
//! stdin is the exception: a helper thread reads it, blocking, and hands the
//! chunks over a channel, which the loop checks without waiting. Making
//! stdin itself non-blocking would be wrong twice over:
//!
//! - `O_NONBLOCK` belongs to the *open file description*, which our stdin
//!   shares with the shell (or whatever started us) when it is a terminal or
//!   an inherited pipe. Setting it changes their stdin too: the shell, or the
//!   next program in the pipeline, gets `EAGAIN` where it expected to wait.
//! - On a regular file (`client < big.file`) the flag does nothing: a file
//!   always counts as ready, and a read that has to go to the disk simply
//!   blocks.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::ExitCode;
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result};
use ch02_nonblocking_echo::connection::try_again_later;
use ch02_nonblocking_echo::pacing::IdleSleep;
use clap::Parser;
use echo_common::{ClientArgs, parse_secs};

/// Bytes per read, from stdin and from the socket.
const CHUNK: usize = 8 * 1024;

/// Chunks of stdin the helper may read ahead of the loop. Bounded, so a
/// fast stdin and a slow server leave it blocked, not our memory growing.
const CHANNEL_DEPTH: usize = 4;

/// Sends stdin to an echo server and prints what comes back, both at once.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Args {
    #[command(flatten)]
    client: ClientArgs,

    /// Sleep this many seconds (e.g. 0.001) after a pass that moved nothing;
    /// by default the loop spins
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    idle_sleep: Option<Duration>,
}

fn main() -> ExitCode {
    echo_common::run(|| {
        let args: Args = echo_common::parse_args();
        client(&args.client.connect, IdleSleep(args.idle_sleep))
    })
}

// ANCHOR: client
fn client(addr: &str, idle_sleep: IdleSleep) -> Result<()> {
    let mut socket = echo_common::connect(addr)?;
    socket
        .set_nonblocking(true)
        .context("cannot make the socket non-blocking")?;
    let mut upstream = Upstream::new(read_stdin_on_a_thread()?);
    let mut stdout = io::stdout().lock();
    let mut buf = [0u8; CHUNK];
    loop {
        let mut progress = upstream.step(&mut socket)?;
        match socket.read(&mut buf) {
            // The server has closed: we are done, whether or not stdin is.
            // Returning ends the process, the helper thread with it.
            Ok(0) => return upstream.outcome(),
            Ok(n) => {
                // A blocking write: if whoever reads our stdout is slow, we
                // wait for them, and read no more from the server meanwhile.
                stdout
                    .write_all(&buf[..n])
                    .and_then(|()| stdout.flush())
                    .context("cannot write to stdout")?;
                progress = true;
            }
            Err(err) if try_again_later(&err) => {}
            Err(err) => return Err(err).context("cannot receive the echo"),
        }
        idle_sleep.after_pass(progress);
    }
}
// ANCHOR_END: client

// ANCHOR: stdin
/// Reads stdin, blocking, on a thread of its own; the channel is how the
/// loop asks "anything yet?" without waiting. The channel closing means
/// end of input.
fn read_stdin_on_a_thread() -> Result<Receiver<io::Result<Vec<u8>>>> {
    let (chunks, receiver) = mpsc::sync_channel(CHANNEL_DEPTH);
    thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            let mut stdin = io::stdin().lock();
            loop {
                let mut chunk = vec![0; CHUNK];
                let result = match stdin.read(&mut chunk) {
                    Ok(0) => return, // EOF: dropping `chunks` tells the loop
                    Ok(n) => {
                        chunk.truncate(n);
                        Ok(chunk)
                    }
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                    Err(err) => Err(err),
                };
                let failed = result.is_err();
                // Blocks while the loop is CHANNEL_DEPTH chunks behind; fails
                // once the loop has gone, and then we are done too.
                if chunks.send(result).is_err() || failed {
                    return;
                }
            }
        })
        .context("cannot start the stdin thread")?;
    Ok(receiver)
}
// ANCHOR_END: stdin

// ANCHOR: upstream
/// The stdin → server direction, as a state machine like the server's
/// connection: the chunk being sent, how much of it has gone, and whether
/// stdin has ended.
struct Upstream {
    stdin: Receiver<io::Result<Vec<u8>>>,
    pending: Vec<u8>,
    written: usize,
    stdin_ended: bool,
    half_closed: bool,
    /// The server stopped taking our bytes (it closed early). We stop
    /// sending but keep printing what it sent until it closes.
    failed: Option<io::Error>,
}

impl Upstream {
    fn new(stdin: Receiver<io::Result<Vec<u8>>>) -> Self {
        Upstream {
            stdin,
            pending: Vec::new(),
            written: 0,
            stdin_ended: false,
            half_closed: false,
            failed: None,
        }
    }

    /// One try at moving stdin to the server. Returns whether anything
    /// moved.
    fn step(&mut self, socket: &mut TcpStream) -> Result<bool> {
        if self.half_closed || self.failed.is_some() {
            return Ok(false);
        }
        let mut moved = false;
        if self.written == self.pending.len() && !self.stdin_ended {
            match self.stdin.try_recv() {
                Ok(Ok(chunk)) => (self.pending, self.written) = (chunk, 0),
                Ok(Err(err)) => return Err(err).context("cannot read stdin"),
                Err(TryRecvError::Disconnected) => self.stdin_ended = true,
                Err(TryRecvError::Empty) => return Ok(false),
            }
            moved = true;
        }
        if self.written < self.pending.len() {
            match socket.write(&self.pending[self.written..]) {
                Ok(0) => {
                    self.failed = Some(io::ErrorKind::WriteZero.into());
                    return Ok(true);
                }
                Ok(n) => {
                    self.written += n;
                    moved = true;
                }
                Err(err) if try_again_later(&err) => {}
                Err(err) => {
                    self.failed = Some(err);
                    return Ok(true);
                }
            }
        }
        if self.stdin_ended && self.written == self.pending.len() {
            // Half-close: "no more from me", while the echo keeps coming.
            socket
                .shutdown(Shutdown::Write)
                .context("cannot half-close the connection")?;
            self.half_closed = true;
            moved = true;
        }
        Ok(moved)
    }

    /// How the run ended, once the server has closed.
    fn outcome(&mut self) -> Result<()> {
        match self.failed.take() {
            Some(err) => Err(err).context("the server closed before taking all of stdin"),
            None => Ok(()),
        }
    }
}
// ANCHOR_END: upstream
