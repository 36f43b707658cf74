//! Step 1: `block_on`, and the waker that unparks a thread. Run it with
//!
//!     cargo run -q -p ch05-runtime-echo --example ch05-block-on
//!
//! A future that another thread completes is run twice: once with the
//! waker `std::task::Wake` builds, once with the same waker built by hand.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

use ch05_runtime_echo::runtime::park::{block_on, block_on_raw};

// ANCHOR: delay
/// Ready once a helper thread, started on the first poll, says so: the
/// shape of every future that waits for something outside the program.
struct Delay {
    shared: Arc<Mutex<Shared>>,
    polls: u32,
}

#[derive(Default)]
struct Shared {
    done: bool,
    waker: Option<Waker>,
}

impl Future for Delay {
    type Output = u32;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
        self.polls += 1;
        let mut shared = lock(&self.shared);
        if shared.done {
            println!("  poll {}: done -> Ready", self.polls);
            return Poll::Ready(self.polls);
        }
        // Leave the waker where the helper thread will find it, *then*
        // start it: a wake cannot come before there is a waker to call.
        let first = shared.waker.is_none();
        shared.waker = Some(cx.waker().clone());
        if first {
            let shared = Arc::clone(&self.shared);
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(100));
                let mut shared = lock(&shared);
                shared.done = true;
                println!("  helper thread: calling wake()");
                if let Some(waker) = shared.waker.take() {
                    waker.wake();
                }
            });
        }
        println!(
            "  poll {}: not yet -> Pending; the thread parks",
            self.polls
        );
        Poll::Pending
    }
}
// ANCHOR_END: delay

/// Nothing that can panic runs under the lock, so it is never poisoned.
fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

fn delay() -> Delay {
    Delay {
        shared: Arc::default(),
        polls: 0,
    }
}

fn main() {
    println!("block_on, waker from std::task::Wake:");
    let polls = block_on(delay());
    println!("  finished after {polls} polls");
    println!("block_on_raw, the same waker from a RawWakerVTable:");
    let polls = block_on_raw(delay());
    println!("  finished after {polls} polls");
}
