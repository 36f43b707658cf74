//! The loop: one thread, trying the listener and then every connection in
//! turn, forever.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use echo_common::{ACCEPTS_PER_PASS, AcceptError, Log};

use crate::connection::{Connection, Step};
use crate::pacing::IdleSleep;
use crate::shutdown;

/// How long to stop accepting after `accept` failed for lack of descriptors
/// or memory. Retrying at once would fail at once.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// What the flags decide.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    pub max_connections: usize,
    pub idle_timeout: Duration,
    pub grace: Duration,
    pub idle_sleep: IdleSleep,
}

/// A connection and who is at the other end, for the log.
struct Client {
    peer: SocketAddr,
    connection: Connection<TcpStream>,
}

/// Everything the loop keeps between passes.
struct Server {
    /// `None` once shutdown has begun: dropping the listener closes it, so
    /// new clients are refused at once.
    listener: Option<TcpListener>,
    clients: Vec<Client>,
    /// Set after an accept error that asks us to back off.
    accept_paused_until: Option<Instant>,
    /// Set when shutdown begins.
    grace_deadline: Option<Instant>,
    config: Config,
    log: Log,
}

// ANCHOR: serve
/// Serves until a shutdown signal has arrived and every connection has
/// finished (or `grace` has run out).
pub fn serve(listener: TcpListener, config: Config, log: Log) -> Result<()> {
    listener
        .set_nonblocking(true)
        .context("cannot make the listener non-blocking")?;
    let mut server = Server {
        listener: Some(listener),
        clients: Vec::new(),
        accept_paused_until: None,
        grace_deadline: None,
        config,
        log,
    };
    loop {
        let now = Instant::now();
        let signals = shutdown::signals_received();
        if signals >= 2 {
            // Even if the graceful shutdown is still waiting: at once.
            echo_common::exit_on_second_signal(log);
        }
        if signals == 1 && server.grace_deadline.is_none() {
            server.begin_shutdown(now);
        }
        let accepted = server.accept_new(now);
        let moved = server.advance_each(now);
        if server.shutdown_finished(now) {
            return Ok(());
        }
        config.idle_sleep.after_pass(accepted || moved);
    }
}
// ANCHOR_END: serve

impl Server {
    // ANCHOR: accept
    /// Takes the connections waiting in the listen backlog, up to the cap.
    /// Returns whether it took any.
    fn accept_new(&mut self, now: Instant) -> bool {
        let Some(listener) = &self.listener else {
            return false;
        };
        if self.accept_paused_until.is_some_and(|until| now < until) {
            return false;
        }
        let mut accepted = false;
        for _ in 0..ACCEPTS_PER_PASS {
            // At the cap we leave the rest in the backlog: they wait there,
            // connected as far as their kernel is concerned, until a slot
            // frees up.
            if self.clients.len() >= self.config.max_connections {
                break;
            }
            match listener.accept() {
                Ok((stream, peer)) => {
                    accepted = true;
                    // An accepted socket does not inherit the listener's
                    // non-blocking mode: without this, its first `read`
                    // would stop the whole server.
                    if let Err(err) = stream.set_nonblocking(true) {
                        self.log.closed(peer, &Err(err));
                        continue;
                    }
                    self.log.opened(peer);
                    let connection = Connection::new(stream, now);
                    self.clients.push(Client { peer, connection });
                }
                // The backlog is empty.
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) => {
                    self.log.server(format_args!("accept failed: {err}"));
                    if AcceptError::classify(&err) == AcceptError::BackOff {
                        // Not `sleep`: that would stall every connection
                        // too. Just leave the listener alone for a while.
                        self.accept_paused_until = Some(now + ACCEPT_BACKOFF);
                        break;
                    }
                }
            }
        }
        accepted
    }
    // ANCHOR_END: accept

    // ANCHOR: advance_each
    /// Gives every connection one step. Closes those that finished, failed
    /// or sat idle too long; an error closes that connection only. Returns
    /// whether anything happened.
    fn advance_each(&mut self, now: Instant) -> bool {
        let (log, idle_timeout) = (self.log, self.config.idle_timeout);
        let mut progress = false;
        self.clients.retain_mut(|client| {
            let conn = &mut client.connection;
            let result = match conn.advance(now) {
                Ok(Step::Moved) => {
                    progress = true;
                    return true;
                }
                Ok(Step::Waiting) if conn.idle_for(now) < idle_timeout => return true,
                Ok(Step::Waiting) => Err(echo_common::idle_timeout_error(idle_timeout)),
                Ok(Step::Done) => Ok(conn.echoed()),
                Err(err) => Err(err),
            };
            // Returning false drops the connection, which closes its socket.
            log.closed(client.peer, &result);
            progress = true;
            false
        });
        progress
    }
    // ANCHOR_END: advance_each

    // ANCHOR: shutdown
    /// Stops accepting: the listener closes, and clients still in its
    /// backlog are refused. Open connections carry on until they finish or
    /// `grace` runs out.
    fn begin_shutdown(&mut self, now: Instant) {
        self.listener = None;
        self.grace_deadline = Some(now + self.config.grace);
        self.log.server(format_args!(
            "shutting down: waiting up to {:?} for {} connection(s)",
            self.config.grace,
            self.clients.len()
        ));
    }

    fn shutdown_finished(&mut self, now: Instant) -> bool {
        let Some(deadline) = self.grace_deadline else {
            return false;
        };
        if now >= deadline {
            for client in self.clients.drain(..) {
                let cut = io::Error::other("shutting down: grace period over");
                self.log.closed(client.peer, &Err(cut));
            }
        }
        self.clients.is_empty()
    }
    // ANCHOR_END: shutdown
}
