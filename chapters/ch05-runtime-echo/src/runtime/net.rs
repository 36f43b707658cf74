//! Step 5: sockets whose methods are futures.
//!
//! Each is a std socket in non-blocking mode, registered with the reactor
//! through [`Async`]. `read().await` is chapter 2's non-blocking `read`,
//! tried when the reactor says the socket is readable and retried after
//! the next edge whenever it says `WouldBlock`.

use std::future::poll_fn;
use std::io::{self, Read, Write};
use std::net::{self, Shutdown, SocketAddr};
use std::task::{Context, Poll, ready};

use super::reactor::{Async, Direction};

// ANCHOR: listener
pub struct TcpListener {
    io: Async<net::TcpListener>,
}

impl TcpListener {
    /// Takes over a bound, listening std socket (from `echo_common::bind`).
    pub fn from_std(listener: net::TcpListener) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        Ok(TcpListener {
            io: Async::new(listener)?,
        })
    }

    /// The next connection. Like `std`'s `accept`, an error belongs to one
    /// would-be connection, or says the process is out of something; the
    /// listener stays usable either way.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, peer) = poll_fn(|cx| {
            self.io
                .poll_io(cx, Direction::Read, |listener| listener.accept())
        })
        .await?;
        Ok((TcpStream::from_std(stream)?, peer))
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The std socket underneath, for what needs no waiting.
    pub fn as_std(&self) -> &net::TcpListener {
        self.io.get_ref()
    }
}
// ANCHOR_END: listener

// ANCHOR: stream
pub struct TcpStream {
    io: Async<net::TcpStream>,
}

impl TcpStream {
    /// Takes over a connected std socket.
    pub fn from_std(stream: net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
        Ok(TcpStream {
            io: Async::new(stream)?,
        })
    }

    /// Completes once there is something to read (or end of stream, or an
    /// error), without reading it: a task can wait here holding no buffer.
    pub async fn readable(&self) -> io::Result<()> {
        poll_fn(|cx| self.io.poll_ready(cx, Direction::Read)).await;
        Ok(())
    }

    /// Reads what is there, up to `buf.len()` bytes; 0 means the peer has
    /// half-closed.
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_read(cx, buf)).await
    }

    /// Writes as much of `buf` as the kernel takes now, at least one byte.
    pub async fn write(&self, buf: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_write(cx, buf)).await
    }

    /// Writes all of `buf`, over as many `write`s as it takes.
    pub async fn write_all(&self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            let n = self.write(buf).await?;
            buf = &buf[n..];
        }
        Ok(())
    }

    /// Half-closes (or closes) the connection. Not a future: `shutdown(2)`
    /// on a TCP socket never waits, it queues the FIN behind the data
    /// already sent and returns.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }
}
// ANCHOR_END: stream

// ANCHOR: poll_read
impl TcpStream {
    pub fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let n = ready!(
            self.io
                .poll_io(cx, Direction::Read, |mut socket| socket.read(buf))
        )?;
        // "If you call read(2) by asking to read a certain amount of data
        // and read(2) returns a lower number of bytes, you can be sure of
        // having exhausted the read I/O space" (epoll(7)). So the next read
        // would say WouldBlock: skip it, and wait for the next edge. (End of
        // stream is remembered apart, as `closed`, and is not cleared.)
        if n > 0 && n < buf.len() {
            self.io.clear_ready(Direction::Read);
        }
        Poll::Ready(Ok(n))
    }

    pub fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let n = ready!(
            self.io
                .poll_io(cx, Direction::Write, |mut socket| socket.write(buf))
        )?;
        if n == 0 && !buf.is_empty() {
            return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
        }
        // The same for the send buffer: a short write filled it.
        if n < buf.len() {
            self.io.clear_ready(Direction::Write);
        }
        Poll::Ready(Ok(n))
    }
}
// ANCHOR_END: poll_read
