//! Chapter 1: blocking IO.
//!
//! Every call here blocks the calling thread until the kernel has an answer:
//! `accept` until a client connects, `read` until bytes arrive, `write` until
//! the kernel has room for them. With one thread that means one client at a
//! time ([`iterative`]); giving each connection its own thread lifts that
//! limit at the price of a thread per client ([`threaded`]).

mod echo;
mod iterative;
mod threaded;

use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;
use echo_common::{Log, ServerArgs};
use threaded::Limits;

/// A blocking TCP echo server: everything a client sends comes back to it.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Args {
    #[command(flatten)]
    server: ServerArgs,

    /// Serve one client at a time, the way the chapter's first step does
    /// (the others wait until it disconnects)
    #[arg(long)]
    iterative: bool,
}

fn main() -> ExitCode {
    echo_common::run(|| {
        let args: Args = echo_common::parse_args();
        serve(&args)
    })
}

// ANCHOR: main
fn serve(args: &Args) -> Result<()> {
    let listener = echo_common::bind(&args.server.listen)?;
    echo_common::announce(&listener)?;
    let log = Log::new(args.server.quiet);
    if args.iterative {
        iterative::serve(&listener, args.server.idle_timeout, log)
    } else {
        let limits = Limits {
            max_connections: args.server.max_connections,
            idle_timeout: args.server.idle_timeout,
        };
        threaded::serve(&listener, limits, log)
    }
}
// ANCHOR_END: main
