//! Chapter 4: async IO with tokio.
//!
//! Each connection is a task: a future that tokio polls whenever the socket
//! it waits on becomes ready. Underneath, tokio's reactor is chapter 3's
//! epoll loop (through `mio`); what changes is who writes the state machine
//! for each connection — the compiler does, from an `async fn`.
//!
//! - [`echo`]: the read → `write_all` loop, written by hand;
//! - [`copy`]: the same with `tokio::io::copy` on the socket's split halves;
//! - [`idle`]: closing connections on which nothing has moved for a while;
//! - [`server`]: the accept loop, the connection cap, graceful shutdown;
//! - [`shutdown`]: Ctrl-C and SIGTERM;
//! - [`features`]: the hidden switches of the cost ledger.

mod copy;
mod echo;
mod features;
mod idle;
mod server;
mod shutdown;

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use echo_common::{Log, ServerArgs};
use tokio::net::TcpListener;
use tokio::runtime::{Builder, Runtime};

use crate::features::{Feature, Features};
use crate::server::{Config, Echo};

/// An async TCP echo server on tokio: everything a client sends comes back
/// to it.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Args {
    #[command(flatten)]
    server: ServerArgs,

    /// Echo with `tokio::io::copy` on the socket's split halves instead of
    /// the hand-written read → write_all loop
    #[arg(long)]
    copy: bool,

    /// Worker threads for the runtime; 1 runs every task on the main thread
    /// (tokio's current_thread runtime) [default: one per CPU core]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    threads: Option<u32>,

    /// Leave these features out, to measure what each costs (the cost
    /// ledger on chapter 4's page; see src/features.rs). Never for serving
    #[arg(long, value_name = "FEATURES", value_delimiter = ',', hide = true)]
    without: Vec<Feature>,
}

fn main() -> ExitCode {
    echo_common::run(|| {
        let args: Args = echo_common::parse_args();
        let runtime = runtime(args.threads)?;
        runtime.block_on(serve(args))
    })
}

// ANCHOR: runtime
/// What `#[tokio::main]` writes for you, made explicit so that `--threads`
/// can choose the flavour.
fn runtime(threads: Option<u32>) -> Result<Runtime> {
    let mut builder = match threads {
        // One thread polls every task and, between polls, waits in
        // epoll_wait itself: chapter 3's loop, one to one.
        Some(1) => Builder::new_current_thread(),
        // A pool of workers, each polling tasks and taking turns at the
        // reactor; idle workers steal tasks from busy ones.
        Some(n) => {
            let mut builder = Builder::new_multi_thread();
            builder.worker_threads(n as usize);
            builder
        }
        None => Builder::new_multi_thread(),
    };
    // `enable_all`: the IO reactor (epoll) and the timer wheel.
    builder
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")
}
// ANCHOR_END: runtime

// ANCHOR: main
async fn serve(args: Args) -> Result<()> {
    let listener = echo_common::bind(&args.server.listen)?;
    let log = Log::new(args.server.quiet);
    // Before announcing: whoever reads `listening on` may press Ctrl-C at
    // once, and from then on it must reach our handler, not kill us.
    let shutdown = shutdown::on_signal(log)?;
    echo_common::announce(&listener)?;

    // tokio only ever tries a non-blocking accept, and waits in epoll until
    // the listener is readable; a blocking socket would stall a worker.
    listener
        .set_nonblocking(true)
        .context("cannot make the listener non-blocking")?;
    let listener =
        TcpListener::from_std(listener).context("cannot register the listener with tokio")?;

    let config = Config {
        echo: if args.copy { Echo::Copy } else { Echo::Loop },
        idle_timeout: args.server.idle_timeout,
        max_connections: args.server.max_connections as usize,
        grace: args.server.grace,
        log,
        features: Features::all_but(&args.without),
    };
    server::serve(listener, config, shutdown).await;
    Ok(())
}
// ANCHOR_END: main
