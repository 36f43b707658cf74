//! What we measure about, and do to, a server process beyond what
//! `echo_conformance::Server` offers: how busy it is, stopping and
//! continuing it, running it as another user. (Reading `/proc` and the
//! descriptor limit are `echo_conformance::procfs` and `limits`.)

use std::os::unix::process::CommandExt;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use echo_conformance::{Server, procfs};

/// The server's run state: `R` running, `S` sleeping, `T` stopped, ...
fn state(server: &Server) -> char {
    procfs::run_state(server.pid())
        .unwrap_or_else(|e| panic!("reading the server's run state: {e}"))
}

// ANCHOR: busyness
/// How busy the server is over `window`: its CPU share, and how often its
/// (main) thread was found runnable, state `R` in `/proc/PID/stat`, in
/// samples taken every 5 ms. A loop that never sleeps is runnable all the
/// time, whether or not a loaded machine gives it a core; a loop that waits
/// in the kernel is `S`. So the runnable share tells a spinning loop from a
/// waiting one even where the CPU share cannot (a spinning server on a
/// machine busy compiling got 7% of a core).
pub fn busyness(server: &Server, window: Duration) -> Busyness {
    let (cpu_before, start) = (server.cpu_time(), Instant::now());
    let (mut samples, mut runnable) = (0u32, 0u32);
    while start.elapsed() < window {
        samples += 1;
        if state(server) == 'R' {
            runnable += 1;
        }
        thread::sleep(Duration::from_millis(5));
    }
    let (cpu_after, wall) = (server.cpu_time(), start.elapsed());
    Busyness {
        cpu: CpuShare {
            cpu: cpu_after.saturating_sub(cpu_before),
            wall,
        },
        runnable: f64::from(runnable) / f64::from(samples.max(1)),
    }
}
// ANCHOR_END: busyness

/// See [`busyness`].
#[derive(Debug, Clone, Copy)]
pub struct Busyness {
    pub cpu: CpuShare,
    /// The share of samples that found the server runnable (0.0 to 1.0).
    pub runnable: f64,
}

impl std::fmt::Display for Busyness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}; runnable in {:.0}% of samples",
            self.cpu,
            self.runnable * 100.0
        )
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

pub use echo_conformance::limits::limit_descriptors;

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

// ANCHOR: stop_resume
/// Sends SIGSTOP and waits until the server is stopped (state `T`):
/// a SIGCONT sent before the stop took effect would cancel it, and the
/// stop would never happen.
pub fn stop(server: &Server) {
    server.signal(libc::SIGSTOP);
    echo_conformance::process::eventually("server stopped by SIGSTOP", || {
        let now = state(server);
        assert!(!matches!(now, 'Z' | 'X'), "the server has exited");
        now == 'T'
    });
}

/// Continues a stopped server and waits until it is no longer stopped.
pub fn resume(server: &Server) {
    server.signal(libc::SIGCONT);
    echo_conformance::process::eventually("server continued by SIGCONT", || state(server) != 'T');
}
// ANCHOR_END: stop_resume
