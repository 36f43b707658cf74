//! Racing two futures: what `tokio::select!` does for two branches, as a
//! plain function.
//!
//! Both futures are polled in the same task, first `a`, then `b`, each
//! time the task is woken; the first to finish wins and the other is
//! dropped, which is how async Rust cancels.

use std::future::poll_fn;
use std::pin::pin;
use std::task::Poll;

/// Which of two futures finished first, with its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Either<A, B> {
    Left(A),
    Right(B),
}

// ANCHOR: race
/// Polls `a` and `b` until one finishes; drops the other. `a` is polled
/// first, so when both are ready at once, `a` wins: put the future that
/// must win ties (a shutdown signal, say) first.
pub async fn race<A: Future, B: Future>(a: A, b: B) -> Either<A::Output, B::Output> {
    let mut a = pin!(a);
    let mut b = pin!(b);
    poll_fn(|cx| {
        if let Poll::Ready(output) = a.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(output));
        }
        if let Poll::Ready(output) = b.as_mut().poll(cx) {
            return Poll::Ready(Either::Right(output));
        }
        Poll::Pending
    })
    .await
}
// ANCHOR_END: race
