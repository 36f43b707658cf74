//! What a thread per connection costs: opens idle connections to the
//! thread-per-connection server and reads its threads and memory from
//! /proc (Linux).
//!
//!     cargo run --release -p ch01-blocking-echo --example thread_cost

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;

use echo_conformance::{Server, binary, procfs};

fn main() {
    let server = Server::start(Command::new(binary("ch01-blocking-echo")));
    let mut connections: Vec<TcpStream> = Vec::new();
    println!("| connections | threads | RSS (MiB) | virtual memory (MiB) |");
    println!("|---:|---:|---:|---:|");
    for target in [0, 1, 100, 1000] {
        while connections.len() < target {
            let mut stream = server.connect();
            // One round trip, so the connection's thread has surely started
            // and touched its stack and buffer.
            stream.write_all(b"x").expect("write");
            stream.read_exact(&mut [0]).expect("read");
            connections.push(stream);
        }
        let field = |name: &str| procfs::status_value(server.pid(), name).expect("reading /proc");
        println!(
            "| {target} | {} | {:.1} | {:.0} |",
            field("Threads:"),
            field("VmRSS:") as f64 / 1024.0,
            field("VmSize:") as f64 / 1024.0
        );
    }
}
