//! Steps 3 and 5: a socket read through the reactor. Run it with
//!
//!     cargo run -q -p ch05-runtime-echo --example ch05-readiness
//!
//! or under `strace -f -e trace=epoll_ctl,epoll_pwait,recvfrom,sendto` to
//! see the system calls between the lines it prints.

use std::io::{self, Write};
use std::net;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use ch05_runtime_echo::runtime::net::TcpStream;
use ch05_runtime_echo::runtime::{Runtime, spawn};

// ANCHOR: announce
/// Wraps a task's waker so that calling it prints a line first.
struct Announce(Waker);

impl Wake for Announce {
    fn wake(self: Arc<Self>) {
        println!("wake: the reactor saw the socket readable; the task is queued");
        self.0.wake_by_ref();
    }
}
// ANCHOR_END: announce

// ANCHOR: main
fn main() -> io::Result<()> {
    let listener = net::TcpListener::bind("127.0.0.1:0")?;
    let mut client = net::TcpStream::connect(listener.local_addr()?)?;
    let (server_side, _) = listener.accept()?;

    let runtime = Runtime::new()?;
    runtime.block_on(async move {
        let stream = TcpStream::from_std(server_side)?;
        // The sender is another task: it runs only once `main` waits.
        spawn(async move {
            println!("sender task: sending 5 bytes");
            client.write_all(b"hello")
        });
        let mut buf = [0; 64];
        let mut polls = 0;
        let n = std::future::poll_fn(|cx| {
            polls += 1;
            let waker = Waker::from(Arc::new(Announce(cx.waker().clone())));
            let poll = stream.poll_read(&mut Context::from_waker(&waker), &mut buf);
            match &poll {
                Poll::Pending => println!("poll {polls}: nothing to read -> Pending"),
                Poll::Ready(Ok(n)) => println!("poll {polls}: read(2) returned {n} bytes -> Ready"),
                Poll::Ready(Err(err)) => println!("poll {polls}: {err}"),
            }
            poll
        })
        .await?;
        println!("main: got {:?}", String::from_utf8_lossy(&buf[..n]));
        Ok(())
    })?
}
// ANCHOR_END: main
