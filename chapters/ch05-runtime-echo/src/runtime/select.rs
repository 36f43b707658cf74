//! Racing two futures: what `tokio::select!` does for two branches, as a
//! plain function.
//!
//! Both futures are polled in the same task, first `a`, then `b`, each
//! time the task is woken; the first to finish wins and the other is
//! dropped, which is how async Rust cancels.

use std::pin::Pin;
use std::task::{Context, Poll};

/// Which of two futures finished first, with its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Either<A, B> {
    Left(A),
    Right(B),
}

// ANCHOR: race
/// Polls `a` and `b` until one finishes; the other is dropped with the
/// `Race`. `a` is polled first, so when both are ready at once, `a` wins:
/// put the future that must win ties (a shutdown signal, say) first.
pub fn race<A: Future, B: Future>(a: A, b: B) -> Race<A, B> {
    Race { a, b }
}

pub struct Race<A, B> {
    a: A,
    b: B,
}

impl<A: Future, B: Future> Future for Race<A, B> {
    type Output = Either<A::Output, B::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: "structural pinning": `a` and `b` are pinned whenever the
        // `Race` is. That holds because nothing ever moves them out of a
        // `Race`: no method hands them out by value or by `&mut`, `Race`
        // has no `Drop` of its own, and it is `Unpin` only when both are
        // (the compiler's automatic impl).
        let this = unsafe { self.get_unchecked_mut() };
        let a = unsafe { Pin::new_unchecked(&mut this.a) };
        if let Poll::Ready(output) = a.poll(cx) {
            return Poll::Ready(Either::Left(output));
        }
        // SAFETY: as above.
        let b = unsafe { Pin::new_unchecked(&mut this.b) };
        b.poll(cx).map(Either::Right)
    }
}
// ANCHOR_END: race
