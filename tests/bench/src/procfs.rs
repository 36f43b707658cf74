//! What Linux's `/proc` tells about a process and the machine. Reading one
//! process is `echo_conformance::procfs`'s; this adds the samples and the
//! machine-wide figures the benchmark records.

use std::fs;
use std::io;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// CPU time and context switches of a whole process, at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessSample {
    /// User plus system time of every thread, live or exited
    /// (`utime + stime` in `/proc/PID/stat`, in clock ticks of 10 ms).
    pub cpu: Duration,
    /// Voluntary (the thread blocked) plus involuntary (the scheduler
    /// preempted it) switches, summed over the threads alive now.
    pub context_switches: u64,
}

impl ProcessSample {
    pub fn take(pid: u32) -> io::Result<ProcessSample> {
        Ok(ProcessSample {
            cpu: cpu_time(pid)?,
            context_switches: context_switches(pid)?,
        })
    }
}

pub use echo_conformance::procfs::{context_switches, cpu_time, status_field};

/// CPU time the whole machine has spent busy (all CPUs, every process and
/// the kernel): the first line of `/proc/stat`, user + nice + system + irq +
/// softirq + steal. With the server's and the generator's own time taken
/// away, what is left is everyone else's: the noise in a measurement.
pub fn machine_busy() -> io::Result<Duration> {
    let stat = fs::read_to_string("/proc/stat")?;
    let ticks =
        parse_machine_busy(&stat).ok_or_else(|| io::Error::other("cannot parse /proc/stat"))?;
    Ok(Duration::from_secs_f64(
        ticks as f64 / echo_conformance::procfs::clock_ticks_per_second(),
    ))
}

pub fn parse_machine_busy(stat: &str) -> Option<u64> {
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .strip_prefix("cpu ")?
        .split_whitespace()
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal ...
    let busy = [0, 1, 2, 5, 6, 7];
    Some(busy.iter().filter_map(|&i| fields.get(i)).sum())
}

/// Memory and threads of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Footprint {
    /// Resident memory: pages of this process in RAM.
    pub rss_kib: u64,
    /// Address space reserved, resident or not (thread stacks count in
    /// full here).
    pub virtual_kib: u64,
    pub threads: u64,
}

impl Footprint {
    pub fn take(pid: u32) -> io::Result<Footprint> {
        let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
        let field = |name: &str| {
            status_field(&status, name)
                .ok_or_else(|| io::Error::other(format!("no {name} in /proc/{pid}/status")))
        };
        Ok(Footprint {
            rss_kib: field("VmRSS:")?,
            virtual_kib: field("VmSize:")?,
            threads: field("Threads:")?,
        })
    }
}

/// The kernel's memory for thread stacks, machine-wide (`KernelStack` in
/// `/proc/meminfo`): each thread has one, and it is not in any process's
/// RSS.
pub fn kernel_stack_kib() -> io::Result<u64> {
    let meminfo = fs::read_to_string("/proc/meminfo")?;
    status_field(&meminfo, "KernelStack:")
        .ok_or_else(|| io::Error::other("no KernelStack in /proc/meminfo"))
}

/// The machine a comparison ran on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub cores: usize,
    pub cpu_model: String,
    pub kernel: String,
    pub memory_gib: f64,
}

impl Machine {
    pub fn describe() -> Machine {
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
        Machine {
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            cpu_model: cpu_model(&cpuinfo).unwrap_or_else(|| "unknown CPU".into()),
            kernel: fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|k| k.trim().to_string())
                .unwrap_or_else(|_| "unknown kernel".into()),
            memory_gib: status_field(&meminfo, "MemTotal:").unwrap_or(0) as f64 / (1024.0 * 1024.0),
        }
    }
}

/// The first `model name` line of `/proc/cpuinfo`.
pub fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo
        .lines()
        .find(|line| line.starts_with("model name"))
        .and_then(|line| line.split_once(':'))
        .map(|(_, model)| model.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_process_is_readable() {
        let me = std::process::id();
        let footprint = Footprint::take(me).unwrap();
        assert!(footprint.rss_kib > 0 && footprint.threads >= 1);
        assert!(ProcessSample::take(me).is_ok());
    }

    #[test]
    fn machine_busy_time_leaves_out_idle_and_iowait() {
        let stat = "cpu  100 2 30 5000 40 5 6 7 0 0\ncpu0 50 1 15 2500 20 2 3 3 0 0\n";
        assert_eq!(parse_machine_busy(stat), Some(100 + 2 + 30 + 5 + 6 + 7));
        assert_eq!(parse_machine_busy("intr 1 2 3"), None);
    }

    #[test]
    fn cpu_model_from_cpuinfo() {
        let cpuinfo = "processor\t: 0\nmodel name\t: Some CPU @ 2.50GHz\n";
        assert_eq!(cpu_model(cpuinfo).as_deref(), Some("Some CPU @ 2.50GHz"));
    }
}
