//! One client connection: the bytes it has received and not yet sent
//! back, and which of its operations the kernel holds right now.
//!
//! Chapter 3's connection tracked what the loop *believed about the
//! socket* (readable? writable?). A completion-based connection tracks
//! *what it has asked for*: a receive in flight, a send in flight, an idle
//! timer armed, cancellations requested. That bookkeeping is what makes
//! closing safe: the socket and the buffers go only when none is left.
//!
//! Nothing here talks to the kernel. The event loop submits what
//! [`Connection::wants`] says, reports each completion back through
//! `on_recv`, `on_send` and `on_idle`, and the tests below do the same with
//! scripted completions.

use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use io_uring::cqueue;
use io_uring::types::Timespec;

use crate::buf::{IoBuf, KernelCell};
use crate::buf_ring::BufRing;

/// Step 1's buffer: one per connection, the receive's and then the send's.
pub const OWN_BUFFER_SIZE: usize = 16 * 1024;

/// Step 3: how many ring buffers of received bytes a connection may hold
/// before its multishot receive is cancelled (back-pressure). 16 buffers of
/// 4 KiB: the 64 KiB chapter 3 read at a time.
pub const MAX_HELD_BUFFERS: usize = 16;

/// How the connection receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Steps 1 and 2: one-shot receives into the connection's own buffer.
    Single,
    /// Step 3: one multishot receive, bytes in buffers from the ring.
    Multishot,
}

// ANCHOR: state
pub struct Connection {
    pub stream: TcpStream,
    /// The connection's slot in the ring's registered file table, if it
    /// has one (`--fixed-files`).
    pub fixed: Option<u32>,
    pub peer: SocketAddr,
    /// Tells this connection's completions apart from those of the slot's
    /// earlier occupants.
    pub generation: u32,
    pub echoed: u64,
    pub last_active: Instant,
    received: Received,
    /// The client half-closed: no more bytes will come.
    eof: bool,
    /// Set once closing has begun: why, for the log.
    closing: Option<Closing>,
    pub in_flight: InFlight,
    /// What the idle timer's submission points to: the kernel reads it
    /// when it takes the submission, which with `--sqpoll` happens some
    /// time after we queue it.
    pub idle_timespec: KernelCell<Timespec>,
}

/// Bytes received and not yet echoed, and where they are.
enum Received {
    /// Step 1: `buf[sent..filled]` is still to be sent. A receive is
    /// submitted only when all of it has been: the back-pressure.
    Own {
        buf: IoBuf,
        filled: usize,
        sent: usize,
    },
    /// Step 3: ring buffers, in the order their bytes arrived.
    Ring {
        held: VecDeque<Chunk>,
        /// The last receive ended with `ENOBUFS`: waiting for the ring to
        /// have a buffer again.
        starved: bool,
    },
}

/// Bytes `sent..len` of ring buffer `id` are still to be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Chunk {
    id: u16,
    len: usize,
    sent: usize,
}

/// The connection's operations that the kernel holds. Each one's
/// completion is still to come; until every field is clear, the socket
/// must stay open and the buffers allocated.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct InFlight {
    pub recv: bool,
    /// How many bytes the send in flight was asked to send.
    pub send: Option<usize>,
    pub idle_timer: bool,
    /// Cancellations submitted and not yet completed.
    pub cancels: u8,
    pub recv_cancelled: bool,
    pub io_cancelled: bool,
    pub timer_cancelled: bool,
}

impl InFlight {
    pub fn is_empty(&self) -> bool {
        !self.recv && self.send.is_none() && !self.idle_timer && self.cancels == 0
    }
}
// ANCHOR_END: state

/// Why a connection is closing.
#[derive(Debug)]
pub enum Closing {
    /// The client half-closed and has every byte back.
    Done,
    /// An error, or the server's decision (idle, grace period over).
    Error(io::Error),
}

/// What the connection wants submitted next.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Wants {
    pub recv: bool,
    /// Send `len` bytes starting at this source.
    pub send: Option<(Source, usize)>,
    /// Step 3 back-pressure: cancel the multishot receive.
    pub cancel_recv: bool,
}

/// Where the bytes of a send are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The connection's own buffer, from this offset.
    Own(usize),
    /// A ring buffer, from this offset.
    Ring(u16, usize),
}

/// What a receive completion did, for the loop's counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RecvOutcome {
    pub bytes: usize,
    /// A multishot receive ended (no `IORING_CQE_F_MORE`) although the
    /// connection still wants bytes: it must be submitted again.
    pub ended: bool,
    pub no_buffers: bool,
}

impl Connection {
    pub fn new(stream: TcpStream, peer: SocketAddr, step: Step, now: Instant) -> Connection {
        let received = match step {
            Step::Single => Received::Own {
                buf: IoBuf::new(OWN_BUFFER_SIZE),
                filled: 0,
                sent: 0,
            },
            Step::Multishot => Received::Ring {
                held: VecDeque::new(),
                starved: false,
            },
        };
        Connection {
            stream,
            fixed: None,
            peer,
            generation: 0,
            echoed: 0,
            last_active: now,
            received,
            eof: false,
            closing: None,
            in_flight: InFlight::default(),
            idle_timespec: KernelCell::new(Timespec::new()),
        }
    }

    pub fn is_closing(&self) -> bool {
        self.closing.is_some()
    }

    /// Starts closing (the first reason counts): nothing new is submitted,
    /// and what is in flight gets cancelled.
    pub fn close(&mut self, why: Closing) {
        if self.closing.is_none() {
            self.closing = Some(why);
        }
    }

    /// Once nothing is in flight: the result the log reports.
    pub fn take_result(&mut self) -> io::Result<u64> {
        match self.closing.take() {
            Some(Closing::Error(err)) => Err(err),
            Some(Closing::Done) | None => Ok(self.echoed),
        }
    }

    /// True once the client half-closed and has every byte back.
    pub fn is_done(&self) -> bool {
        self.eof && !self.has_pending() && !self.in_flight.recv
    }

    pub fn set_starved(&mut self, value: bool) {
        if let Received::Ring { starved, .. } = &mut self.received {
            *starved = value;
        }
    }

    fn has_pending(&self) -> bool {
        match &self.received {
            Received::Own { filled, sent, .. } => sent < filled,
            Received::Ring { held, .. } => !held.is_empty(),
        }
    }

    // ANCHOR: wants
    /// What to submit now. One send at a time, so the bytes go out in
    /// order; and no new receive while bytes wait to be sent (step 1), or
    /// while the connection holds [`MAX_HELD_BUFFERS`] (step 3): a client
    /// that does not read gets back-pressure, not a growing queue.
    pub fn wants(&self) -> Wants {
        if self.closing.is_some() {
            return Wants::default();
        }
        let pending = match &self.received {
            Received::Own { filled, sent, .. } => {
                (sent < filled).then(|| (Source::Own(*sent), filled - sent))
            }
            Received::Ring { held, .. } => held
                .front()
                .map(|chunk| (Source::Ring(chunk.id, chunk.sent), chunk.len - chunk.sent)),
        };
        let room = match &self.received {
            Received::Own { .. } => pending.is_none(),
            Received::Ring { held, starved } => held.len() < MAX_HELD_BUFFERS && !starved,
        };
        let too_many =
            matches!(&self.received, Received::Ring { held, .. } if held.len() >= MAX_HELD_BUFFERS);
        Wants {
            recv: !self.eof && room && !self.in_flight.recv,
            send: pending.filter(|_| self.in_flight.send.is_none()),
            cancel_recv: too_many && self.in_flight.recv && !self.in_flight.recv_cancelled,
        }
    }
    // ANCHOR_END: wants

    /// Where a one-shot receive writes, and how much: the connection's own
    /// buffer (step 1). `None` for step 3, whose receives pick ring buffers.
    pub fn own_buffer(&mut self) -> Option<(*mut u8, u32)> {
        match &mut self.received {
            Received::Own { buf, .. } => Some((buf.as_mut_ptr(), buf.len() as u32)),
            Received::Ring { .. } => None,
        }
    }

    /// The address of the bytes a send from `source` reads.
    pub fn send_ptr(&self, source: Source, ring: Option<&BufRing>) -> Option<*const u8> {
        match (source, &self.received, ring) {
            (Source::Own(offset), Received::Own { buf, .. }, _) if offset <= buf.len() => {
                // SAFETY: `offset` is inside the allocation (checked).
                Some(unsafe { buf.as_ptr().add(offset) })
            }
            (Source::Ring(id, offset), Received::Ring { .. }, Some(ring)) => {
                Some(ring.ptr(id, offset))
            }
            _ => None,
        }
    }

    // ANCHOR: on_recv
    /// A receive completed with `result` (bytes, 0 for end of stream, or a
    /// negated errno) and `flags`. An `Err` is the connection's own error:
    /// the loop closes it.
    pub fn on_recv(
        &mut self,
        result: i32,
        flags: u32,
        ring: Option<&mut BufRing>,
        now: Instant,
    ) -> io::Result<RecvOutcome> {
        let more = cqueue::more(flags);
        if !more {
            self.in_flight.recv = false;
            self.in_flight.recv_cancelled = false;
        }
        let mut outcome = RecvOutcome::default();
        let buffer = cqueue::buffer_select(flags);
        match &mut self.received {
            Received::Own { filled, sent, .. } if result > 0 => {
                *filled = result as usize;
                *sent = 0;
            }
            Received::Ring { held, .. } if result > 0 => {
                let (Some(id), Some(ring)) = (buffer, ring) else {
                    return Err(io::Error::other("a receive completed without a buffer"));
                };
                ring.taken(id);
                held.push_back(Chunk {
                    id,
                    len: result as usize,
                    sent: 0,
                });
            }
            Received::Ring { starved, .. } if -result == libc::ENOBUFS => {
                *starved = true;
                outcome.no_buffers = true;
            }
            _ => {}
        }
        match result {
            1.. => {
                outcome.bytes = result as usize;
                self.last_active = now;
            }
            0 => self.eof = true,
            // Ours: back-pressure cancelled it, or closing did.
            _ if -result == libc::ECANCELED => {}
            // Handled above; the loop re-arms once a buffer is back.
            _ if -result == libc::ENOBUFS => {}
            _ if -result == libc::EINTR || -result == libc::EAGAIN => {}
            _ => return Err(io::Error::from_raw_os_error(-result)),
        }
        outcome.ended = !more && result > 0 && matches!(self.received, Received::Ring { .. });
        Ok(outcome)
    }
    // ANCHOR_END: on_recv

    // ANCHOR: on_send
    /// A send completed. A short send (fewer bytes than asked) leaves the
    /// rest pending, and [`Connection::wants`] asks for it next. Returns
    /// whether the send was short. Buffers fully sent go back to the ring.
    pub fn on_send(
        &mut self,
        result: i32,
        ring: Option<&mut BufRing>,
        now: Instant,
    ) -> io::Result<bool> {
        let asked = self.in_flight.send.take().unwrap_or(0);
        if result < 0 {
            return match -result {
                libc::ECANCELED | libc::EINTR | libc::EAGAIN => Ok(false),
                errno => Err(io::Error::from_raw_os_error(errno)),
            };
        }
        let n = result as usize;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "the send made no progress",
            ));
        }
        self.echoed += n as u64;
        self.last_active = now;
        match &mut self.received {
            Received::Own { filled, sent, .. } => {
                *sent = (*sent + n).min(*filled);
            }
            Received::Ring { held, .. } => {
                if let Some(chunk) = held.front_mut() {
                    chunk.sent = (chunk.sent + n).min(chunk.len);
                    if chunk.sent == chunk.len {
                        let id = chunk.id;
                        held.pop_front();
                        if let Some(ring) = ring {
                            ring.put(id);
                        }
                    }
                }
            }
        }
        Ok(n < asked)
    }
    // ANCHOR_END: on_send

    // ANCHOR: on_idle
    /// The idle timer fired (`-ETIME`) or was cancelled. Returns how long
    /// to arm it again for, or closes the connection if no byte has moved
    /// for the whole `timeout`.
    pub fn on_idle(&mut self, result: i32, timeout: Duration, now: Instant) -> Option<Duration> {
        self.in_flight.idle_timer = false;
        if result == -libc::ECANCELED || self.closing.is_some() {
            return None;
        }
        let idle_for = now.saturating_duration_since(self.last_active);
        if idle_for >= timeout {
            self.close(Closing::Error(echo_common::idle_timeout_error(timeout)));
            None
        } else {
            Some(timeout - idle_for)
        }
    }
    // ANCHOR_END: on_idle

    /// Gives back every ring buffer still held, when the connection goes.
    pub fn release_buffers(&mut self, ring: Option<&mut BufRing>) {
        if let (Received::Ring { held, .. }, Some(ring)) = (&mut self.received, ring) {
            for chunk in held.drain(..) {
                ring.put(chunk.id);
            }
        }
    }

    /// The unsent bytes of the own buffer, for tests.
    #[cfg(test)]
    fn pending_bytes(&self) -> Vec<u8> {
        match &self.received {
            // SAFETY: the tests call this with no receive in flight.
            Received::Own { buf, filled, sent } => unsafe { buf.bytes(*sent, *filled) }.to_vec(),
            Received::Ring { .. } => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A connected socket, for a connection that never touches it.
    fn stream() -> (TcpStream, SocketAddr) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let peer = client.local_addr().unwrap();
        (client, peer)
    }

    fn connection(step: Step) -> Connection {
        let (stream, peer) = stream();
        Connection::new(stream, peer, step, Instant::now())
    }

    const MORE: u32 = io_uring_flags::MORE;

    /// The completion flags this module reads, spelled out for scripts.
    mod io_uring_flags {
        pub const MORE: u32 = 1 << 1;
        pub const BUFFER: u32 = 1 << 0;
        pub fn buffer(id: u16) -> u32 {
            BUFFER | (u32::from(id) << 16)
        }
    }

    #[test]
    fn step_1_alternates_one_receive_and_the_sends_of_what_it_got() {
        let mut conn = connection(Step::Single);
        let now = Instant::now();
        assert!(conn.wants().recv);
        conn.in_flight.recv = true;
        assert_eq!(
            conn.wants(),
            Wants::default(),
            "nothing more while receiving"
        );

        // Write what the kernel would have, then complete the receive.
        let (ptr, _) = conn.own_buffer().unwrap();
        // SAFETY: no operation is really in flight on the buffer.
        unsafe { ptr.copy_from(b"hello".as_ptr(), 5) };
        conn.on_recv(5, 0, None, now).unwrap();
        assert_eq!(conn.pending_bytes(), b"hello");
        let wants = conn.wants();
        assert_eq!(wants.send, Some((Source::Own(0), 5)));
        assert!(!wants.recv, "no receive while bytes are pending");

        conn.in_flight.send = Some(5);
        let short = conn.on_send(2, None, now).unwrap();
        assert!(short, "2 of 5 is a short send");
        assert_eq!(
            conn.wants().send,
            Some((Source::Own(2), 3)),
            "the rest, next"
        );
        conn.in_flight.send = Some(3);
        assert!(!conn.on_send(3, None, now).unwrap());
        assert_eq!(conn.echoed, 5);
        assert!(conn.wants().recv, "all sent: receive again");
    }

    #[test]
    fn end_of_stream_with_bytes_pending_closes_only_after_they_are_sent() {
        let mut conn = connection(Step::Single);
        let now = Instant::now();
        conn.in_flight.recv = true;
        conn.on_recv(3, 0, None, now).unwrap();
        conn.in_flight.send = Some(3);
        conn.in_flight.recv = true; // not in step 1; checks `is_done` waits
        conn.on_recv(0, 0, None, now).unwrap();
        assert!(!conn.is_done(), "a send is still in flight");
        conn.on_send(3, None, now).unwrap();
        assert!(conn.is_done());
        assert!(!conn.wants().recv, "no receive after end of stream");
    }

    #[test]
    fn errors_are_the_connections_and_cancellations_are_ours() {
        let mut conn = connection(Step::Single);
        let now = Instant::now();
        conn.in_flight.recv = true;
        assert!(conn.on_recv(-libc::ECANCELED, 0, None, now).is_ok());
        conn.in_flight.recv = true;
        let err = conn.on_recv(-libc::ECONNRESET, 0, None, now).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
        conn.in_flight.send = Some(1);
        let err = conn.on_send(-libc::EPIPE, None, now).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        assert!(conn.in_flight.is_empty());
    }

    #[test]
    fn closing_waits_for_every_operation_in_flight() {
        let mut conn = connection(Step::Single);
        conn.in_flight.recv = true;
        conn.in_flight.idle_timer = true;
        conn.close(Closing::Error(io::Error::other("test")));
        assert_eq!(conn.wants(), Wants::default(), "nothing new once closing");
        assert!(!conn.in_flight.is_empty());
        conn.on_recv(-libc::ECANCELED, 0, None, Instant::now())
            .unwrap();
        assert!(!conn.in_flight.is_empty(), "the timer is still armed");
        conn.on_idle(-libc::ECANCELED, Duration::from_secs(1), Instant::now());
        assert!(conn.in_flight.is_empty());
        assert!(conn.take_result().is_err());
    }

    #[test]
    fn step_3_holds_ring_buffers_in_order_and_gives_them_back_when_sent() {
        let mut ring = BufRing::new(4, 8, 0).unwrap();
        let mut conn = connection(Step::Multishot);
        let now = Instant::now();
        conn.in_flight.recv = true;
        // Two completions of one multishot receive, in buffers 2 then 0.
        let first = conn
            .on_recv(8, MORE | io_uring_flags::buffer(2), Some(&mut ring), now)
            .unwrap();
        assert_eq!((first.bytes, first.ended), (8, false));
        conn.on_recv(5, MORE | io_uring_flags::buffer(0), Some(&mut ring), now)
            .unwrap();
        assert_eq!(ring.available(), 2);
        assert!(conn.in_flight.recv, "still armed: F_MORE was set");
        assert_eq!(conn.wants().send, Some((Source::Ring(2, 0), 8)));

        conn.in_flight.send = Some(8);
        conn.on_send(8, Some(&mut ring), now).unwrap();
        assert_eq!(ring.available(), 3, "buffer 2 went back");
        assert_eq!(conn.wants().send, Some((Source::Ring(0, 0), 5)));
    }

    #[test]
    fn step_3_rearms_a_receive_that_ended_without_f_more() {
        let mut ring = BufRing::new(4, 8, 0).unwrap();
        let mut conn = connection(Step::Multishot);
        conn.in_flight.recv = true;
        let outcome = conn
            .on_recv(
                4,
                io_uring_flags::buffer(1),
                Some(&mut ring),
                Instant::now(),
            )
            .unwrap();
        assert!(outcome.ended, "data, but the receive is over");
        assert!(conn.wants().recv, "so it is submitted again");
    }

    #[test]
    fn step_3_waits_for_buffers_after_enobufs() {
        let mut conn = connection(Step::Multishot);
        conn.in_flight.recv = true;
        let outcome = conn
            .on_recv(-libc::ENOBUFS, 0, None, Instant::now())
            .unwrap();
        assert!(outcome.no_buffers);
        assert!(!conn.wants().recv, "not while the ring is empty");
        conn.set_starved(false);
        assert!(conn.wants().recv, "the loop says a buffer is back");
    }

    #[test]
    fn step_3_cancels_its_receive_when_it_holds_too_much() {
        let mut ring = BufRing::new(32, 8, 0).unwrap();
        let mut conn = connection(Step::Multishot);
        let now = Instant::now();
        conn.in_flight.recv = true;
        conn.in_flight.send = Some(8); // a client that does not read
        for id in 0..MAX_HELD_BUFFERS as u16 {
            conn.on_recv(8, MORE | io_uring_flags::buffer(id), Some(&mut ring), now)
                .unwrap();
        }
        let wants = conn.wants();
        assert!(wants.cancel_recv && !wants.recv);
        conn.in_flight.recv_cancelled = true;
        // A completion that raced the cancellation still carries bytes:
        // they are kept, not dropped.
        conn.on_recv(8, MORE | io_uring_flags::buffer(20), Some(&mut ring), now)
            .unwrap();
        conn.on_recv(-libc::ECANCELED, 0, Some(&mut ring), now)
            .unwrap();
        assert!(!conn.in_flight.recv);
        assert_eq!(ring.available(), 32 - MAX_HELD_BUFFERS as u16 - 1);
        conn.release_buffers(Some(&mut ring));
        assert_eq!(ring.available(), 32, "every buffer back when it goes");
    }

    #[test]
    fn the_idle_timer_closes_only_a_connection_idle_for_the_whole_timeout() {
        let mut conn = connection(Step::Single);
        let start = conn.last_active;
        let timeout = Duration::from_secs(10);
        conn.in_flight.idle_timer = true;
        // Active 4 s in: the timer fires at 10 s and is armed for 4 s more.
        conn.last_active = start + Duration::from_secs(4);
        let again = conn.on_idle(-libc::ETIME, timeout, start + timeout);
        assert_eq!(again, Some(Duration::from_secs(4)));
        assert!(!conn.is_closing());
        conn.in_flight.idle_timer = true;
        let again = conn.on_idle(-libc::ETIME, timeout, start + Duration::from_secs(14));
        assert_eq!(again, None);
        let err = conn.take_result().unwrap_err();
        assert!(err.to_string().starts_with("idle timeout"), "{err}");
    }
}
