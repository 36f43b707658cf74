//! Running the binaries under test as real processes.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, Once, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::procfs;

/// How long any single step may take before the test fails instead of
/// hanging. Generous: CI machines are slow and shared. Never used to wait
/// for something to happen.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// A server process, killed when dropped.
pub struct Server {
    child: Child,
    addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
    /// The thread copying the server's stderr into `stderr`; it ends at
    /// the pipe's EOF, once the server has exited.
    stderr_copier: Option<JoinHandle<()>>,
}

impl Server {
    /// Starts `command --listen 127.0.0.1:0` and waits for its first stdout
    /// line, which must be `listening on ADDR`.
    pub fn start(mut command: Command) -> Server {
        raise_fd_limit();
        restore_default_signals(&mut command);
        command
            .args(["--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));

        // Drain stderr as it comes, so a chatty server never blocks on a
        // full pipe, and keep it for failure messages.
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("stderr is piped");
        let sink = Arc::clone(&stderr);
        let stderr_copier = thread::spawn(move || {
            let mut buf = [0; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });

        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = tx.send(reader.read_line(&mut line).map(|_| line));
            // Keep reading so the server never blocks writing to stdout.
            std::io::copy(&mut reader, &mut std::io::sink()).ok();
        });
        let line = match rx.recv_timeout(DEADLINE) {
            Ok(Ok(line)) => line,
            Ok(Err(e)) => panic!("cannot read the server's stdout: {e}"),
            Err(_) => panic!("{command:?} printed no line within {DEADLINE:?}"),
        };
        let addr = line
            .strip_suffix('\n')
            .and_then(|l| l.strip_prefix("listening on "))
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "first stdout line must be `listening on ADDR`, got {line:?}; stderr: {}",
                    stderr.lock().unwrap()
                )
            });
        Server {
            child,
            addr,
            stderr,
            stderr_copier: Some(stderr_copier),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the server's stderr has brought *so far*: a background
    /// thread copies the pipe, so a line the server has just written may not
    /// be here yet. To check for a line, use [`Server::wait_for_stderr`];
    /// after [`Server::wait_exit`] this is complete.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits (up to [`DEADLINE`]) until the server's stderr contains
    /// `text`, and fails the test, showing what it did write, if it never
    /// does.
    pub fn wait_for_stderr(&self, text: &str) {
        let deadline = Instant::now() + DEADLINE;
        while !self.stderr().contains(text) {
            assert!(
                Instant::now() < deadline,
                "the server did not write {text:?} on stderr within {DEADLINE:?}; it wrote:\n{}",
                self.stderr()
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// A new connection, with deadlines so a broken server fails the test
    /// instead of hanging it.
    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr)
            .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", self.addr));
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        stream.set_write_timeout(Some(DEADLINE)).unwrap();
        stream
    }

    /// Panics if the server has exited.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("server exited with {status}; stderr: {}", self.stderr());
        }
    }

    /// Resident memory, from `/proc/PID/status`.
    pub fn rss_bytes(&self) -> u64 {
        procfs::rss_kib(self.pid()).unwrap_or_else(|e| panic!("reading the server's RSS: {e}"))
            * 1024
    }

    /// Threads, from `/proc/PID/status`.
    pub fn threads(&self) -> u64 {
        procfs::threads(self.pid()).unwrap_or_else(|e| panic!("reading the server's threads: {e}"))
    }

    /// Open file descriptors, from `/proc/PID/fd`.
    pub fn open_fds(&self) -> usize {
        procfs::open_fds(self.pid())
            .unwrap_or_else(|e| panic!("listing the server's descriptors: {e}"))
    }

    /// User plus system CPU time the server has used so far.
    pub fn cpu_time(&self) -> Duration {
        procfs::cpu_time(self.pid())
            .unwrap_or_else(|e| panic!("reading the server's CPU time: {e}"))
    }

    /// Sends `signal` to the server (Unix).
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) has no memory-safety preconditions; the pid is
        // our own child's, which we have not yet waited for.
        let rc = unsafe { libc::kill(self.pid() as libc::pid_t, signal) };
        assert_eq!(rc, 0, "kill: {}", std::io::Error::last_os_error());
    }

    /// Waits (up to [`DEADLINE`]) for the server to exit by itself, then
    /// for the last of its stderr, so that [`Server::stderr`] is complete.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // The copier ends at the pipe's EOF, which comes once every
                // copy of its write end is closed: the server's, at its exit.
                eventually("the server's stderr reaches EOF", || {
                    self.stderr_copier
                        .as_ref()
                        .is_none_or(JoinHandle::is_finished)
                });
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "server did not exit within {DEADLINE:?}"
            );
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `condition` until it holds or [`DEADLINE`] passes. For state that
/// settles asynchronously in another process (a descriptor closed after the
/// peer saw EOF), not for ordering our own steps.
pub fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "{what}: still false after {DEADLINE:?}"
        );
        thread::sleep(Duration::from_millis(5));
    }
}

/// A barrier for `parties` threads that fails instead of waiting forever:
/// when the others don't arrive within [`DEADLINE`], or when one of them
/// gave up (panicked) and called [`Rendezvous::abandon`]. std's `Barrier`
/// would turn one failed client into a hung test.
pub struct Rendezvous {
    parties: usize,
    state: Mutex<RendezvousState>,
    changed: Condvar,
}

#[derive(Default)]
struct RendezvousState {
    arrived: usize,
    round: u64,
    abandoned: bool,
}

impl Rendezvous {
    pub fn new(parties: usize) -> Self {
        Rendezvous {
            parties,
            state: Mutex::default(),
            changed: Condvar::new(),
        }
    }

    pub fn wait(&self, what: &str) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let round = state.round;
        state.arrived += 1;
        if state.arrived == self.parties {
            state.arrived = 0;
            state.round += 1;
            self.changed.notify_all();
            return;
        }
        let (state, wait) = self
            .changed
            .wait_timeout_while(state, DEADLINE, |s| s.round == round && !s.abandoned)
            .unwrap_or_else(|e| e.into_inner());
        let abandoned = state.abandoned;
        drop(state);
        if wait.timed_out() {
            self.abandon();
            panic!("{what}: the others did not arrive within {DEADLINE:?}");
        }
        assert!(!abandoned, "{what}: another party failed");
    }

    /// Wakes everyone waiting, to fail: call it when a party panics.
    pub fn abandon(&self) {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .abandoned = true;
        self.changed.notify_all();
    }
}

/// Calls [`Rendezvous::abandon`] if dropped during a panic.
pub struct AbandonOnPanic<'a>(pub &'a Rendezvous);

impl Drop for AbandonOnPanic<'_> {
    fn drop(&mut self) {
        if thread::panicking() {
            self.0.abandon();
        }
    }
}

/// Gives the server the signal dispositions it would have when started from
/// a terminal. A non-interactive shell starts its background jobs with
/// SIGINT ignored, and an ignored disposition survives `exec`: a test run
/// launched that way would see a server that relies on SIGINT's default
/// action (chapter 1) shrug off Ctrl-C.
fn restore_default_signals(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs between fork and exec, where only
    // async-signal-safe functions may be called; signal(2) is one, and the
    // closure allocates nothing.
    unsafe {
        command.pre_exec(|| {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            libc::signal(libc::SIGTERM, libc::SIG_DFL);
            Ok(())
        });
    }
}

/// Lets this process (and so the servers it starts) open as many
/// descriptors as the hard limit allows, once.
fn raise_fd_limit() {
    static RAISED: Once = Once::new();
    RAISED.call_once(|| {
        if let Err(e) = crate::limits::raise_fd_limit() {
            panic!("cannot raise the descriptor limit: {e}");
        }
    });
}

/// What a client process did.
#[derive(Debug)]
pub struct ClientRun {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

/// Runs `client --connect addr` with `input` on stdin (closed after it) and
/// collects its output.
pub fn run_client(client: &Path, addr: &str, input: &[u8]) -> ClientRun {
    let mut child = Command::new(client)
        .args(["--connect", addr])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", client.display()));
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let feeder = thread::spawn(move || {
        // The client may exit before reading everything (that is for the
        // scenario to judge), so a broken pipe here is not an error.
        let _ = stdin.write_all(&input);
    });
    let output = wait_with_deadline(child);
    feeder.join().unwrap();
    output
}

/// Waits for `child` to exit (collecting stdout and stderr) or kills it and
/// panics after [`DEADLINE`].
pub fn wait_with_deadline(child: Child) -> ClientRun {
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(DEADLINE) {
        Ok(output) => {
            let output = output.unwrap();
            ClientRun {
                status: output.status,
                stdout: output.stdout,
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            }
        }
        Err(_) => {
            // SAFETY: as in `Server::signal`.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            panic!("client (pid {pid}) still running after {DEADLINE:?}: it hangs");
        }
    }
}

/// The path of a workspace binary, building the chapters' binaries first
/// (once per test process) so that `cargo test -p echo-conformance` works
/// on its own.
pub fn binary(name: &str) -> PathBuf {
    static BUILT: Once = Once::new();
    let packages: Vec<&str> = crate::CHAPTERS.iter().map(|c| c.package).collect();
    built(name, &BUILT, &packages)
}

/// The benchmark's reference server, `minimal-epoll-echo` (the least an
/// epoll echo server can do, `tests/bench/src/bin/minimal-epoll-echo.rs`),
/// built once per process like [`binary`]. The measuring examples run it
/// beside a chapter's server, so that their figures come with a ratio to a
/// reference measured in the same run, which carries over to another
/// machine where the absolute figures do not.
pub fn minimal_epoll_binary() -> PathBuf {
    static BUILT: Once = Once::new();
    built("minimal-epoll-echo", &BUILT, &["echo-bench"])
}

/// `target/<profile>/NAME`, after `cargo build --bins` of `packages` (once
/// per `once`), in the profile the calling executable was built with.
fn built(name: &str, once: &Once, packages: &[&str]) -> PathBuf {
    // The test executable lives in target/<profile>/deps (an example in
    // target/<profile>/examples); binaries one up.
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    once.call_once(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "--bins", "--quiet"]);
        if dir.file_name() == Some(OsStr::new("release")) {
            build.arg("--release");
        }
        for package in packages {
            build.args(["--package", package]);
        }
        let status = build.status().expect("cannot run cargo");
        assert!(status.success(), "building {packages:?} failed");
    });
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(path.exists(), "{} does not exist", path.display());
    path
}
