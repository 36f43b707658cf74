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
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use signal_hook::consts::{SIGINT, SIGTERM};

// ANCHOR: install
pub struct Signals {
    /// The end the loop reads: one byte per signal.
    pipe: UnixStream,
    /// Set once shutdown has begun: then the handler does what the signal
    /// does by default (terminate the process) instead of writing a byte.
    armed: Arc<AtomicBool>,
}

impl Signals {
    pub fn install() -> io::Result<Signals> {
        let (pipe, handler_end) = UnixStream::pair()?;
        pipe.set_nonblocking(true)?;
        let armed = Arc::new(AtomicBool::new(false));
        for signal in [SIGINT, SIGTERM] {
            // signal-hook runs a signal's actions in the order registered,
            // so an armed handler terminates before it writes.
            signal_hook::flag::register_conditional_default(signal, Arc::clone(&armed))?;
            signal_hook::low_level::pipe::register(signal, handler_end.try_clone()?)?;
        }
        Ok(Signals { pipe, armed })
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

    /// From now on, SIGINT or SIGTERM ends the process at once, from inside
    /// the handler: the "second Ctrl-C" needs no help from the loop.
    pub fn arm_second_signal(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }
}
// ANCHOR_END: install

impl AsFd for Signals {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.pipe.as_fd()
    }
}
