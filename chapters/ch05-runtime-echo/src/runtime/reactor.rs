//! Step 3: the reactor. It turns what epoll says about descriptors into
//! wakes of the tasks waiting on them.
//!
//! It is chapter 3's edge-triggered [`EpollPoller`], reused through that
//! chapter's library. Where chapter 3's loop handled each event itself
//! (`on_connection_event`), the reactor only records that the descriptor
//! is ready and calls the waker a task left there. The task then does the
//! `read` or `write` itself, in its own `poll`.
//!
//! Every registered descriptor is a *source* with, per direction, a
//! readiness flag and at most one waker. A source's token carries a
//! registration number besides its slot, so that an event meant for a
//! descriptor that has since been closed, its slot reused, wakes no one.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use ch03_multiplexed_echo::poller::epoll::{EpollPoller, Trigger};
use ch03_multiplexed_echo::poller::{Event, Interest, Poller, Token};
use ch03_multiplexed_echo::slots::Slots;
use rustix::event::{EventfdFlags, eventfd};

use super::timer::Timers;
use super::{Core, coop};

/// Which way a task waits on a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Read,
    Write,
}

// ANCHOR: source
/// What the reactor knows about one direction of one source.
#[derive(Default)]
struct Readiness {
    /// epoll said "ready" and no operation has since hit `WouldBlock`.
    ready: bool,
    /// The peer shut down its sending side, or the connection failed
    /// (read side only). Final: reads return at once from now on.
    closed: bool,
    /// The task to wake when the direction becomes ready.
    waker: Option<Waker>,
}

struct Source {
    /// Which registration this is; see [`Key`].
    registration: u32,
    read: Readiness,
    write: Readiness,
}

/// Names a source: its slot, and the registration that owns the slot now.
/// Slots are reused as soon as a source is gone; registration numbers are
/// not (they wrap after 2³² registrations, when no event that old is left).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    slot: usize,
    registration: u32,
}
// ANCHOR_END: source

/// The token epoll hands back: the slot in the low half, the registration
/// number in the high half. (On a 32-bit system that leaves 2¹⁶ slots.)
/// The last slot is never used, so no token is [`NOTIFY`].
const SLOT_BITS: u32 = usize::BITS / 2;
const SLOT_MASK: usize = (1 << SLOT_BITS) - 1;

/// The token of the notifier's eventfd: no slot has it.
const NOTIFY: Token = usize::MAX;

impl Key {
    fn token(self) -> Token {
        // The high half keeps as many bits of the registration as fit.
        self.slot | ((self.registration as usize) << SLOT_BITS)
    }

    fn from_token(token: Token) -> Key {
        Key {
            slot: token & SLOT_MASK,
            registration: (token >> SLOT_BITS) as u32,
        }
    }
}

// ANCHOR: notifier
/// An `eventfd` the reactor watches, so that another thread can end its
/// `epoll_wait`: writing to it makes it readable.
pub(crate) struct Notifier {
    fd: OwnedFd,
}

impl Notifier {
    fn new() -> io::Result<Notifier> {
        let fd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        Ok(Notifier { fd })
    }

    /// Adds one to the eventfd's counter. Any thread may call it.
    pub(crate) fn notify(&self) {
        // Fails only if the counter is at 2⁶⁴ - 2, i.e. already readable:
        // the reactor will wake either way.
        let _ = rustix::io::write(&self.fd, &1u64.to_ne_bytes());
    }

    /// Resets the counter to zero, so the eventfd is not readable again
    /// until the next `notify`.
    fn drain(&self) {
        let mut count = [0; 8];
        let _ = rustix::io::read(&self.fd, &mut count);
    }
}
// ANCHOR_END: notifier

pub(crate) struct Reactor {
    poller: EpollPoller,
    sources: Slots<Source>,
    next_registration: u32,
    events: Vec<Event>,
    timers: Timers,
    notifier: Arc<Notifier>,
    /// When the last `epoll_wait` returned: the clock the timers and the
    /// server's idle timeouts read, so that no operation needs a clock
    /// read of its own.
    now: Instant,
}

impl Reactor {
    /// The reactor, and the notifier that wakes it from other threads.
    pub(crate) fn new() -> io::Result<(Reactor, Arc<Notifier>)> {
        let mut poller = EpollPoller::new(Trigger::Edge)?;
        let notifier = Arc::new(Notifier::new()?);
        poller.add(notifier.fd.as_fd(), NOTIFY, Interest::READ)?;
        let reactor = Reactor {
            poller,
            sources: Slots::new(),
            next_registration: 0,
            events: Vec::new(),
            timers: Timers::default(),
            notifier: Arc::clone(&notifier),
            now: Instant::now(),
        };
        Ok((reactor, notifier))
    }

    // ANCHOR: register
    /// Starts watching `fd` for both directions, edge-triggered: epoll
    /// reports each change once, and the readiness flags remember it.
    pub(crate) fn register(&mut self, fd: BorrowedFd<'_>) -> io::Result<Key> {
        let registration = self.next_registration;
        self.next_registration = self.next_registration.wrapping_add(1);
        let slot = self.sources.insert(Source {
            registration,
            // Nothing to read until epoll says so (registering a socket
            // that already has data produces that first event). A new
            // socket's send buffer is empty: assume it is writable.
            read: Readiness::default(),
            write: Readiness {
                ready: true,
                ..Readiness::default()
            },
        });
        let key = Key { slot, registration };
        if slot >= SLOT_MASK {
            self.sources.remove(slot);
            return Err(io::Error::other("too many sockets for this runtime"));
        }
        let both = Interest {
            read: true,
            write: true,
        };
        if let Err(err) = self.poller.add(fd, key.token(), both) {
            self.sources.remove(slot);
            return Err(err);
        }
        Ok(key)
    }

    /// Stops watching `fd`, before it is closed. Its wakers are dropped,
    /// and any event for it still to come is ignored.
    pub(crate) fn deregister(&mut self, key: Key, fd: BorrowedFd<'_>) {
        if self.source(key).is_some() {
            self.sources.remove(key.slot);
            // Fails only if `fd` was never added, or is already closed;
            // either way epoll no longer watches it.
            let _ = self.poller.remove(fd);
        }
    }
    // ANCHOR_END: register

    // ANCHOR: poll_ready
    /// `Ready` if the source is ready in `direction`; otherwise keeps the
    /// task's waker there (replacing the one from an earlier poll, which may
    /// belong to another task by now) and returns `Pending`.
    pub(crate) fn poll_ready(
        &mut self,
        key: Key,
        direction: Direction,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        let Some(source) = self.source(key) else {
            return Poll::Ready(()); // deregistered: let the operation fail
        };
        let readiness = source.direction(direction);
        if readiness.ready || readiness.closed {
            return Poll::Ready(());
        }
        match &readiness.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => readiness.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// An operation in `direction` hit `WouldBlock` (or otherwise showed the
    /// direction drained): not ready until epoll reports a new edge.
    pub(crate) fn clear_ready(&mut self, key: Key, direction: Direction) {
        if let Some(source) = self.source(key) {
            source.direction(direction).ready = false;
        }
    }
    // ANCHOR_END: poll_ready

    // ANCHOR: turn
    /// One turn: wait in `epoll_wait` (not at all if `block` is false, at
    /// most until the next timer is due otherwise), then record what
    /// happened and collect the wakers of the tasks waiting for it.
    pub(crate) fn turn(&mut self, block: bool, woken: &mut Vec<Waker>) -> io::Result<()> {
        let timeout = if block {
            self.timers
                .next_deadline()
                .map(|deadline| deadline.saturating_duration_since(Instant::now()))
        } else {
            Some(Duration::ZERO)
        };
        let mut events = std::mem::take(&mut self.events);
        events.clear();
        let watched = std::iter::empty::<(BorrowedFd<'_>, Token, Interest)>();
        let waited = self.poller.wait(watched, timeout, &mut events);
        self.now = Instant::now();
        for event in &events {
            self.dispatch(event, woken);
        }
        self.events = events;
        match waited {
            // A signal interrupted the wait; its byte is in a pipe we watch.
            Err(err) if err.kind() != io::ErrorKind::Interrupted => return Err(err),
            _ => {}
        }
        self.timers.fire(self.now, woken);
        Ok(())
    }

    fn dispatch(&mut self, event: &Event, woken: &mut Vec<Waker>) {
        if event.token == NOTIFY {
            // Another thread queued a task; the loop will see the queue.
            return self.notifier.drain();
        }
        // A source deregistered since epoll queued this event, or its
        // slot's new owner: not the registration the event is for.
        let Some(source) = self.source(Key::from_token(event.token)) else {
            return;
        };
        if event.readable {
            source.read.ready = true;
            source.read.closed |= event.read_closed;
            woken.extend(source.read.waker.take());
        }
        if event.writable {
            source.write.ready = true;
            woken.extend(source.write.waker.take());
        }
    }
    // ANCHOR_END: turn

    fn source(&mut self, key: Key) -> Option<&mut Source> {
        self.sources
            .get_mut(key.slot)
            .filter(|source| source.registration == key.registration)
    }

    /// When the last `epoll_wait` returned.
    pub(crate) fn now(&self) -> Instant {
        self.now
    }

    pub(crate) fn timers(&mut self) -> &mut Timers {
        &mut self.timers
    }

    pub(crate) fn sources(&self) -> usize {
        self.sources.len()
    }
}

impl Source {
    fn direction(&mut self, direction: Direction) -> &mut Readiness {
        match direction {
            Direction::Read => &mut self.read,
            Direction::Write => &mut self.write,
        }
    }
}

// ANCHOR: async
/// A non-blocking descriptor registered with the current runtime's
/// reactor, deregistered when dropped. Its operations are what every
/// socket future is made of: [`Async::poll_io`].
pub struct Async<T: AsFd> {
    io: T,
    key: Key,
    core: Rc<Core>,
}

impl<T: AsFd> Async<T> {
    /// Registers `io`, which must already be in non-blocking mode.
    ///
    /// Panics if no runtime is running on this thread.
    pub fn new(io: T) -> io::Result<Async<T>> {
        let core = Core::current();
        let key = core.reactor().register(io.as_fd())?;
        Ok(Async { io, key, core })
    }

    pub fn get_ref(&self) -> &T {
        &self.io
    }

    /// Tries `operation` (a non-blocking `read`, `write`, `accept` …) when
    /// the source is ready in `direction`. On `WouldBlock` the readiness
    /// is cleared and the waker left with the reactor, in this same poll,
    /// before anything else can run: an edge that comes after the
    /// `WouldBlock` finds the waker and wakes this task.
    pub fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        direction: Direction,
        mut operation: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        poll_io(&self.core, self.key, cx, direction, || operation(&self.io))
    }

    /// [`Async::poll_io`] for an operation that needs `&mut T`.
    pub fn poll_io_mut<R>(
        &mut self,
        cx: &mut Context<'_>,
        direction: Direction,
        mut operation: impl FnMut(&mut T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        let io = &mut self.io;
        poll_io(&self.core, self.key, cx, direction, || operation(io))
    }

    /// `Ready` once the source is ready in `direction`, without doing
    /// anything with it.
    pub fn poll_ready(&self, cx: &mut Context<'_>, direction: Direction) -> Poll<()> {
        self.core.reactor().poll_ready(self.key, direction, cx)
    }

    /// Forgets that the source is ready in `direction`; see
    /// [`Reactor::clear_ready`].
    pub fn clear_ready(&self, direction: Direction) {
        self.core.reactor().clear_ready(self.key, direction);
    }
}

fn poll_io<R>(
    core: &Core,
    key: Key,
    cx: &mut Context<'_>,
    direction: Direction,
    mut operation: impl FnMut() -> io::Result<R>,
) -> Poll<io::Result<R>> {
    std::task::ready!(coop::poll_proceed(cx));
    loop {
        std::task::ready!(core.reactor().poll_ready(key, direction, cx));
        match operation() {
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                core.reactor().clear_ready(key, direction);
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            result => {
                coop::spend();
                return Poll::Ready(result);
            }
        }
    }
}

impl<T: AsFd> Drop for Async<T> {
    fn drop(&mut self) {
        // Before `io` is dropped (and closed), right after this.
        self.core.reactor().deregister(self.key, self.io.as_fd());
    }
}
// ANCHOR_END: async

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    use super::*;

    #[test]
    fn tokens_round_trip_and_keep_the_registration() {
        let key = Key {
            slot: 7,
            registration: 0xdead_beef,
        };
        assert_eq!(Key::from_token(key.token()), key);
        assert_ne!(key.token(), NOTIFY);
    }

    /// A waker that counts its wakes.
    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn readable(key: Key) -> Event {
        Event {
            token: key.token(),
            readable: true,
            writable: false,
            read_closed: false,
        }
    }

    // ANCHOR: stale_event
    #[test]
    fn a_stale_event_for_a_reused_slot_wakes_no_one() {
        let (mut reactor, _notifier) = Reactor::new().unwrap();
        let (a, b) = (Notifier::new().unwrap(), Notifier::new().unwrap());
        let old = reactor.register(a.fd.as_fd()).unwrap();
        reactor.deregister(old, a.fd.as_fd());
        // The slot is free again, and the next source gets it.
        let new = reactor.register(b.fd.as_fd()).unwrap();
        assert_eq!(new.slot, old.slot);

        let count = Arc::new(Count::default());
        let waker = Waker::from(Arc::clone(&count));
        let mut cx = Context::from_waker(&waker);
        assert!(
            reactor
                .poll_ready(new, Direction::Read, &mut cx)
                .is_pending()
        );

        // An event for the old registration, delivered late.
        let mut woken = Vec::new();
        reactor.dispatch(&readable(old), &mut woken);
        assert!(woken.is_empty(), "the old event woke the slot's new owner");
        assert!(
            reactor
                .poll_ready(new, Direction::Read, &mut cx)
                .is_pending()
        );

        // The new registration's own event does wake it.
        reactor.dispatch(&readable(new), &mut woken);
        woken.drain(..).for_each(Waker::wake);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
    }
    // ANCHOR_END: stale_event
}
