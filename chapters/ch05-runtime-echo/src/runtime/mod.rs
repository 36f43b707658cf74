//! A small async runtime: one thread, one executor, one reactor.
//!
//! - [`park`]: step 1, `block_on` for one future, with a waker that
//!   unparks the thread (no IO, no tasks);
//! - [`executor`]: step 2, tasks and the run queue;
//! - [`reactor`]: step 3, epoll readiness turned into wakes;
//! - [`timer`]: step 4, `sleep` and `timeout`;
//! - [`net`]: step 5, sockets whose methods are futures;
//! - [`coop`]: the budget that keeps one busy task from starving the rest;
//! - [`signal`], [`sync`], [`select`]: what the echo server needs besides.
//!
//! [`Runtime::block_on`] is the loop that ties them together.
//!
//! Like tokio's `current_thread` runtime, it runs every task on the thread
//! that called `block_on`, so tasks need not be `Send`. Wakers, on the other
//! hand, are `Send + Sync` (std requires it), and one called on another
//! thread wakes the loop through an `eventfd`.

pub mod coop;
pub mod executor;
pub mod net;
pub mod park;
pub mod reactor;
pub mod select;
pub mod signal;
pub mod sync;
pub mod timer;

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::task::Waker;

pub use executor::{Aborted, JoinHandle, spawn, yield_now};
pub use select::{Either, Race, race};
pub use timer::{Elapsed, Sleep, Timeout, sleep, sleep_until, timeout};

use executor::Executor;
use reactor::Reactor;

/// Everything one runtime owns. Tasks reach it through [`Core::current`];
/// sockets and timers keep an `Rc` to the one they were created on.
pub(crate) struct Core {
    executor: Executor,
    reactor: RefCell<Reactor>,
}

thread_local! {
    /// The runtime whose `block_on` is running on this thread, if any.
    static CURRENT: RefCell<Option<Rc<Core>>> = const { RefCell::new(None) };
}

impl Core {
    /// The runtime running on this thread. Spawning, sleeping or making a
    /// socket anywhere else is a bug in the program, like calling
    /// `tokio::spawn` outside a tokio runtime.
    pub(crate) fn current() -> Rc<Core> {
        // Not something the network or a user can cause: only code of ours
        // that runs outside `block_on` reaches this.
        CURRENT
            .with(|current| current.borrow().clone())
            .expect("no runtime on this thread: call this from a future run by Runtime::block_on")
    }

    pub(crate) fn reactor(&self) -> std::cell::RefMut<'_, Reactor> {
        self.reactor.borrow_mut()
    }
}

/// An executor and a reactor, run by [`Runtime::block_on`].
pub struct Runtime {
    core: Rc<Core>,
}

impl Runtime {
    /// A runtime with tokio's cooperative budget (see [`coop`]).
    pub fn new() -> io::Result<Runtime> {
        Runtime::with_budget(Some(coop::DEFAULT_BUDGET))
    }

    /// A runtime whose tasks may make `budget` IO operations per poll
    /// before they must yield; `None` lets a task run as long as its
    /// sockets have data (see [`coop`] for why that is a bad idea).
    pub fn with_budget(budget: Option<u32>) -> io::Result<Runtime> {
        let (reactor, notifier) = Reactor::new()?;
        let core = Core {
            executor: Executor::new(notifier, budget),
            reactor: RefCell::new(reactor),
        };
        Ok(Runtime {
            core: Rc::new(core),
        })
    }

    // ANCHOR: block_on
    /// Runs `future` to completion as this runtime's first task, and with
    /// it every task it spawns, until `future` is done. Returns an error
    /// only if waiting for events fails, which means a bug (`epoll_wait`
    /// fails only on bad arguments).
    pub fn block_on<F>(&self, future: F) -> io::Result<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let _current = Enter::new(&self.core);
        let main = self.core.executor.spawn(future);
        let mut woken: Vec<Waker> = Vec::new();
        loop {
            // 1. Poll every task that is ready to make progress.
            self.core.executor.run_ready();
            if let Some(output) = main.take_output() {
                return Ok(output);
            }
            // 2. Wait for IO, the next timer, or a wake from another
            //    thread; don't wait at all if tasks are still queued.
            let block = !self.core.executor.has_ready();
            self.core.reactor().turn(block, &mut woken)?;
            // 3. Wake the tasks waiting on what happened. (Outside the
            //    reactor's borrow: a waker is arbitrary code.)
            for waker in woken.drain(..) {
                waker.wake();
            }
        }
    }
    // ANCHOR_END: block_on

    /// How many tasks exist (running or waiting), for tests.
    pub fn tasks(&self) -> usize {
        self.core.executor.len()
    }

    /// How many descriptors the reactor watches, for tests.
    pub fn sources(&self) -> usize {
        self.core.reactor().sources()
    }

    /// How many timers are pending, for tests.
    pub fn timers(&self) -> usize {
        self.core.reactor().timers().len()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // Tasks hold sockets, and sockets hold the runtime: drop the tasks
        // here, with the runtime current so that their sockets and timers
        // can deregister, or neither would ever be freed.
        let _current = Enter::new(&self.core);
        self.core.executor.shut_down();
    }
}

/// Makes a runtime this thread's current one until dropped, and restores
/// whichever was current before (`block_on` inside `block_on`, in tests).
struct Enter {
    previous: Option<Rc<Core>>,
}

impl Enter {
    fn new(core: &Rc<Core>) -> Enter {
        let previous = CURRENT.with(|current| current.replace(Some(Rc::clone(core))));
        Enter { previous }
    }
}

impl Drop for Enter {
    fn drop(&mut self) {
        CURRENT.with(|current| *current.borrow_mut() = self.previous.take());
    }
}
