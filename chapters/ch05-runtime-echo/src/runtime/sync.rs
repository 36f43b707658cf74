//! Waiting on something another task (or thread) does: a [`Latch`] that is
//! set once, and a [`channel`] from a blocking thread to a task.
//!
//! Both keep their wakers in a [`WaitList`]. A waiting future takes a place
//! in the list on its first poll and gives it back when dropped, so a task
//! that stops waiting (its `race` was won by something else) leaves
//! nothing behind.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use ch03_multiplexed_echo::slots::Slots;

/// Locks, ignoring poisoning: no code that can panic runs under these locks.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

// ANCHOR: wait_list
/// The wakers of the futures waiting for one condition. Lives under the
/// same lock as the condition, so that checking it and registering a waker
/// happen as one step: a change made after the check finds the waker.
#[derive(Default)]
pub struct WaitList {
    wakers: Slots<Waker>,
}

impl WaitList {
    /// Leaves (or refreshes) the waker of the future whose place is
    /// `place`.
    pub fn register(&mut self, place: &mut Option<usize>, cx: &Context<'_>) {
        match place.and_then(|slot| self.wakers.get_mut(slot)) {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            Some(waker) => *waker = cx.waker().clone(),
            None => *place = Some(self.wakers.insert(cx.waker().clone())),
        }
    }

    /// Gives `place` back.
    pub fn cancel(&mut self, place: &mut Option<usize>) {
        if let Some(slot) = place.take() {
            self.wakers.remove(slot);
        }
    }

    /// Wakes every waiting future; each checks the condition again.
    pub fn wake_all(&self) {
        for (_, waker) in self.wakers.iter() {
            waker.wake_by_ref();
        }
    }

    pub fn len(&self) -> usize {
        self.wakers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.wakers.is_empty()
    }
}
// ANCHOR_END: wait_list

// ANCHOR: latch
/// A flag that is set once and stays set; tasks on any runtime, on any
/// thread, can wait for it. The server's "shut down now" and "the grace
/// period is over".
#[derive(Default)]
pub struct Latch {
    set: AtomicBool,
    waiters: Mutex<WaitList>,
}

impl Latch {
    pub fn new() -> Latch {
        Latch::default()
    }

    /// Sets the latch and wakes everyone waiting for it.
    pub fn set(&self) {
        let waiters = lock(&self.waiters);
        self.set.store(true, Ordering::Release);
        waiters.wake_all();
    }

    pub fn is_set(&self) -> bool {
        self.set.load(Ordering::Acquire)
    }

    /// Completes once the latch is set.
    pub async fn wait(&self) {
        let mut place = Place {
            list: &self.waiters,
            slot: None,
        };
        poll_fn(|cx| {
            let mut waiters = lock(&self.waiters);
            if self.is_set() {
                waiters.cancel(&mut place.slot);
                return Poll::Ready(());
            }
            waiters.register(&mut place.slot, cx);
            Poll::Pending
        })
        .await
    }
}

/// A future's place in a [`WaitList`], given back when the future is
/// dropped before it completes.
pub struct Place<'a> {
    pub list: &'a Mutex<WaitList>,
    pub slot: Option<usize>,
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        if self.slot.is_some() {
            lock(self.list).cancel(&mut self.slot);
        }
    }
}
// ANCHOR_END: latch

// ANCHOR: channel
/// A channel from ordinary threads to one task, holding at most `capacity`
/// values: a thread that sends into a full channel blocks until the task
/// has taken one. The client reads stdin on a thread with it.
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Channel {
        state: Mutex::new(ChannelState {
            queue: VecDeque::with_capacity(capacity),
            senders: 1,
            receiver: true,
            waker: None,
        }),
        not_full: Condvar::new(),
        capacity: capacity.max(1),
    });
    (
        Sender {
            shared: Arc::clone(&shared),
        },
        Receiver { shared },
    )
}

struct Channel<T> {
    state: Mutex<ChannelState<T>>,
    not_full: Condvar,
    capacity: usize,
}

struct ChannelState<T> {
    queue: VecDeque<T>,
    senders: usize,
    receiver: bool,
    /// The receiving task, waiting for a value.
    waker: Option<Waker>,
}

pub struct Sender<T> {
    shared: Arc<Channel<T>>,
}

impl<T> Sender<T> {
    /// Blocks the calling thread while the channel is full (never call it
    /// from a task); gives `value` back if the receiver is gone.
    pub fn send_blocking(&self, value: T) -> Result<(), T> {
        let mut state = lock(&self.shared.state);
        while state.receiver && state.queue.len() >= self.shared.capacity {
            state = self
                .shared
                .not_full
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if !state.receiver {
            return Err(value);
        }
        state.queue.push_back(value);
        if let Some(waker) = state.waker.take() {
            waker.wake(); // from this thread: the runtime's eventfd wakes it
        }
        Ok(())
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        lock(&self.shared.state).senders += 1;
        Sender {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut state = lock(&self.shared.state);
        state.senders -= 1;
        if state.senders == 0 {
            // The receiver must see the end of the stream.
            if let Some(waker) = state.waker.take() {
                waker.wake();
            }
        }
    }
}

pub struct Receiver<T> {
    shared: Arc<Channel<T>>,
}

impl<T> Receiver<T> {
    /// The next value; `None` once every sender is gone and the channel is
    /// empty.
    pub async fn recv(&mut self) -> Option<T> {
        poll_fn(|cx| {
            let mut state = lock(&self.shared.state);
            if let Some(value) = state.queue.pop_front() {
                self.shared.not_full.notify_one();
                return Poll::Ready(Some(value));
            }
            if state.senders == 0 {
                return Poll::Ready(None);
            }
            state.waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        lock(&self.shared.state).receiver = false;
        self.shared.not_full.notify_all();
    }
}
// ANCHOR_END: channel
