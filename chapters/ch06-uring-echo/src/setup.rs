//! Whether this system lets us use io_uring, and what to tell the user
//! when it does not.
//!
//! io_uring is not always there. Kernels before 5.1 have none, and this
//! chapter needs 6.1 (multishot receive came in 6.0, deferred task running
//! in 6.1). Since 6.6, `/proc/sys/kernel/io_uring_disabled` can switch it
//! off (1: only for one group, 2: for everyone), and some distributions
//! ship with it off. Container runtimes' default seccomp profiles (Docker's
//! since 2023, for one) refuse the io_uring system calls outright, so a
//! server that runs on a laptop may fail to start in production. In every
//! case `io_uring_setup` fails, and the server says why in one line.

use std::io;

use anyhow::anyhow;

/// The oldest kernel this chapter runs on.
pub const MINIMUM_KERNEL: (u32, u32) = (6, 1);

/// What the system says about itself, read once when setting up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SystemFacts {
    /// `uname -r`, e.g. `6.18.44`.
    pub kernel: String,
    /// The contents of `/proc/sys/kernel/io_uring_disabled`, where it exists.
    pub io_uring_disabled: Option<u32>,
}

impl SystemFacts {
    pub fn read() -> SystemFacts {
        let read = |path: &str| std::fs::read_to_string(path).ok();
        SystemFacts {
            kernel: read("/proc/sys/kernel/osrelease")
                .map(|text| text.trim().to_string())
                .unwrap_or_else(|| "unknown".into()),
            io_uring_disabled: read("/proc/sys/kernel/io_uring_disabled")
                .and_then(|text| text.trim().parse().ok()),
        }
    }
}

// ANCHOR: explain
/// Refuses to start on a kernel older than [`MINIMUM_KERNEL`], where some
/// operation would fail only later, in the middle of serving.
pub fn require_kernel(facts: &SystemFacts) -> anyhow::Result<()> {
    match kernel_version(&facts.kernel) {
        Some(version) if version < MINIMUM_KERNEL => Err(anyhow!(
            "this kernel is Linux {}; chapter 6 needs {}.{} or later \
             (multishot receive and deferred completions)",
            facts.kernel,
            MINIMUM_KERNEL.0,
            MINIMUM_KERNEL.1
        )),
        _ => Ok(()),
    }
}

/// Turns a failed `io_uring_setup` into one sentence saying what to do.
pub fn explain(err: io::Error, facts: &SystemFacts) -> anyhow::Error {
    let why = match err.raw_os_error() {
        Some(libc::ENOSYS) => format!(
            "this kernel (Linux {}) has no io_uring, or a seccomp filter hides it \
             (systemd's SystemCallFilter=, some container runtimes)",
            facts.kernel
        ),
        Some(libc::EPERM) => match facts.io_uring_disabled {
            Some(2) => "io_uring is disabled on this system \
                        (/proc/sys/kernel/io_uring_disabled is 2; 0 enables it)"
                .to_string(),
            Some(1) => "io_uring is allowed only for the group in \
                        /proc/sys/kernel/io_uring_group (io_uring_disabled is 1)"
                .to_string(),
            _ => "a seccomp filter refuses it: container runtimes such as Docker \
                  block io_uring in their default profile"
                .to_string(),
        },
        Some(libc::EINVAL) => format!(
            "this kernel (Linux {}) lacks an io_uring feature chapter 6 uses",
            facts.kernel
        ),
        Some(libc::ENOMEM) => "not enough memory for the rings (try a smaller \
                               --ring-entries, or raise `ulimit -l` on kernels before 5.12)"
            .to_string(),
        _ => String::new(),
    };
    let hint = if why.is_empty() {
        String::new()
    } else {
        format!(": {why}; chapter 3's epoll server runs where io_uring does not")
    };
    anyhow!("cannot set up io_uring: {err}{hint}")
}
// ANCHOR_END: explain

/// `6.18.44-foo` → `(6, 18)`.
pub fn kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// The CPU this process may run on, if it may run on exactly one.
pub fn only_allowed_cpu() -> Option<u32> {
    // SAFETY: cpu_set_t is plain data; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: pid 0 is this thread; the size is that of `set`, which the
    // call fills in.
    let rc = unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return None;
    }
    // SAFETY: CPU_COUNT and CPU_ISSET only read the set.
    if unsafe { libc::CPU_COUNT(&set) } != 1 {
        return None;
    }
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: as above; `cpu` is below CPU_SETSIZE.
        .find(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .and_then(|cpu| u32::try_from(cpu).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(disabled: Option<u32>) -> SystemFacts {
        SystemFacts {
            kernel: "6.18.44".into(),
            io_uring_disabled: disabled,
        }
    }

    fn line(errno: i32, disabled: Option<u32>) -> String {
        let err = explain(io::Error::from_raw_os_error(errno), &facts(disabled));
        let line = format!("{err:#}");
        assert!(!line.contains('\n'), "one line: {line}");
        line
    }

    #[test]
    fn a_disabled_io_uring_is_named_with_the_switch() {
        let line = line(libc::EPERM, Some(2));
        assert!(line.starts_with("cannot set up io_uring: Operation not permitted"));
        assert!(line.contains("io_uring_disabled is 2"), "{line}");
        let line = self::line(libc::EPERM, Some(1));
        assert!(line.contains("io_uring_group"), "{line}");
    }

    #[test]
    fn a_refusal_with_io_uring_enabled_is_blamed_on_seccomp() {
        let line = line(libc::EPERM, Some(0));
        assert!(line.contains("seccomp"), "{line}");
        assert!(line.contains("chapter 3's epoll server"), "{line}");
    }

    #[test]
    fn a_missing_system_call_names_the_kernel() {
        let line = line(libc::ENOSYS, None);
        assert!(line.contains("(Linux 6.18.44) has no io_uring"), "{line}");
    }

    #[test]
    fn old_kernels_are_refused_before_setup() {
        let old = SystemFacts {
            kernel: "5.15.0-91-generic".into(),
            io_uring_disabled: None,
        };
        let err = require_kernel(&old).unwrap_err().to_string();
        assert!(err.contains("needs 6.1 or later"), "{err}");
        assert!(require_kernel(&facts(None)).is_ok());
    }

    #[test]
    fn kernel_versions_parse() {
        assert_eq!(kernel_version("6.18.44-fc-v1098"), Some((6, 18)));
        assert_eq!(kernel_version("5.4"), Some((5, 4)));
        assert_eq!(kernel_version("unknown"), None);
    }
}
