//! Ctrl-C and SIGTERM: the first starts a graceful shutdown, a second one
//! exits at once.

use anyhow::{Context, Result};
use echo_common::Log;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio_util::sync::CancellationToken;

/// The exit status after a second Ctrl-C: 128 + SIGINT, what a shell
/// reports for a program that Ctrl-C killed.
const EXIT_INTERRUPTED: i32 = 130;

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
        let second = next(&mut interrupt, &mut terminate).await;
        log.server(format_args!("{second} again: exiting now"));
        std::process::exit(EXIT_INTERRUPTED);
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
