//! The echo server on our runtime: chapter 4's server, with our own
//! `spawn`, `race`, `sleep` and sockets where chapter 4 had tokio's.
//!
//! - [`echo`]: one connection's echo loop;
//! - [`connections`]: the connection cap and what shutdown waits for;
//! - [`buffers`]: the per-thread free list of echo buffers;
//! - this module: the accept loop, signals, graceful shutdown, and
//!   `--threads N` runtimes side by side.

pub mod buffers;
pub mod connections;
pub mod echo;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use echo_common::{AcceptError, ServerArgs, Settings};

use crate::runtime::net::{TcpListener, TcpStream};
use crate::runtime::signal::Signals;
use crate::runtime::sync::{Latch, channel};
use crate::runtime::{Either, Runtime, race, sleep, spawn};
use connections::{Connections, Permit};

/// How long to wait after `accept` failed for lack of descriptors or
/// memory: the failed connection stays queued, so retrying at once would
/// fail at once, at 100% CPU.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// What every runtime of one server shares.
struct Shared {
    settings: Settings,
    connections: Arc<Connections>,
    /// Set by the first signal: stop accepting.
    stop_accepting: Latch,
    /// Set when the grace period is over: close what is still open.
    close_now: Latch,
}

// ANCHOR: serve
/// Serves one runtime's listener until shutdown stops it accepting. The
/// connections it spawned go on running on this runtime.
async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        // The signal is polled first: once it has come, no more accepts.
        let accepted = race(shared.stop_accepting.wait(), accept(&listener, &shared)).await;
        let Either::Right((stream, peer, permit)) = accepted else {
            break;
        };
        spawn(connection(stream, peer, permit, Arc::clone(&shared)));
    }
    // Closing the listening socket makes the kernel refuse new clients.
    drop(listener);
}

/// Waits until the server is below its cap, then for the next connection.
/// Errors never end the server: they belong to one would-be connection, or
/// say we are out of descriptors or memory (back off, then retry).
async fn accept(listener: &TcpListener, shared: &Shared) -> (TcpStream, SocketAddr, Permit) {
    loop {
        // At the cap we don't accept: further clients wait in the kernel's
        // listen backlog until a connection closes.
        shared.connections.below_cap().await;
        match listener.accept().await {
            // Counted only now, so that an accept loop waiting for a client
            // holds no slot. With one runtime, the slot we saw free is
            // still free; with several, another may have just taken it,
            // and this connection waits here, accepted but not served.
            Ok((stream, peer)) => return (stream, peer, shared.connections.acquire().await),
            Err(err) => {
                shared
                    .settings
                    .log
                    .server(format_args!("accept failed: {err}"));
                if AcceptError::classify(&err) == AcceptError::BackOff {
                    sleep(ACCEPT_BACKOFF).await;
                }
            }
        }
    }
}

/// One connection's task, from accept to close.
async fn connection(stream: TcpStream, peer: SocketAddr, permit: Permit, shared: Arc<Shared>) {
    let log = shared.settings.log;
    log.opened(peer);
    let echo = race(
        shared.close_now.wait(),
        echo::echo(&stream, shared.settings.idle_timeout),
    );
    let result = match echo.await {
        Either::Left(()) => Err(io::Error::other("closed at the end of the grace period")),
        Either::Right(result) => result,
    };
    log.closed(peer, &result);
    // Close the socket before giving the slot back.
    drop(stream);
    drop(permit);
}
// ANCHOR_END: serve

// ANCHOR: shutdown
/// The first SIGINT or SIGTERM stops every runtime accepting; a second one
/// ends the process at once.
async fn on_signals(mut signals: Signals, shared: Arc<Shared>) -> io::Result<()> {
    let log = shared.settings.log;
    if signals.recv().await? > 1 {
        // Two signals arrived before we could handle the first.
        echo_common::exit_on_second_signal(log);
    }
    log.server(format_args!(
        "shutting down: no new connections; {} open connection(s) get {:?} to finish",
        shared.connections.open(),
        shared.settings.grace
    ));
    shared.stop_accepting.set();
    signals.recv().await?;
    echo_common::exit_on_second_signal(log)
}

/// After the signal: gives the open connections the grace period, then
/// closes what is left.
async fn drain(shared: &Shared) {
    let settings = shared.settings;
    let grace_over = race(shared.connections.all_closed(), sleep(settings.grace)).await;
    if let Either::Right(()) = grace_over {
        settings.log.server(format_args!(
            "grace period of {:?} over; closing {} connection(s)",
            settings.grace,
            shared.connections.open()
        ));
        shared.close_now.set();
        shared.connections.all_closed().await;
    }
    settings.log.server("shut down");
}
// ANCHOR_END: shutdown

// ANCHOR: run
/// Runs the server: `threads` runtimes, each on its own thread with its own
/// listener on the same port. With one, this thread is the runtime's and
/// the listener is an ordinary one; with more, every listener has
/// `SO_REUSEPORT`, and the kernel spreads new connections over them.
pub fn run(args: &ServerArgs, threads: usize) -> Result<()> {
    let listeners = bind(&args.listen, threads)?;
    let settings = Settings::from(args);
    let shared = Arc::new(Shared {
        settings,
        connections: Connections::new(settings.max_connections),
        stop_accepting: Latch::new(),
        close_now: Latch::new(),
    });
    let mut listeners = listeners.into_iter();
    let first = listeners.next().context("no listener")?;

    // The other runtimes, each on a thread of its own. Each says when its
    // listener is registered, so that `listening on` means every one is.
    let (ready, mut all_ready) = channel::<io::Result<()>>(threads);
    let mut workers = Vec::new();
    for (index, listener) in listeners.enumerate() {
        let shared = Arc::clone(&shared);
        let ready = ready.clone();
        let worker = thread::Builder::new()
            .name(format!("runtime-{}", index + 1))
            .spawn(move || -> io::Result<()> {
                let runtime = Runtime::new()?;
                runtime.block_on(async move {
                    let listener = match TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        Err(err) => return drop(ready.send_blocking(Err(err))),
                    };
                    drop(ready.send_blocking(Ok(())));
                    drop(ready);
                    serve(listener, Arc::clone(&shared)).await;
                    // Its connections are still being served here.
                    shared.connections.all_closed().await;
                })
            })
            .context("cannot start a runtime thread")?;
        workers.push(worker);
    }
    drop(ready);

    // This thread's runtime: the first listener, the signals, the drain.
    let runtime = Runtime::new().context("cannot start the runtime")?;
    runtime.block_on(async move {
        let signals = Signals::install().context("cannot install signal handlers")?;
        let listener = TcpListener::from_std(first).context("cannot register the listener")?;
        for _ in 1..threads {
            match all_ready.recv().await {
                Some(result) => result.context("a runtime thread failed to start")?,
                None => return Err(anyhow!("a runtime thread failed to start")),
            }
        }
        echo_common::announce(listener.as_std())?;
        spawn(on_signals(signals, Arc::clone(&shared)));
        serve(listener, Arc::clone(&shared)).await;
        drain(&shared).await;
        Ok(())
    })??;
    for worker in workers {
        match worker.join() {
            Ok(result) => result.context("a runtime thread failed")?,
            Err(_) => return Err(anyhow!("a runtime thread panicked")),
        }
    }
    Ok(())
}
// ANCHOR_END: run

// ANCHOR: bind
/// One listener per runtime, all on the address `addr` names. The first
/// picks the port (port 0: any free one); the rest bind to that very
/// address, which `SO_REUSEPORT` allows.
fn bind(addr: &str, threads: usize) -> Result<Vec<std::net::TcpListener>> {
    if threads == 1 {
        return Ok(vec![echo_common::bind(addr)?]);
    }
    let reuse_port = |socket: &socket2::Socket| socket.set_reuse_port(true);
    let first = echo_common::bind_with(addr, reuse_port)?;
    let local = first
        .local_addr()
        .context("cannot read the listener's address")?;
    let mut listeners = vec![first];
    for _ in 1..threads {
        listeners.push(echo_common::bind_with(&local.to_string(), reuse_port)?);
    }
    Ok(listeners)
}
// ANCHOR_END: bind
