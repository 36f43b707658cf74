//! The descriptor limit (`RLIMIT_NOFILE`), raised for this process or
//! lowered for a child.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Raises this process's soft limit on open descriptors to its hard limit
/// and returns the new limit. The usual soft limit, 1,024, is too few for a
/// thousand connections and their server (a child inherits the limit).
pub fn raise_fd_limit() -> io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err(io::Error::last_os_error());
        }
        // An "unlimited" hard limit is not a value setrlimit accepts for
        // descriptors (Linux caps it at fs.nr_open, 1,048,576 by default).
        let target = limit.rlim_max.min(1 << 20);
        if limit.rlim_cur < target {
            limit.rlim_cur = target;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    Ok(limit.rlim_cur)
}

// ANCHOR: fd_limit
/// Makes the child start with at most `limit` open descriptors, as if a
/// shell had run `ulimit -n LIMIT` first.
pub fn limit_descriptors(command: &mut Command, limit: u64) -> &mut Command {
    let rlimit = libc::rlimit {
        rlim_cur: limit,
        rlim_max: limit,
    };
    // SAFETY: setrlimit(2) is a plain system call on a struct copied into
    // the closure: async-signal-safe, and it allocates nothing.
    unsafe {
        before_exec(command, move || {
            libc::setrlimit(libc::RLIMIT_NOFILE, &rlimit)
        })
    }
}

/// Makes the child run `call`, a system call that returns 0 or sets
/// `errno`, between `fork` and `exec`; if it fails, spawning fails with
/// its error.
///
/// # Safety
///
/// `call` runs in the forked child, where only async-signal-safe functions
/// may be called: no allocation, no lock.
pub unsafe fn before_exec(
    command: &mut Command,
    call: impl Fn() -> libc::c_int + Send + Sync + 'static,
) -> &mut Command {
    // SAFETY: the caller promises that `call` is async-signal-safe, and
    // `last_os_error` only reads errno.
    unsafe {
        command.pre_exec(move || {
            if call() == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        })
    }
}
// ANCHOR_END: fd_limit

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fd_limit_ends_at_the_hard_limit() {
        let raised = raise_fd_limit().unwrap();
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: as above.
        assert_eq!(
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
            0
        );
        assert_eq!(raised, limit.rlim_cur);
        assert_eq!(limit.rlim_cur, limit.rlim_max.min(1 << 20));
    }

    #[test]
    fn a_child_starts_with_the_lowered_limit() {
        let mut command = Command::new("sh");
        command.args(["-c", "ulimit -n"]);
        let output = limit_descriptors(&mut command, 32).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "32");
    }
}
