//! What a thread per connection costs: opens idle connections to the
//! thread-per-connection server and reads its threads and memory from
//! /proc (Linux).
//!
//!     cargo run --release -p ch01-blocking-echo --example ch01-thread-cost

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;

use clap::Parser;
use echo_conformance::{Server, binary, procfs};

#[derive(Debug, Parser)]
struct Args {
    /// The most connections to open: the table stops at the last step
    /// (0, 1, 100, 1000) that is not above this
    #[arg(long, default_value_t = 1000)]
    up_to: usize,
}

fn main() {
    let args = Args::parse();
    let server = Server::start(Command::new(binary("ch01-blocking-echo")));
    let mut connections: Vec<TcpStream> = Vec::new();
    println!("| connections | threads | RSS (MiB) | virtual memory (MiB) |");
    println!("|---:|---:|---:|---:|");
    for target in [0, 1, 100, 1000].into_iter().filter(|&n| n <= args.up_to) {
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
