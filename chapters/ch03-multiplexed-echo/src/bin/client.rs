//! Chapter 3's client: one thread, one `poll(2)` loop over stdin and the
//! socket.
//!
//! Chapter 1's client needed a thread per direction because each blocking
//! call waits for one thing. Here we wait for both at once and only then
//! touch whichever is ready, so one thread keeps both directions moving.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use echo_common::ClientArgs;
use rustix::event::{PollFd, PollFlags};
use rustix::io::Errno;

/// Sends stdin to an echo server and prints what comes back, both at once,
/// from one thread waiting in poll(2).
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Args {
    #[command(flatten)]
    client: ClientArgs,
}

/// How much we read at a time, from stdin or from the socket.
const BUF_SIZE: usize = 64 * 1024;

fn main() -> ExitCode {
    echo_common::run(|| {
        let args: Args = echo_common::parse_args();
        let socket = echo_common::connect(&args.client.connect)?;
        Client::new(socket)?.run()
    })
}

// ANCHOR: state
struct Client {
    socket: TcpStream,
    /// Bytes read from stdin that the server has not taken yet, and how many
    /// of them it has. We read stdin only when all are sent: back-pressure
    /// from the server reaches whoever writes our stdin.
    outgoing: Vec<u8>,
    sent: usize,
    stdin_open: bool,
    half_closed: bool,
    incoming: Vec<u8>,
}
// ANCHOR_END: state

impl Client {
    fn new(socket: TcpStream) -> Result<Client> {
        socket
            .set_nonblocking(true)
            .context("cannot make the socket non-blocking")?;
        Ok(Client {
            socket,
            outgoing: Vec::new(),
            sent: 0,
            stdin_open: true,
            half_closed: false,
            incoming: vec![0; BUF_SIZE],
        })
    }

    fn has_outgoing(&self) -> bool {
        self.sent < self.outgoing.len()
    }

    // ANCHOR: run
    /// Runs until the server closes the connection.
    fn run(mut self) -> Result<()> {
        let stdin = rustix::stdio::stdin();
        loop {
            // Ask about stdin only when we could take more from it, and
            // about the socket's writability only while bytes are waiting.
            let mut socket_wants = PollFlags::IN;
            socket_wants.set(PollFlags::OUT, self.has_outgoing());
            let mut fds = vec![PollFd::new(&self.socket, socket_wants)];
            if self.stdin_open && !self.has_outgoing() {
                fds.push(PollFd::from_borrowed_fd(stdin, PollFlags::IN));
            }
            match rustix::event::poll(&mut fds, None) {
                Ok(_) => {}
                Err(Errno::INTR) => continue,
                Err(err) => return Err(err).context("poll failed"),
            }
            let socket_ready = fds[0].revents();
            let stdin_ready = fds.get(1).map_or(PollFlags::empty(), PollFd::revents);
            drop(fds);

            if !stdin_ready.is_empty() {
                self.read_stdin()?;
            }
            if self.has_outgoing() {
                // Also right after reading stdin: the socket is usually
                // writable, and trying costs less than asking.
                self.send()?;
            }
            if !self.stdin_open && !self.has_outgoing() && !self.half_closed {
                // Half-close: no more from us, but keep reading the echo.
                self.socket
                    .shutdown(Shutdown::Write)
                    .context("cannot half-close the connection")?;
                self.half_closed = true;
            }
            if !socket_ready.is_empty() && !self.receive()? {
                return Ok(()); // the server closed: all its bytes are printed
            }
        }
    }
    // ANCHOR_END: run

    // ANCHOR: io
    fn read_stdin(&mut self) -> Result<()> {
        // poll said readable (or hung up), so this read does not block.
        self.outgoing.resize(BUF_SIZE, 0);
        self.sent = 0;
        let n = match rustix::io::read(rustix::stdio::stdin(), &mut self.outgoing) {
            Ok(0) => {
                self.stdin_open = false; // end of input
                0
            }
            Ok(n) => n,
            Err(Errno::INTR) => 0,
            Err(err) => return Err(err).context("cannot read stdin"),
        };
        self.outgoing.truncate(n);
        Ok(())
    }

    fn send(&mut self) -> Result<()> {
        match (&self.socket).write(&self.outgoing[self.sent..]) {
            Ok(n) => self.sent += n,
            Err(err) if would_block_or_interrupted(&err) => {}
            Err(err) => return Err(err).context("cannot send to the server"),
        }
        Ok(())
    }

    /// Prints what the server sent. Returns false once it has closed.
    fn receive(&mut self) -> Result<bool> {
        let n = match (&self.socket).read(&mut self.incoming) {
            Ok(0) => return Ok(false),
            Ok(n) => n,
            Err(err) if would_block_or_interrupted(&err) => return Ok(true),
            Err(err) => return Err(err).context("cannot receive the echo"),
        };
        // A blocking write: whoever reads our stdout does not depend on us
        // for anything, so waiting for them cannot deadlock. Flushed at
        // once, so an interactive user sees each echo as it arrives.
        let mut stdout = io::stdout().lock();
        stdout
            .write_all(&self.incoming[..n])
            .and_then(|()| stdout.flush())
            .context("cannot write to stdout")?;
        Ok(true)
    }
    // ANCHOR_END: io
}

fn would_block_or_interrupted(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}
