//! Chapter 5's client, on our runtime: the socket in one task, stdin read
//! on a thread of its own and handed over through a channel.

use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;
use echo_common::ClientArgs;

/// Sends stdin to an echo server and prints what comes back, both at once,
/// on a small async runtime of our own.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Args {
    #[command(flatten)]
    client: ClientArgs,
}

fn main() -> ExitCode {
    echo_common::run(|| {
        let args: Args = echo_common::parse_args();
        run(&args.client.connect)
    })
}

#[cfg(not(target_os = "linux"))]
fn run(_: &str) -> Result<()> {
    anyhow::bail!("chapter 5's runtime is built on epoll(7), which needs Linux")
}

#[cfg(target_os = "linux")]
fn run(addr: &str) -> Result<()> {
    use anyhow::Context;
    use ch05_runtime_echo::runtime::Runtime;

    let stream = echo_common::connect(addr)?;
    let runtime = Runtime::new().context("cannot start the runtime")?;
    runtime.block_on(linux::client(stream))?
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io::{self, Read, Write};
    use std::net::{self, Shutdown};
    use std::pin::pin;
    use std::thread;

    use anyhow::{Context, Result};
    use ch05_runtime_echo::runtime::net::TcpStream;
    use ch05_runtime_echo::runtime::sync::{Sender, channel};
    use ch05_runtime_echo::runtime::{Either, race};

    /// How much we read at a time, from stdin or from the socket.
    const BUF_SIZE: usize = 64 * 1024;

    // ANCHOR: client
    pub async fn client(stream: net::TcpStream) -> Result<()> {
        let stream = TcpStream::from_std(stream).context("cannot register the socket")?;
        // One chunk in the channel at most: while the server does not take
        // what we send, the thread stops reading stdin, and whoever writes
        // our stdin is held back in turn.
        let (chunks, mut stdin) = channel(1);
        thread::Builder::new()
            .name("stdin".into())
            .spawn(move || read_stdin(chunks))
            .context("cannot start the stdin thread")?;

        let upload = async {
            while let Some(chunk) = stdin.recv().await {
                let chunk = chunk.context("cannot read stdin")?;
                stream
                    .write_all(&chunk)
                    .await
                    .context("cannot send stdin")?;
            }
            // Half-close: the server sees end of stream, sends back what
            // is still pending, then closes, which ends `download`.
            stream
                .shutdown(Shutdown::Write)
                .context("cannot half-close the connection")
        };
        let download = async {
            let mut buf = vec![0; BUF_SIZE];
            loop {
                let n = stream
                    .read(&mut buf)
                    .await
                    .context("cannot receive the echo")?;
                if n == 0 {
                    return Ok(()); // the server closed
                }
                // A blocking write, as in chapter 3: whoever reads our
                // stdout depends on us for nothing, so it cannot deadlock.
                let mut stdout = io::stdout().lock();
                stdout
                    .write_all(&buf[..n])
                    .and_then(|()| stdout.flush())
                    .context("cannot write to stdout")?;
            }
        };
        let mut download = pin!(download);

        // Both directions at once. The server closing ends the client,
        // whether or not stdin has reached its end.
        let sent: Result<()> = match race(download.as_mut(), upload).await {
            Either::Left(received) => return received,
            Either::Right(sent) => sent,
        };
        // stdin is done (or sending failed): print the rest of the echo,
        // then report the first failure, if any.
        let received = download.await;
        sent?;
        received
    }

    /// Reads stdin on its own thread: stdin may be a file, which epoll
    /// cannot watch, or a terminal we must not switch to non-blocking mode
    /// (that would change it for the shell too). tokio reads stdin the
    /// same way, on a thread of its blocking pool. If the server closes
    /// first, the process exits with this thread still blocked in `read`.
    fn read_stdin(chunks: Sender<io::Result<Vec<u8>>>) {
        let mut stdin = io::stdin().lock();
        loop {
            let mut chunk = vec![0; BUF_SIZE];
            let result = match stdin.read(&mut chunk) {
                Ok(0) => return, // end of input: dropping the sender says so
                Ok(n) => {
                    chunk.truncate(n);
                    Ok(chunk)
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => Err(err),
            };
            let failed = result.is_err();
            if chunks.send_blocking(result).is_err() || failed {
                return; // the client is gone, or stdin failed
            }
        }
    }
    // ANCHOR_END: client
}
