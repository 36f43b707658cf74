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
    open: Mutex<usize>,
    /// Accept loops waiting for a free slot, and shutdowns waiting for the
    /// last connection to close.
    waiters: Mutex<WaitList>,
}

/// One open connection's slot; dropping it frees the slot.
pub struct Permit {
    connections: Arc<Connections>,
}

impl Connections {
    pub fn new(max: usize) -> Arc<Connections> {
        Arc::new(Connections {
            max,
            open: Mutex::new(0),
            waiters: Mutex::new(WaitList::default()),
        })
    }

    /// Waits until fewer than `max` connections are open.
    pub async fn below_cap(&self) {
        self.wait_until(|open| *open < self.max).await;
    }

    /// Waits until fewer than `max` connections are open, and counts one
    /// more.
    pub async fn acquire(self: &Arc<Self>) -> Permit {
        self.wait_until(|open| {
            let free = *open < self.max;
            if free {
                *open += 1;
            }
            free
        })
        .await;
        Permit {
            connections: Arc::clone(self),
        }
    }

    /// Waits until no connection is open.
    pub async fn all_closed(&self) {
        self.wait_until(|open| *open == 0).await;
    }

    pub fn open(&self) -> usize {
        *lock(&self.open)
    }

    /// Waits until `ready` returns true; it runs under the lock, so it may
    /// also change the count.
    async fn wait_until(&self, ready: impl Fn(&mut usize) -> bool) {
        let mut place = Place {
            list: &self.waiters,
            slot: None,
        };
        poll_fn(|cx| {
            // The waiter lock first, then the count: a permit dropped
            // after the check below cannot wake the list before we are
            // on it.
            let mut waiters = lock(&self.waiters);
            if ready(&mut lock(&self.open)) {
                waiters.cancel(&mut place.slot);
                return Poll::Ready(());
            }
            waiters.register(&mut place.slot, cx);
            Poll::Pending
        })
        .await
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let waiters = lock(&self.connections.waiters);
        *lock(&self.connections.open) -= 1;
        waiters.wake_all();
    }
}
// ANCHOR_END: connections
