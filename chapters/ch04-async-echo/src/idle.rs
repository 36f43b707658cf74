//! The idle timeout: close a connection on which no byte has moved, either
//! way, for a while.
//!
//! Wrapping each `read` and `write_all` in `tokio::time::timeout` would do
//! for the hand-written loop, but `tokio::io::copy` has no place between its
//! calls to put one (and a timer per call would cost a timer-wheel insert
//! and removal per message). So both loops watch the IO itself: every byte
//! that moves notes the time, and one timer per connection checks the
//! note, in the connection's task, while the echo runs in a task of its own.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

// ANCHOR: activity
/// When bytes last moved on one connection.
pub struct Activity {
    start: Instant,
    /// Milliseconds from `start` to the last byte moved. The echo's task
    /// writes it and the connection's task reads it, on whichever of the
    /// runtime's threads each runs: hence an atomic.
    last_ms: AtomicU64,
    /// False only for the cost ledger's `--without idle-timeout`: then
    /// nothing is noted and the timer never fires.
    watching: bool,
}

impl Activity {
    pub fn new(watching: bool) -> Self {
        Activity {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
            watching,
        }
    }

    /// Wraps a socket (or one half of it) so that its reads and writes
    /// count as activity.
    pub fn watch<T>(&self, io: T) -> Watched<'_, T> {
        Watched { io, activity: self }
    }

    /// Completes once nothing has moved for `idle`. One timer per
    /// connection, re-armed only when it fires early because bytes moved
    /// meanwhile, not on every read and write.
    pub async fn idle_for(&self, idle: Duration) {
        if !self.watching {
            return std::future::pending().await;
        }
        loop {
            let last = self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
            let Some(deadline) = last.checked_add(idle) else {
                // `--idle-timeout` beyond what the clock can represent: never.
                return std::future::pending().await;
            };
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }

    /// Notes that bytes moved just now: one clock reading.
    pub fn touch(&self) {
        if !self.watching {
            return;
        }
        let elapsed = self.start.elapsed();
        // Whole milliseconds without `as_millis`, whose u128 division
        // would cost more than reading the clock.
        let ms = elapsed.as_secs().saturating_mul(1000) + u64::from(elapsed.subsec_millis());
        self.last_ms.store(ms, Ordering::Relaxed);
    }
}
// ANCHOR_END: activity

/// An `AsyncRead`/`AsyncWrite` that reports every byte moved to its
/// [`Activity`]. Otherwise it passes every call straight through.
pub struct Watched<'a, T> {
    io: T,
    activity: &'a Activity,
}

// ANCHOR: watched
impl<T: AsyncRead + Unpin> AsyncRead for Watched<'_, T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        poll
    }
}
// ANCHOR_END: watched

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<'_, T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.io).poll_write(cx, buf);
        if let Poll::Ready(Ok(1..)) = poll {
            self.activity.touch();
        }
        poll
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
