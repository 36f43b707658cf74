//! Step 4: timers. `sleep` and `timeout` on an ordered map of deadlines.
//!
//! The reactor needs two things from the timers: the nearest deadline,
//! which becomes the `epoll_wait` timeout, and, after each wait, every
//! timer that has come due. A `BTreeMap` keyed by (deadline, sequence
//! number) gives both in O(log n), and, unlike a binary heap, can also
//! *remove* any entry in O(log n): a [`Sleep`] that is dropped before it
//! fires (a `timeout` whose operation finished first, which is almost every
//! timeout) takes its entry with it, so cancelled timers cost nothing later.
//! tokio uses a hierarchical timer wheel instead (O(1) insert and remove,
//! millisecond resolution); for the few thousand timers of an echo server
//! the map is simpler and fast enough.

use std::collections::BTreeMap;
use std::fmt;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use super::Core;

// ANCHOR: timers
/// Names one pending timer: its deadline, and a number that tells apart
/// timers with the same deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct TimerKey(Instant, u64);

/// Every pending timer, earliest first, with the waker of its task.
#[derive(Default)]
pub(crate) struct Timers {
    entries: BTreeMap<TimerKey, Waker>,
    next_sequence: u64,
}

impl Timers {
    fn insert(&mut self, deadline: Instant, waker: Waker) -> TimerKey {
        let key = TimerKey(deadline, self.next_sequence);
        self.next_sequence += 1;
        self.entries.insert(key, waker);
        key
    }

    /// Replaces the timer's waker if the task polling it has changed.
    /// Returns false if the timer has fired (its entry is gone).
    fn update(&mut self, key: TimerKey, waker: &Waker) -> bool {
        match self.entries.get_mut(&key) {
            Some(stored) => {
                if !stored.will_wake(waker) {
                    *stored = waker.clone();
                }
                true
            }
            None => false,
        }
    }

    fn remove(&mut self, key: TimerKey) {
        self.entries.remove(&key);
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.entries.first_key_value().map(|(key, _)| key.0)
    }

    /// Removes every timer due at `now` and collects its waker.
    pub(crate) fn fire(&mut self, now: Instant, woken: &mut Vec<Waker>) {
        while let Some(entry) = self.entries.first_entry() {
            if entry.key().0 > now {
                break;
            }
            woken.push(entry.remove());
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}
// ANCHOR_END: timers

// ANCHOR: sleep
/// Completes at its deadline. Registers a timer on its first poll, and
/// removes it when dropped, fired or not.
pub struct Sleep {
    deadline: Instant,
    timer: Option<TimerKey>,
    core: Rc<Core>,
}

/// Waits until `duration` has passed.
pub fn sleep(duration: Duration) -> Sleep {
    let now = Instant::now();
    // A duration too long to add to the clock (centuries) is as good as
    // a hundred years.
    let century = Duration::from_secs(100 * 365 * 24 * 3600);
    sleep_until(now.checked_add(duration).unwrap_or(now + century))
}

/// Waits until `deadline`.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline,
        timer: None,
        core: Core::current(),
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let mut reactor = this.core.reactor();
        match this.timer {
            // Still in the map: not due yet.
            Some(key) if reactor.timers().update(key, cx.waker()) => Poll::Pending,
            // The reactor removed it when it came due.
            Some(_) => {
                this.timer = None;
                Poll::Ready(())
            }
            None if this.deadline <= reactor.now() => Poll::Ready(()),
            None => {
                let key = reactor.timers().insert(this.deadline, cx.waker().clone());
                this.timer = Some(key);
                Poll::Pending
            }
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(key) = self.timer.take() {
            self.core.reactor().timers().remove(key);
        }
    }
}
// ANCHOR_END: sleep

// ANCHOR: timeout
/// The error of a [`timeout`] whose time ran out first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline elapsed")
    }
}

impl std::error::Error for Elapsed {}

/// Runs `future` for at most `duration`; dropping it (and so cancelling
/// it) if the time runs out first.
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    Timeout {
        future,
        duration,
        sleep: None,
    }
}

pub struct Timeout<F> {
    future: F,
    duration: Duration,
    /// Made only when `future` first has to wait. The common case is an
    /// operation that completes on its first poll (the data is already
    /// there), and it needs no timer at all.
    sleep: Option<Sleep>,
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: structural pinning of `future`, as in `select::Race`:
        // nothing moves it out of a `Timeout`. (`sleep` is `Unpin`.)
        let this = unsafe { self.get_unchecked_mut() };
        let future = unsafe { Pin::new_unchecked(&mut this.future) };
        if let Poll::Ready(output) = future.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        let duration = this.duration;
        let sleep = this.sleep.get_or_insert_with(|| self::sleep(duration));
        Pin::new(sleep).poll(cx).map(|()| Err(Elapsed))
    }
}
// ANCHOR_END: timeout
