//! The closed loop on a raw epoll loop: one thread, level-triggered epoll
//! through `libc`, every socket non-blocking, a small state machine per
//! connection (chapter 3's model, for a client). Per echo one `read` (more
//! only when the echo comes in pieces), one `memcmp` against what was sent
//! and one `write` of the next message.
//!
//! With [`Latency::Skip`] it is the *yardstick* (`--minimal-epoll`): the
//! least a closed-loop generator can do, the clock read once per
//! `epoll_wait`, no histogram. With [`Latency::Record`] it is
//! `echo-bench`'s own closed loop: the same, plus a clock reading and a
//! histogram entry per echo. A generator that drives a server more slowly
//! than the yardstick measures itself, not the server; the tokio closed
//! loop of [`crate::load`] did, by a tenth at 100 connections (the waking
//! and polling of a task per echo: the book's measuring page has the
//! figures).

use std::io::{self, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};

use crate::load::{Outcome, Snapshot};
use crate::payload::{EchoError, Payload, check_echo};
use crate::stats::new_histogram;
use crate::{LoadConfig, Plan};

/// Whether to time every echo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Latency {
    /// The yardstick: count echoes, time nothing.
    Skip,
    /// `echo-bench`: every echo from the start of its write to its last
    /// byte, into a histogram.
    Record,
}

/// One connection: its messages, the one in flight, and its echo so far.
struct Connection {
    stream: TcpStream,
    payload: Payload,
    seq: u64,
    /// Bytes of message `seq` written so far.
    written: usize,
    echo: Vec<u8>,
    /// Bytes of the echo of message `seq` read so far.
    filled: usize,
    /// When message `seq` started out (with [`Latency::Skip`], the
    /// wake-up that sent it): for the latency and the timeout.
    sent_at: Instant,
    /// Echoes completed inside the window.
    in_window: u64,
    /// Registered for writability too (a write is pending).
    writing: bool,
    /// Stopped sending: the window is over or its message count reached.
    done: bool,
}

/// What a wake-up needs besides the connection.
struct Turn<'a> {
    epfd: RawFd,
    plan: &'a Plan,
    /// The wake-up's clock reading.
    now: Instant,
    latency: Option<&'a mut Histogram<u64>>,
}

/// Runs the closed loop of `config` (`rate` must be `None`) on this thread;
/// with `progress`, a live line on stderr.
pub fn run(config: &LoadConfig, latency: Latency, progress: bool) -> Result<Outcome> {
    if config.rate.is_some() {
        bail!("the epoll generator runs a closed loop only (no --rate)");
    }
    // SAFETY: epoll_create1 takes a flag and returns a new descriptor or
    // -1; we own the descriptor from here on.
    let epoll = unsafe {
        let fd = libc::epoll_create1(libc::EPOLL_CLOEXEC);
        if fd < 0 {
            return Err(io::Error::last_os_error()).context("epoll_create1");
        }
        OwnedFd::from_raw_fd(fd)
    };
    let epfd = epoll.as_raw_fd();

    let mut errors = Vec::new();
    let mut connections = Vec::with_capacity(config.connections);
    for id in 0..config.connections {
        match connect(config) {
            Ok(stream) => connections.push(Connection {
                stream,
                payload: Payload::new(id as u64, config.size),
                seq: 0,
                written: 0,
                echo: vec![0; config.size],
                filled: 0,
                sent_at: Instant::now(),
                in_window: 0,
                writing: false,
                done: false,
            }),
            Err(error) => errors.push((id, error)),
        }
    }
    for (token, c) in connections.iter().enumerate() {
        control(
            epfd,
            libc::EPOLL_CTL_ADD,
            c.stream.as_raw_fd(),
            false,
            token,
        )
        .context("cannot watch a connection")?;
    }

    let plan = Plan::new(config, Instant::now());
    let mut histogram = new_histogram();
    let mut echoes = 0u64;
    let mut first = None;
    let mut running = connections.len();
    let mut failed = vec![false; connections.len()];
    for token in 0..connections.len() {
        connections[token].sent_at = plan.start;
        if let Err(error) = send(epfd, &mut connections[token], token) {
            failed[token] = true;
            running -= 1;
            errors.push((token, error));
        }
    }
    // A look at every connection for an overdue echo a few times per
    // timeout, not per message: it times out between `--timeout` and a
    // tenth more after it was sent.
    let tick = (plan.timeout / 10).clamp(Duration::from_millis(10), Duration::from_secs(1));
    let mut next_check = plan.start + tick;
    let mut progress = progress.then(|| Progress::new(plan));

    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    while running > 0 {
        // SAFETY: `events` is valid for `events.len()` entries, which the
        // kernel fills and we read back only up to `ready`.
        let ready = unsafe {
            libc::epoll_wait(
                epfd,
                events.as_mut_ptr(),
                events.len() as i32,
                tick.as_millis() as i32,
            )
        };
        if ready < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(err).context("epoll_wait");
        }
        // One clock reading per wake-up: the window, the timeouts, and
        // (with `Latency::Skip`) every echo it completes.
        let now = Instant::now();
        if first.is_none() && now >= plan.window_start {
            first = Some(Snapshot::take(config.server_pid, echoes));
        }
        let mut turn = Turn {
            epfd,
            plan: &plan,
            now,
            latency: (latency == Latency::Record).then_some(&mut histogram),
        };
        let mut stopped = Vec::new();
        for event in &events[..ready as usize] {
            let token = event.u64 as usize;
            if failed[token] || connections[token].done {
                continue;
            }
            match drive(&mut turn, &mut connections[token], token, event.events) {
                Ok(completed) => {
                    echoes += completed;
                    if connections[token].done {
                        stopped.push(token);
                    }
                }
                Err(error) => {
                    failed[token] = true;
                    errors.push((token, error));
                    stopped.push(token);
                }
            }
        }
        if now >= next_check {
            next_check = now + tick;
            for (token, c) in connections.iter().enumerate() {
                if !failed[token] && !c.done && now - c.sent_at >= plan.timeout {
                    failed[token] = true;
                    errors.push((token, timed_out(c.seq, plan.timeout)));
                    stopped.push(token);
                }
            }
            if let Some(progress) = &mut progress {
                progress.show(now, echoes);
            }
        }
        for token in stopped {
            let c = &connections[token];
            running -= 1;
            // Nothing more to read until the half-close at the end.
            let _ = control(
                epfd,
                libc::EPOLL_CTL_DEL,
                c.stream.as_raw_fd(),
                false,
                token,
            );
        }
    }
    if let Some(progress) = progress {
        progress.bar.finish_and_clear();
    }
    let last = Snapshot::take(config.server_pid, echoes);
    let first = first.unwrap_or(last);

    // Half-close each connection that finished cleanly; the server must
    // then close with nothing more to say.
    for (token, c) in connections.iter_mut().enumerate() {
        if failed[token] {
            continue;
        }
        if let Err(error) = finish(c, config) {
            errors.push((token, error));
        }
    }
    errors.sort_by_key(|(id, _)| *id);
    let per_connection: Vec<u64> = connections.iter().map(|c| c.in_window).collect();
    Ok(Outcome {
        window: match config.messages {
            None => config.duration,
            Some(_) => last.at - plan.start,
        },
        completed: per_connection.iter().sum(),
        per_connection,
        latency: histogram,
        service: None,
        errors,
        snapshots: (first, last),
    })
}

fn connect(config: &LoadConfig) -> Result<TcpStream, EchoError> {
    let connect_error = |e: io::Error| EchoError::Connect(e.to_string());
    let stream = TcpStream::connect_timeout(&config.addr, config.timeout).map_err(connect_error)?;
    stream.set_nodelay(true).map_err(connect_error)?;
    stream.set_nonblocking(true).map_err(connect_error)?;
    Ok(stream)
}

// ANCHOR: drive
/// Handles one readiness event: reads what has come of the echo, checks a
/// completed one and sends the next message, writes what is still owed.
/// Returns how many echoes completed.
fn drive(
    turn: &mut Turn<'_>,
    c: &mut Connection,
    token: usize,
    events: u32,
) -> Result<u64, EchoError> {
    if events & libc::EPOLLOUT as u32 != 0 {
        // A message bigger than the socket buffers: the rest of it, while
        // its echo comes back (the server stops reading until we read).
        send(turn.epfd, c, token)?;
    }
    if events & (libc::EPOLLIN | libc::EPOLLERR | libc::EPOLLHUP) as u32 == 0 {
        return Ok(0);
    }
    let n = match c.stream.read(&mut c.echo[c.filled..]) {
        Ok(0) => {
            return Err(EchoError::Short {
                message: c.seq,
                got: c.filled,
                expected: c.echo.len(),
            });
        }
        Ok(n) => n,
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {
            return Ok(0);
        }
        Err(e) => {
            return Err(EchoError::Io {
                message: c.seq,
                error: e.to_string(),
            });
        }
    };
    c.filled += n;
    if c.filled < c.echo.len() {
        return Ok(0);
    }
    check_echo(&c.payload, c.seq, &c.echo)?;
    // The echo is whole and right: when, then the next message.
    let done = match &mut turn.latency {
        None => turn.now,
        Some(latency) => {
            let done = Instant::now();
            if turn.plan.in_window(done) {
                let ns = u64::try_from((done - c.sent_at).as_nanos()).unwrap_or(u64::MAX);
                if latency.record(ns.max(1)).is_err() {
                    latency.saturating_record(ns);
                }
            }
            done
        }
    };
    if turn.plan.in_window(done) {
        c.in_window += 1;
    }
    c.seq += 1;
    c.filled = 0;
    c.written = 0;
    c.sent_at = done;
    if turn.plan.keep_sending(c.seq, done) {
        send(turn.epfd, c, token)?;
    } else {
        c.done = true;
    }
    Ok(1)
}
// ANCHOR_END: drive

/// Writes as much of message `seq` as the socket takes; watches for room
/// only while some of it is still owed.
fn send(epfd: RawFd, c: &mut Connection, token: usize) -> Result<(), EchoError> {
    let message = c.payload.message(c.seq);
    while c.written < message.len() {
        match c.stream.write(&message[c.written..]) {
            Ok(n) => c.written += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(EchoError::Io {
                    message: c.seq,
                    error: e.to_string(),
                });
            }
        }
    }
    let writing = c.written < message.len();
    if writing != c.writing {
        c.writing = writing;
        control(
            epfd,
            libc::EPOLL_CTL_MOD,
            c.stream.as_raw_fd(),
            writing,
            token,
        )
        .map_err(|e| EchoError::Io {
            message: c.seq,
            error: e.to_string(),
        })?;
    }
    Ok(())
}

/// Half-closes, then reads until the server closes: any byte now is one
/// it added.
fn finish(c: &mut Connection, config: &LoadConfig) -> Result<(), EchoError> {
    let closing = |e: io::Error| EchoError::Closing(e.to_string());
    c.stream.set_nonblocking(false).map_err(closing)?;
    c.stream
        .set_read_timeout(Some(config.timeout))
        .map_err(closing)?;
    c.stream
        .shutdown(std::net::Shutdown::Write)
        .map_err(closing)?;
    let mut extra = 0;
    let mut buf = [0; 4096];
    loop {
        match c.stream.read(&mut buf) {
            Ok(0) if extra == 0 => return Ok(()),
            Ok(0) => return Err(EchoError::Extra { bytes: extra }),
            Ok(n) => extra += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(EchoError::NoClose {
                    secs: config.timeout.as_secs_f64(),
                });
            }
            Err(e) => return Err(closing(e)),
        }
    }
}

fn timed_out(message: u64, limit: Duration) -> EchoError {
    EchoError::Timeout {
        message,
        secs: limit.as_secs_f64(),
    }
}

/// The live line on stderr: echoes so far and the rate since the last.
struct Progress {
    bar: ProgressBar,
    plan: Plan,
    last: (Instant, u64),
}

impl Progress {
    fn new(plan: Plan) -> Progress {
        let bar = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{spinner} {elapsed:>3} {msg}") {
            bar.set_style(style);
        }
        Progress {
            bar,
            plan,
            last: (plan.start, 0),
        }
    }

    fn show(&mut self, now: Instant, echoes: u64) {
        let rate = (echoes - self.last.1) as f64 / (now - self.last.0).as_secs_f64().max(1e-9);
        let phase = if now < self.plan.window_start {
            "warming up"
        } else if now < self.plan.end {
            "measuring"
        } else {
            "finishing"
        };
        self.bar
            .set_message(format!("{phase}: {echoes} echoes, {rate:.0} msgs/s"));
        self.bar.tick();
        self.last = (now, echoes);
    }
}

fn control(epfd: RawFd, op: i32, fd: RawFd, writing: bool, token: usize) -> io::Result<()> {
    let events = if writing {
        libc::EPOLLIN | libc::EPOLLOUT
    } else {
        libc::EPOLLIN
    };
    let mut event = libc::epoll_event {
        events: events as u32,
        u64: token as u64,
    };
    // SAFETY: `event` is a valid epoll_event for the duration of the call;
    // the kernel copies it.
    if unsafe { libc::epoll_ctl(epfd, op, fd, &mut event) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
