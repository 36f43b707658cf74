//! Every open connection, by token: opening, closing (with its log line and
//! its removal from the poller) and the idle timeout, in one place, so that
//! the loop never touches a slot or a timer itself.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use echo_common::Log;

use crate::connection::Connection;
use crate::idle::IdleTimers;
use crate::poller::{Poller, Token};
use crate::slots::Slots;

// ANCHOR: tokens
/// Connection slot `n` is token `n + FIRST_TOKEN`: the tokens below are the
/// loop's own (the listener, the signal pipe). Finding a connection from an
/// event is then an index, not a search.
pub const FIRST_TOKEN: Token = 2;

pub struct Connections {
    slots: Slots<Connection<TcpStream>>,
    idle: IdleTimers,
    idle_timeout: Duration,
    /// The next connection's id: unique for the server's lifetime.
    next_id: u64,
    log: Log,
}

impl Connections {
    pub fn new(idle_timeout: Duration, log: Log) -> Connections {
        Connections {
            slots: Slots::new(),
            idle: IdleTimers::new(idle_timeout),
            idle_timeout,
            next_id: 0,
            log,
        }
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The connection an event with `token` is about, if it is still open
    /// (an earlier event in the same batch may have closed it).
    pub fn get_mut(&mut self, token: Token) -> Option<&mut Connection<TcpStream>> {
        self.slots.get_mut(token.checked_sub(FIRST_TOKEN)?)
    }
    // ANCHOR_END: tokens

    /// Every connection, with its token.
    pub fn iter(&self) -> impl Iterator<Item = (Token, &Connection<TcpStream>)> {
        self.slots
            .iter()
            .map(|(slot, conn)| (slot + FIRST_TOKEN, conn))
    }

    // ANCHOR: open_close
    /// Takes a freshly accepted client: non-blocking, watched, timed.
    pub fn open(
        &mut self,
        poller: &mut impl Poller,
        stream: TcpStream,
        peer: SocketAddr,
        now: Instant,
    ) {
        self.log.opened(peer);
        if let Err(err) = stream.set_nonblocking(true) {
            // Dropping the stream closes it; no one else is affected.
            return self.log.closed(peer, &Err(err));
        }
        let id = self.next_id;
        self.next_id += 1;
        let slot = self.slots.insert(Connection::new(stream, peer, id, now));
        let Some(conn) = self.slots.get_mut(slot) else {
            return; // just inserted
        };
        if let Err(err) = conn.register(poller, slot + FIRST_TOKEN) {
            self.slots.remove(slot);
            return self.log.closed(peer, &Err(err));
        }
        self.idle.start(slot, id, now);
    }

    /// Closes the connection with `token` and logs why: `Ok` with the bytes
    /// echoed, or the error that ended it.
    pub fn close(&mut self, poller: &mut impl Poller, token: Token, result: io::Result<u64>) {
        let Some(slot) = token.checked_sub(FIRST_TOKEN) else {
            return;
        };
        if let Some(conn) = self.slots.remove(slot) {
            // Failing changes nothing: the descriptor is closed next either way.
            let _ = conn.deregister(poller);
            self.log.closed(conn.peer(), &result);
        }
    }
    // ANCHOR_END: open_close

    // ANCHOR: idle
    /// Closes every connection on which no byte has moved for the whole
    /// idle timeout.
    pub fn close_idle(&mut self, poller: &mut impl Poller, now: Instant) {
        let slots = &self.slots;
        let expired = self.idle.expired(now, |slot, id| {
            let conn = slots.get(slot).filter(|conn| conn.id() == id)?;
            Some(conn.last_active())
        });
        for slot in expired {
            let err = echo_common::idle_timeout_error(self.idle_timeout);
            self.close(poller, slot + FIRST_TOKEN, Err(err));
        }
    }

    /// When the next connection may have been idle for the whole timeout.
    pub fn next_idle_deadline(&self) -> Option<Instant> {
        self.idle.next_deadline()
    }
    // ANCHOR_END: idle

    /// Closes every connection, each with the error `why`.
    pub fn close_all(&mut self, poller: &mut impl Poller, why: &str) {
        let tokens: Vec<Token> = self.iter().map(|(token, _)| token).collect();
        for token in tokens {
            self.close(poller, token, Err(io::Error::other(why)));
        }
    }
}
