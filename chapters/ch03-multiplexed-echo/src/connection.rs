//! One client connection as a state machine that never blocks: the bytes it
//! owes the client, and what the loop has learned about its socket.
//!
//! The state is private: the loop reports what the kernel said
//! ([`Connection::ready`]), asks the connection to move bytes
//! ([`Connection::drive`]) and what it wants next ([`Connection::interest`]).
//! So the one rule that edge-triggered epoll depends on, *a readiness belief
//! is set by an event and cleared only by `WouldBlock`*, is kept here and
//! nowhere else. The stream is generic so that the unit tests below can
//! drive a connection with a scripted socket.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::time::Instant;

use crate::poller::{Event, Interest, Poller, Token};

// ANCHOR: state
pub struct Connection<S> {
    stream: S,
    peer: SocketAddr,
    /// Unique for the server's lifetime (slots are reused, ids are not), so
    /// that a stale timer cannot close the slot's next occupant.
    id: u64,
    /// Bytes read but not yet written back, and how many of them have been.
    /// We read only while this is empty, so it never holds more than one
    /// read's worth: that bound is the back-pressure. Empty (no allocation)
    /// whenever the client keeps up, which is almost always.
    pending: Vec<u8>,
    written: usize,
    /// The client half-closed: no more bytes will come.
    eof: bool,
    /// What we believe about the socket. Set by events, cleared only by
    /// `WouldBlock`: edge-triggered epoll tells us about a change once, so
    /// the belief must outlive the event.
    readable: bool,
    writable: bool,
    /// What the poller was last told this connection wants.
    registered: Interest,
    echoed: u64,
    last_active: Instant,
}
// ANCHOR_END: state

impl<S> Connection<S> {
    pub fn new(stream: S, peer: SocketAddr, id: u64, now: Instant) -> Connection<S> {
        Connection {
            stream,
            peer,
            id,
            pending: Vec::new(),
            written: 0,
            eof: false,
            // Wait for the kernel to say there is something to read. A new
            // socket's send buffer is empty, so assume it is writable (a
            // `write` that finds otherwise returns `WouldBlock`).
            readable: false,
            writable: true,
            registered: Interest::READ,
            echoed: 0,
            last_active: now,
        }
    }

    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    /// Bytes written back so far, for the log.
    pub fn echoed(&self) -> u64 {
        self.echoed
    }

    /// When a byte last moved either way, for the idle timeout.
    pub fn last_active(&self) -> Instant {
        self.last_active
    }

    // ANCHOR: ready
    /// Takes in what the kernel said about the socket. Only ever adds to
    /// the beliefs: an event that does not mention a direction says
    /// nothing about it.
    pub fn ready(&mut self, event: &Event) {
        self.readable |= event.readable;
        self.writable |= event.writable;
    }
    // ANCHOR_END: ready

    // ANCHOR: interest
    /// What to wait for. Writability only while bytes are pending: an idle
    /// socket is writable nearly all the time, so asking for it always would
    /// make a level-triggered `wait` return at once, forever, at 100% CPU.
    pub fn interest(&self) -> Interest {
        Interest {
            read: !self.eof && !self.has_pending(),
            write: self.has_pending(),
        }
    }

    /// True once the client has half-closed and has every byte back: the
    /// loop then closes the socket, which the client sees as EOF.
    pub fn is_finished(&self) -> bool {
        self.eof && !self.has_pending()
    }
    // ANCHOR_END: interest

    fn has_pending(&self) -> bool {
        self.written < self.pending.len()
    }
}

// ANCHOR: registration
impl<S: AsFd> Connection<S> {
    /// Starts watching the socket, for what a new connection wants.
    pub fn register(&mut self, poller: &mut impl Poller, token: Token) -> io::Result<()> {
        self.registered = self.interest();
        poller.add(self.stream.as_fd(), token, self.registered)
    }

    /// Tells the poller what the connection wants now, only if that changed:
    /// for level-triggered epoll that is an `epoll_ctl`, so not once per
    /// message.
    pub fn update_registration(
        &mut self,
        poller: &mut impl Poller,
        token: Token,
    ) -> io::Result<()> {
        let wanted = self.interest();
        if wanted != self.registered {
            poller.modify(self.stream.as_fd(), token, wanted)?;
            self.registered = wanted;
        }
        Ok(())
    }

    /// Stops watching the socket, before it is closed. Closing would remove
    /// it from epoll too, but only if no other descriptor referred to it;
    /// this says so explicitly.
    pub fn deregister(&self, poller: &mut impl Poller) -> io::Result<()> {
        poller.remove(self.stream.as_fd())
    }
}
// ANCHOR_END: registration

impl<S: AsFd> AsFd for Connection<S> {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.stream.as_fd()
    }
}

impl<S: Read + Write> Connection<S> {
    // ANCHOR: drive
    /// Moves bytes until the socket would block. With `drain` false (poll,
    /// level-triggered epoll) it makes one attempt in each direction and
    /// returns: if more could be done, the next `wait` says so again. With
    /// `drain` true (edge-triggered) it goes on until nothing moves, because
    /// no further event is coming for what is already there.
    ///
    /// An error belongs to this connection alone: the loop closes it.
    pub fn drive(&mut self, scratch: &mut [u8], drain: bool, now: Instant) -> io::Result<()> {
        loop {
            let mut progress = false;
            if self.writable && self.has_pending() {
                progress |= self.flush(now)?;
            }
            // Back-pressure: nothing new is read while the client still owes
            // us room for the last read. Its bytes wait in the kernel's
            // buffers, and when those fill, its sends block.
            if self.readable && !self.has_pending() && !self.eof {
                progress |= self.read_and_echo(scratch, now)?;
            }
            if !drain || !progress {
                return Ok(());
            }
        }
    }
    // ANCHOR_END: drive

    // ANCHOR: read_and_echo
    /// One `read` into the loop's shared scratch buffer, and the echo written
    /// at once. Only what the client is not ready to take is copied into
    /// `pending`. Returns whether anything happened.
    fn read_and_echo(&mut self, scratch: &mut [u8], now: Instant) -> io::Result<bool> {
        let n = match self.stream.read(scratch) {
            Ok(0) => {
                self.eof = true;
                return Ok(true);
            }
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                self.readable = false;
                return Ok(false);
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => return Ok(true),
            Err(err) => return Err(err),
        };
        self.last_active = now;
        let sent = if self.writable {
            let result = self.stream.write(&scratch[..n]);
            self.wrote(result, now)?
        } else {
            0
        };
        self.pending.extend_from_slice(&scratch[sent..n]);
        self.written = 0;
        Ok(true)
    }
    // ANCHOR_END: read_and_echo

    // ANCHOR: flush
    /// Writes what is pending, remembering how far we got: `write` may take
    /// only part of it (a partial write), or nothing (`WouldBlock`).
    fn flush(&mut self, now: Instant) -> io::Result<bool> {
        let result = self.stream.write(&self.pending[self.written..]);
        let n = self.wrote(result, now)?;
        self.written += n;
        if !self.has_pending() {
            // All sent: give the memory back. A connection that keeps up
            // holds no buffer at all.
            self.pending = Vec::new();
            self.written = 0;
        }
        Ok(n > 0)
    }

    /// Accounts for what a `write` did: how many bytes it took (none if the
    /// socket would block, which we remember), or the connection's error.
    fn wrote(&mut self, result: io::Result<usize>, now: Instant) -> io::Result<usize> {
        match result {
            Ok(n) => {
                self.echoed += n as u64;
                self.last_active = now;
                Ok(n)
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                self.writable = false;
                Ok(0)
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => Ok(0),
            Err(err) => Err(err),
        }
    }
    // ANCHOR_END: flush
}

// The unit tests drive a connection with a scripted socket: partial
// writes, drain or not, readiness kept until `WouldBlock`, half-close.
#[cfg(test)]
mod tests;
