//! Chapter 4's client: stdin to the server and the server to stdout, both at
//! once, as two futures in one task.

use std::net::TcpStream as StdTcpStream;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use echo_common::ClientArgs;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::runtime::Builder;

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
        run(&args.client.connect)
    })
}

// ANCHOR: main
fn run(addr: &str) -> Result<()> {
    // Connecting is one blocking call before anything is concurrent.
    let stream = echo_common::connect(addr)?;
    // Two streams of bytes need no thread pool: one thread polls both.
    let runtime = Builder::new_current_thread()
        .enable_io()
        .build()
        .context("cannot start the tokio runtime")?;
    let result = runtime.block_on(client(stream));
    // tokio reads stdin with a plain blocking read(2) on a helper thread,
    // and nothing can cancel that read. If the server closed while stdin is
    // still open, dropping the runtime would wait for that read, i.e. for
    // the user to type something. Leave the thread behind instead: it ends
    // with the process.
    runtime.shutdown_background();
    result
}
// ANCHOR_END: main

// ANCHOR: client
async fn client(stream: StdTcpStream) -> Result<()> {
    stream
        .set_nonblocking(true)
        .context("cannot make the socket non-blocking")?;
    let mut stream = TcpStream::from_std(stream).context("cannot register the socket")?;
    let (mut from_server, mut to_server) = stream.split();

    let upload = async {
        let mut stdin = tokio::io::stdin();
        tokio::io::copy(&mut stdin, &mut to_server)
            .await
            .context("cannot send stdin")?;
        // Half-close: the server sees end of stream, sends back what is
        // still pending, then closes, which ends `download`.
        to_server
            .shutdown()
            .await
            .context("cannot half-close the connection")
    };
    let download = async {
        // `copy` flushes stdout whenever the socket has nothing more for the
        // moment, so a typed line shows up at once.
        let mut stdout = tokio::io::stdout();
        tokio::io::copy(&mut from_server, &mut stdout)
            .await
            .context("cannot receive the echo")
    };
    tokio::pin!(upload, download);

    // Both directions at once. The server closing ends the client, whether
    // or not stdin has reached its end.
    let sent = tokio::select! {
        received = &mut download => return received.map(drop),
        sent = &mut upload => sent,
    };
    // stdin is done (or sending failed): print the rest of the echo, then
    // report the first failure, if any.
    let received = download.await;
    sent?;
    received.map(drop)
}
// ANCHOR_END: client
