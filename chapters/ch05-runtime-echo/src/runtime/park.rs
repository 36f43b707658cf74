//! Step 1: `block_on` for a single future, on the calling thread.
//!
//! The least a runtime can be: poll the future; if it says `Pending`, put
//! the thread to sleep until the future's waker is called, then poll
//! again. The waker here unparks the sleeping thread. No run queue, no
//! reactor: whatever will make the future ready (another thread, here) must
//! call the waker itself.
//!
//! [`block_on`] builds its waker with [`std::task::Wake`], which is all
//! most code needs. [`block_on_raw`] builds the very same waker by hand,
//! from a [`RawWaker`] and its vtable, to show what `Wake` writes for you.

use std::mem::ManuallyDrop;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Wake, Waker};
use std::thread::{self, Thread};

// ANCHOR: block_on
/// A waker that unparks the thread that made it.
struct Unparker {
    thread: Thread,
}

impl Wake for Unparker {
    fn wake(self: Arc<Self>) {
        self.thread.unpark();
    }
}

/// Polls `future` on this thread until it is ready, sleeping between polls.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let waker = Waker::from(Arc::new(Unparker {
        thread: thread::current(),
    }));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        // Returns at once if `unpark` was called since the last `park`:
        // a wake that comes while we are still polling is not lost.
        // (It may also return for no reason; polling again is harmless.)
        thread::park();
    }
}
// ANCHOR_END: block_on

// ANCHOR: raw_waker
/// The same waker, by hand. A `RawWaker` is a data pointer and a table of
/// four functions; here the pointer is an `Arc<Thread>` turned into a raw
/// pointer, and each function says what to do with that reference.
static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

fn raw_waker(thread: Arc<Thread>) -> RawWaker {
    RawWaker::new(Arc::into_raw(thread).cast(), &VTABLE)
}

/// `waker.clone()`: one more reference to the same thread.
unsafe fn clone(data: *const ()) -> RawWaker {
    // SAFETY: `data` came from `Arc::into_raw` in `raw_waker`, and the
    // waker being cloned still owns that reference.
    let thread = ManuallyDrop::new(unsafe { Arc::from_raw(data.cast::<Thread>()) });
    raw_waker(Arc::clone(&thread))
}

/// `waker.wake()`: consumes the waker, so this reference is dropped.
unsafe fn wake(data: *const ()) {
    // SAFETY: as in `clone`; the waker is consumed, so we take over its
    // reference and drop it at the end.
    let thread = unsafe { Arc::from_raw(data.cast::<Thread>()) };
    thread.unpark();
}

/// `waker.wake_by_ref()`: the waker lives on, so its reference must too.
unsafe fn wake_by_ref(data: *const ()) {
    // SAFETY: as in `clone`.
    let thread = ManuallyDrop::new(unsafe { Arc::from_raw(data.cast::<Thread>()) });
    thread.unpark();
}

/// `drop(waker)`.
unsafe fn drop_waker(data: *const ()) {
    // SAFETY: as in `wake`.
    drop(unsafe { Arc::from_raw(data.cast::<Thread>()) });
}

/// [`block_on`], with the waker built from [`VTABLE`].
pub fn block_on_raw<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    // SAFETY: the vtable's functions uphold `RawWaker`'s contract: the
    // data pointer is an `Arc<Thread>` reference that `clone` duplicates
    // and `wake`/`drop` give up, and `Arc<Thread>` is `Send + Sync`.
    let waker = unsafe { Waker::from_raw(raw_waker(Arc::new(thread::current()))) };
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        thread::park();
    }
}
// ANCHOR_END: raw_waker

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::mpsc;
    use std::task::Poll;

    use super::*;

    /// A future that another thread completes: a slot, and the waker of
    /// whoever waits for it.
    #[derive(Default)]
    struct Slot {
        state: Mutex<(Option<u32>, Option<Waker>)>,
    }

    fn completed_by_another_thread(block: fn(std::pin::Pin<&mut dyn Future<Output = u32>>) -> u32) {
        let slot = Arc::new(Slot::default());
        let (polled, first_poll) = mpsc::channel();
        let setter = Arc::clone(&slot);
        let thread = thread::spawn(move || {
            // Wait until the future has been polled (and left its waker).
            first_poll.recv().unwrap();
            let mut state = setter.state.lock().unwrap();
            state.0 = Some(42);
            if let Some(waker) = state.1.take() {
                waker.wake();
            }
        });
        let future = std::future::poll_fn(|cx| {
            let mut state = slot.state.lock().unwrap();
            if let Some(value) = state.0 {
                return Poll::Ready(value);
            }
            state.1 = Some(cx.waker().clone());
            let _ = polled.send(());
            Poll::Pending
        });
        assert_eq!(block(std::pin::pin!(future)), 42);
        thread.join().unwrap();
    }

    #[test]
    fn block_on_sleeps_until_another_thread_wakes_it() {
        completed_by_another_thread(|future| block_on(future));
    }

    #[test]
    fn the_hand_made_waker_does_the_same() {
        completed_by_another_thread(|future| block_on_raw(future));
    }
}
