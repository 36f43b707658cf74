//! The event loop: one thread, every connection, no blocking except in the
//! one place where there is nothing to do, `Poller::wait`.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use echo_common::{AcceptError, Log, ServerArgs};

use crate::connection::Connection;
use crate::idle::IdleTimers;
use crate::poller::{Event, Interest, Poller, Token};
use crate::signals::Signals;
use crate::slots::Slots;

/// Tokens 0 and 1 are the listener and the signal pipe; connection slot `n`
/// is token `n + FIRST_CONNECTION`.
const LISTENER: Token = 0;
const SIGNALS: Token = 1;
const FIRST_CONNECTION: Token = 2;

/// How long to stop watching the listener after `accept` failed for lack of
/// descriptors or memory. The failed connection is still queued, so the
/// listener stays readable: watching it would wake us at once, forever.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// One read's worth, shared by every connection: a connection copies bytes
/// out of it only when the client is not reading fast enough.
const SCRATCH_SIZE: usize = 64 * 1024;

/// The flags the loop obeys.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub grace: Duration,
    pub log: Log,
}

impl From<&ServerArgs> for Settings {
    fn from(args: &ServerArgs) -> Settings {
        Settings {
            idle_timeout: args.idle_timeout,
            max_connections: args.max_connections as usize,
            grace: args.grace,
            log: Log::new(args.quiet),
        }
    }
}

pub struct EventLoop<P> {
    poller: P,
    settings: Settings,
    /// `None` once shutdown has begun: the listener is closed at once.
    listener: Option<TcpListener>,
    /// The kernel said the listener is readable and `accept` has not yet
    /// returned `WouldBlock` (the same belief as a connection's `readable`).
    listener_ready: bool,
    listener_registered: Interest,
    accept_paused_until: Option<Instant>,
    signals: Signals,
    connections: Slots<Connection>,
    idle: IdleTimers,
    next_id: u64,
    shutting_down: bool,
    grace_ends: Option<Instant>,
    scratch: Box<[u8]>,
    now: Instant,
}

/// Serves `listener` until a signal asks us to stop and every connection
/// has finished (or the grace period is over).
pub fn run<P: Poller>(
    poller: P,
    listener: TcpListener,
    signals: Signals,
    settings: Settings,
) -> Result<()> {
    listener
        .set_nonblocking(true)
        .context("cannot make the listener non-blocking")?;
    let mut event_loop = EventLoop {
        poller,
        settings,
        listener: None,
        listener_ready: false,
        listener_registered: Interest::READ,
        accept_paused_until: None,
        signals,
        connections: Slots::new(),
        idle: IdleTimers::new(settings.idle_timeout),
        next_id: 0,
        shutting_down: false,
        grace_ends: None,
        scratch: vec![0; SCRATCH_SIZE].into_boxed_slice(),
        now: Instant::now(),
    };
    event_loop
        .poller
        .add(listener.as_fd(), LISTENER, Interest::READ)
        .context("cannot watch the listener")?;
    event_loop
        .poller
        .add(event_loop.signals.as_fd(), SIGNALS, Interest::READ)
        .context("cannot watch the signal pipe")?;
    // Only now, with every descriptor the loop needs in place, say where we
    // listen: whoever reads this line finds the server ready.
    echo_common::announce(&listener)?;
    event_loop.listener = Some(listener);
    event_loop.run()
}

impl<P: Poller> EventLoop<P> {
    // ANCHOR: loop
    fn run(&mut self) -> Result<()> {
        let mut events = Vec::new();
        loop {
            // Sleep until something is ready or the nearest deadline (idle
            // connection, accept back-off, end of grace) comes due.
            let timeout = self
                .next_deadline()
                .map(|deadline| deadline.saturating_duration_since(self.now));
            events.clear();
            let watched = watched(
                self.listener.as_ref().filter(|_| self.accepting()),
                &self.signals,
                &self.connections,
            );
            match self.poller.wait(watched, timeout, &mut events) {
                Ok(()) => {}
                // A signal interrupted the wait; its byte is in the pipe.
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err).context("waiting for events failed"),
            }
            self.now = Instant::now();

            for event in &events {
                match event.token {
                    LISTENER => self.listener_ready = true,
                    SIGNALS => self.on_signal(),
                    token => self.on_connection_event(token - FIRST_CONNECTION, event),
                }
            }
            self.close_idle_connections();
            self.accept_while_ready();
            if self.shutdown_finished() {
                return Ok(());
            }
            self.update_listener_interest()?;
        }
    }
    // ANCHOR_END: loop

    // ANCHOR: connection_event
    fn on_connection_event(&mut self, slot: usize, event: &Event) {
        let drain = self.poller.edge_triggered();
        // An earlier event in this batch may have closed it.
        let Some(conn) = self.connections.get_mut(slot) else {
            return;
        };
        conn.readable |= event.readable;
        conn.writable |= event.writable;
        if let Err(err) = conn.drive(&mut self.scratch, drain, self.now) {
            return self.close(slot, Err(err));
        }
        if conn.is_finished() {
            let echoed = conn.echoed;
            return self.close(slot, Ok(echoed));
        }
        // Tell the poller only when the wish changed: for level-triggered
        // epoll that is an epoll_ctl, so not once per message.
        let wanted = conn.interest();
        if wanted != conn.registered {
            let fd = conn.stream.as_fd();
            match self.poller.modify(fd, slot + FIRST_CONNECTION, wanted) {
                Ok(()) => conn.registered = wanted,
                Err(err) => self.close(slot, Err(err)),
            }
        }
    }
    // ANCHOR_END: connection_event

    // ANCHOR: accept
    /// Accepts until the kernel's queue is empty (`WouldBlock`), we are at
    /// `--max-connections`, or accept must back off.
    fn accept_while_ready(&mut self) {
        while self.listener_ready && self.accepting() {
            let Some(listener) = &self.listener else {
                return;
            };
            match listener.accept() {
                Ok((stream, peer)) => self.open(stream, peer),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    self.listener_ready = false;
                }
                Err(err) => {
                    self.settings
                        .log
                        .server(format_args!("accept failed: {err}"));
                    if AcceptError::classify(&err) == AcceptError::BackOff {
                        self.accept_paused_until = Some(self.now + ACCEPT_BACKOFF);
                    }
                }
            }
        }
    }

    /// Whether to accept now: not shutting down, below the cap, and not
    /// backing off after running out of descriptors.
    fn accepting(&self) -> bool {
        self.listener.is_some()
            && self.connections.len() < self.settings.max_connections
            && self
                .accept_paused_until
                .is_none_or(|until| self.now >= until)
    }

    /// While not accepting, stop watching the listener: a queued client
    /// keeps it readable, and a level-triggered wait would return at once,
    /// over and over. (Edge-triggered: no new edge, no wakeup; `modify` is
    /// a no-op there.) Clients wait in the listen backlog meanwhile.
    fn update_listener_interest(&mut self) -> Result<()> {
        if self
            .accept_paused_until
            .is_some_and(|until| self.now >= until)
        {
            self.accept_paused_until = None;
        }
        let wanted = if self.accepting() {
            Interest::READ
        } else {
            Interest::NONE
        };
        let Some(listener) = &self.listener else {
            return Ok(());
        };
        if wanted != self.listener_registered {
            self.poller
                .modify(listener.as_fd(), LISTENER, wanted)
                .context("cannot change what we watch the listener for")?;
            self.listener_registered = wanted;
        }
        Ok(())
    }
    // ANCHOR_END: accept

    fn open(&mut self, stream: TcpStream, peer: SocketAddr) {
        let log = self.settings.log;
        log.opened(peer);
        if let Err(err) = stream.set_nonblocking(true) {
            // Dropping the stream closes it; no one else is affected.
            return log.closed(peer, &Err(err));
        }
        let id = self.next_id;
        self.next_id += 1;
        let slot = self
            .connections
            .insert(Connection::new(stream, peer, id, self.now));
        let Some(conn) = self.connections.get(slot) else {
            return; // just inserted
        };
        if let Err(err) = self.poller.add(
            conn.stream.as_fd(),
            slot + FIRST_CONNECTION,
            conn.interest(),
        ) {
            self.connections.remove(slot);
            return log.closed(peer, &Err(err));
        }
        self.idle.start(slot, id, self.now);
    }

    fn close(&mut self, slot: usize, result: io::Result<u64>) {
        if let Some(conn) = self.connections.remove(slot) {
            // Closing the socket would remove it from epoll too, but only if
            // no other descriptor refers to it; say so explicitly. Failing
            // changes nothing: the descriptor is closed next either way.
            let _ = self.poller.remove(conn.stream.as_fd());
            self.settings.log.closed(conn.peer, &result);
        }
    }

    // ANCHOR: idle
    fn close_idle_connections(&mut self) {
        let connections = &self.connections;
        let expired = self.idle.expired(self.now, |slot, id| {
            let conn = connections.get(slot).filter(|conn| conn.id == id)?;
            Some(conn.last_active)
        });
        for slot in expired {
            let err = echo_common::idle_timeout_error(self.settings.idle_timeout);
            self.close(slot, Err(err));
        }
    }

    /// The `wait` timeout: the nearest moment something must happen even if
    /// no socket becomes ready.
    fn next_deadline(&self) -> Option<Instant> {
        let resume_accept = self.accept_paused_until.filter(|_| self.listener.is_some());
        [self.idle.next_deadline(), resume_accept, self.grace_ends]
            .into_iter()
            .flatten()
            .min()
    }
    // ANCHOR_END: idle

    // ANCHOR: shutdown
    fn on_signal(&mut self) {
        let signals = match self.signals.take() {
            Ok(count) => count,
            Err(err) => {
                // Cannot happen with a socket pair we own; if it did, treat
                // it as a request to stop rather than ignore it.
                self.settings.log.server(format_args!("signal pipe: {err}"));
                1
            }
        };
        if signals == 0 {
            return;
        }
        if signals > 1 || self.shutting_down {
            // A second signal, whether or not the first was handled before
            // it arrived: exit at once, however many connections are open.
            echo_common::exit_on_second_signal(self.settings.log);
        }
        self.shutting_down = true;
        self.grace_ends = self.now.checked_add(self.settings.grace);
        if let Some(listener) = self.listener.take() {
            let _ = self.poller.remove(listener.as_fd());
            // Dropped here: closed, so new clients are refused at once.
        }
        let open = self.connections.len();
        let grace = self.settings.grace;
        self.settings.log.server(format_args!(
            "shutting down: no new connections; {open} open connection(s) get {grace:?} to finish"
        ));
    }

    /// During shutdown: done once every connection has finished, or the
    /// grace period is over (the rest are closed).
    fn shutdown_finished(&mut self) -> bool {
        if !self.shutting_down {
            return false;
        }
        if self.grace_ends.is_some_and(|end| self.now >= end) {
            let slots: Vec<usize> = self.connections.iter().map(|(slot, _)| slot).collect();
            for slot in slots {
                let err = io::Error::other("grace period over");
                self.close(slot, Err(err));
            }
        }
        if self.connections.is_empty() {
            self.settings.log.server("shut down");
            return true;
        }
        false
    }
    // ANCHOR_END: shutdown
}

// ANCHOR: watched
/// Every source and what it wants now: what `poll(2)` must be handed on
/// every call. (epoll never walks this; the iterator is lazy.)
fn watched<'a>(
    listener: Option<&'a TcpListener>,
    signals: &'a Signals,
    connections: &'a Slots<Connection>,
) -> impl Iterator<Item = (BorrowedFd<'a>, Token, Interest)> + 'a {
    let listener = listener.map(|l| (l.as_fd(), LISTENER, Interest::READ));
    let signals = (signals.as_fd(), SIGNALS, Interest::READ);
    let connections = connections.iter().map(|(slot, conn)| {
        (
            conn.stream.as_fd(),
            slot + FIRST_CONNECTION,
            conn.interest(),
        )
    });
    listener.into_iter().chain([signals]).chain(connections)
}
// ANCHOR_END: watched
