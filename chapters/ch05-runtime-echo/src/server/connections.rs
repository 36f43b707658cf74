//! How many connections are open, across every runtime of the server: the
//! `--max-connections` cap, and what graceful shutdown waits for.
//!
//! Chapter 4 used two tools for this, tokio's `Semaphore` and tokio-util's
//! `TaskTracker`. Both are a counter and a list of wakers; here they are
//! one. It is shared by the runtimes of `--threads N`, so its wakers may
//! be called on another thread than the one that waits: the reason
//! wakers are `Send` and the reactor has a notifier.

use std::future::poll_fn;
use std::sync::{Arc, Mutex};
use std::task::Poll;

use crate::runtime::sync::{Place, WaitList, lock};

// ANCHOR: connections
pub struct Connections {
    max: usize,
    counts: Mutex<Counts>,
    /// Accept loops waiting for a free slot, and shutdowns waiting for the
    /// last connection to close.
    waiters: Mutex<WaitList>,
}

#[derive(Default)]
struct Counts {
    /// Slots taken: open connections, and accept loops holding a slot for
    /// the connection they are about to accept.
    taken: usize,
    /// Open connections.
    open: usize,
}

/// A claim on a slot; dropping it frees the slot.
pub struct Permit {
    connections: Arc<Connections>,
    open: bool,
}

impl Connections {
    pub fn new(max: usize) -> Arc<Connections> {
        Arc::new(Connections {
            max,
            counts: Mutex::new(Counts::default()),
            waiters: Mutex::new(WaitList::default()),
        })
    }

    /// Waits until a slot is free, and takes it.
    pub async fn acquire(self: &Arc<Self>) -> Permit {
        self.wait_until(|counts| counts.taken < self.max, |counts| counts.taken += 1)
            .await;
        Permit {
            connections: Arc::clone(self),
            open: false,
        }
    }

    /// Waits until no connection is open.
    pub async fn all_closed(&self) {
        self.wait_until(|counts| counts.open == 0, |_| {}).await;
    }

    pub fn open(&self) -> usize {
        lock(&self.counts).open
    }

    /// Waits until `condition` holds, then applies `then` to the counts
    /// while still holding the lock.
    async fn wait_until(&self, condition: impl Fn(&Counts) -> bool, then: impl Fn(&mut Counts)) {
        let mut place = Place {
            list: &self.waiters,
            slot: None,
        };
        poll_fn(|cx| {
            // The waiter lock first, then the counts: a permit dropped
            // after the check below cannot wake the list before we are on
            // it.
            let mut waiters = lock(&self.waiters);
            let mut counts = lock(&self.counts);
            if condition(&counts) {
                then(&mut counts);
                waiters.cancel(&mut place.slot);
                return Poll::Ready(());
            }
            waiters.register(&mut place.slot, cx);
            Poll::Pending
        })
        .await
    }
}

impl Permit {
    /// The slot now holds an open connection.
    pub fn opened(&mut self) {
        if !self.open {
            self.open = true;
            lock(&self.connections.counts).open += 1;
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let waiters = lock(&self.connections.waiters);
        let mut counts = lock(&self.connections.counts);
        counts.taken -= 1;
        if self.open {
            counts.open -= 1;
        }
        drop(counts);
        waiters.wake_all();
    }
}
// ANCHOR_END: connections
