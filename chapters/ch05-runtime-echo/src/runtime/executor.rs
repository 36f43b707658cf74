//! Step 2: the executor. A task is a future the runtime owns and polls
//! whenever its waker is called; the run queue holds the tasks that have
//! been woken and not yet polled.
//!
//! Each task has two parts:
//!
//! - its future, boxed and pinned, in the executor's slab, reached only
//!   from the runtime's thread (so it need not be `Send`);
//! - a [`Task`] handle, shared through `Arc` with every waker made for it,
//!   holding the task's state word and where to queue it. A waker may be
//!   called on any thread, so this part is `Send + Sync`.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use ch03_multiplexed_echo::slots::Slots;

use super::reactor::Notifier;
use super::{Core, coop};

type BoxedFuture = Pin<Box<dyn Future<Output = ()>>>;

// ANCHOR: state
/// Waiting for a wake; in no queue.
const IDLE: u8 = 0;
/// In the run queue, exactly once.
const SCHEDULED: u8 = 1;
/// Being polled right now.
const RUNNING: u8 = 2;
/// Woken while being polled: queue it again once this poll returns.
const NOTIFIED: u8 = 3;
/// Returned `Ready` (or dropped with its runtime): never polled again.
const COMPLETED: u8 = 4;

/// The part of a task that wakers point to.
pub(crate) struct Task {
    state: AtomicU8,
    /// Where the task's future is in the executor's slab.
    slot: usize,
    queue: Arc<RunQueue>,
}
// ANCHOR_END: state

// ANCHOR: wake
impl Task {
    /// Called by every wake. Returns whether the caller must put the task
    /// in the run queue: only the wake that finds it idle does, so however
    /// many wakes arrive, the task is queued once.
    fn transition_to_scheduled(&self) -> bool {
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            let next = match state {
                IDLE => SCHEDULED,
                // The executor will queue it again when this poll ends.
                RUNNING => NOTIFIED,
                // Already queued, already to be queued, or finished.
                _ => return false,
            };
            match self
                .state
                .compare_exchange_weak(state, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return next == SCHEDULED,
                Err(actual) => state = actual,
            }
        }
    }
}

impl Wake for Task {
    fn wake(self: Arc<Self>) {
        if self.transition_to_scheduled() {
            let queue = Arc::clone(&self.queue);
            queue.push(self);
        }
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.transition_to_scheduled() {
            self.queue.push(Arc::clone(self));
        }
    }
}
// ANCHOR_END: wake

// ANCHOR: queue
/// The tasks woken and not yet polled, in the order they were woken.
pub(crate) struct RunQueue {
    tasks: Mutex<Queue>,
    /// Wakes the runtime's `epoll_wait` when a task is queued from
    /// another thread.
    notifier: Arc<Notifier>,
    /// The runtime's thread, which never needs the notifier: it looks at
    /// the queue before it waits.
    owner: std::thread::ThreadId,
}

struct Queue {
    tasks: VecDeque<Arc<Task>>,
    /// Set when the runtime is gone: a late wake from another thread must
    /// not queue a task no one will poll (and keep it alive forever).
    closed: bool,
}

impl RunQueue {
    fn push(&self, task: Arc<Task>) {
        {
            let mut queue = self.lock();
            if queue.closed {
                return;
            }
            queue.tasks.push_back(task);
        }
        if std::thread::current().id() != self.owner {
            self.notifier.notify();
        }
    }

    fn pop(&self) -> Option<Arc<Task>> {
        self.lock().tasks.pop_front()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        // No code that can panic runs under this lock.
        self.tasks.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
// ANCHOR_END: queue

/// The futures of every live task, and the queue of those that are ready.
pub(crate) struct Executor {
    /// `None` while a future is out being polled.
    futures: RefCell<Slots<Option<BoxedFuture>>>,
    queue: Arc<RunQueue>,
    budget: Option<u32>,
}

impl Executor {
    pub(crate) fn new(notifier: Arc<Notifier>, budget: Option<u32>) -> Executor {
        Executor {
            futures: RefCell::new(Slots::new()),
            queue: Arc::new(RunQueue {
                tasks: Mutex::new(Queue {
                    tasks: VecDeque::new(),
                    closed: false,
                }),
                notifier,
                owner: std::thread::current().id(),
            }),
            budget,
        }
    }

    // ANCHOR: spawn
    /// Makes `future` a task and queues it for its first poll.
    pub(crate) fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let join = Rc::new(RefCell::new(JoinState {
            output: None,
            aborted: false,
            waiter: None,
        }));
        let done = Rc::clone(&join);
        // The task's future: the caller's, then hand its output to the
        // `JoinHandle` and wake whoever awaits that. The caller's future is
        // boxed on its own: an `async` block that awaited it by value would
        // hold it twice (once as captured, once as awaited), doubling what
        // every task costs.
        let mut future = Box::pin(future);
        let task_future = async move {
            let output = future.as_mut().await;
            let mut join = done.borrow_mut();
            join.output = Some(output);
            if let Some(waiter) = join.waiter.take() {
                waiter.wake();
            }
        };
        let slot = self
            .futures
            .borrow_mut()
            .insert(Some(Box::pin(task_future)));
        let task = Arc::new(Task {
            state: AtomicU8::new(SCHEDULED),
            slot,
            queue: Arc::clone(&self.queue),
        });
        self.queue.push(Arc::clone(&task));
        JoinHandle { join, task }
    }
    // ANCHOR_END: spawn

    // ANCHOR: run_ready
    /// Polls the tasks that are in the queue now. A task that wakes itself
    /// while being polled goes to the back and waits for the next round:
    /// the reactor gets its turn in between, so sockets keep being watched
    /// even while some task always has work.
    pub(crate) fn run_ready(&self) {
        let round = self.queue.lock().tasks.len();
        for _ in 0..round {
            let Some(task) = self.queue.pop() else {
                return;
            };
            self.poll(task);
        }
    }

    fn poll(&self, task: Arc<Task>) {
        let start =
            task.state
                .compare_exchange(SCHEDULED, RUNNING, Ordering::AcqRel, Ordering::Acquire);
        if start.is_err() {
            return; // aborted while it was in the queue
        }
        // Take the future out of the slab while it runs: it may spawn,
        // and spawning needs the slab.
        let Some(mut future) = self
            .futures
            .borrow_mut()
            .get_mut(task.slot)
            .and_then(Option::take)
        else {
            return;
        };
        let waker = Waker::from(Arc::clone(&task));
        let mut cx = Context::from_waker(&waker);
        coop::reset(self.budget);
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(()) => {
                // Whatever wakes it from now on finds it completed.
                task.state.store(COMPLETED, Ordering::Release);
                self.futures.borrow_mut().remove(task.slot);
                drop(future); // outside the borrow: dropping may deregister sockets
            }
            Poll::Pending => {
                if let Some(entry) = self.futures.borrow_mut().get_mut(task.slot) {
                    *entry = Some(future);
                }
                // RUNNING → IDLE, unless something happened during the poll.
                match task.state.compare_exchange(
                    RUNNING,
                    IDLE,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => {}
                    // A wake: poll it again, in the next round.
                    Err(NOTIFIED) => {
                        task.state.store(SCHEDULED, Ordering::Release);
                        self.queue.push(task);
                    }
                    // It aborted itself: drop it now.
                    Err(_) => drop(self.futures.borrow_mut().remove(task.slot)),
                }
            }
        }
    }

    /// Drops a task's future (unless it is running: then `poll` drops it
    /// when it returns) and makes sure it is never polled again.
    fn abort(&self, task: &Task) {
        match task.state.swap(COMPLETED, Ordering::AcqRel) {
            IDLE | SCHEDULED => {
                let future = self.futures.borrow_mut().remove(task.slot);
                drop(future); // outside the borrow, as in `poll`
            }
            _ => {}
        }
    }
    // ANCHOR_END: run_ready

    pub(crate) fn has_ready(&self) -> bool {
        !self.queue.lock().tasks.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.futures.borrow().len()
    }

    /// Drops every task, for the runtime's `Drop`.
    pub(crate) fn shut_down(&self) {
        let queued = {
            let mut queue = self.queue.lock();
            queue.closed = true;
            std::mem::take(&mut queue.tasks)
        };
        for task in &queued {
            task.state.store(COMPLETED, Ordering::Release);
        }
        // Take the futures out first and drop them outside the borrow:
        // their destructors deregister sockets and may drop other tasks'
        // join handles.
        let futures: Vec<BoxedFuture> = {
            let mut slab = self.futures.borrow_mut();
            let slots: Vec<usize> = slab.iter().map(|(slot, _)| slot).collect();
            slots
                .into_iter()
                .filter_map(|slot| slab.remove(slot).flatten())
                .collect()
        };
        drop(futures);
    }
}

/// Runs `future` as a new task on the current runtime. The task starts
/// whether or not anyone awaits the handle; dropping the handle detaches
/// it, as in tokio.
///
/// Panics if no runtime is running on this thread.
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    Core::current().executor.spawn(future)
}

// ANCHOR: yield_now
/// Returns `Pending` once, having woken its own task first: the task goes
/// to the back of the run queue, and the others get a turn.
pub async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await
}
// ANCHOR_END: yield_now

// ANCHOR: join_handle
/// Awaits a task's output.
pub struct JoinHandle<T> {
    join: Rc<RefCell<JoinState<T>>>,
    task: Arc<Task>,
}

struct JoinState<T> {
    output: Option<T>,
    aborted: bool,
    /// The task awaiting this handle.
    waiter: Option<Waker>,
}

/// What awaiting the [`JoinHandle`] of an aborted task gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Aborted;

impl<T> JoinHandle<T> {
    /// Whether the task has finished (and its output is waiting here).
    pub fn is_finished(&self) -> bool {
        self.join.borrow().output.is_some()
    }

    /// Cancels the task: its future is dropped, and with it everything it
    /// owns (sockets close, timers go), and it is never polled again.
    /// Awaiting the handle then gives `Err(Aborted)`. Does nothing to a
    /// task that has finished.
    ///
    /// Panics if no runtime is running on this thread.
    pub fn abort(&self) {
        if self.is_finished() {
            return;
        }
        Core::current().executor.abort(&self.task);
        let mut join = self.join.borrow_mut();
        join.aborted = true;
        if let Some(waiter) = join.waiter.take() {
            waiter.wake();
        }
    }

    pub(crate) fn take_output(&self) -> Option<T> {
        self.join.borrow_mut().output.take()
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, Aborted>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, Aborted>> {
        let mut join = self.join.borrow_mut();
        if let Some(output) = join.output.take() {
            return Poll::Ready(Ok(output));
        }
        if join.aborted {
            return Poll::Ready(Err(Aborted));
        }
        join.waiter = Some(cx.waker().clone());
        Poll::Pending
    }
}
// ANCHOR_END: join_handle
