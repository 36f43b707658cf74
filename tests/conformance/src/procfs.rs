//! What Linux's `/proc` tells about a process: CPU time, run state,
//! threads, memory, open descriptors, context switches. The tests, the
//! fault suite, the benchmark and the chapters' measuring examples all
//! read a process through these functions.

use std::fs;
use std::io;
use std::time::Duration;

/// The fields of `/proc/PID/stat` from field 3 (state) on. The command
/// name (field 2) is in parentheses and may itself contain spaces and
/// parentheses, so the fields are counted from the *last* `)`.
fn stat_fields(stat: &str) -> Option<Vec<&str>> {
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_whitespace().collect())
}

fn read_stat(pid: u32) -> io::Result<String> {
    fs::read_to_string(format!("/proc/{pid}/stat"))
}

fn malformed(pid: u32, file: &str) -> io::Error {
    io::Error::other(format!("cannot parse /proc/{pid}/{file}"))
}

/// utime + stime (fields 14 and 15), in clock ticks, from the text of
/// `/proc/PID/stat`.
pub fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let fields = stat_fields(stat)?;
    let utime: u64 = fields.get(14 - 3)?.parse().ok()?;
    let stime: u64 = fields.get(15 - 3)?.parse().ok()?;
    Some(utime + stime)
}

/// User plus system CPU time the process `pid` has used so far: every
/// thread's, exited threads included.
pub fn cpu_time(pid: u32) -> io::Result<Duration> {
    let ticks = parse_cpu_ticks(&read_stat(pid)?).ok_or_else(|| malformed(pid, "stat"))?;
    Ok(Duration::from_secs_f64(
        ticks as f64 / clock_ticks_per_second(),
    ))
}

/// The process's run state (field 3): `R` running, `S` sleeping, `T`
/// stopped, `Z` a zombie, ...
pub fn run_state(pid: u32) -> io::Result<char> {
    let stat = read_stat(pid)?;
    stat_fields(&stat)
        .and_then(|fields| fields.first()?.chars().next())
        .ok_or_else(|| malformed(pid, "stat"))
}

/// The clock tick of `/proc`'s CPU times: 100 per second on Linux.
pub fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

/// A number from a `/proc/PID/status`-style text (`VmRSS:  1234 kB`).
pub fn status_field(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|value| value.split_whitespace().next())
        .and_then(|value| value.parse().ok())
}

/// One field of `/proc/PID/status`, e.g. `"VmRSS:"` (in KiB) or
/// `"Threads:"`.
pub fn status_value(pid: u32, field: &str) -> io::Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    status_field(&status, field)
        .ok_or_else(|| io::Error::other(format!("no {field} in /proc/{pid}/status")))
}

/// Resident memory of `pid`, in KiB.
pub fn rss_kib(pid: u32) -> io::Result<u64> {
    status_value(pid, "VmRSS:")
}

/// Threads of `pid`.
pub fn threads(pid: u32) -> io::Result<u64> {
    status_value(pid, "Threads:")
}

/// Descriptors `pid` holds open (entries of `/proc/PID/fd`).
pub fn open_fds(pid: u32) -> io::Result<usize> {
    Ok(fs::read_dir(format!("/proc/{pid}/fd"))?.count())
}

/// Voluntary (the thread blocked) plus involuntary (the scheduler
/// preempted it) context switches, summed over the threads alive now.
pub fn context_switches(pid: u32) -> io::Result<u64> {
    let mut total = 0;
    for task in fs::read_dir(format!("/proc/{pid}/task"))? {
        // A thread that exits between listing and reading is skipped.
        let Ok(status) = fs::read_to_string(task?.path().join("status")) else {
            continue;
        };
        total += status_field(&status, "voluntary_ctxt_switches:").unwrap_or(0);
        total += status_field(&status, "nonvoluntary_ctxt_switches:").unwrap_or(0);
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[test]
    fn cpu_ticks_survive_a_command_name_with_spaces_and_parentheses() {
        // Fields 14 and 15 are 7 and 5.
        let stat = "1234 (a (weird) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 7 5 0 0 20 0 1 0";
        assert_eq!(parse_cpu_ticks(stat), Some(12));
        assert_eq!(stat_fields(stat).unwrap()[0], "S");
        assert_eq!(parse_cpu_ticks("garbage"), None);
    }

    #[test]
    fn status_fields() {
        let status = "Name:\tx\nVmRSS:\t   1234 kB\nThreads:\t3\n";
        assert_eq!(status_field(status, "VmRSS:"), Some(1234));
        assert_eq!(status_field(status, "Threads:"), Some(3));
        assert_eq!(status_field(status, "VmSize:"), None);
    }

    #[test]
    fn our_own_process_is_readable() {
        let me = std::process::id();
        // Burn a little CPU so the count cannot stay at zero ticks.
        let start = Instant::now();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(50) {
            x = x.wrapping_mul(31).wrapping_add(1);
        }
        std::hint::black_box(x);
        assert!(cpu_time(me).unwrap() > Duration::ZERO);
        // The process's state is its main thread's: the test harness's,
        // running or waiting for this test.
        let state = run_state(me).unwrap();
        assert!(matches!(state, 'R' | 'S'), "{state}");
        assert!(rss_kib(me).unwrap() > 0 && threads(me).unwrap() >= 1);
        assert!(open_fds(me).unwrap() >= 3);
        assert!(context_switches(me).is_ok());
    }
}
