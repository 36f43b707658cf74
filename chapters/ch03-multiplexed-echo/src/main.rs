//! Chapter 3's server: the command line on top of the chapter's library
//! (`src/lib.rs`), which holds the event loop and the pollers.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, ValueEnum};
use echo_common::ServerArgs;

use ch03_multiplexed_echo::event_loop::{self, Settings};
use ch03_multiplexed_echo::poller::poll::PollPoller;
use ch03_multiplexed_echo::signals::Signals;

/// A TCP echo server on one thread: poll(2) or epoll(7) tells it which
/// sockets are ready. Ctrl-C or SIGTERM shuts it down gracefully; a second
/// one exits at once.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Args {
    #[command(flatten)]
    server: ServerArgs,

    /// How to wait for sockets to become ready (epoll is Linux-only)
    #[arg(long, value_enum, default_value_t = Backend::DEFAULT)]
    backend: Backend,
}

// ANCHOR: backend
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Backend {
    /// poll(2): portable; every wait hands the kernel every socket
    Poll,
    /// epoll(7), level-triggered: told again while a socket stays ready
    EpollLevel,
    /// epoll(7), edge-triggered: told once per change; sockets are drained
    EpollEdge,
}

impl Backend {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    const DEFAULT: Backend = Backend::EpollEdge;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    const DEFAULT: Backend = Backend::Poll;
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
        Backend::EpollLevel | Backend::EpollEdge => {
            epoll::run(args.backend, listener, signals, settings)
        }
    }
}
// ANCHOR_END: main

#[cfg(any(target_os = "linux", target_os = "android"))]
mod epoll {
    use super::*;
    use ch03_multiplexed_echo::poller::epoll::{EpollPoller, Trigger};

    pub fn run(
        backend: Backend,
        listener: std::net::TcpListener,
        signals: Signals,
        settings: Settings,
    ) -> Result<()> {
        let trigger = match backend {
            Backend::EpollLevel => Trigger::Level,
            _ => Trigger::Edge,
        };
        let poller = EpollPoller::new(trigger).context("cannot create an epoll instance")?;
        event_loop::run(poller, listener, signals, settings)
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod epoll {
    use super::*;

    pub fn run(backend: Backend, _: std::net::TcpListener, _: Signals, _: Settings) -> Result<()> {
        let name = backend
            .to_possible_value()
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default();
        anyhow::bail!("--backend {name} needs Linux's epoll(7); on this system use --backend poll")
    }
}
