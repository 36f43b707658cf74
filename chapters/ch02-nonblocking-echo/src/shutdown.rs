//! Ctrl-C and SIGTERM as a counter the loop looks at on every pass.
//!
//! A signal handler may do almost nothing safely (no allocation, no locks,
//! no printing); adding to an atomic is one of the few things it may do.
//! The loop never blocks, so it sees the count within one pass: at 1 it
//! begins the graceful shutdown, at 2 it exits at once.

use std::sync::atomic::{AtomicUsize, Ordering};

static RECEIVED: AtomicUsize = AtomicUsize::new(0);

/// How many SIGINT or SIGTERM have arrived since [`install`].
pub fn signals_received() -> usize {
    RECEIVED.load(Ordering::Relaxed)
}

// ANCHOR: install
/// Makes every SIGINT or SIGTERM add one to the count instead of killing
/// the process. The handler stays installed, so a second Ctrl-C is counted
/// too, and the loop exits at once when it sees it, even if the graceful
/// shutdown is still waiting for connections.
pub fn install() -> std::io::Result<()> {
    extern "C" fn on_signal(_signal: libc::c_int) {
        RECEIVED.fetch_add(1, Ordering::Relaxed);
    }
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: an all-zero `sigaction` is a valid value (no flags, empty
        // mask, SIG_DFL) that we then fill in; `on_signal` only adds to an
        // atomic, which is async-signal-safe; the pointers passed live for
        // the whole call.
        let rc = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
// ANCHOR_END: install
