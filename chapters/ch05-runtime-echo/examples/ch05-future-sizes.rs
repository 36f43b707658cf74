//! What an idle connection costs, in bytes of future. Run it with
//!
//!     cargo run -q --release -p ch05-runtime-echo --example ch05-future-sizes
//!
//! Every local that lives across an `.await` is stored in the future, and
//! the future of a connection is what its task keeps on the heap for as long
//! as the connection is open. So the size of these futures is most of what
//! 10,000 idle connections cost.

use std::future::poll_fn;
use std::io;
use std::mem::size_of_val;
use std::net;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use ch05_runtime_echo::runtime::net::TcpStream;
use ch05_runtime_echo::runtime::sync::Latch;
use ch05_runtime_echo::runtime::{Runtime, race, sleep, timeout};
use ch05_runtime_echo::server::echo::echo;

// ANCHOR: main
fn main() -> io::Result<()> {
    let listener = net::TcpListener::bind("127.0.0.1:0")?;
    let client = net::TcpStream::connect(listener.local_addr()?)?;
    let runtime = Runtime::new()?;
    runtime.block_on(async move {
        let stream = TcpStream::from_std(client)?;
        let idle = Duration::from_secs(300);
        let latch = Latch::new();
        let mut buf = [0; 64];
        let sizes = [
            ("sleep(idle)", size_of_val(&sleep(idle))),
            ("stream.readable()", size_of_val(&stream.readable())),
            ("stream.read(&mut buf)", size_of_val(&stream.read(&mut buf))),
            (
                "timeout(idle, stream.readable())",
                size_of_val(&timeout(idle, stream.readable())),
            ),
            ("echo(&stream, idle)", size_of_val(&echo(&stream, idle))),
            (
                "race(latch.wait(), echo(&stream, idle))",
                size_of_val(&race(latch.wait(), echo(&stream, idle))),
            ),
            (
                "race_as_async_fn(latch.wait(), echo(&stream, idle))",
                size_of_val(&race_as_async_fn(latch.wait(), echo(&stream, idle))),
            ),
        ];
        for (future, bytes) in sizes {
            println!("{bytes:>5} bytes  {future}");
        }
        io::Result::Ok(())
    })?
}
// ANCHOR_END: main

// ANCHOR: race_as_async_fn
/// `race` as the obvious `async fn`: the same polls, but the compiler keeps
/// `a` and `b` twice, once as the arguments and once as the pinned locals
/// they are moved into, because the arguments' storage stays reserved for
/// the whole function.
async fn race_as_async_fn<A: Future, B: Future>(a: A, b: B) -> Result<A::Output, B::Output> {
    let mut a = pin!(a);
    let mut b = pin!(b);
    poll_fn(|cx| {
        if let Poll::Ready(output) = a.as_mut().poll(cx) {
            return Poll::Ready(Ok(output));
        }
        b.as_mut().poll(cx).map(Err)
    })
    .await
}
// ANCHOR_END: race_as_async_fn
