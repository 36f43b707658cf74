//! Chapter 1's client: two blocking threads, one per direction.
//!
//! One thread could not do it: while it is blocked writing stdin to the
//! server it cannot read the echo, so once the echo has filled the kernel's
//! buffers the server blocks writing to us, stops reading, and our write never
//! finishes. Each direction gets a thread, so each can block on its own.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::ExitCode;
use std::thread;

use anyhow::{Context, Result};
use clap::Parser;
use echo_common::ClientArgs;

/// Sends stdin to an echo server and prints what comes back, both at once.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Args {
    #[command(flatten)]
    client: ClientArgs,
}

fn main() -> ExitCode {
    echo_common::run(|| {
        let args: Args = echo_common::parse_args();
        client(&args.client.connect)
    })
}

// ANCHOR: client
fn client(addr: &str) -> Result<()> {
    let stream = echo_common::connect(addr)?;
    let to_server = stream.try_clone().context("cannot clone the socket")?;
    let sender = thread::Builder::new()
        .name("stdin to server".into())
        .spawn(move || send_stdin(to_server))
        .context("cannot start the sending thread")?;

    copy(&mut &stream, &mut io::stdout().lock()).context("cannot receive the echo")?;

    // The server has closed its side. If stdin is still open (say, nobody
    // has typed anything), the sender is blocked reading it: returning from
    // main ends the process, sender and all, instead of hanging.
    if sender.is_finished() {
        match sender.join() {
            Ok(result) => result?,
            Err(_) => anyhow::bail!("the sending thread panicked"),
        }
    }
    Ok(())
}

fn send_stdin(mut to_server: TcpStream) -> Result<()> {
    copy(&mut io::stdin().lock(), &mut to_server).context("cannot send stdin")?;
    // Half-close: tell the server we are done sending, while still
    // receiving the rest of the echo.
    to_server
        .shutdown(Shutdown::Write)
        .context("cannot half-close the connection")
}
// ANCHOR_END: client

// ANCHOR: copy
/// Copies until end of stream, flushing after every chunk so that an
/// interactive user sees each echo at once (stdout is line-buffered, and
/// bytes need not end with a newline).
fn copy(from: &mut impl Read, to: &mut impl Write) -> io::Result<u64> {
    let mut buf = [0u8; 8 * 1024];
    let mut copied = 0;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(copied),
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        to.write_all(&buf[..n])?;
        to.flush()?;
        copied += n as u64;
    }
}
// ANCHOR_END: copy
