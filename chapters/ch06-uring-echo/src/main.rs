//! Chapter 6's server: the command line on top of the chapter's library
//! (`src/lib.rs`), which holds the event loop.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use echo_common::ServerArgs;

/// A TCP echo server on one thread and io_uring: it submits receives and
/// sends to the kernel and handles their completions (Linux 6.1 or later).
/// Ctrl-C or SIGTERM shuts it down gracefully; a second one exits at once.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Args {
    #[command(flatten)]
    server: ServerArgs,

    /// How connections receive: one operation at a time into a buffer of
    /// their own (steps 1 and 2), or one multishot receive into buffers
    /// from a ring shared with the kernel (step 3)
    #[arg(long, value_enum, default_value_t = StepArg::Multishot)]
    step: StepArg,

    /// Register every connection's socket in the ring's file table, so its
    /// operations skip the descriptor lookup (step 4)
    #[arg(long)]
    fixed_files: bool,

    /// Let a kernel thread poll the submission queue, so that submitting
    /// needs no system call while it is awake; its CPU time is the
    /// server's (a thread of this process). On a server confined to one
    /// CPU (taskset -c N) the thread is pinned there too (step 4)
    #[arg(long)]
    sqpoll: bool,

    /// With --sqpoll: milliseconds the kernel thread keeps polling after the
    /// last submission before it sleeps
    #[arg(long, value_name = "MS", default_value_t = 1, requires = "sqpoll")]
    sqpoll_idle: u64,

    /// Entries in the submission queue (the completion queue gets four
    /// times as many); tiny values show the completion queue overflowing
    #[arg(long, value_name = "N", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=32768))]
    ring_entries: u32,

    /// Buffers of 4 KiB in the ring of --step multishot (a power of two)
    #[arg(long, value_name = "N", default_value_t = 2048, value_parser = parse_ring_buffers)]
    buffers: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum StepArg {
    /// One-shot Accept, Recv and Send; a buffer per connection
    Single,
    /// Multishot accept and receive; buffers from a ring
    Multishot,
}

fn parse_ring_buffers(text: &str) -> Result<u16, String> {
    match text.parse::<u16>() {
        Ok(n) if n.is_power_of_two() && n <= 1 << 15 => Ok(n),
        _ => Err(format!("'{text}' is not a power of two from 1 to 32768")),
    }
}

fn main() -> ExitCode {
    echo_common::run(|| {
        let args: Args = echo_common::parse_args();
        serve(&args)
    })
}

#[cfg(target_os = "linux")]
// ANCHOR: main
fn serve(args: &Args) -> anyhow::Result<()> {
    use anyhow::Context;
    use ch06_uring_echo::connection::Step;
    use ch06_uring_echo::event_loop::{EventLoop, Options};
    use ch06_uring_echo::ring::{RingConfig, SqPoll};
    use ch06_uring_echo::signals::SignalFd;
    use echo_common::Settings;

    let listener = echo_common::bind(&args.server.listen)?;
    // Before anything else can start a thread, and before the address is
    // printed: from then on, a Ctrl-C is a completion of ours.
    let signals = SignalFd::install().context("cannot set up signal handling")?;
    let options = Options {
        step: match args.step {
            StepArg::Single => Step::Single,
            StepArg::Multishot => Step::Multishot,
        },
        ring: RingConfig {
            entries: args.ring_entries,
            sqpoll: args.sqpoll.then(|| SqPoll {
                idle: Duration::from_millis(args.sqpoll_idle),
            }),
        },
        fixed_files: args.fixed_files,
        ring_buffers: args.buffers,
        settings: Settings::from(&args.server),
    };
    let mut event_loop = EventLoop::new(listener, Some(signals), options)?;
    // Only now, with the ring and everything it needs in place.
    echo_common::announce(event_loop.listener().context("no listener")?)?;
    event_loop.run()
}
// ANCHOR_END: main

#[cfg(not(target_os = "linux"))]
fn serve(_: &Args) -> anyhow::Result<()> {
    let _ = Duration::ZERO;
    anyhow::bail!("io_uring needs Linux; on this system run chapter 3's or chapter 4's server")
}
