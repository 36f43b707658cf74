//! Step 7: what `SO_REUSEPORT` does with connections. Run it with
//!
//!     cargo run -q -p ch05-runtime-echo --example ch05-reuseport-balance
//!
//! It binds N listeners to one loopback port, as `--threads N` does, makes
//! 10,000 connections to that port, and counts how many each listener got.
//! Nothing is served; the point is only where the kernel puts each client.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};

use socket2::{Domain, Protocol, Socket, Type};

const CONNECTIONS: usize = 10_000;

// ANCHOR: main
fn main() -> io::Result<()> {
    for listeners in [2, 4, 8] {
        let counts = spread(listeners)?;
        let expected = CONNECTIONS as f64 / listeners as f64;
        let worst = counts
            .iter()
            .map(|&n| (n as f64 - expected).abs() / expected)
            .fold(0.0, f64::max);
        println!(
            "{listeners} listeners: {counts:?} connections (furthest from an even share: {:.1}%)",
            worst * 100.0
        );
    }
    Ok(())
}

/// Binds `listeners` sockets to one port with `SO_REUSEPORT`, connects
/// [`CONNECTIONS`] clients, and returns how many each listener accepted.
fn spread(listeners: usize) -> io::Result<Vec<usize>> {
    let first = bind("127.0.0.1:0".parse().expect("a valid address"))?;
    let addr = first.local_addr()?;
    let mut all = vec![first];
    for _ in 1..listeners {
        all.push(bind(addr)?);
    }
    let mut counts = vec![0; listeners];
    // In rounds of 500, so that no backlog overflows.
    for _ in 0..CONNECTIONS / 500 {
        let clients: Vec<TcpStream> = (0..500)
            .map(|_| TcpStream::connect(addr))
            .collect::<io::Result<_>>()?;
        let mut accepted = 0;
        while accepted < clients.len() {
            for (listener, count) in all.iter().zip(&mut counts) {
                while let Ok(_connection) = listener.accept() {
                    *count += 1;
                    accepted += 1;
                }
            }
        }
    }
    Ok(counts)
}

fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}
// ANCHOR_END: main
