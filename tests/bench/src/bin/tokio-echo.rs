//! The second floor the chapters are measured against: the least a tokio
//! echo server can do. tokio's own `examples/echo-tcp.rs`, with two
//! changes: an accept error never ends it (out of descriptors it backs
//! off, as every chapter does; any other error skips that connection), and
//! it reads 8 KiB at a time, like chapter 4, so that the two differ only in
//! what chapter 4 adds. No idle timeout, no connection cap, no graceful
//! shutdown, no logging (it takes the chapters' flags but ignores all but
//! `--listen`).
//!
//! Its CPU time per message is what tokio itself costs; chapter 4's is
//! compared with it (`echo-bench compare`'s "× tokio-echo", and the cost
//! ledger on chapter 4's page).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use echo_common::{AcceptError, ServerArgs};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A bare tokio echo server, the benchmark's second reference point
/// (ignores every flag but --listen)
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
}

/// What a read asks for, as in chapter 4 (tokio's example reads 1 KiB).
const BUF_SIZE: usize = 8 * 1024;

fn main() -> ExitCode {
    echo_common::run(|| {
        let args = Args::parse();
        // What `#[tokio::main]` builds: a worker thread per core.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("cannot start the tokio runtime")?;
        runtime.block_on(serve(&args.server.listen))
    })
}

async fn serve(listen: &str) -> Result<()> {
    let listener = echo_common::bind(listen)?;
    echo_common::announce(&listener)?;
    listener
        .set_nonblocking(true)
        .context("cannot make the listener non-blocking")?;
    let listener =
        TcpListener::from_std(listener).context("cannot register the listener with tokio")?;
    loop {
        let mut socket = match listener.accept().await {
            Ok((socket, _)) => socket,
            Err(err) => {
                if AcceptError::classify(&err) == AcceptError::BackOff {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                continue;
            }
        };
        tokio::spawn(async move {
            let mut buf = vec![0; BUF_SIZE];
            loop {
                let n = match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                if socket.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        });
    }
}
