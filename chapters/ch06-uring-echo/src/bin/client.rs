//! Chapter 6's client: stdin to the server and the server to stdout, as
//! operations in one ring.
//!
//! Chapter 3's client waited in `poll` until stdin or the socket was
//! ready. This one never asks: it keeps a read of stdin and a receive from
//! the socket in flight at the same time, and whichever completes first is
//! handled first. That is full duplex with one thread and no readiness at
//! all. Each direction has one buffer and at most one operation in flight,
//! so a slow server stops our reads of stdin (back-pressure), and a slow
//! reader of our stdout stops our receives.

use std::process::ExitCode;

use clap::Parser;
use echo_common::ClientArgs;

/// Sends stdin to an echo server and prints what comes back, both at once,
/// from one thread submitting reads, sends, receives and writes to io_uring
/// (Linux 6.1 or later).
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Args {
    #[command(flatten)]
    client: ClientArgs,
}

fn main() -> ExitCode {
    echo_common::run(|| {
        let args: Args = echo_common::parse_args();
        run(&args)
    })
}

#[cfg(not(target_os = "linux"))]
fn run(_: &Args) -> anyhow::Result<()> {
    anyhow::bail!("io_uring needs Linux; on this system run chapter 3's or chapter 4's client")
}

#[cfg(target_os = "linux")]
fn run(args: &Args) -> anyhow::Result<()> {
    let socket = echo_common::connect(&args.client.connect)?;
    uring::Client::new(socket)?.run()
}

#[cfg(target_os = "linux")]
mod uring {
    use std::io;
    use std::net::TcpStream;
    use std::os::fd::AsRawFd;

    use anyhow::{Context, Result};
    use ch06_uring_echo::buf::IoBuf;
    use ch06_uring_echo::ring::{Ring, RingConfig};
    use io_uring::{cqueue, opcode, types};

    /// How much we read at a time, from stdin or from the socket.
    const BUF_SIZE: usize = 64 * 1024;

    /// Offset -1: read and write at the file's current position, like
    /// `read(2)` and `write(2)` (stdin or stdout may be a regular file).
    const CURRENT_POSITION: u64 = u64::MAX;

    // The operations, as user data.
    const READ_STDIN: u64 = 1;
    const SEND: u64 = 2;
    const RECV: u64 = 3;
    const WRITE_STDOUT: u64 = 4;
    const HALF_CLOSE: u64 = 5;
    const CANCEL: u64 = 6;

    // ANCHOR: state
    pub struct Client {
        ring: Ring,
        socket: TcpStream,
        /// stdin → server: `upload[sent..read]` is still to be sent.
        upload: IoBuf,
        read: usize,
        sent: usize,
        stdin_open: bool,
        half_closed: bool,
        /// server → stdout: `download[written..received]` is still to be
        /// written.
        download: IoBuf,
        received: usize,
        written: usize,
        server_closed: bool,
        /// Operations submitted and not yet completed, by user data.
        in_flight: [bool; 7],
    }
    // ANCHOR_END: state

    impl Client {
        pub fn new(socket: TcpStream) -> Result<Client> {
            let ring = Ring::new(RingConfig {
                entries: 8,
                sqpoll: None,
            })?;
            Ok(Client {
                ring,
                socket,
                upload: IoBuf::new(BUF_SIZE),
                read: 0,
                sent: 0,
                stdin_open: true,
                half_closed: false,
                download: IoBuf::new(BUF_SIZE),
                received: 0,
                written: 0,
                server_closed: false,
                in_flight: [false; 7],
            })
        }

        // ANCHOR: run
        /// Runs until the server has closed and its last bytes are printed.
        /// Whatever happens, returns only once nothing is in flight: the
        /// kernel could still be writing into our buffers.
        pub fn run(mut self) -> Result<()> {
            let result = self.serve();
            self.cancel_everything();
            result
        }

        fn serve(&mut self) -> Result<()> {
            loop {
                self.submit_what_is_due()?;
                if self.server_closed && !self.in_flight[WRITE_STDOUT as usize] {
                    return Ok(());
                }
                self.ring
                    .submit_and_wait(None)
                    .context("waiting for completions failed")?;
                let mut completions = Vec::new();
                self.ring.reap(&mut completions);
                for cqe in completions {
                    self.complete(cqe.user_data(), cqe.result())?;
                }
            }
        }

        /// Whatever each direction needs next: at most one operation per
        /// direction and kind in flight.
        fn submit_what_is_due(&mut self) -> Result<()> {
            let uploading = self.sent < self.read;
            if uploading && !self.in_flight[SEND as usize] {
                self.send()?;
            }
            if !uploading && self.stdin_open && !self.in_flight[READ_STDIN as usize] {
                self.read_stdin()?;
            }
            if !uploading && !self.stdin_open && !self.half_closed {
                self.half_close()?;
            }
            let downloading = self.written < self.received;
            if downloading && !self.in_flight[WRITE_STDOUT as usize] {
                self.write_stdout()?;
            }
            if !downloading && !self.server_closed && !self.in_flight[RECV as usize] {
                self.receive()?;
            }
            Ok(())
        }
        // ANCHOR_END: run

        // ANCHOR: complete
        fn complete(&mut self, op: u64, result: i32) -> Result<()> {
            let Some(flag) = self.in_flight.get_mut(op as usize) else {
                return Ok(());
            };
            *flag = false;
            if result == -libc::EINTR || result == -libc::EAGAIN {
                return Ok(()); // submitted again by `submit_what_is_due`
            }
            let n = match usize::try_from(result) {
                Ok(n) => n,
                Err(_) => {
                    let err = io::Error::from_raw_os_error(-result);
                    let what = match op {
                        READ_STDIN => "cannot read stdin",
                        SEND => "cannot send to the server",
                        RECV => "cannot receive the echo",
                        WRITE_STDOUT => "cannot write to stdout",
                        HALF_CLOSE => "cannot half-close the connection",
                        _ => return Ok(()), // a cancellation's own result
                    };
                    return Err(err).context(what);
                }
            };
            match op {
                READ_STDIN if n == 0 => self.stdin_open = false,
                READ_STDIN => (self.read, self.sent) = (n, 0),
                SEND => self.sent += n,
                RECV if n == 0 => self.server_closed = true,
                RECV => (self.received, self.written) = (n, 0),
                WRITE_STDOUT => self.written += n,
                HALF_CLOSE => self.half_closed = true,
                _ => {}
            }
            Ok(())
        }
        // ANCHOR_END: complete

        // ANCHOR: io
        fn read_stdin(&mut self) -> Result<()> {
            let entry = opcode::Read::new(
                types::Fd(libc::STDIN_FILENO),
                self.upload.as_mut_ptr(),
                BUF_SIZE as u32,
            )
            .offset(CURRENT_POSITION)
            .build();
            // SAFETY: `upload` is ours until this read completes: no send is
            // in flight (everything read was sent), and `run` waits for
            // every completion before `self` goes.
            unsafe { self.submit(entry, READ_STDIN) }
        }

        fn send(&mut self) -> Result<()> {
            // SAFETY: `sent < read <= BUF_SIZE`.
            let ptr = unsafe { self.upload.as_ptr().add(self.sent) };
            let len = (self.read - self.sent) as u32;
            let entry = opcode::Send::new(types::Fd(self.socket.as_raw_fd()), ptr, len)
                .flags(libc::MSG_NOSIGNAL)
                .build();
            // SAFETY: no read of stdin writes `upload` while bytes of it
            // are unsent; `self` outlives the send (see `read_stdin`).
            unsafe { self.submit(entry, SEND) }
        }

        fn half_close(&mut self) -> Result<()> {
            if self.in_flight[HALF_CLOSE as usize] {
                return Ok(());
            }
            let entry =
                opcode::Shutdown::new(types::Fd(self.socket.as_raw_fd()), libc::SHUT_WR).build();
            // SAFETY: a shutdown points to no memory of ours.
            unsafe { self.submit(entry, HALF_CLOSE) }
        }

        fn receive(&mut self) -> Result<()> {
            let entry = opcode::Recv::new(
                types::Fd(self.socket.as_raw_fd()),
                self.download.as_mut_ptr(),
                BUF_SIZE as u32,
            )
            .build();
            // SAFETY: `download` is ours: everything received was written
            // to stdout; `self` outlives the receive.
            unsafe { self.submit(entry, RECV) }
        }

        fn write_stdout(&mut self) -> Result<()> {
            // SAFETY: `written < received <= BUF_SIZE`.
            let ptr = unsafe { self.download.as_ptr().add(self.written) };
            let len = (self.received - self.written) as u32;
            let entry = opcode::Write::new(types::Fd(libc::STDOUT_FILENO), ptr, len)
                .offset(CURRENT_POSITION)
                .build();
            // SAFETY: no receive writes `download` while bytes of it are
            // unwritten; `self` outlives the write.
            unsafe { self.submit(entry, WRITE_STDOUT) }
        }
        // ANCHOR_END: io

        /// # Safety
        ///
        /// As `Ring::push`: what `entry` points to stays valid and untouched
        /// until its completion.
        unsafe fn submit(&mut self, entry: io_uring::squeue::Entry, op: u64) -> Result<()> {
            let entry = entry.user_data(op);
            // SAFETY: the caller's promise.
            unsafe { self.ring.push(&entry) }.context("cannot queue a submission")?;
            self.in_flight[op as usize] = true;
            Ok(())
        }

        /// Cancels whatever is in flight (a read of a terminal, say) and
        /// waits for every completion.
        fn cancel_everything(&mut self) {
            if !self.in_flight.contains(&true) {
                return;
            }
            let entry = opcode::AsyncCancel2::new(types::CancelBuilder::any()).build();
            // SAFETY: a cancellation points to no memory of ours.
            if unsafe { self.submit(entry, CANCEL) }.is_err() {
                return;
            }
            let mut completions = Vec::new();
            while self.in_flight.contains(&true) {
                if self.ring.submit_and_wait(None).is_err() {
                    return;
                }
                self.ring.reap(&mut completions);
                for cqe in completions.drain(..) {
                    if !cqueue::more(cqe.flags()) {
                        if let Some(flag) = self.in_flight.get_mut(cqe.user_data() as usize) {
                            *flag = false;
                        }
                    }
                }
            }
        }
    }
}
