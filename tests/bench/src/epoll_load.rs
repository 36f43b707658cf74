//! The yardstick for the generator: the least a closed-loop load generator
//! can do. One thread, level-triggered epoll through `libc`, every socket
//! non-blocking; per echo one `read` (more only when the echo comes in
//! pieces) and one `write` of the next message, and one `memcmp` against
//! what was sent. No tokio, no timers, no latency histogram, no atomics:
//! the clock is read once per `epoll_wait`, not per message.
//!
//! [`crate::load`] (tokio) is measured against it: a generator that drives
//! a server more slowly than this one measures itself, not the server.
//! It is the same idea as the minimal epoll *server* the servers are
//! measured against.

use std::io::{self, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::load::{Outcome, Snapshot};
use crate::payload::{EchoError, Payload, check_echo};
use crate::stats::new_histogram;
use crate::{LoadConfig, Plan};

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
    /// Echoes completed inside the window.
    in_window: u64,
    /// Registered for writability too (a write is pending).
    writing: bool,
    /// Stopped sending: the window is over or its message count reached.
    done: bool,
}

/// Runs the closed loop of `config` (`rate` must be `None`) on this thread.
pub fn run(config: &LoadConfig) -> Result<Outcome> {
    if config.rate.is_some() {
        bail!("the minimal epoll generator runs a closed loop only (no --rate)");
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
    let mut echoes = 0u64;
    let mut first = None;
    let mut running = connections.len();
    let mut failed = vec![false; connections.len()];
    for token in 0..connections.len() {
        if let Err(error) = send(epfd, &mut connections[token], token) {
            failed[token] = true;
            running -= 1;
            errors.push((token, error));
        }
    }

    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    while running > 0 {
        // SAFETY: `events` is valid for `events.len()` entries, which the
        // kernel fills and we read back only up to `ready`.
        let ready = unsafe {
            libc::epoll_wait(
                epfd,
                events.as_mut_ptr(),
                events.len() as i32,
                plan.timeout.as_millis().min(i32::MAX as u128) as i32,
            )
        };
        if ready < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(err).context("epoll_wait");
        }
        if ready == 0 {
            for (token, c) in connections.iter().enumerate() {
                if !failed[token] && !c.done {
                    errors.push((
                        token,
                        EchoError::Timeout {
                            message: c.seq,
                            secs: plan.timeout.as_secs_f64(),
                        },
                    ));
                }
            }
            break;
        }
        // One clock reading per wake-up, for every echo it completes.
        let now = Instant::now();
        if first.is_none() && now >= plan.window_start {
            first = Some(Snapshot::take(config.server_pid, echoes));
        }
        let counting = plan.in_window(now);
        for event in &events[..ready as usize] {
            let token = event.u64 as usize;
            if failed[token] || connections[token].done {
                continue;
            }
            let c = &mut connections[token];
            let outcome = drive(epfd, c, token, event.events, &plan, now, counting);
            let stopped = match outcome {
                Ok(completed) => {
                    echoes += completed;
                    c.done
                }
                Err(error) => {
                    failed[token] = true;
                    errors.push((token, error));
                    true
                }
            };
            if stopped {
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
        latency: new_histogram(),
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

/// Handles one readiness event: reads what has come of the echo, checks a
/// completed one and sends the next message, writes what is still owed.
/// Returns how many echoes completed.
fn drive(
    epfd: RawFd,
    c: &mut Connection,
    token: usize,
    events: u32,
    plan: &Plan,
    now: Instant,
    counting: bool,
) -> Result<u64, EchoError> {
    let io_error = |seq, e: io::Error| EchoError::Io {
        message: seq,
        error: e.to_string(),
    };
    let mut completed = 0;
    if events & libc::EPOLLOUT as u32 != 0 {
        send(epfd, c, token)?;
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
        Err(e) => return Err(io_error(c.seq, e)),
    };
    c.filled += n;
    if c.filled < c.echo.len() {
        return Ok(0);
    }
    check_echo(&c.payload, c.seq, &c.echo)?;
    completed += 1;
    if counting {
        c.in_window += 1;
    }
    c.seq += 1;
    c.filled = 0;
    c.written = 0;
    if plan.keep_sending(c.seq, now) {
        send(epfd, c, token)?;
    } else {
        c.done = true;
    }
    Ok(completed)
}

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
