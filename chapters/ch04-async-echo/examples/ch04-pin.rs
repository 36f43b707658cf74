//! Why `Future::poll` takes `self: Pin<&mut Self>`: a future whose locals
//! borrow each other points into itself, and must not move once it has
//! been polled. Run it with
//!
//!     cargo run -q -p ch04-async-echo --example ch04-pin
//!
//! and its tests, which check every claim it prints, with
//!
//!     cargo test -q -p ch04-async-echo --example ch04-pin

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

// ANCHOR: self_ref
/// What the compiler builds for a future in which one local borrows
/// another across an `.await`, reduced to two fields: a buffer, and a
/// pointer into that buffer.
struct SelfRef {
    buf: [u8; 5],
    /// Null until `start`; then it points at `buf`, inside this very value.
    part: *const u8,
}

impl SelfRef {
    fn new() -> SelfRef {
        SelfRef {
            buf: *b"hello",
            part: std::ptr::null(),
        }
    }

    /// What a first `poll` does: from now on, the value points into itself.
    fn start(&mut self) {
        self.part = self.buf.as_ptr();
    }

    /// Whether `part` still points at this value's own `buf`. (Comparing
    /// pointers is safe; it is reading through a stale one that is not.)
    fn points_into_itself(&self) -> bool {
        std::ptr::eq(self.part, self.buf.as_ptr())
    }
}
// ANCHOR_END: self_ref

// ANCHOR: moved
/// Moves a started `SelfRef` to the heap and says where its pointer points.
fn move_after_start() -> (bool, bool) {
    let mut value = SelfRef::new();
    value.start();
    let before = value.points_into_itself();
    // A move copies the bytes to a new place, `part` included: it still
    // holds the old address, where nothing of ours lives any more.
    let moved = Box::new(value);
    (before, moved.points_into_itself())
}
// ANCHOR_END: moved

// ANCHOR: pinned
/// A future that is not ready the first time it is polled, and ready the
/// second: one `.await` that suspends once.
fn suspend_once() -> impl Future<Output = ()> {
    let mut polled = false;
    std::future::poll_fn(move |cx| {
        if polled {
            return Poll::Ready(());
        }
        polled = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
}

/// Polls, by hand, a future whose local `part` borrows its local `buf`
/// across an `.await`: the shape of `SelfRef`, built by the compiler.
fn poll_in_place() -> Vec<Poll<usize>> {
    let future = async {
        let buf = *b"hello";
        let part = &buf[1..];
        suspend_once().await;
        part.len()
    };
    // Moving it before the first poll is harmless: nothing points anywhere
    // yet. `pin!` moves it one last time, into a place it will never leave,
    // and gives back only a `Pin<&mut _>` to it.
    let mut future = pin!(future);
    // `let moved = *future;` here would not compile: a `Pin<&mut F>` does
    // not let safe code move `F` out, or swap it, unless `F: Unpin`.
    let mut cx = Context::from_waker(Waker::noop());
    vec![future.as_mut().poll(&mut cx), future.as_mut().poll(&mut cx)]
}
// ANCHOR_END: pinned

fn main() {
    let (before, after) = move_after_start();
    println!("SelfRef after start: points into itself? {before}");
    println!("SelfRef moved to the heap: points into itself? {after}");
    println!("a pinned future, polled twice: {:?}", poll_in_place());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_move_leaves_a_self_pointer_behind() {
        assert_eq!(move_after_start(), (true, false));
    }

    #[test]
    fn a_pinned_future_borrowing_its_own_local_runs_to_the_end() {
        assert_eq!(poll_in_place(), [Poll::Pending, Poll::Ready(4)]);
    }

    /// Which types may move even when pinned: `Unpin` ones, whose values
    /// never point into themselves. Sockets and buffers are; the future of
    /// an `async` block is not (this does not compile with one).
    #[test]
    fn sockets_and_buffers_are_unpin() {
        fn unpin<T: Unpin>() {}
        unpin::<tokio::net::TcpStream>();
        unpin::<Vec<u8>>();
    }
}
