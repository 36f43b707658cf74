//! Ctrl-C and SIGTERM as a flag the loop looks at on every pass.
//!
//! A signal handler may do almost nothing safely (no allocation, no locks,
//! no printing); storing to an atomic is one of the few things it may do.
//! The loop never blocks, so it sees the flag within one pass.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Whether SIGINT or SIGTERM has arrived since [`install`].
pub fn requested() -> bool {
    REQUESTED.load(Ordering::Relaxed)
}

// ANCHOR: install
/// Makes the first SIGINT or SIGTERM set the flag instead of killing the
/// process. `SA_RESETHAND` puts the default action back as the handler
/// runs, so a second Ctrl-C kills the process at once, even if the
/// graceful shutdown is stuck.
#[cfg(unix)]
pub fn install() -> std::io::Result<()> {
    extern "C" fn on_signal(_signal: libc::c_int) {
        REQUESTED.store(true, Ordering::Relaxed);
    }
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: an all-zero `sigaction` is a valid value (no flags, empty
        // mask, SIG_DFL) that we then fill in; `on_signal` only stores to an
        // atomic, which is async-signal-safe; the pointers passed live for
        // the whole call.
        let rc = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESETHAND | libc::SA_RESTART;
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

/// Elsewhere Ctrl-C keeps its default action: the process ends at once.
#[cfg(not(unix))]
pub fn install() -> std::io::Result<()> {
    Ok(())
}
