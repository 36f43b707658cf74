//! Process limits and CPU placement.

use std::process::Command;

use echo_conformance::limits::before_exec;
pub use echo_conformance::limits::raise_fd_limit;

/// Makes `command`'s process (and every thread it starts) run only on CPU
/// `cpu`. The affinity mask is set in the child between `fork` and `exec`,
/// so it holds from the process's first instruction; threads inherit it.
pub fn pin(command: &mut Command, cpu: usize) -> &mut Command {
    // SAFETY: an all-zero cpu_set_t is the empty set; CPU_SET only sets a
    // bit in the struct we own.
    let set = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        set
    };
    // SAFETY: the call runs in the forked child before exec: one system
    // call on a set copied into the closure, no lock and no allocation.
    unsafe {
        before_exec(command, move || {
            libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
