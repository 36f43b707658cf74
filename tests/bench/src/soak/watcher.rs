//! The silent clients' connections, watched by one thread with `poll(2)`:
//! each must be closed by the server once its idle timeout has passed, and
//! not much before. The client that opened one goes on with other
//! behaviours meanwhile, so that idle connections pile up beside the busy
//! ones, as they do on a real server.

use std::io::{ErrorKind, Read};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::behaviours::{Failure, FailureKind};

/// How long after its idle timeout a silent connection may still be open.
pub const SLACK: Duration = Duration::from_secs(5);

/// How long one `poll` waits before the watcher looks at the clock (and at
/// connections handed over meanwhile).
const TICK: Duration = Duration::from_millis(20);

pub struct Watcher {
    idle_timeout: Duration,
    /// Each connection, and when its last byte moved.
    watched: Mutex<Vec<(TcpStream, Instant)>>,
    outcome: Mutex<Watched>,
}

/// What the watcher saw.
#[derive(Debug, Default)]
pub struct Watched {
    /// Connections the server closed in time.
    pub closed: u64,
    /// The shortest and longest time from a connection's last byte to its
    /// close.
    pub after: Option<(Duration, Duration)>,
    pub failures: Vec<Failure>,
}

impl Watcher {
    pub fn new(idle_timeout: Duration) -> Watcher {
        Watcher {
            idle_timeout,
            watched: Mutex::new(Vec::new()),
            outcome: Mutex::new(Watched::default()),
        }
    }

    pub fn watch(&self, stream: TcpStream, last_byte: Instant) {
        self.lock().push((stream, last_byte));
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(TcpStream, Instant)>> {
        self.watched.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Watches until `done` says no connection will be handed over any
    /// more and every one watched has been settled.
    pub fn run(&self, done: impl Fn() -> bool) {
        loop {
            let mut fds: Vec<libc::pollfd> = self
                .lock()
                .iter()
                .map(|(stream, _)| libc::pollfd {
                    fd: stream.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                })
                .collect();
            if fds.is_empty() && done() {
                return;
            }
            // SAFETY: `fds` is a valid array of `fds.len()` pollfd structs;
            // the descriptors stay open while we poll, because only this
            // thread removes (and so closes) watched connections. With no
            // descriptor at all, poll just waits for the timeout.
            let ready = unsafe {
                libc::poll(
                    fds.as_mut_ptr(),
                    fds.len() as libc::nfds_t,
                    TICK.as_millis() as i32,
                )
            };
            if ready < 0 {
                continue; // EINTR: look again
            }
            let mut watched = self.lock();
            let mut outcome = self.outcome.lock().unwrap_or_else(|e| e.into_inner());
            // Backwards, so that removing one leaves the indices of those
            // still to look at alone; connections handed over during the
            // poll sit past `fds.len()` and wait for the next round.
            for i in (0..fds.len()).rev() {
                let since = watched[i].1.elapsed();
                if fds[i].revents != 0 {
                    let (stream, _) = watched.swap_remove(i);
                    self.closed(&stream, since, &mut outcome);
                } else if since > self.idle_timeout + SLACK {
                    watched.swap_remove(i);
                    outcome.failures.push(Failure::new(
                        FailureKind::NotClosed,
                        format!(
                            "still open {since:?} after its last byte (idle timeout {:?})",
                            self.idle_timeout
                        ),
                    ));
                }
            }
        }
    }

    /// The server did something with a silent connection: it must have
    /// closed it (FIN or reset), and not too early.
    fn closed(&self, mut stream: &TcpStream, after: Duration, outcome: &mut Watched) {
        let mut byte = [0; 1];
        let ended = match stream.read(&mut byte) {
            Ok(0) => Ok(()),
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => {
                Ok(())
            }
            Ok(_) => Err(Failure::new(
                FailureKind::Extra,
                "a silent connection received a byte it never sent",
            )),
            Err(e) => Err(Failure::new(
                FailureKind::Io,
                format!("a silent connection: {e}"),
            )),
        };
        if let Err(failure) = ended {
            outcome.failures.push(failure);
        } else if after < self.idle_timeout / 2 {
            outcome.failures.push(Failure::new(
                FailureKind::ClosedEarly,
                format!(
                    "closed {after:?} after its last byte (idle timeout {:?})",
                    self.idle_timeout
                ),
            ));
        } else {
            outcome.closed += 1;
            outcome.after = Some(match outcome.after {
                None => (after, after),
                Some((least, most)) => (least.min(after), most.max(after)),
            });
        }
    }

    pub fn into_outcome(self) -> Watched {
        self.outcome.into_inner().unwrap_or_else(|e| e.into_inner())
    }
}
