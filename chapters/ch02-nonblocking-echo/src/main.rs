//! Chapter 2's server: one thread, non-blocking sockets, every connection
//! tried in turn. See the crate's library for the loop and the state machine.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use ch02_nonblocking_echo::pacing::IdleSleep;
use ch02_nonblocking_echo::server::{self, Config};
use ch02_nonblocking_echo::shutdown;
use clap::Parser;
use echo_common::{Log, ServerArgs, parse_secs};

/// A non-blocking TCP echo server: one thread polls every socket in turn.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Args {
    #[command(flatten)]
    server: ServerArgs,

    /// Sleep this many seconds (e.g. 0.001) after a pass over every socket
    /// that moved nothing. By default the loop never sleeps: lowest latency,
    /// and a whole core burnt even with nothing to do
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    idle_sleep: Option<Duration>,
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
    // Before we announce ourselves, so a Ctrl-C from then on is graceful.
    shutdown::install().context("cannot install the Ctrl-C handler")?;
    echo_common::announce(&listener)?;
    let config = Config {
        // Lossless: usize is at least 32 bits on Linux, the only system
        // this book supports.
        max_connections: args.server.max_connections as usize,
        idle_timeout: args.server.idle_timeout,
        grace: args.server.grace,
        idle_sleep: IdleSleep(args.idle_sleep),
    };
    server::serve(listener, config, Log::new(args.server.quiet))
}
// ANCHOR_END: main
