//! The cooperative budget. Run it with
//!
//!     cargo run -q -p ch05-runtime-echo --example ch05-starvation
//!
//! Task A reads, one byte at a time, a socket holding 64 KiB; task B only
//! wants to print. Without a budget, B waits until A has read everything.

use std::cell::Cell;
use std::io::{self, Write};
use std::net;
use std::rc::Rc;

use ch05_runtime_echo::runtime::net::TcpStream;
use ch05_runtime_echo::runtime::{Runtime, spawn};

// ANCHOR: main
fn main() -> io::Result<()> {
    for budget in [None, Some(128)] {
        let runtime = Runtime::with_budget(budget)?;
        let listener = net::TcpListener::bind("127.0.0.1:0")?;
        let mut client = net::TcpStream::connect(listener.local_addr()?)?;
        let (server_side, _) = listener.accept()?;
        client.write_all(&[0; 64 * 1024])?;
        drop(client);

        let seen = runtime.block_on(async move {
            let stream = TcpStream::from_std(server_side)?;
            stream.readable().await?;
            let reads = Rc::new(Cell::new(0));
            let counter = Rc::clone(&reads);
            let a = spawn(async move {
                let mut byte = [0; 1];
                while stream.read(&mut byte).await? == 1 {
                    counter.set(counter.get() + 1);
                }
                io::Result::Ok(())
            });
            let b = spawn(async move { reads.get() });
            let seen = b.await.unwrap_or(0);
            a.await.unwrap_or(Ok(()))?;
            io::Result::Ok(seen)
        })??;
        let budget = budget.map_or("none".to_string(), |n| n.to_string());
        println!("budget {budget:>4}: task B ran after task A's read number {seen}");
    }
    Ok(())
}
// ANCHOR_END: main
