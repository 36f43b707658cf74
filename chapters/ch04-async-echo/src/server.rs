//! The accept loop, the connection cap and graceful shutdown.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use echo_common::{AcceptError, Log};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::features::Features;
use crate::idle::Activity;
use crate::{copy, echo};

/// How long to wait after `accept` failed for lack of descriptors or memory.
/// The listener stays readable meanwhile, so retrying at once would fail at
/// once, over and over, at 100% CPU.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Which of the chapter's two echo loops serves connections.
#[derive(Debug, Clone, Copy)]
pub enum Echo {
    /// [`echo::echo`]: read → `write_all`, by hand.
    Loop,
    /// [`copy::echo`]: `tokio::io::copy` on split halves.
    Copy,
}

impl Echo {
    /// Echoes `stream` with this loop until the client is done.
    async fn run(
        self,
        stream: TcpStream,
        activity: &Activity,
        features: Features,
    ) -> io::Result<u64> {
        match self {
            Echo::Loop if features.shared_buffer => echo::echo(stream, activity).await,
            Echo::Loop => echo::echo_with_own_buffer(stream, activity).await,
            Echo::Copy => copy::echo(stream, activity).await,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Config {
    pub echo: Echo,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub grace: Duration,
    pub log: Log,
    /// All on, except for the cost ledger (see [`crate::features`]).
    pub features: Features,
}

// ANCHOR: serve
/// Serves until `shutdown` is cancelled, then drains: see [`drain`].
pub async fn serve(listener: TcpListener, config: Config, shutdown: CancellationToken) {
    let connections = TaskTracker::new();
    // Cancelled when the grace period is over: the connections still open
    // then are closed.
    let close_now = CancellationToken::new();
    // `None` only for the cost ledger's `--without cap`.
    let slots = config
        .features
        .cap
        .then(|| Arc::new(Semaphore::new(config.max_connections)));
    loop {
        // Whichever completes first: a signal, or the next connection.
        // Dropping the unfinished `accept` future is safe; tokio documents
        // both `accept` and `acquire_owned` as cancel-safe.
        let (stream, peer, slot) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = accept(&listener, slots.as_ref(), config.log) => accepted,
        };
        // A task per connection, not a thread: about 1.5 KiB while the
        // connection is idle (measure/idle_rss.py).
        let task = connection(stream, peer, slot, config, close_now.clone());
        // Untracked only for the cost ledger's `--without grace`.
        if config.features.grace {
            connections.spawn(task);
        } else {
            tokio::spawn(task);
        }
    }
    // Stop accepting at once: closing the listening socket makes the kernel
    // refuse new clients (and reset those still queued in the backlog).
    drop(listener);
    config.log.server(format_args!(
        "stopped accepting; {} connection(s) open",
        connections.len()
    ));
    if config.features.grace {
        drain(connections, close_now, config).await;
    }
}
// ANCHOR_END: serve

// ANCHOR: accept
/// Waits for a free slot, then for the next connection. Errors never end
/// the server: they belong to one would-be connection (skip it), or say we
/// are out of descriptors or memory (back off, then retry).
async fn accept(
    listener: &TcpListener,
    slots: Option<&Arc<Semaphore>>,
    log: Log,
) -> (TcpStream, SocketAddr, Option<OwnedSemaphorePermit>) {
    // At the cap we wait here, not in `accept`: further clients wait in the
    // kernel's listen backlog until a connection closes and frees a slot.
    let slot = match slots {
        Some(slots) => Some(
            Arc::clone(slots)
                .acquire_owned()
                .await
                .expect("the semaphore is never closed, so acquiring cannot fail"),
        ),
        None => None,
    };
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => return (stream, peer, slot),
            Err(err) => {
                // tokio's own echo example writes `listener.accept().await?`
                // here, and so exits on the first EMFILE.
                log.server(format_args!("accept failed: {err}"));
                if AcceptError::classify(&err) == AcceptError::BackOff {
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            }
        }
    }
}
// ANCHOR_END: accept

// ANCHOR: connection
/// One connection's task, from accept to close.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    _slot: Option<OwnedSemaphorePermit>,
    config: Config,
    close_now: CancellationToken,
) {
    config.log.opened(peer);
    let activity = Activity::new(config.features.idle_timeout);
    let features = config.features;
    // The echo, raced against the idle timer and the end of the grace
    // period. The losers are dropped, and dropping the echo future drops
    // the socket it owns: that is how a task closes its connection.
    // (`, if …` turns a branch off, for the cost ledger at the end of the
    // chapter; with it false, `select!` never polls that branch.)
    let result = tokio::select! {
        result = config.echo.run(stream, &activity, features) => result,
        () = activity.idle_for(config.idle_timeout), if features.idle_timeout => {
            Err(echo_common::idle_timeout_error(config.idle_timeout))
        }
        () = close_now.cancelled(), if features.grace => {
            Err(io::Error::other("closed at the end of the grace period"))
        }
    };
    config.log.closed(peer, &result);
    // `_slot` is dropped here, which lets the accept loop take one more.
}
// ANCHOR_END: connection

// ANCHOR: drain
/// Lets the open connections finish, for up to `config.grace`, then closes
/// the rest. An echo connection has no request boundaries: it is finished
/// when its client half-closes and has its bytes back, and only the
/// client knows when that is.
async fn drain(connections: TaskTracker, close_now: CancellationToken, config: Config) {
    // No more tasks will be added, so `wait` can complete once the
    // existing ones have.
    connections.close();
    if tokio::time::timeout(config.grace, connections.wait())
        .await
        .is_err()
    {
        config.log.server(format_args!(
            "grace period of {:?} over; closing {} connection(s)",
            config.grace,
            connections.len()
        ));
        close_now.cancel();
        connections.wait().await;
    }
    config.log.server("shut down");
}
// ANCHOR_END: drain
