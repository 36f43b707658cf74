//! Ctrl-C and SIGTERM as completions.
//!
//! Chapter 3 turned a signal into a readable descriptor with a self-pipe
//! written by a handler. Linux's `signalfd(2)` does it without a handler:
//! block the signals, so the kernel keeps them pending instead of
//! interrupting us, and read them from a descriptor. Here that read is one
//! more operation in the ring: a `Read` into a buffer of ours that
//! completes when a signal arrives, in order with everything else.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use io_uring::{opcode, squeue, types};

use crate::buf::IoBuf;

const SIGINFO_SIZE: usize = size_of::<libc::signalfd_siginfo>();

// ANCHOR: signals
pub struct SignalFd {
    fd: OwnedFd,
    /// Where the kernel writes the `signalfd_siginfo` of the next signal.
    info: IoBuf,
}

impl SignalFd {
    /// Blocks SIGINT and SIGTERM in this thread (threads started later
    /// inherit the mask) and opens a descriptor that reads them. Call it
    /// before any other thread exists, or those could still take the
    /// signals the old way.
    pub fn install() -> io::Result<SignalFd> {
        // SAFETY: sigset_t is plain data, initialised by sigemptyset before
        // use; the calls below read and write only `set`.
        let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
        unsafe {
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGINT);
            libc::sigaddset(&mut set, libc::SIGTERM);
        }
        // SAFETY: `set` is initialised; the old mask is not wanted (null).
        let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        // SAFETY: -1 asks for a new descriptor; `set` is initialised.
        let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(SignalFd {
            // SAFETY: signalfd just returned this descriptor, and nothing
            // else owns it.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            info: IoBuf::new(SIGINFO_SIZE),
        })
    }

    /// The submission that waits for the next signal.
    ///
    /// The entry points into `self`'s buffer: push it with
    /// [`crate::ring::Ring::push`], keep `self` alive and call nothing else
    /// on it until the completion.
    pub fn read(&mut self, user_data: u64) -> squeue::Entry {
        opcode::Read::new(
            types::Fd(self.fd.as_raw_fd()),
            self.info.as_mut_ptr(),
            SIGINFO_SIZE as u32,
        )
        .build()
        .user_data(user_data)
    }

    /// Which signal the completed read returned (`result` is the
    /// completion's byte count).
    pub fn signal(&self, result: i32) -> Option<i32> {
        if result != SIGINFO_SIZE as i32 {
            return None;
        }
        // SAFETY: the read has completed (we are handling its result), so
        // the kernel no longer writes the buffer.
        let bytes = unsafe { self.info.bytes(0, 4) };
        // `ssi_signo` is the first field, a u32 in native byte order.
        let signo = u32::from_ne_bytes(bytes.try_into().ok()?);
        i32::try_from(signo).ok()
    }
}
// ANCHOR_END: signals
