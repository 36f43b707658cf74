//! Chapter 3: IO multiplexing.
//!
//! One thread serves every connection, like chapter 2, but instead of
//! trying every socket in turn it asks the kernel which sockets are ready
//! and sleeps until one is. The loop is written once ([`event_loop`]); how
//! it asks is a [`poller::Poller`]: `poll(2)`, or Linux's `epoll(7)`
//! level- or edge-triggered. Beside the loop: the listening socket
//! (`listener`), the set of open connections with their idle timers
//! (`connections`, `idle`, [`slots`]) and one connection's echo as a state
//! machine (`connection`, unit-tested with a scripted socket).
//!
//! The server binary (`src/main.rs`) is only the command line on top of
//! this library. The library is public so that chapter 5 can build its
//! runtime's reactor on the same [`poller`], [`signals`] and [`slots`]
//! instead of copying them.

mod connection;
mod connections;
pub mod event_loop;
mod idle;
mod listener;
pub mod poller;
pub mod signals;
pub mod slots;
