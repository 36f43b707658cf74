//! The listening socket as a source like any other: readable means a client
//! is waiting in the kernel's accept queue. What the loop knows about it (is
//! anyone waiting, are we backing off, what is the poller watching for) is
//! kept here.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use echo_common::{AcceptError, Log};

use crate::poller::{Interest, Poller, Token};

/// How long to stop watching the listener after `accept` failed for lack of
/// descriptors or memory. The failed connection is still queued, so the
/// listener stays readable: watching it would wake us at once, forever.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

pub struct Listener {
    socket: TcpListener,
    token: Token,
    /// The kernel said the listener is readable and `accept` has not yet
    /// returned `WouldBlock` (the same belief as a connection's `readable`).
    ready: bool,
    /// Set after an accept error that asks us to back off.
    paused_until: Option<Instant>,
    /// What the poller was last told to watch the listener for.
    registered: Interest,
}

impl Listener {
    /// Makes `socket` non-blocking and starts watching it with `token`.
    pub fn watch(
        socket: TcpListener,
        poller: &mut impl Poller,
        token: Token,
    ) -> io::Result<Listener> {
        socket.set_nonblocking(true)?;
        poller.add(socket.as_fd(), token, Interest::READ)?;
        Ok(Listener {
            socket,
            token,
            ready: false,
            paused_until: None,
            registered: Interest::READ,
        })
    }

    pub fn socket(&self) -> &TcpListener {
        &self.socket
    }

    /// The poller reported the listener readable.
    pub fn ready(&mut self) {
        self.ready = true;
    }

    // ANCHOR: accept
    /// The next client in the kernel's queue, if there is one and we are not
    /// backing off. An error that belongs to one would-be connection skips
    /// it; one that says we are out of descriptors or memory pauses
    /// accepting for [`ACCEPT_BACKOFF`] instead of retrying at once.
    pub fn accept(&mut self, now: Instant, log: Log) -> Option<(TcpStream, SocketAddr)> {
        while self.ready && !self.paused(now) {
            match self.socket.accept() {
                Ok(client) => return Some(client),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => self.ready = false,
                Err(err) => {
                    log.server(format_args!("accept failed: {err}"));
                    if AcceptError::classify(&err) == AcceptError::BackOff {
                        self.paused_until = Some(now + ACCEPT_BACKOFF);
                    }
                }
            }
        }
        None
    }

    /// While we may not accept (at `--max-connections`, or backing off),
    /// stop watching the listener: a queued client keeps it readable, and a
    /// level-triggered wait would return at once, over and over.
    /// (Edge-triggered: no new edge, no wakeup; `modify` is a no-op there.)
    /// Clients wait in the listen backlog meanwhile.
    pub fn update_interest(
        &mut self,
        poller: &mut impl Poller,
        room: bool,
        now: Instant,
    ) -> io::Result<()> {
        if !self.paused(now) {
            self.paused_until = None;
        }
        let wanted = self.interest(room, now);
        if wanted != self.registered {
            poller.modify(self.socket.as_fd(), self.token, wanted)?;
            self.registered = wanted;
        }
        Ok(())
    }
    // ANCHOR_END: accept

    /// What to watch the listener for: clients, if there is `room` for one
    /// and we are not backing off.
    pub fn interest(&self, room: bool, now: Instant) -> Interest {
        if room && !self.paused(now) {
            Interest::READ
        } else {
            Interest::NONE
        }
    }

    /// Clients are known to be waiting and we may take them: the next wait
    /// must not sleep. (Edge-triggered epoll would not report them again.)
    pub fn has_waiting_clients(&self, room: bool, now: Instant) -> bool {
        self.ready && self.interest(room, now) == Interest::READ
    }

    /// When a back-off ends: a deadline for the wait's timeout.
    pub fn paused_until(&self) -> Option<Instant> {
        self.paused_until
    }

    fn paused(&self, now: Instant) -> bool {
        self.paused_until.is_some_and(|until| now < until)
    }

    /// Stops watching the listener and closes it: from now on the kernel
    /// refuses new clients, and those still in the backlog are reset.
    pub fn close(self, poller: &mut impl Poller) {
        let _ = poller.remove(self.socket.as_fd());
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}
