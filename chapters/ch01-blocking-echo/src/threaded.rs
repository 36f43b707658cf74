//! Step 2: a thread per connection.

use std::net::TcpListener;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use echo_common::Log;

use crate::echo::{accept, echo};

// ANCHOR: serve
pub fn serve(listener: &TcpListener, limits: Limits, log: Log) -> ! {
    let slots = Arc::new(Slots::new(limits.max_connections));
    loop {
        // At the cap, stop accepting: new clients wait in the kernel's
        // listen backlog instead of each costing us a thread.
        let slot = Slots::take(&slots);
        let (stream, peer) = accept(listener, log);
        log.opened(peer);
        let spawned = thread::Builder::new()
            .name(format!("echo {peer}"))
            .spawn(move || {
                let result = echo(stream, limits.idle_timeout);
                log.closed(peer, &result);
                drop(slot); // frees the slot for the next client
            });
        // `thread::spawn` would panic here, taking every connection down
        // with it. The system refuses threads when it is out of memory or
        // over its process limit; that must cost one connection, not all.
        if let Err(err) = spawned {
            // The closure, and the stream and slot in it, were dropped: the
            // client sees its connection closed.
            log.server(format_args!(
                "{peer}: cannot start a thread ({err}); connection closed"
            ));
        }
    }
}
// ANCHOR_END: serve

/// What one connection may cost the server.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: u32,
    pub idle_timeout: Duration,
}

// ANCHOR: slots
/// A counting semaphore: how many more connections (and so threads) we may
/// start.
struct Slots {
    free: Mutex<u32>,
    freed: Condvar,
}

/// One taken slot; dropping it gives the slot back.
struct Slot(Arc<Slots>);

impl Slots {
    fn new(max: u32) -> Self {
        Slots {
            free: Mutex::new(max),
            freed: Condvar::new(),
        }
    }

    /// Waits until a slot is free and takes it.
    fn take(slots: &Arc<Slots>) -> Slot {
        // No code panics while holding the lock, so a poisoned lock still
        // holds a correct count.
        let free = slots.free.lock().unwrap_or_else(PoisonError::into_inner);
        let mut free = slots
            .freed
            .wait_while(free, |free| *free == 0)
            .unwrap_or_else(PoisonError::into_inner);
        *free -= 1;
        Slot(Arc::clone(slots))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        self.0.freed.notify_one();
    }
}
// ANCHOR_END: slots
