//! Serving connections: turning a connection's wishes into submissions,
//! its completions into state, and closing it only when the kernel holds
//! nothing of it any more.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;

use anyhow::Result;
use io_uring::{opcode, types};

use crate::connection::{Closing, Connection};
use crate::event_loop::EventLoop;
use crate::user_data::{Op, UserData};

/// Builds an entry on the connection's socket: its slot in the registered
/// file table when it has one (`--fixed-files`), its descriptor otherwise.
macro_rules! on_socket {
    ($conn:expr, |$fd:ident| $build:expr) => {
        match $conn.fixed {
            Some(index) => {
                let $fd = types::Fixed(index);
                $build
            }
            None => {
                let $fd = types::Fd($conn.stream.as_raw_fd());
                $build
            }
        }
    };
}

fn data(op: Op, slot: usize, generation: u32) -> UserData {
    UserData {
        op,
        slot: slot as u32,
        generation,
    }
}

impl EventLoop {
    // ANCHOR: open
    /// Starts serving an accepted connection.
    pub(crate) fn open(&mut self, stream: TcpStream, peer: SocketAddr) -> Result<()> {
        self.settings.log.opened(peer);
        self.counters.accepted += 1;
        let (step, now) = (self.step, self.now);
        let slot = self.connections.insert_with(|_, generation| {
            let mut conn = Connection::new(stream, peer, step, now);
            conn.generation = generation;
            conn
        });
        if (slot as u64) < u64::from(self.file_table) {
            self.register_file(slot);
        }
        self.arm_idle_timer(slot, self.settings.idle_timeout)?;
        self.drive(slot)
    }

    /// `--fixed-files`: puts the socket in slot `slot` of the ring's file
    /// table, so that its operations skip the per-operation lookup and
    /// reference count of the descriptor. One system call per connection,
    /// none per message; if it fails, the descriptor serves as it is.
    fn register_file(&mut self, slot: usize) {
        let submitter = self.queue.ring.submitter();
        let Some(conn) = self.connections.get_mut_any(slot) else {
            return;
        };
        let fd = conn.stream.as_raw_fd();
        if let Ok(1) = submitter.register_files_update(slot as u32, &[fd]) {
            conn.fixed = Some(slot as u32);
            self.counters.fixed_files += 1;
        }
    }
    // ANCHOR_END: open

    // ANCHOR: on_connection
    /// A completion of one of a connection's operations.
    pub(crate) fn on_connection(&mut self, data: UserData, result: i32, flags: u32) -> Result<()> {
        let slot = data.slot as usize;
        // Only a connection with nothing in flight is ever removed, so the
        // connection is there; the generation check makes sure of it.
        let Some(conn) = self.connections.get_mut(slot, data.generation) else {
            return Ok(());
        };
        match data.op {
            Op::Recv => match conn.on_recv(result, flags, self.buf_ring.as_mut(), self.now) {
                Ok(outcome) => {
                    if outcome.ended {
                        self.counters.receives_ended_with_data += 1;
                    }
                    if outcome.no_buffers {
                        self.counters.no_buffers += 1;
                        self.starved.push((slot, data.generation));
                    }
                }
                Err(err) => conn.close(Closing::Error(err)),
            },
            Op::Send => match conn.on_send(result, self.buf_ring.as_mut(), self.now) {
                Ok(short) => self.counters.short_sends += u64::from(short),
                Err(err) => conn.close(Closing::Error(err)),
            },
            Op::Idle => {
                if let Some(again) = conn.on_idle(result, self.settings.idle_timeout, self.now) {
                    self.arm_idle_timer(slot, again)?;
                }
            }
            Op::CancelConnection => {
                conn.in_flight.cancels = conn.in_flight.cancels.saturating_sub(1)
            }
            _ => {}
        }
        self.drive(slot)
    }
    // ANCHOR_END: on_connection

    // ANCHOR: drive
    /// Submits what the connection wants now; or, once it is closing,
    /// cancels what it has in flight and removes it when nothing is left.
    pub(crate) fn drive(&mut self, slot: usize) -> Result<()> {
        let Some(conn) = self.connections.get_mut_any(slot) else {
            return Ok(());
        };
        if conn.is_done() {
            conn.close(Closing::Done);
        }
        if conn.is_closing() {
            return self.drive_close(slot);
        }
        let generation = conn.generation;
        let wants = conn.wants();
        if wants.cancel_recv {
            let recv = data(Op::Recv, slot, generation).encode();
            let entry = opcode::AsyncCancel::new(recv).build();
            // SAFETY: a cancellation points to no memory of ours.
            unsafe {
                self.queue
                    .submit(entry, data(Op::CancelConnection, slot, generation))
            }?;
            conn.in_flight.recv_cancelled = true;
            conn.in_flight.cancels += 1;
            self.counters.receive_cancels += 1;
        }
        if wants.recv {
            let entry = match conn.own_buffer() {
                // Step 1: into the connection's own buffer.
                Some((ptr, len)) => on_socket!(conn, |fd| opcode::Recv::new(fd, ptr, len).build()),
                // Step 3: into whichever ring buffer the kernel picks, for as
                // long as the receive lasts.
                None => {
                    let group = self.buf_ring.as_ref().map_or(0, |ring| ring.group());
                    on_socket!(conn, |fd| opcode::RecvMulti::new(fd, group).build())
                }
            };
            // SAFETY: step 1's buffer belongs to the connection, which stays
            // in the slab (its buffer unmoved, see `IoBuf`) until this
            // receive has completed: `drive_close` waits for that. Step 3's
            // buffers belong to the ring, which outlives every operation.
            unsafe { self.queue.submit(entry, data(Op::Recv, slot, generation)) }?;
            conn.in_flight.recv = true;
        }
        if let Some((source, len)) = wants.send {
            let Some(ptr) = conn.send_ptr(source, self.buf_ring.as_ref()) else {
                conn.close(Closing::Error(io::Error::other("no buffer to send from")));
                return self.drive_close(slot);
            };
            let len = len as u32;
            let entry = on_socket!(conn, |fd| opcode::Send::new(fd, ptr, len)
                .flags(libc::MSG_NOSIGNAL)
                .build());
            // SAFETY: the bytes stay where they are, unchanged, until the send
            // completes: no receive writes into them meanwhile (`wants` asks
            // for none into a buffer with bytes pending), and the buffer is
            // freed or given back to the ring only after this completion.
            unsafe { self.queue.submit(entry, data(Op::Send, slot, generation)) }?;
            conn.in_flight.send = Some(len as usize);
        }
        Ok(())
    }
    // ANCHOR_END: drive

    // ANCHOR: close
    /// A closing connection: cancel its receive and send (one cancellation
    /// for every operation on the socket) and its idle timer, then wait.
    /// The socket is closed and the buffers freed only in `remove`, once
    /// the last completion has come in.
    fn drive_close(&mut self, slot: usize) -> Result<()> {
        let Some(conn) = self.connections.get_mut_any(slot) else {
            return Ok(());
        };
        let generation = conn.generation;
        let flight = conn.in_flight;
        if (flight.recv || flight.send.is_some()) && !flight.io_cancelled {
            let entry = on_socket!(conn, |fd| opcode::AsyncCancel2::new(
                types::CancelBuilder::fd(fd).all()
            )
            .build());
            // SAFETY: a cancellation points to no memory of ours.
            unsafe {
                self.queue
                    .submit(entry, data(Op::CancelConnection, slot, generation))
            }?;
            conn.in_flight.io_cancelled = true;
            conn.in_flight.cancels += 1;
        }
        if flight.idle_timer && !flight.timer_cancelled {
            let timer = data(Op::Idle, slot, generation).encode();
            let entry = opcode::AsyncCancel::new(timer).build();
            // SAFETY: as above.
            unsafe {
                self.queue
                    .submit(entry, data(Op::CancelConnection, slot, generation))
            }?;
            conn.in_flight.timer_cancelled = true;
            conn.in_flight.cancels += 1;
        }
        if conn.in_flight.is_empty() {
            self.remove(slot);
        }
        Ok(())
    }

    fn remove(&mut self, slot: usize) {
        let Some(mut conn) = self.connections.remove(slot) else {
            return;
        };
        conn.release_buffers(self.buf_ring.as_mut());
        if let Some(index) = conn.fixed {
            // The table holds a reference to the socket: without this, the
            // socket would stay open after its descriptor is closed.
            let _ = self
                .queue
                .ring
                .submitter()
                .register_files_update(index, &[-1]);
        }
        let result = conn.take_result();
        let peer = conn.peer;
        drop(conn); // closes the socket
        self.counters.closed += 1;
        self.settings.log.closed(peer, &result);
    }
    // ANCHOR_END: close

    /// Closes every connection (the grace period is over).
    pub(crate) fn close_all(&mut self, why: &str) -> Result<()> {
        for slot in self.connections.slots() {
            if let Some(conn) = self.connections.get_mut_any(slot) {
                conn.close(Closing::Error(io::Error::other(why.to_string())));
            }
            self.drive(slot)?;
        }
        Ok(())
    }

    /// Arms (or re-arms) the connection's idle timer to fire in `after`.
    fn arm_idle_timer(&mut self, slot: usize, after: std::time::Duration) -> Result<()> {
        // A timeout too long to represent (centuries) never fires.
        if self.now.checked_add(after).is_none() || i64::try_from(after.as_secs()).is_err() {
            return Ok(());
        }
        let Some(conn) = self.connections.get_mut_any(slot) else {
            return Ok(());
        };
        if conn.is_closing() || conn.in_flight.idle_timer {
            return Ok(());
        }
        // SAFETY: no timer of this connection is in flight (checked above),
        // so the kernel is not reading the timespec.
        unsafe { conn.idle_timespec.set(types::Timespec::from(after)) };
        let entry = opcode::Timeout::new(conn.idle_timespec.as_ptr()).build();
        let generation = conn.generation;
        // SAFETY: the timespec lives in the connection, which outlives the
        // timer (`drive_close` cancels it and waits for its completion).
        unsafe { self.queue.submit(entry, data(Op::Idle, slot, generation)) }?;
        conn.in_flight.idle_timer = true;
        Ok(())
    }

    /// Step 3: connections whose receive ended with `ENOBUFS` get a new
    /// one once the ring has buffers again.
    pub(crate) fn feed_starved(&mut self) -> Result<()> {
        let available = self.buf_ring.as_ref().map_or(0, |ring| ring.available());
        if available == 0 || self.starved.is_empty() {
            return Ok(());
        }
        for (slot, generation) in std::mem::take(&mut self.starved) {
            if let Some(conn) = self.connections.get_mut(slot, generation) {
                conn.set_starved(false);
                self.drive(slot)?;
            }
        }
        Ok(())
    }

    /// Serves connections accepted over the cap, as slots free up.
    pub(crate) fn unpark(&mut self) -> Result<()> {
        while self.shutdown.is_none() && self.connections.len() < self.settings.max_connections {
            let Some(stream) = self.parked.pop_front() else {
                break;
            };
            self.start(stream)?;
        }
        Ok(())
    }

    /// Serves an accepted socket, if it is still connected.
    pub(crate) fn start(&mut self, stream: TcpStream) -> Result<()> {
        match stream.peer_addr() {
            Ok(peer) => self.open(stream, peer),
            // Reset before we got to it: nothing to serve.
            Err(err) => {
                self.settings
                    .log
                    .server(format_args!("accepted a connection already gone: {err}"));
                Ok(())
            }
        }
    }
}
