//! The event-driven load generator: every connection is a tokio task, and a
//! thread or two run them all. A thread per connection would put the
//! generator's own context switches into every measurement (see
//! [`crate::threaded`], which does exactly that, for comparison).

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Barrier, Notify, Semaphore, watch};
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::{MissedTickBehavior, sleep_until, timeout};

use crate::deadline::Deadline;
use crate::echoes::{Echo, EchoReader};
use crate::payload::{EchoError, Payload, check_echo};
use crate::procfs::ProcessSample;
use crate::schedule::{Schedule, Timetable};
use crate::stats::{Recorder, new_histogram};
use crate::{LoadConfig, Plan};

/// What one run measured, before it is turned into a report.
#[derive(Debug)]
pub struct Outcome {
    /// How long the measured window lasted: the duration asked for, or
    /// with a message count the whole run.
    pub window: Duration,
    /// Echoes that completed inside the window.
    pub completed: u64,
    /// The same, for each connection: how evenly the server served them.
    pub per_connection: Vec<u64>,
    /// Closed loop: from starting to send a message to having its whole
    /// echo. Open loop: from when the schedule said to send it.
    pub latency: Histogram<u64>,
    /// Open loop only: from actually starting to send it. The difference
    /// from `latency` is the time the generator was behind its schedule.
    pub service: Option<Histogram<u64>>,
    /// Every connection that failed, and why.
    pub errors: Vec<(usize, EchoError)>,
    /// CPU time of the server and of the generator when the window opened
    /// and once every connection had stopped sending.
    pub snapshots: (Snapshot, Snapshot),
}

/// The state of the server and of the generator at one instant.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    pub at: Instant,
    /// Echoes completed so far (all connections, warm-up included).
    pub echoes: u64,
    /// `None` without `--server-pid`, or when the server has exited (its
    /// connections then report the errors).
    pub server: Option<ProcessSample>,
    pub generator: Option<ProcessSample>,
    /// Busy time of the whole machine (Linux).
    pub machine_busy: Option<Duration>,
}

impl Snapshot {
    pub fn take(server_pid: Option<u32>, echoes: u64) -> Snapshot {
        Snapshot {
            at: Instant::now(),
            echoes,
            server: server_pid.and_then(|pid| ProcessSample::take(pid).ok()),
            generator: ProcessSample::take(std::process::id()).ok(),
            machine_busy: crate::procfs::machine_busy().ok(),
        }
    }
}

/// Runs the load described by `config` on a tokio runtime with `threads`
/// worker threads (1: everything on the calling thread). With `progress`,
/// a live line on stderr.
pub fn run(config: &LoadConfig, threads: usize, progress: bool) -> Result<Outcome> {
    let runtime = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
    .context("cannot start the tokio runtime")?;
    runtime.block_on(drive(config.clone(), progress))
}

/// What every connection task shares with the others and the driver.
struct Shared {
    config: LoadConfig,
    latency: Arc<Mutex<Histogram<u64>>>,
    service: Arc<Mutex<Histogram<u64>>>,
    /// Each connection's echoes so far, for the progress line and the CPU
    /// per message. One counter per connection, each written only by its
    /// connection's task, so that counting costs a plain store: a shared
    /// counter would be a locked add on a contended cache line per echo.
    echoes: Vec<AtomicU64>,
    /// Echoes completed inside the window, counted as they happen so that
    /// a connection that fails later still counts the ones it got.
    in_window: Vec<AtomicU64>,
    /// Closed loop: which connections are sending, for the [`watchdog`].
    sending: Vec<AtomicBool>,
    /// Everyone (connections and the driver) meets here once every
    /// connection has connected or failed to, so connecting is never
    /// measured.
    connected: Barrier,
    plan: watch::Receiver<Option<Plan>>,
    /// Connections that have stopped sending (or failed).
    stopped: AtomicUsize,
    all_stopped: Notify,
    /// Open loop: one permit per message a connection may send now,
    /// handed out by the pacer thread on the timetable.
    permits: Vec<Semaphore>,
    /// Set once the driver has taken its last snapshot. Connections stay
    /// open until then: chapter 1's server ends a connection's thread when
    /// it closes, and the thread's context switches would vanish from
    /// `/proc` with it.
    released: watch::Receiver<bool>,
}

impl Shared {
    /// Every connection's echoes so far, summed.
    fn echoes(&self) -> u64 {
        self.echoes.iter().map(|n| n.load(Ordering::Relaxed)).sum()
    }

    fn stop(&self) {
        if self.stopped.fetch_add(1, Ordering::AcqRel) + 1 == self.config.connections {
            // Stores a permit if the driver is not waiting yet.
            self.all_stopped.notify_one();
        }
    }

    async fn wait_for_release(&self) {
        let mut released = self.released.clone();
        // An error means the driver is gone: nothing left to wait for.
        let _ = released.wait_for(|released| *released).await;
    }
}

/// Counts a connection as stopped exactly once: when told, or when it
/// ends early (an error returns past the explicit call).
struct StopGuard<'a> {
    shared: &'a Shared,
    stopped: bool,
}

impl StopGuard<'_> {
    fn stop(&mut self) {
        if !self.stopped {
            self.stopped = true;
            self.shared.stop();
        }
    }
}

impl Drop for StopGuard<'_> {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn drive(config: LoadConfig, progress: bool) -> Result<Outcome> {
    let (plan_tx, plan_rx) = watch::channel(None);
    let (release_tx, release_rx) = watch::channel(false);
    let shared = Arc::new(Shared {
        latency: Arc::new(Mutex::new(new_histogram())),
        service: Arc::new(Mutex::new(new_histogram())),
        echoes: (0..config.connections).map(|_| AtomicU64::new(0)).collect(),
        in_window: (0..config.connections).map(|_| AtomicU64::new(0)).collect(),
        sending: (0..config.connections)
            .map(|_| AtomicBool::new(false))
            .collect(),
        connected: Barrier::new(config.connections + 1),
        plan: plan_rx,
        stopped: AtomicUsize::new(0),
        all_stopped: Notify::new(),
        released: release_rx,
        permits: match config.rate {
            Some(_) => (0..config.connections).map(|_| Semaphore::new(0)).collect(),
            None => Vec::new(),
        },
        config,
    });
    let config = &shared.config;

    let mut tasks = JoinSet::new();
    let mut aborts = Vec::with_capacity(config.connections);
    let mut ids = HashMap::with_capacity(config.connections);
    for id in 0..config.connections {
        let abort = tasks.spawn(connection(id, Arc::clone(&shared)));
        ids.insert(abort.id(), id);
        aborts.push(abort);
    }
    shared.connected.wait().await;
    let plan = Plan::new(config, Instant::now());
    // The driver holds a receiver (in `shared`), so sending cannot fail.
    let _ = plan_tx.send(Some(plan));
    let bar = progress.then(|| progress_bar(Arc::clone(&shared), plan));
    let pacer = match config.rate {
        Some(rate) => {
            let timetable = Timetable::new(rate, config.connections);
            let shared = Arc::clone(&shared);
            Some(
                std::thread::Builder::new()
                    .name("pacer".into())
                    .spawn(move || pace(&plan, timetable, &shared.permits))
                    .context("cannot start the pacer thread")?,
            )
        }
        None => None,
    };

    let snapshots = async {
        sleep_until(plan.window_start.into()).await;
        let first = Snapshot::take(config.server_pid, shared.echoes());
        if config.messages.is_none() {
            sleep_until(plan.end.into()).await;
        }
        shared.all_stopped.notified().await;
        let last = Snapshot::take(config.server_pid, shared.echoes());
        let _ = release_tx.send(true);
        (first, last)
    };
    let results = async {
        let mut errors = Vec::new();
        while let Some(joined) = tasks.join_next_with_id().await {
            match joined {
                Ok((_, (_, Ok(())))) => {}
                Ok((_, (id, Err(error)))) => errors.push((id, error)),
                // Only the watchdog aborts a connection: its echo was
                // overdue, and its count is the message in flight.
                Err(join_error) if join_error.is_cancelled() => {
                    let id = ids.get(&join_error.id()).copied().unwrap_or(usize::MAX);
                    let message = shared
                        .echoes
                        .get(id)
                        .map_or(0, |n| n.load(Ordering::Relaxed));
                    errors.push((id, timed_out(message, config.timeout)));
                }
                Err(join_error) => errors.push((
                    ids.get(&join_error.id()).copied().unwrap_or(usize::MAX),
                    EchoError::Io {
                        message: 0,
                        error: format!("a connection task failed: {join_error}"),
                    },
                )),
            }
        }
        errors.sort_by_key(|(id, _)| *id);
        errors
    };
    // Runs until the results are in: it never ends by itself.
    let results = async {
        tokio::select! {
            errors = results => errors,
            never = watchdog(&shared, &aborts) => match never {},
        }
    };
    let (snapshots, errors) = tokio::join!(snapshots, results);
    if let Some(pacer) = pacer {
        // It stops at the end of the plan, which has passed: every
        // connection has stopped sending.
        let _ = pacer.join();
    }
    if let Some((bar, ticker)) = bar {
        ticker.abort();
        bar.finish_and_clear();
    }

    let take = |h: &Arc<Mutex<Histogram<u64>>>| {
        std::mem::replace(
            &mut *h.lock().unwrap_or_else(PoisonError::into_inner),
            new_histogram(),
        )
    };
    let per_connection: Vec<u64> = shared
        .in_window
        .iter()
        .map(|n| n.load(Ordering::Acquire))
        .collect();
    Ok(Outcome {
        window: match config.messages {
            None => config.duration,
            Some(_) => snapshots.1.at - plan.start,
        },
        completed: per_connection.iter().sum(),
        per_connection,
        latency: take(&shared.latency),
        service: config.rate.map(|_| take(&shared.service)),
        errors,
        snapshots,
    })
}

/// Closed loop: gives up on every connection whose echo is overdue, that
/// is, which has completed no echo for `--timeout` while sending, by
/// aborting its task. One task looks at every connection's count a few
/// times per timeout, so that waiting for an echo costs nothing per
/// message: a timer around each round trip would insert a timer into
/// tokio's timer wheel and remove it again for every echo (and even one
/// timer per connection, polled at every wake-up, cost 2% of the
/// generator's CPU; see [`crate::deadline`], which the open loop uses).
/// A connection times out between `--timeout` and a tenth more after its
/// last echo. Never returns.
async fn watchdog(shared: &Shared, aborts: &[AbortHandle]) -> Infallible {
    let limit = shared.config.timeout;
    let mut tick = tokio::time::interval(
        (limit / 10).clamp(Duration::from_millis(10), Duration::from_secs(1)),
    );
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // Each connection's count when it last changed, and when that was.
    let mut seen = vec![(0, Instant::now()); aborts.len()];
    loop {
        tick.tick().await;
        let now = Instant::now();
        for (id, abort) in aborts.iter().enumerate() {
            let count = shared.echoes[id].load(Ordering::Relaxed);
            let (last, since) = &mut seen[id];
            if count != *last || !shared.sending[id].load(Ordering::Relaxed) {
                (*last, *since) = (count, now);
            } else if now - *since >= limit {
                abort.abort();
            }
        }
    }
}

/// The open loop's clock: hands each connection a permit when its next
/// message is due. tokio's timers tick in whole milliseconds, so a
/// connection sleeping until its own due time would send up to a
/// millisecond late, and that lateness — the generator's, not the
/// server's — would be most of every latency measured. A thread sleeping
/// with the kernel's nanosecond timers is late by microseconds.
// ANCHOR: pacer
fn pace(plan: &Plan, timetable: Timetable, permits: &[Semaphore]) {
    precise_sleeps();
    let mut n = 0;
    loop {
        let due = plan.start + timetable.due(n);
        if due >= plan.end {
            return;
        }
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
            continue;
        }
        permits[timetable.connection(n)].add_permits(1);
        n += 1;
    }
}
// ANCHOR_END: pacer

/// Linux lets a sleeping thread wake up to 50 µs late by default (timer
/// slack, to batch wake-ups); the pacer asks for 1 ns.
fn precise_sleeps() {
    // SAFETY: PR_SET_TIMERSLACK takes one integer and changes only this
    // thread's timer slack.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
    }
}

fn progress_bar(shared: Arc<Shared>, plan: Plan) -> (ProgressBar, tokio::task::JoinHandle<()>) {
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {elapsed:>3} {msg}") {
        bar.set_style(style);
    }
    let ticking = bar.clone();
    let ticker = tokio::spawn(async move {
        let mut last = (Instant::now(), 0);
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tick.tick().await;
            let now = Instant::now();
            let echoes = shared.echoes();
            let rate = (echoes - last.1) as f64 / (now - last.0).as_secs_f64().max(1e-9);
            let phase = if now < plan.window_start {
                "warming up"
            } else if now < plan.end {
                "measuring"
            } else {
                "finishing"
            };
            ticking.set_message(format!("{phase}: {echoes} echoes, {rate:.0} msgs/s"));
            ticking.tick();
            last = (now, echoes);
        }
    });
    (bar, ticker)
}

/// One connection, start to finish: connect, wait for the others, run the
/// load, half-close, and check that the server then closes with nothing
/// more to say. Returns how many echoes completed inside the window.
async fn connection(id: usize, shared: Arc<Shared>) -> (usize, Result<(), EchoError>) {
    let mut guard = StopGuard {
        shared: &shared,
        stopped: false,
    };
    let config = &shared.config;
    let connected = connect(config.addr, config.timeout).await;
    shared.connected.wait().await;
    let mut stream = match connected {
        Ok(stream) => stream,
        Err(error) => return (id, Err(error)),
    };
    let mut plan_rx = shared.plan.clone();
    let plan = match plan_rx.wait_for(Option::is_some).await {
        Ok(plan) => (*plan).unwrap_or_else(|| unreachable!("waited for Some")),
        Err(_) => return (id, Err(EchoError::Connect("the run was abandoned".into()))),
    };
    let payload = Payload::new(id as u64, config.size);
    let result = match config.rate {
        None => {
            let counters = Counters::of(&shared, id);
            closed_loop(&mut stream, &payload, &plan, &shared, counters, &mut guard).await
        }
        Some(rate) => {
            let schedule = Schedule::new(rate, config.connections, id);
            let permits = &shared.permits[id];
            let open = OpenLoop {
                counters: Counters::of(&shared, id),
                payload: &payload,
                plan: &plan,
                schedule: &schedule,
                permits,
            };
            open.run(&mut stream, &shared, &mut guard).await
        }
    };
    (id, result)
}

pub(crate) async fn connect(addr: SocketAddr, limit: Duration) -> Result<TcpStream, EchoError> {
    let stream = match timeout(limit, TcpStream::connect(addr)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => return Err(EchoError::Connect(error.to_string())),
        Err(_) => {
            return Err(EchoError::Connect(format!(
                "no connection within {} s",
                limit.as_secs_f64()
            )));
        }
    };
    // Send each message at once rather than waiting to coalesce it with
    // the next (Nagle's algorithm): a request/response client has no next.
    stream
        .set_nodelay(true)
        .map_err(|e| EchoError::Connect(e.to_string()))?;
    Ok(stream)
}

/// One connection's two counts, each written only by its own task.
#[derive(Clone, Copy)]
struct Counters<'a> {
    echoes: &'a AtomicU64,
    in_window: &'a AtomicU64,
    sending: &'a AtomicBool,
}

impl<'a> Counters<'a> {
    fn of(shared: &'a Shared, id: usize) -> Counters<'a> {
        Counters {
            echoes: &shared.echoes[id],
            in_window: &shared.in_window[id],
            sending: &shared.sending[id],
        }
    }

    /// One more echo; `in_window`: it counts in the measurement too.
    fn count(&self, in_window: bool) {
        // One writer per counter: a load and a store, no locked add.
        let bump = |n: &AtomicU64| n.store(n.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        bump(self.echoes);
        if in_window {
            bump(self.in_window);
        }
    }
}

/// Send a message, wait for its whole echo, check it, repeat.
async fn closed_loop(
    stream: &mut TcpStream,
    payload: &Payload,
    plan: &Plan,
    shared: &Shared,
    counters: Counters<'_>,
    guard: &mut StopGuard<'_>,
) -> Result<(), EchoError> {
    let (mut reader, mut writer) = stream.split();
    let mut latency = Recorder::new(Arc::clone(&shared.latency));
    let mut echoes = EchoReader::new(payload.size());
    let mut seq = 0;
    // From here on the watchdog gives up on this connection if an echo is
    // overdue (it aborts this task).
    counters.sending.store(true, Ordering::Relaxed);
    // One clock reading per message: the one that ends an echo starts the
    // next message's round trip (what happens in between, checking and
    // counting, takes tens of nanoseconds).
    let mut now = Instant::now();
    // ANCHOR: closed_loop
    while plan.keep_sending(seq, now) {
        let message = payload.message(seq);
        let sent_at = now;
        // Write and read at the same time: a message bigger than the
        // socket buffers comes back while it is still being sent, and a
        // client that only read after writing it all would deadlock with
        // a server that stops reading until we read (back-pressure).
        let round_trip = async {
            // Most messages fit in the socket's send buffer: one write, then
            // only the echo to wait for (one future instead of two).
            let sent = match writer.as_ref().try_write(message) {
                Ok(sent) => sent,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
                Err(e) => return Err(io_error(seq, &e)),
            };
            let read = if sent == message.len() {
                echoes.read_echo(&mut reader).await
            } else {
                let (written, read) = tokio::join!(
                    writer.write_all(&message[sent..]),
                    echoes.read_echo(&mut reader)
                );
                written.map_err(|e| io_error(seq, &e))?;
                read
            };
            match read.map_err(|e| io_error(seq, &e))? {
                Echo::Full => Ok(()),
                Echo::Closed { got } => Err(EchoError::Short {
                    message: seq,
                    got,
                    expected: message.len(),
                }),
            }
        };
        round_trip.await?;
        check_echo(payload, seq, echoes.echo())?;
        echoes.advance();
        if echoes.buffered() > 0 {
            // One message in flight: anything more is the server's own.
            return Err(EchoError::Extra {
                bytes: echoes.buffered(),
            });
        }
        now = Instant::now();
        counters.count(plan.in_window(now));
        if plan.in_window(now) {
            latency.record(now - sent_at);
        }
        seq += 1;
    }
    // ANCHOR_END: closed_loop
    counters.sending.store(false, Ordering::Relaxed);
    guard.stop();
    shared.wait_for_release().await;
    writer.shutdown().await.map_err(|e| io_error(seq, &e))?;
    expect_close(&mut reader, plan.timeout).await
}

/// Send on the schedule whatever the server does; read and check echoes as
/// they come. Echoes come back in order on one connection, so the n-th
/// echo answers the n-th message.
struct OpenLoop<'a> {
    counters: Counters<'a>,
    payload: &'a Payload,
    plan: &'a Plan,
    schedule: &'a Schedule,
    /// One permit per message due, from the pacer.
    permits: &'a Semaphore,
}

impl OpenLoop<'_> {
    async fn run(
        &self,
        stream: &mut TcpStream,
        shared: &Shared,
        guard: &mut StopGuard<'_>,
    ) -> Result<(), EchoError> {
        let OpenLoop {
            counters,
            payload,
            plan,
            schedule,
            permits,
        } = *self;
        let (mut reader, mut writer) = stream.split();
        let due = |seq: u64| plan.start + schedule.intended(seq);
        // Shared by the two halves below, which run in this one task.
        let sent = AtomicU64::new(0);
        let done_sending = AtomicBool::new(false);
        let send_times = Mutex::new(VecDeque::new());

        let write_side = async {
            let mut seq = 0;
            while due(seq) < plan.end {
                // Returns at once when we are behind: then we catch up,
                // sending back to back. The semaphore is never closed.
                if let Ok(permit) = permits.acquire().await {
                    permit.forget();
                }
                send_times
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push_back(Instant::now());
                writer
                    .write_all(payload.message(seq))
                    .await
                    .map_err(|e| io_error(seq, &e))?;
                seq += 1;
                sent.store(seq, Ordering::Release);
            }
            done_sending.store(true, Ordering::Release);
            guard.stop();
            shared.wait_for_release().await;
            writer.shutdown().await.map_err(|e| io_error(seq, &e))?;
            Ok::<_, EchoError>(())
        };

        let read_side = async {
            let mut latency = Recorder::new(Arc::clone(&shared.latency));
            let mut service = Recorder::new(Arc::clone(&shared.service));
            // Several echoes may be waiting: read them in one go.
            let mut echoes = EchoReader::with_capacity(payload.size(), 16 * 1024);
            let mut deadline = Deadline::new(plan.timeout);
            let mut seq = 0;
            loop {
                let intended = due(seq);
                let since = intended.max(Instant::now());
                let read = match deadline.within(since, echoes.read_echo(&mut reader)).await {
                    Some(read) => read.map_err(|e| io_error(seq, &e))?,
                    None => return Err(timed_out(seq, plan.timeout)),
                };
                match read {
                    Echo::Full => {}
                    // The server closes after our half-close, once it has
                    // echoed everything: the clean end.
                    Echo::Closed { got: 0 }
                        if done_sending.load(Ordering::Acquire)
                            && sent.load(Ordering::Acquire) == seq =>
                    {
                        return Ok(());
                    }
                    Echo::Closed { got } => {
                        return Err(EchoError::Short {
                            message: seq,
                            got,
                            expected: payload.size(),
                        });
                    }
                }
                // ANCHOR: open_loop_record
                check_echo(payload, seq, echoes.echo())?;
                echoes.advance();
                let now = Instant::now();
                let actually_sent = send_times
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .pop_front()
                    .unwrap_or(intended);
                // Latency counts for every message *due* in the window,
                // however late it came back; throughput counts echoes that
                // *arrived* in it.
                if plan.in_window(intended) {
                    latency.record(now.saturating_duration_since(intended));
                    service.record(now.saturating_duration_since(actually_sent));
                }
                counters.count(plan.in_window(now));
                // ANCHOR_END: open_loop_record
                seq += 1;
            }
        };

        tokio::try_join!(write_side, read_side)?;
        Ok(())
    }
}

/// After our half-close the server must close too, having nothing left to
/// send: any byte now is one it added.
async fn expect_close<R: AsyncRead + Unpin>(
    reader: &mut R,
    limit: Duration,
) -> Result<(), EchoError> {
    let mut extra = 0;
    let mut buf = [0; 4096];
    loop {
        match timeout(limit, reader.read(&mut buf)).await {
            Ok(Ok(0)) if extra == 0 => return Ok(()),
            Ok(Ok(0)) => return Err(EchoError::Extra { bytes: extra }),
            Ok(Ok(n)) => extra += n,
            Ok(Err(error)) => return Err(EchoError::Closing(error.to_string())),
            Err(_) => {
                return Err(EchoError::NoClose {
                    secs: limit.as_secs_f64(),
                });
            }
        }
    }
}

fn io_error(seq: u64, error: &io::Error) -> EchoError {
    EchoError::Io {
        message: seq,
        error: error.to_string(),
    }
}

fn timed_out(seq: u64, limit: Duration) -> EchoError {
    EchoError::Timeout {
        message: seq,
        secs: limit.as_secs_f64(),
    }
}
