//! Process limits and CPU placement.

use std::io;
use std::process::Command;

/// Raises this process's soft limit on open descriptors to its hard limit
/// and returns the new limit. The usual soft limit, 1,024, would stop the
/// bench (and every server it starts, which inherits the limit) long before
/// 10,000 connections.
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
    // rlim_t is not u64 on every platform.
    #[allow(clippy::unnecessary_cast)]
    Ok(limit.rlim_cur as u64)
}

/// Makes `command`'s process (and every thread it starts) run only on CPU
/// `cpu`. The affinity mask is set in the child between `fork` and `exec`,
/// so it holds from the process's first instruction; threads inherit it.
#[cfg(target_os = "linux")]
pub fn pin(command: &mut Command, cpu: usize) -> &mut Command {
    use std::os::unix::process::CommandExt;

    // SAFETY: an all-zero cpu_set_t is the empty set; CPU_SET only sets a
    // bit in the struct we own.
    let set = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        set
    };
    // SAFETY: the closure runs in the forked child before exec, where only
    // async-signal-safe calls are allowed: it makes one system call and
    // touches no lock and no allocator.
    unsafe {
        command.pre_exec(move || {
            if libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        })
    }
}

/// Pinning needs Linux's `sched_setaffinity`; elsewhere it is refused.
#[cfg(not(target_os = "linux"))]
pub fn pin(command: &mut Command, _cpu: usize) -> &mut Command {
    command
}

/// Whether [`pin`] does anything on this system.
pub const CAN_PIN: bool = cfg!(target_os = "linux");

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
        #[allow(clippy::unnecessary_cast)]
        let current = limit.rlim_cur as u64;
        assert_eq!(raised, current);
        assert_eq!(limit.rlim_cur, limit.rlim_max.min(1 << 20));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_pinned_child_runs_on_that_cpu_only() {
        let output = pin(&mut Command::new("grep"), 0)
            .args(["Cpus_allowed_list", "/proc/self/status"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout);
        assert_eq!(text.split_whitespace().nth(1), Some("0"), "{text}");
    }
}
