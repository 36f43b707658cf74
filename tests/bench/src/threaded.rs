//! The baseline: the same closed-loop load from a thread per connection,
//! with blocking sockets — the obvious way to write a load generator, and
//! the one [`crate::load`] has to beat. Each message costs this generator
//! a `write`, a `read` that puts the thread to sleep, and the wake-up: the
//! same context switch per message that chapter 1's server pays.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError, mpsc};
use std::thread;
use std::time::Instant;

use anyhow::{Result, bail};

use crate::load::{Outcome, Snapshot};
use crate::payload::{EchoError, Payload, check_echo};
use crate::stats::{Recorder, new_histogram};
use crate::{LoadConfig, Plan};

/// The largest message this generator sends. It writes a whole message
/// before reading its echo, which deadlocks once a message no longer fits
/// in the socket buffers of both ends.
pub const MAX_SIZE: usize = 64 * 1024;

/// A value that threads wait for until another thread sets it.
struct Signal<T> {
    value: Mutex<Option<T>>,
    set: Condvar,
}

impl<T: Copy> Signal<T> {
    fn new() -> Self {
        Signal {
            value: Mutex::new(None),
            set: Condvar::new(),
        }
    }

    fn wait(&self) -> T {
        let mut value = self.value.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(value) = *value {
                return value;
            }
            value = self.set.wait(value).unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn set(&self, value: T) {
        *self.value.lock().unwrap_or_else(PoisonError::into_inner) = Some(value);
        self.set.notify_all();
    }
}

/// The thread-side twin of the tokio driver's protocol: everyone starts on
/// one plan, and stays connected until the last snapshot is taken.
struct Shared {
    start: Signal<Plan>,
    /// Messages sent back by threads that stopped sending (or failed).
    stopped: mpsc::Sender<()>,
    released: Signal<()>,
    echoes: AtomicU64,
    /// Echoes completed inside the window (kept when a thread fails later).
    in_window: Vec<AtomicU64>,
}

/// Reports a thread as stopped exactly once, even when it fails early.
struct StopGuard<'a> {
    shared: &'a Shared,
    stopped: bool,
}

impl StopGuard<'_> {
    fn stop(&mut self) {
        if !self.stopped {
            self.stopped = true;
            // The driver keeps the receiver until every thread reported.
            let _ = self.shared.stopped.send(());
        }
    }
}

impl Drop for StopGuard<'_> {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs `config` (closed loop only) with one OS thread per connection.
pub fn run(config: &LoadConfig) -> Result<Outcome> {
    if config.rate.is_some() {
        bail!("--threads-per-connection runs a closed loop only; drop --rate");
    }
    if config.size > MAX_SIZE {
        bail!("--threads-per-connection sends at most {MAX_SIZE} bytes per message");
    }
    let latency = Arc::new(Mutex::new(new_histogram()));
    let (stopped_tx, stopped_rx) = mpsc::channel();
    let shared = Arc::new(Shared {
        start: Signal::new(),
        stopped: stopped_tx,
        released: Signal::new(),
        echoes: AtomicU64::new(0),
        in_window: (0..config.connections).map(|_| AtomicU64::new(0)).collect(),
    });
    let (connected_tx, connected_rx) = mpsc::channel();

    let mut threads = Vec::new();
    let mut errors = Vec::new();
    for id in 0..config.connections {
        let config = config.clone();
        let latency = Arc::clone(&latency);
        let shared = Arc::clone(&shared);
        let connected = connected_tx.clone();
        let spawned = thread::Builder::new()
            .name(format!("connection {id}"))
            // The loop needs little stack; 2 MiB each would reserve 2 GiB
            // of address space at 1,000 connections.
            .stack_size(256 * 1024)
            .spawn(move || {
                let mut guard = StopGuard {
                    shared: &shared,
                    stopped: false,
                };
                let stream = connect(&config);
                // The receiver lives until every thread has reported.
                let _ = connected.send(());
                let mut stream = stream?;
                let plan = shared.start.wait();
                let payload = Payload::new(id as u64, config.size);
                let mut recorder = Recorder::new(latency);
                let counted = &shared.in_window[id];
                closed_loop(
                    &mut stream,
                    &payload,
                    &plan,
                    &mut recorder,
                    counted,
                    &mut guard,
                )
            });
        match spawned {
            Ok(handle) => threads.push((id, handle)),
            Err(error) => errors.push((id, EchoError::Connect(format!("no thread: {error}")))),
        }
    }
    drop(connected_tx);
    for _ in 0..threads.len() {
        // Every thread sends once before it can fail.
        let _ = connected_rx.recv();
    }
    let plan = Plan::new(config, Instant::now());
    shared.start.set(plan);

    // The measurement schedule, not synchronisation: snapshot at the
    // window's edges while the connection threads run.
    let echoes = || shared.echoes.load(Ordering::Acquire);
    thread::sleep(plan.window_start.saturating_duration_since(Instant::now()));
    let first = Snapshot::take(config.server_pid, echoes());
    if config.messages.is_none() {
        thread::sleep(plan.end.saturating_duration_since(Instant::now()));
    }
    for _ in 0..threads.len() {
        let _ = stopped_rx.recv();
    }
    let last = Snapshot::take(config.server_pid, echoes());
    shared.released.set(());

    for (id, handle) in threads {
        match handle.join() {
            Ok(Ok(())) => {}
            Ok(Err(error)) => errors.push((id, error)),
            Err(_) => bail!("connection thread {id} panicked"),
        }
    }
    errors.sort_by_key(|(id, _)| *id);
    let latency = std::mem::replace(
        &mut *latency.lock().unwrap_or_else(PoisonError::into_inner),
        new_histogram(),
    );
    let per_connection: Vec<u64> = shared
        .in_window
        .iter()
        .map(|n| n.load(Ordering::Acquire))
        .collect();
    Ok(Outcome {
        window: match config.messages {
            None => config.duration,
            Some(_) => last.at - plan.start,
        },
        completed: per_connection.iter().sum(),
        per_connection,
        latency,
        service: None,
        errors,
        snapshots: (first, last),
    })
}

fn connect(config: &LoadConfig) -> Result<TcpStream, EchoError> {
    let connect_error = |e: io::Error| EchoError::Connect(e.to_string());
    let stream = TcpStream::connect_timeout(&config.addr, config.timeout).map_err(connect_error)?;
    stream.set_nodelay(true).map_err(connect_error)?;
    stream
        .set_read_timeout(Some(config.timeout))
        .map_err(connect_error)?;
    stream
        .set_write_timeout(Some(config.timeout))
        .map_err(connect_error)?;
    Ok(stream)
}

fn closed_loop(
    stream: &mut TcpStream,
    payload: &Payload,
    plan: &Plan,
    latency: &mut Recorder,
    counted: &AtomicU64,
    guard: &mut StopGuard<'_>,
) -> Result<(), EchoError> {
    let mut echo = vec![0; payload.size()];
    let mut seq = 0;
    while plan.keep_sending(seq, Instant::now()) {
        let message = payload.message(seq);
        let sent_at = Instant::now();
        stream
            .write_all(message)
            .map_err(|e| io_error(seq, e, plan))?;
        let mut filled = 0;
        while filled < echo.len() {
            match stream.read(&mut echo[filled..]) {
                Ok(0) => {
                    return Err(EchoError::Short {
                        message: seq,
                        got: filled,
                        expected: echo.len(),
                    });
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_error(seq, e, plan)),
            }
        }
        check_echo(payload, seq, &echo)?;
        let done = Instant::now();
        guard.shared.echoes.fetch_add(1, Ordering::Relaxed);
        if plan.in_window(done) {
            latency.record(done - sent_at);
            counted.fetch_add(1, Ordering::Relaxed);
        }
        seq += 1;
    }
    guard.stop();
    guard.shared.released.wait();
    // Half-close; the server must then close with nothing more to send.
    stream
        .shutdown(Shutdown::Write)
        .map_err(|e| EchoError::Closing(e.to_string()))?;
    let mut extra = 0;
    let mut buf = [0; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) if extra == 0 => return Ok(()),
            Ok(0) => return Err(EchoError::Extra { bytes: extra }),
            Ok(n) => extra += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if is_timeout(&e) => {
                return Err(EchoError::NoClose {
                    secs: plan.timeout.as_secs_f64(),
                });
            }
            Err(e) => return Err(EchoError::Closing(e.to_string())),
        }
    }
}

/// A blocking socket's timeout shows up as `WouldBlock` on Unix and
/// `TimedOut` on Windows.
fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn io_error(seq: u64, error: io::Error, plan: &Plan) -> EchoError {
    if is_timeout(&error) {
        EchoError::Timeout {
            message: seq,
            secs: plan.timeout.as_secs_f64(),
        }
    } else {
        EchoError::Io {
            message: seq,
            error: error.to_string(),
        }
    }
}
