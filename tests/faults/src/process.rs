//! What we read about, and do to, a server process beyond what
//! `echo_conformance::Server` offers: CPU time and run state from
//! `/proc/PID/stat`, a lowered descriptor limit, running as another user.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use echo_conformance::Server;

/// The fields of `/proc/PID/stat` after the command name, which is in
/// parentheses and may itself hold spaces and parentheses.
fn stat_fields(pid: u32) -> Vec<String> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {path} (this fault needs Linux's /proc): {e}"));
    let after_name = stat
        .rfind(')')
        .map(|i| &stat[i + 1..])
        .unwrap_or_else(|| panic!("no command name in {path}: {stat}"));
    after_name.split_whitespace().map(str::to_owned).collect()
}

/// User plus system CPU time the process has used so far, all threads
/// together (fields 14 and 15 of `/proc/PID/stat`, in clock ticks).
pub fn cpu_time(pid: u32) -> Duration {
    let fields = stat_fields(pid);
    // Field 3 (state) is fields[0], so field N is fields[N - 3].
    let ticks: u64 = [11, 12]
        .iter()
        .map(|&i| {
            fields[i]
                .parse::<u64>()
                .expect("/proc/PID/stat times are numbers")
        })
        .sum();
    // SAFETY: sysconf has no memory-safety preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    assert!(hz > 0, "sysconf(_SC_CLK_TCK) failed");
    Duration::from_secs_f64(ticks as f64 / hz as f64)
}

/// The process's run state: `R` running, `S` sleeping, `T` stopped, ...
pub fn state(pid: u32) -> char {
    stat_fields(pid)[0].chars().next().unwrap_or('?')
}

/// How busy the server is: CPU seconds per wall-clock second, over `window`
/// (1.0 is one core flat out). `window` is the measurement itself, not a
/// wait for something to happen.
pub fn cpu_share(server: &Server, window: Duration) -> CpuShare {
    let (cpu_before, start) = (cpu_time(server.pid()), Instant::now());
    thread::sleep(window);
    let (cpu_after, wall) = (cpu_time(server.pid()), start.elapsed());
    CpuShare {
        cpu: cpu_after.saturating_sub(cpu_before),
        wall,
    }
}

/// CPU time used over a stretch of wall-clock time.
#[derive(Debug, Clone, Copy)]
pub struct CpuShare {
    pub cpu: Duration,
    pub wall: Duration,
}

impl CpuShare {
    pub fn fraction(&self) -> f64 {
        self.cpu.as_secs_f64() / self.wall.as_secs_f64()
    }
}

impl std::fmt::Display for CpuShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.2} s CPU in {:.2} s ({:.0}% of a core)",
            self.cpu.as_secs_f64(),
            self.wall.as_secs_f64(),
            self.fraction() * 100.0
        )
    }
}

/// Makes the child start with at most `limit` open descriptors, as if a
/// shell had run `ulimit -n LIMIT` first.
pub fn limit_descriptors(command: &mut Command, limit: u64) {
    let rlimit = libc::rlimit {
        rlim_cur: limit,
        rlim_max: limit,
    };
    // SAFETY: the closure runs in the child between fork and exec, where
    // only async-signal-safe calls are allowed; setrlimit(2) is a plain
    // system call on a struct copied into the closure, and it allocates
    // nothing.
    unsafe {
        command.pre_exec(move || {
            if libc::setrlimit(libc::RLIMIT_NOFILE, &rlimit) == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        });
    }
}

/// Whether this test runs as root (who may bind ports below 1024).
pub fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Runs the child as the unprivileged user `nobody` (uid and gid 65534):
/// how a root test sees what an ordinary user would.
pub fn as_nobody(command: &mut Command) {
    command.uid(65_534).gid(65_534);
}

/// Sends SIGSTOP and waits until the server is stopped (state `T`):
/// a SIGCONT sent before the stop took effect would cancel it, and the
/// stop would never happen.
pub fn stop(server: &Server) {
    server.signal(libc::SIGSTOP);
    echo_conformance::process::eventually("server stopped by SIGSTOP", || {
        let now = state(server.pid());
        assert!(!matches!(now, 'Z' | 'X'), "the server has exited");
        now == 'T'
    });
}

/// Continues a stopped server and waits until it is no longer stopped.
pub fn resume(server: &Server) {
    server.signal(libc::SIGCONT);
    echo_conformance::process::eventually("server continued by SIGCONT", || {
        state(server.pid()) != 'T'
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_our_own_stat() {
        let pid = std::process::id();
        // Burn a little CPU so the count cannot stay at zero ticks.
        let start = Instant::now();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(50) {
            x = x.wrapping_mul(31).wrapping_add(1);
        }
        std::hint::black_box(x);
        assert!(cpu_time(pid) > Duration::ZERO);
        // The process's state is its main thread's: the test harness's,
        // running or waiting for this test.
        assert!(matches!(state(pid), 'R' | 'S'), "{}", state(pid));
    }
}
