//! The floor the chapters are measured against: the least an epoll echo
//! server can do. One thread, level-triggered epoll, one `read` and one
//! `write` per readiness event through a buffer all connections share
//! (only what a client cannot take yet is kept per connection), and
//! nothing else — no idle timeout, no connection cap, no graceful
//! shutdown, no logging (it takes the chapters' flags but ignores all but
//! `--listen`). Its CPU time per message is what an echo costs
//! when nothing but the kernel's work is left; chapter 3's and 4's servers
//! are compared with it.
//!
//! Linux only (epoll), like the whole workspace.

use std::process::ExitCode;

use clap::Parser;
use echo_common::ServerArgs;

/// A minimal epoll echo server, the benchmark's reference point (ignores
/// every flag but --listen)
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Args {
    #[command(flatten)]
    server: ServerArgs,

    /// Set TCP_NODELAY on every connection: send each write at once
    /// instead of holding a small segment back while earlier data is
    /// unacknowledged (Nagle's algorithm)
    #[arg(long)]
    nodelay: bool,
}

fn main() -> ExitCode {
    echo_common::run(|| {
        let args = Args::parse();
        let listener = echo_common::bind(&args.server.listen)?;
        echo_common::announce(&listener)?;
        linux::serve(listener, args.nodelay)
    })
}

mod linux {
    use std::collections::HashMap;
    use std::io::{self, ErrorKind, Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
    use std::time::Duration;

    use anyhow::{Context, Result};
    use echo_common::AcceptError;

    const LISTENER: u64 = u64::MAX;

    /// One read's worth, shared by every connection.
    const SCRATCH: usize = 64 * 1024;

    struct Connection {
        stream: TcpStream,
        /// What the client could not take yet; `pending[written..]` is
        /// still owed. Empty (no allocation) while the client keeps up.
        pending: Vec<u8>,
        written: usize,
        /// Registered for EPOLLOUT (output pending) rather than EPOLLIN.
        writing: bool,
    }

    pub fn serve(listener: TcpListener, nodelay: bool) -> Result<()> {
        listener
            .set_nonblocking(true)
            .context("cannot make the listener non-blocking")?;
        // SAFETY: epoll_create1 takes a flag and returns a new descriptor
        // or -1; we own the descriptor from here on.
        let epoll = unsafe {
            let fd = libc::epoll_create1(libc::EPOLL_CLOEXEC);
            if fd < 0 {
                return Err(io::Error::last_os_error()).context("epoll_create1");
            }
            OwnedFd::from_raw_fd(fd)
        };
        let epfd = epoll.as_raw_fd();
        control(
            epfd,
            libc::EPOLL_CTL_ADD,
            listener.as_raw_fd(),
            libc::EPOLLIN,
            LISTENER,
        )
        .context("cannot watch the listener")?;

        let mut connections: HashMap<RawFd, Connection> = HashMap::new();
        let mut scratch = vec![0; SCRATCH];
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
        loop {
            // SAFETY: `events` is valid for `events.len()` entries, which
            // the kernel fills and we read back only up to `ready`.
            let ready =
                unsafe { libc::epoll_wait(epfd, events.as_mut_ptr(), events.len() as i32, -1) };
            if ready < 0 {
                let err = io::Error::last_os_error();
                if err.kind() == ErrorKind::Interrupted {
                    continue;
                }
                return Err(err).context("epoll_wait");
            }
            for event in &events[..ready as usize] {
                let token = event.u64;
                if token == LISTENER {
                    accept_all(epfd, &listener, &mut connections, nodelay);
                    continue;
                }
                let fd = token as RawFd;
                let Some(connection) = connections.get_mut(&fd) else {
                    continue;
                };
                if !drive(epfd, connection, &mut scratch) {
                    // Dropping the stream closes it, which also removes it
                    // from the epoll set.
                    connections.remove(&fd);
                }
            }
        }
    }

    fn accept_all(
        epfd: RawFd,
        listener: &TcpListener,
        connections: &mut HashMap<RawFd, Connection>,
        nodelay: bool,
    ) {
        loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    let fd = stream.as_raw_fd();
                    // Off by default, as in the chapters' servers; see
                    // the bulk-transfer results for what it changes.
                    if nodelay {
                        let _ = stream.set_nodelay(true);
                    }
                    if stream.set_nonblocking(true).is_err()
                        || control(epfd, libc::EPOLL_CTL_ADD, fd, libc::EPOLLIN, fd as u64).is_err()
                    {
                        continue; // dropping the stream closes it
                    }
                    connections.insert(
                        fd,
                        Connection {
                            stream,
                            pending: Vec::new(),
                            written: 0,
                            writing: false,
                        },
                    );
                }
                Err(err) if err.kind() == ErrorKind::WouldBlock => return,
                Err(err) => match AcceptError::classify(&err) {
                    AcceptError::Skip => {}
                    // Out of descriptors: the connection stays queued and
                    // the listener readable, so retrying at once would
                    // spin. Minimal means crude: pause briefly.
                    AcceptError::BackOff => {
                        std::thread::sleep(Duration::from_millis(10));
                        return;
                    }
                },
            }
        }
    }

    /// Handles one readiness event: with output pending, write more of
    /// it; otherwise one `read` and its echo. Level-triggered epoll reports
    /// the socket again if more is waiting, so there is no need to read
    /// until `WouldBlock` (which would cost a failing `read` per event).
    /// Returns false when the connection is finished (EOF with nothing
    /// pending, or an error).
    fn drive(epfd: RawFd, c: &mut Connection, scratch: &mut [u8]) -> bool {
        if c.written < c.pending.len() {
            match c.stream.write(&c.pending[c.written..]) {
                Ok(n) => c.written += n,
                Err(err) if is_transient(&err) => {}
                Err(_) => return false,
            }
            if c.written < c.pending.len() {
                return true; // still waiting for room (EPOLLOUT)
            }
            c.pending = Vec::new();
            c.written = 0;
            return set_writing(epfd, c, false);
        }
        let n = match c.stream.read(scratch) {
            Ok(0) => return false, // EOF with everything echoed
            Ok(n) => n,
            Err(err) if is_transient(&err) => return true,
            Err(_) => return false,
        };
        let sent = match c.stream.write(&scratch[..n]) {
            Ok(sent) => sent,
            Err(err) if is_transient(&err) => 0,
            Err(_) => return false,
        };
        if sent == n {
            return true;
        }
        // The client is not reading fast enough: keep the rest, stop
        // reading (that is the back-pressure) and wait for room.
        c.pending.extend_from_slice(&scratch[sent..n]);
        set_writing(epfd, c, true)
    }

    fn is_transient(err: &io::Error) -> bool {
        matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted)
    }

    /// Watches for writability only while output is pending: a
    /// level-triggered EPOLLOUT on an idle socket fires on every wait.
    fn set_writing(epfd: RawFd, c: &mut Connection, writing: bool) -> bool {
        if c.writing == writing {
            return true;
        }
        c.writing = writing;
        let events = if writing {
            libc::EPOLLOUT
        } else {
            libc::EPOLLIN
        };
        let fd = c.stream.as_raw_fd();
        control(epfd, libc::EPOLL_CTL_MOD, fd, events, fd as u64).is_ok()
    }

    fn control(epfd: RawFd, op: i32, fd: RawFd, events: i32, token: u64) -> io::Result<()> {
        let mut event = libc::epoll_event {
            events: events as u32,
            u64: token,
        };
        // SAFETY: `event` is a valid epoll_event for the duration of the
        // call; the kernel copies it.
        if unsafe { libc::epoll_ctl(epfd, op, fd, &mut event) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}
