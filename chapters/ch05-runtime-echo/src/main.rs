//! Chapter 5's server: the echo on our own runtime (`src/runtime/`), one
//! runtime per `--threads`.

use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;
use echo_common::ServerArgs;

/// A TCP echo server on a small async runtime of our own (executor,
/// reactor on epoll, timers), no tokio. Ctrl-C or SIGTERM shuts it down
/// gracefully; a second one exits at once.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Args {
    #[command(flatten)]
    server: ServerArgs,

    /// Independent runtimes, one per thread, each with its own listener on
    /// the same port (SO_REUSEPORT); the kernel spreads connections over
    /// them
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    threads: u32,
}

fn main() -> ExitCode {
    echo_common::run(|| {
        let args: Args = echo_common::parse_args();
        serve(&args)
    })
}

#[cfg(target_os = "linux")]
fn serve(args: &Args) -> Result<()> {
    ch05_runtime_echo::server::run(&args.server, args.threads as usize)
}

#[cfg(not(target_os = "linux"))]
fn serve(_: &Args) -> Result<()> {
    anyhow::bail!("chapter 5's runtime is built on epoll(7), which needs Linux")
}
