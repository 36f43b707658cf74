//! The one question an event loop asks the kernel: *which of my sockets can
//! make progress now?* Three ways to ask it, behind one small trait so that
//! the loop ([`crate::event_loop`]) is written once:
//!
//! - [`poll::PollPoller`]: `poll(2)`, in POSIX; hands the kernel the whole
//!   list of descriptors on every call.
//! - [`epoll::EpollPoller`]: Linux's `epoll(7)`; the kernel keeps the list,
//!   and each call returns only the descriptors that are ready, either
//!   level-triggered or edge-triggered ([`epoll::Trigger`]).

use std::io;
use std::os::fd::BorrowedFd;
use std::time::Duration;

pub mod epoll;
pub mod poll;

/// Which source an event is about: the loop's own numbering (the listener,
/// the signal pipe, each connection's slot), handed to the kernel with each
/// descriptor and handed back with each event.
pub type Token = usize;

// ANCHOR: interest
/// What a source wants to be told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Interest {
    pub read: bool,
    pub write: bool,
}

impl Interest {
    pub const NONE: Interest = Interest {
        read: false,
        write: false,
    };
    pub const READ: Interest = Interest {
        read: true,
        write: false,
    };
}

/// What the kernel said about one source. Errors and hang-ups are reported
/// as both readable and writable: the next `read` or `write` returns the
/// error (or end of stream), which is where the loop handles it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    pub token: Token,
    pub readable: bool,
    pub writable: bool,
    /// The peer has shut down its sending side, or the connection failed:
    /// from now on a `read` returns end of stream (or the error) at once.
    /// Unlike `readable`, this never goes away, so a loop that stops
    /// reading before `WouldBlock` (chapter 5's does) must not forget it.
    pub read_closed: bool,
}
// ANCHOR_END: interest

// ANCHOR: poller
/// One way of waiting for readiness.
pub trait Poller {
    /// Edge-triggered: an event says the state *changed* and is not
    /// repeated, so the loop must keep reading (writing) until `WouldBlock`,
    /// or remember that the source is still ready.
    fn edge_triggered(&self) -> bool;

    /// Starts watching `fd`.
    fn add(&mut self, fd: BorrowedFd<'_>, token: Token, interest: Interest) -> io::Result<()>;

    /// `fd` now wants `interest` instead of what it wanted before.
    fn modify(&mut self, fd: BorrowedFd<'_>, token: Token, interest: Interest) -> io::Result<()>;

    /// Stops watching `fd` (before it is closed).
    fn remove(&mut self, fd: BorrowedFd<'_>) -> io::Result<()>;

    /// Blocks until at least one watched source is ready or `timeout`
    /// passes (`None`: no timeout), and puts what is ready into `events`.
    ///
    /// `watched` lists every source with what it wants right now. A poller
    /// that keeps its own list in the kernel (epoll) never looks at it; the
    /// iterator is lazy, so it costs nothing unless consumed.
    fn wait<'fd>(
        &mut self,
        watched: impl Iterator<Item = (BorrowedFd<'fd>, Token, Interest)>,
        timeout: Option<Duration>,
        events: &mut Vec<Event>,
    ) -> io::Result<()>;
}
// ANCHOR_END: poller

/// A duration as the kernel's `timespec`; `None` (wait forever) for one too
/// long to express, which is centuries.
fn timespec(timeout: Option<Duration>) -> Option<rustix::event::Timespec> {
    timeout.and_then(|t| rustix::event::Timespec::try_from(t).ok())
}
