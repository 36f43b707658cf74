//! What `std::net::TcpListener::bind` sets up, beside `echo_common::bind`.
//! Run it under `strace` to see the socket options and the backlog each
//! asks for:
//!
//!     cargo build -q -p ch01-blocking-echo --example ch01-std-bind
//!     strace -e trace=setsockopt,listen target/debug/examples/ch01-std-bind

use std::net::TcpListener;

use anyhow::{Context, Result};

fn main() -> Result<()> {
    // ANCHOR: binds
    let plain = TcpListener::bind("127.0.0.1:0").context("std's bind")?;
    println!("std::net::TcpListener::bind: {}", plain.local_addr()?);
    let ours = echo_common::bind("127.0.0.1:0")?;
    println!("echo_common::bind: {}", ours.local_addr()?);
    // ANCHOR_END: binds
    Ok(())
}
