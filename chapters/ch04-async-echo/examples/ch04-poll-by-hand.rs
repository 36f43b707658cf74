//! What `stream.read(&mut buf).await` does, written out by hand: a future,
//! its `poll`, and the waker the reactor calls. Run it with
//!
//!     cargo run -q -p ch04-async-echo --example ch04-poll-by-hand
//!
//! and it prints each poll and each wake-up as they happen.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use tokio::net::{TcpListener, TcpStream};

// ANCHOR: read_future
/// Reads what `stream` has: `stream.read(buf)`, without the sugar.
struct ReadSome<'a> {
    stream: &'a TcpStream,
    buf: &'a mut [u8],
    polls: u32,
}

impl Future for ReadSome<'_> {
    type Output = io::Result<usize>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        this.polls += 1;
        let poll = this.polls;
        // Hand the reactor a waker that announces itself (see `Announce`).
        let waker = Waker::from(Arc::new(Announce(cx.waker().clone())));
        let mut cx = Context::from_waker(&waker);
        loop {
            // Has epoll reported this socket readable? If not, tokio files
            // our waker under the socket and we return Pending at once:
            // poll never waits.
            match this.stream.poll_read_ready(&mut cx) {
                Poll::Pending => {
                    println!("poll {poll}: not readable yet -> Pending");
                    return Poll::Pending;
                }
                Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                Poll::Ready(Ok(())) => {}
            }
            // Readable: the non-blocking read(2) of chapter 2.
            match this.stream.try_read(this.buf) {
                Ok(n) => {
                    println!("poll {poll}: read(2) returned {n} bytes -> Ready");
                    return Poll::Ready(Ok(n));
                }
                // The readiness was stale: tokio has cleared it, so the
                // next poll_read_ready files our waker again.
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
                Err(err) => return Poll::Ready(Err(err)),
            }
        }
    }
}
// ANCHOR_END: read_future

// ANCHOR: announce
/// A waker that prints when it is called, then wakes the task's real one,
/// which puts the task back in the runtime's run queue.
struct Announce(Waker);

impl Wake for Announce {
    fn wake(self: Arc<Self>) {
        println!("wake: epoll reported the socket readable; the task is queued");
        self.0.wake_by_ref();
    }
}
// ANCHOR_END: announce

// ANCHOR: main
#[tokio::main(flavor = "current_thread")]
async fn main() -> io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let client = Arc::new(TcpStream::connect(listener.local_addr()?).await?);
    let (server_side, _) = listener.accept().await?;

    // A second task will send. On this one-thread runtime it cannot run
    // before `main` waits for something. (`main` keeps the client socket
    // open: the task only borrows it through the `Arc`.)
    let sender = Arc::clone(&client);
    tokio::spawn(async move {
        println!("client task: sending 5 bytes");
        sender.writable().await?;
        sender.try_write(b"hello")
    });

    let mut buf = [0; 64];
    let read = ReadSome {
        stream: &server_side,
        buf: &mut buf,
        polls: 0,
    };
    println!("main: future created; nothing has happened yet");
    let n = read.await?;
    println!("main: got {:?}", String::from_utf8_lossy(&buf[..n]));
    Ok(())
}
// ANCHOR_END: main
