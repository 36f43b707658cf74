//! Ctrl-C and SIGTERM through the reactor: chapter 3's self-pipe (a signal
//! handler that writes one byte into a socket pair), registered like any
//! socket, so that a signal wakes the task waiting for it.

use std::future::poll_fn;
use std::io;

use ch03_multiplexed_echo::signals::Signals as SelfPipe;

use super::reactor::{Async, Direction};

pub struct Signals {
    pipe: Async<SelfPipe>,
}

impl Signals {
    /// Installs the handlers for SIGINT and SIGTERM: from now on they no
    /// longer end the process, they wake [`Signals::recv`].
    pub fn install() -> io::Result<Signals> {
        Ok(Signals {
            pipe: Async::new(SelfPipe::install()?)?,
        })
    }

    /// Waits for the next signal. Returns how many arrived since the last
    /// call (signals that come close together are counted together).
    pub async fn recv(&mut self) -> io::Result<usize> {
        poll_fn(|cx| {
            self.pipe
                .poll_io_mut(cx, Direction::Read, |pipe| match pipe.take()? {
                    0 => Err(io::ErrorKind::WouldBlock.into()),
                    count => Ok(count),
                })
        })
        .await
    }
}
