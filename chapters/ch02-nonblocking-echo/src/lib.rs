//! Chapter 2: non-blocking IO.
//!
//! One thread serves every connection. Nothing it calls ever waits: a socket
//! in non-blocking mode answers `read`, `write` and `accept` at once, with
//! `WouldBlock` when there is nothing to do yet. So the thread goes round and
//! round, trying the listener and then every connection in turn
//! ([`server::serve`]), and each connection remembers by itself how far its
//! echo has got ([`connection::Connection`]).
//!
//! The binaries are `src/main.rs` (the server) and `src/bin/client.rs`.

pub mod connection;
pub mod pacing;
pub mod server;
pub mod shutdown;
