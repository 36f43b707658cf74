//! Ctrl-C and SIGTERM as just another readable descriptor.
//!
//! A signal handler interrupts whatever the thread was doing, so it may do
//! almost nothing safely: not allocate, not lock, not touch the loop's
//! state. The classic way out is the *self-pipe*: the handler writes one
//! byte into a socket pair whose other end the event loop watches like any
//! client. The signal then arrives through `poll`/`epoll_wait`, in order
//! with everything else, and the loop handles it in ordinary code.

use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;

use signal_hook::consts::{SIGINT, SIGTERM};

// ANCHOR: install
pub struct Signals {
    /// The end the loop reads: one byte per signal.
    pipe: UnixStream,
}

impl Signals {
    /// From now on, every SIGINT and SIGTERM writes a byte into the pipe
    /// instead of killing the process: the first and the second alike, so
    /// that the loop decides what each one means.
    pub fn install() -> io::Result<Signals> {
        let (pipe, handler_end) = UnixStream::pair()?;
        pipe.set_nonblocking(true)?;
        for signal in [SIGINT, SIGTERM] {
            signal_hook::low_level::pipe::register(signal, handler_end.try_clone()?)?;
        }
        Ok(Signals { pipe })
    }

    /// Reads everything the handler wrote. Returns how many signals arrived
    /// (signals that came while the pipe was full are merged; one is enough).
    pub fn take(&mut self) -> io::Result<usize> {
        let mut count = 0;
        let mut buf = [0u8; 64];
        loop {
            match self.pipe.read(&mut buf) {
                Ok(0) => return Ok(count),
                Ok(n) => count += n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(count),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
    }
}
// ANCHOR_END: install

impl AsFd for Signals {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.pipe.as_fd()
    }
}
