//! The cooperative budget: how many IO operations a task may complete in
//! one poll before it must give the others a turn.
//!
//! A task only yields when a future it awaits returns `Pending`. A
//! connection whose socket always has more data (a client sending as fast
//! as loopback allows) never sees `Pending` from `read`, so without a limit
//! its task would loop inside one poll for as long as the client sends, and
//! every other connection would wait. tokio gives each task a budget of 128
//! operations per poll; when it is spent, the next socket operation returns
//! `Pending` *and wakes the task at once*, so the task goes to the back of
//! the run queue instead of going to sleep. This runtime does the same.
//!
//! Only our sockets count. A task that loops on pure computation never
//! reaches an operation that could say `Pending`, and no budget can stop it.

use std::cell::Cell;
use std::task::{Context, Poll};

/// tokio's default.
pub const DEFAULT_BUDGET: u32 = 128;

thread_local! {
    /// What the task being polled has left; `None`: unlimited.
    static LEFT: Cell<Option<u32>> = const { Cell::new(None) };
}

/// Called by the executor before each poll of a task.
pub(crate) fn reset(budget: Option<u32>) {
    LEFT.with(|left| left.set(budget));
}

// ANCHOR: poll_proceed
/// Called by a socket operation before it starts: `Pending` (with the task
/// already woken, so it is polled again soon) once the budget is spent.
pub(crate) fn poll_proceed(cx: &mut Context<'_>) -> Poll<()> {
    if LEFT.with(Cell::get) == Some(0) {
        cx.waker().wake_by_ref();
        return Poll::Pending;
    }
    Poll::Ready(())
}

/// Called by a socket operation that completed: one unit spent.
pub(crate) fn spend() {
    LEFT.with(|left| left.set(left.get().map(|n| n.saturating_sub(1))));
}
// ANCHOR_END: poll_proceed
