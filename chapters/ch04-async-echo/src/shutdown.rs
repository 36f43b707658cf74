//! Ctrl-C and SIGTERM: the first starts a graceful shutdown, a second one
//! exits at once.

use anyhow::{Context, Result};
use echo_common::Log;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio_util::sync::CancellationToken;

// ANCHOR: on_signal
/// Installs the handlers and returns a token that the first SIGINT or
/// SIGTERM cancels. Must run inside the runtime.
pub fn on_signal(log: Log) -> Result<CancellationToken> {
    // From here on these signals no longer kill the process; tokio's handler
    // writes a byte to a pipe that its reactor watches, and `recv` below
    // completes on the next turn of the loop.
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let shutdown = CancellationToken::new();
    let trigger = shutdown.clone();
    tokio::spawn(async move {
        let first = next(&mut interrupt, &mut terminate).await;
        log.server(format_args!(
            "{first}: shutting down (Ctrl-C again to exit at once)"
        ));
        trigger.cancel();
        next(&mut interrupt, &mut terminate).await;
        echo_common::exit_on_second_signal(log);
    });
    Ok(shutdown)
}

async fn next(interrupt: &mut Signal, terminate: &mut Signal) -> &'static str {
    tokio::select! {
        _ = interrupt.recv() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
    }
}
// ANCHOR_END: on_signal
