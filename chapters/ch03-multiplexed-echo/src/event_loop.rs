//! The event loop: one thread, every connection, no blocking except in the
//! one place where there is nothing to do, `Poller::wait`.
//!
//! The loop only dispatches. What it dispatches to lives beside it: the
//! accepting side in [`crate::listener`], the open connections (opening,
//! closing, idle timeouts) in [`crate::connections`], each connection's echo
//! in [`crate::connection`].

use std::io;
use std::net::TcpListener;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Instant;

use anyhow::{Context, Result};
use echo_common::{ACCEPTS_PER_PASS, Settings};

use crate::connections::Connections;
use crate::listener::Listener;
use crate::poller::{Event, Interest, Poller, Token};
use crate::signals::Signals;

/// Tokens 0 and 1 are the listener and the signal pipe; the connections
/// take theirs from [`crate::connections::FIRST_TOKEN`] on.
const LISTENER: Token = 0;
const SIGNALS: Token = 1;

/// One read's worth, shared by every connection: a connection copies bytes
/// out of it only when the client is not reading fast enough.
const SCRATCH_SIZE: usize = 64 * 1024;

// ANCHOR: state
/// Where the server is in its life: the one place the shutdown lives.
enum State {
    /// Accepting new connections.
    Serving(Listener),
    /// A signal arrived: the listener is closed, and the open connections
    /// have until `grace_ends` to finish (`None`: a grace period too long
    /// to represent, which never ends).
    ShuttingDown { grace_ends: Option<Instant> },
}
// ANCHOR_END: state

impl State {
    fn listener(&self) -> Option<&Listener> {
        match self {
            State::Serving(listener) => Some(listener),
            State::ShuttingDown { .. } => None,
        }
    }
}

struct EventLoop<P> {
    poller: P,
    settings: Settings,
    state: State,
    signals: Signals,
    connections: Connections,
    /// See [`SCRATCH_SIZE`].
    scratch: Box<[u8]>,
    /// When the last wait returned: every decision in one turn of the loop
    /// uses this one clock reading.
    now: Instant,
}

/// Serves `listener` until a signal asks us to stop and every connection
/// has finished (or the grace period is over).
pub fn run<P: Poller>(
    mut poller: P,
    listener: TcpListener,
    signals: Signals,
    settings: Settings,
) -> Result<()> {
    let listener =
        Listener::watch(listener, &mut poller, LISTENER).context("cannot watch the listener")?;
    poller
        .add(signals.as_fd(), SIGNALS, Interest::READ)
        .context("cannot watch the signal pipe")?;
    // Only now, with every descriptor the loop needs in place, say where we
    // listen: whoever reads this line finds the server ready.
    echo_common::announce(listener.socket())?;
    let mut event_loop = EventLoop {
        poller,
        settings,
        state: State::Serving(listener),
        signals,
        connections: Connections::new(settings.idle_timeout, settings.log),
        scratch: vec![0; SCRATCH_SIZE].into_boxed_slice(),
        now: Instant::now(),
    };
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
            let (room, now) = (self.has_room(), self.now);
            let listener =
                (self.state.listener()).filter(|l| l.interest(room, now) == Interest::READ);
            let watched = watched(listener, &self.signals, &self.connections);
            match self.poller.wait(watched, timeout, &mut events) {
                Ok(()) => {}
                // A signal interrupted the wait; its byte is in the pipe.
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err).context("waiting for events failed"),
            }
            self.now = Instant::now();

            for event in &events {
                match event.token {
                    LISTENER => self.on_listener_event(),
                    SIGNALS => self.on_signal(),
                    token => self.on_connection_event(token, event),
                }
            }
            self.connections.close_idle(&mut self.poller, self.now);
            self.accept_some();
            if self.shutdown_finished() {
                return Ok(());
            }
            self.update_listener_interest()?;
        }
    }
    // ANCHOR_END: loop

    // ANCHOR: connection_event
    fn on_connection_event(&mut self, token: Token, event: &Event) {
        let drain = self.poller.edge_triggered();
        let Some(conn) = self.connections.get_mut(token) else {
            return; // an earlier event in this batch closed it
        };
        conn.ready(event);
        let closing = match conn.drive(&mut self.scratch, drain, self.now) {
            Err(err) => Some(Err(err)),
            Ok(()) if conn.is_finished() => Some(Ok(conn.echoed())),
            Ok(()) => conn
                .update_registration(&mut self.poller, token)
                .err()
                .map(Err),
        };
        if let Some(result) = closing {
            self.connections.close(&mut self.poller, token, result);
        }
    }
    // ANCHOR_END: connection_event

    fn on_listener_event(&mut self) {
        if let State::Serving(listener) = &mut self.state {
            listener.ready();
        }
    }

    // ANCHOR: accept_some
    /// Accepts while clients are waiting, up to `--max-connections`, and at
    /// most [`ACCEPTS_PER_PASS`] per turn: a burst of new clients waits a
    /// turn rather than keep the loop from the connections it has.
    fn accept_some(&mut self) {
        let State::Serving(listener) = &mut self.state else {
            return;
        };
        for _ in 0..ACCEPTS_PER_PASS {
            if self.connections.len() >= self.settings.max_connections {
                return;
            }
            let Some((stream, peer)) = listener.accept(self.now, self.settings.log) else {
                return;
            };
            self.connections
                .open(&mut self.poller, stream, peer, self.now);
        }
    }
    // ANCHOR_END: accept_some

    fn has_room(&self) -> bool {
        self.connections.len() < self.settings.max_connections
    }

    fn update_listener_interest(&mut self) -> Result<()> {
        let room = self.has_room();
        if let State::Serving(listener) = &mut self.state {
            listener
                .update_interest(&mut self.poller, room, self.now)
                .context("cannot change what we watch the listener for")?;
        }
        Ok(())
    }

    // ANCHOR: next_deadline
    /// The `wait` timeout: the nearest moment something must happen even if
    /// no socket becomes ready.
    fn next_deadline(&self) -> Option<Instant> {
        let (accept, grace_ends) = match &self.state {
            // Clients left in the queue by the per-turn cap: no event will
            // repeat them (edge-triggered), so do not sleep at all.
            State::Serving(listener) if listener.has_waiting_clients(self.has_room(), self.now) => {
                return Some(self.now);
            }
            State::Serving(listener) => (listener.paused_until(), None),
            State::ShuttingDown { grace_ends } => (None, *grace_ends),
        };
        [self.connections.next_idle_deadline(), accept, grace_ends]
            .into_iter()
            .flatten()
            .min()
    }
    // ANCHOR_END: next_deadline

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
        let first = matches!(self.state, State::Serving(_));
        if signals > 1 || !first {
            // A second signal, whether or not the first was handled before
            // it arrived: exit at once, however many connections are open.
            echo_common::exit_on_second_signal(self.settings.log);
        }
        let grace_ends = self.now.checked_add(self.settings.grace);
        let state = std::mem::replace(&mut self.state, State::ShuttingDown { grace_ends });
        if let State::Serving(listener) = state {
            // Closed here, so new clients are refused at once.
            listener.close(&mut self.poller);
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
        let State::ShuttingDown { grace_ends } = self.state else {
            return false;
        };
        if grace_ends.is_some_and(|end| self.now >= end) {
            self.connections
                .close_all(&mut self.poller, "grace period over");
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
    listener: Option<&'a Listener>,
    signals: &'a Signals,
    connections: &'a Connections,
) -> impl Iterator<Item = (BorrowedFd<'a>, Token, Interest)> + 'a {
    let listener = listener.map(|l| (l.as_fd(), LISTENER, Interest::READ));
    let signals = (signals.as_fd(), SIGNALS, Interest::READ);
    let connections = connections
        .iter()
        .map(|(token, conn)| (conn.as_fd(), token, conn.interest()));
    listener.into_iter().chain([signals]).chain(connections)
}
// ANCHOR_END: watched
