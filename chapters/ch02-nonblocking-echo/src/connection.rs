//! One connection as an explicit state machine.
//!
//! A blocking echo keeps its progress on the thread's stack: "I read 5
//! bytes, now I am inside `write_all` for them". A non-blocking echo returns
//! to the loop after every call, so that progress must live in a value the
//! loop keeps: which bytes we hold, how many of them went back, and whether
//! the peer will send more.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

/// How many bytes a connection may hold that it has read and not yet written
/// back. It is all the memory a connection costs beyond its socket: while
/// it is full we read nothing more.
pub const BUF_SIZE: usize = 8 * 1024;

// ANCHOR: connection
/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Reading whenever the buffer has room, writing whenever it holds
    /// something.
    Echoing,
    /// The peer half-closed (`read` returned 0): read nothing more, write
    /// back what is left, then close.
    Draining,
}

/// The echo of one connection, advanced a step at a time by the loop.
pub struct Connection<S> {
    stream: S,
    phase: Phase,
    /// `buf[..filled]` came from the peer ...
    buf: Box<[u8]>,
    filled: usize,
    /// ... and `buf[..written]` of that has gone back.
    written: usize,
    /// Total bytes echoed, for the log.
    echoed: u64,
    /// When a byte last moved in either direction, for `--idle-timeout`.
    last_moved: Instant,
}

/// What one call to [`Connection::advance`] achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Bytes moved (or the peer half-closed): worth coming back soon.
    Moved,
    /// Every call said `WouldBlock`: nothing to do until the peer acts.
    Waiting,
    /// The peer half-closed and has everything back: close the socket.
    Done,
}
// ANCHOR_END: connection

impl<S: Read + Write> Connection<S> {
    pub fn new(stream: S, now: Instant) -> Self {
        Connection {
            stream,
            phase: Phase::Echoing,
            buf: vec![0; BUF_SIZE].into_boxed_slice(),
            filled: 0,
            written: 0,
            echoed: 0,
            last_moved: now,
        }
    }

    /// Bytes echoed so far.
    pub fn echoed(&self) -> u64 {
        self.echoed
    }

    /// How long since a byte last moved either way.
    pub fn idle_for(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.last_moved)
    }

    // ANCHOR: advance
    /// Tries one read and one write, neither of which may block. An error
    /// means the connection is broken (reset, broken pipe): close it.
    pub fn advance(&mut self, now: Instant) -> io::Result<Step> {
        let mut moved = false;

        // Read only while the buffer has room: a peer that sends faster
        // than it reads fills it, and then its bytes stay in the kernel's
        // buffers, which fill too, and its sends stall. Back-pressure.
        if self.phase == Phase::Echoing && self.filled < self.buf.len() {
            match self.stream.read(&mut self.buf[self.filled..]) {
                Ok(0) => {
                    self.phase = Phase::Draining;
                    moved = true;
                }
                Ok(n) => {
                    self.filled += n;
                    moved = true;
                }
                Err(err) if try_again_later(&err) => {}
                Err(err) => return Err(err),
            }
        }

        // Write what we hold and have not yet written: perhaps only part of
        // it goes, and `written` remembers where the next try starts.
        if self.written < self.filled {
            match self.stream.write(&self.buf[self.written..self.filled]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.written += n;
                    self.echoed += n as u64;
                    moved = true;
                }
                Err(err) if try_again_later(&err) => {}
                Err(err) => return Err(err),
            }
        }
        // All of it went back: the whole buffer is free again.
        if self.written == self.filled {
            self.filled = 0;
            self.written = 0;
        }

        if self.phase == Phase::Draining && self.filled == 0 {
            return Ok(Step::Done);
        }
        if moved {
            self.last_moved = now;
            Ok(Step::Moved)
        } else {
            Ok(Step::Waiting)
        }
    }
    // ANCHOR_END: advance
}

// ANCHOR: try_again_later
/// `WouldBlock`: the socket is not ready; `Interrupted`: a signal arrived
/// during the call. Either way nothing happened, and the next pass of the
/// loop tries again.
pub fn try_again_later(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}
// ANCHOR_END: try_again_later

#[cfg(test)]
mod tests {
    use echo_conformance::scripted::script;

    use super::*;

    // ANCHOR: write_all_loses_count
    /// Why we keep `written` ourselves: the kernel takes "hello", then its
    /// buffer is full. `write_all` returns `WouldBlock`, and nothing tells
    /// us that five bytes went. Retrying later sends them twice.
    #[test]
    fn write_all_on_a_non_blocking_socket_loses_count() {
        let mut socket = script(vec![], vec![5, 0, 64]);
        let message = b"hello world";

        let err = socket.write_all(message).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        // Later the socket is writable again; all we can do is start over.
        socket.write_all(message).unwrap();

        assert_eq!(socket.sent, b"hellohello world");
    }
    // ANCHOR_END: write_all_loses_count

    #[test]
    fn partial_writes_resume_where_they_stopped() {
        let now = Instant::now();
        let stream = script(vec![Ok(b"hello world".to_vec())], vec![5, 0, 64]);
        let mut conn = Connection::new(stream, now);

        assert_eq!(conn.advance(now).unwrap(), Step::Moved); // read 11, wrote 5
        assert_eq!(conn.advance(now).unwrap(), Step::Waiting); // write: WouldBlock
        assert_eq!(conn.advance(now).unwrap(), Step::Moved); // wrote the other 6
        assert_eq!(conn.stream.sent, b"hello world");
        assert_eq!(conn.echoed(), 11);
    }

    #[test]
    fn a_full_buffer_stops_reading() {
        let now = Instant::now();
        // The peer has twice the buffer to send and reads nothing back.
        let stream = script(vec![Ok(vec![7; 2 * BUF_SIZE])], vec![]);
        let mut conn = Connection::new(stream, now);

        assert_eq!(conn.advance(now).unwrap(), Step::Moved);
        for _ in 0..10 {
            assert_eq!(conn.advance(now).unwrap(), Step::Waiting);
        }
        // One read filled the buffer; no read was tried after that.
        assert_eq!(conn.stream.read_calls, 1);
        assert_eq!(conn.filled, BUF_SIZE);

        // The peer reads: the buffer empties, and reading resumes.
        conn.stream.write_room.extend([BUF_SIZE, BUF_SIZE]);
        assert_eq!(conn.advance(now).unwrap(), Step::Moved);
        assert_eq!(conn.advance(now).unwrap(), Step::Moved);
        assert_eq!(conn.stream.read_calls, 2);
        assert_eq!(conn.stream.sent.len(), 2 * BUF_SIZE);
    }

    #[test]
    fn half_close_sends_back_what_is_pending_then_finishes() {
        let now = Instant::now();
        let stream = script(vec![Ok(b"bye".to_vec()), Ok(vec![])], vec![0, 1, 0, 64]);
        let mut conn = Connection::new(stream, now);

        assert_eq!(conn.advance(now).unwrap(), Step::Moved); // read "bye", write blocked
        assert_eq!(conn.advance(now).unwrap(), Step::Moved); // EOF; wrote "b"
        assert_eq!(conn.phase, Phase::Draining);
        assert_eq!(conn.advance(now).unwrap(), Step::Waiting); // write blocked
        assert_eq!(conn.advance(now).unwrap(), Step::Done); // wrote "ye"
        assert_eq!(conn.stream.sent, b"bye");
        // Draining reads nothing more: two reads, the data and the EOF.
        assert_eq!(conn.stream.read_calls, 2);
    }

    #[test]
    fn interrupted_calls_are_retried_not_fatal() {
        let now = Instant::now();
        let stream = script(
            vec![Err(io::ErrorKind::Interrupted.into()), Ok(b"x".to_vec())],
            vec![64],
        );
        let mut conn = Connection::new(stream, now);
        assert_eq!(conn.advance(now).unwrap(), Step::Waiting);
        assert_eq!(conn.advance(now).unwrap(), Step::Moved);
        assert_eq!(conn.stream.sent, b"x");
    }

    #[test]
    fn a_reset_is_an_error() {
        let now = Instant::now();
        let stream = script(vec![Err(io::ErrorKind::ConnectionReset.into())], vec![]);
        let mut conn = Connection::new(stream, now);
        let err = conn.advance(now).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
    }

    #[test]
    fn idle_time_counts_from_the_last_byte_moved() {
        let start = Instant::now();
        let later = start + Duration::from_secs(7);
        let stream = script(vec![Ok(b"x".to_vec())], vec![64]);
        let mut conn = Connection::new(stream, start);

        assert_eq!(conn.advance(later).unwrap(), Step::Moved);
        assert_eq!(conn.idle_for(later), Duration::ZERO);
        let much_later = later + Duration::from_secs(3);
        assert_eq!(conn.advance(much_later).unwrap(), Step::Waiting);
        assert_eq!(conn.idle_for(much_later), Duration::from_secs(3));
    }
}
