//! Chapter 3's server: the command line on top of the chapter's library
//! (`src/lib.rs`), which holds the event loop and the pollers.

use std::net::TcpListener;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, ValueEnum};
use echo_common::ServerArgs;

use ch03_multiplexed_echo::event_loop;
use ch03_multiplexed_echo::poller::epoll::{EpollPoller, Trigger};
use ch03_multiplexed_echo::poller::poll::PollPoller;
use ch03_multiplexed_echo::signals::Signals;
use echo_common::Settings;

/// A TCP echo server on one thread: poll(2) or epoll(7) tells it which
/// sockets are ready. Ctrl-C or SIGTERM shuts it down gracefully; a second
/// one exits at once.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Args {
    #[command(flatten)]
    server: ServerArgs,

    /// How to wait for sockets to become ready
    #[arg(long, value_enum, default_value_t = Backend::EpollEdge)]
    backend: Backend,
}

// ANCHOR: backend
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Backend {
    /// poll(2): every wait hands the kernel every socket
    Poll,
    /// epoll(7), level-triggered: told again while a socket stays ready
    EpollLevel,
    /// epoll(7), edge-triggered: told once per change; sockets are drained
    EpollEdge,
}
// ANCHOR_END: backend

fn main() -> ExitCode {
    echo_common::run(|| {
        let args: Args = echo_common::parse_args();
        serve(&args)
    })
}

// ANCHOR: main
fn serve(args: &Args) -> Result<()> {
    let listener = echo_common::bind(&args.server.listen)?;
    // Before announcing: once the address is printed, a Ctrl-C is ours.
    let signals = Signals::install().context("cannot install signal handlers")?;
    // `event_loop::run` prints `listening on` once the loop is set up.
    let settings = Settings::from(&args.server);
    match args.backend {
        Backend::Poll => event_loop::run(PollPoller::default(), listener, signals, settings),
        Backend::EpollLevel => run_on_epoll(Trigger::Level, listener, signals, settings),
        Backend::EpollEdge => run_on_epoll(Trigger::Edge, listener, signals, settings),
    }
}

fn run_on_epoll(
    trigger: Trigger,
    listener: TcpListener,
    signals: Signals,
    settings: Settings,
) -> Result<()> {
    let poller = EpollPoller::new(trigger).context("cannot create an epoll instance")?;
    event_loop::run(poller, listener, signals, settings)
}
// ANCHOR_END: main
