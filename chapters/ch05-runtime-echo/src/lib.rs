//! Chapter 5: an async runtime of our own, and the echo server on it.
//!
//! Chapter 4 ran the echo on tokio and treated the runtime as a black box.
//! This chapter opens the box by building one, in the order the book's
//! pages do:
//!
//! 1. [`runtime::park`]: `block_on`, and the [`Waker`](std::task::Waker)
//!    that unparks a thread, first with [`std::task::Wake`], then by hand;
//! 2. [`runtime::executor`]: tasks, their state word, the run queue,
//!    [`JoinHandle`](runtime::JoinHandle);
//! 3. [`runtime::reactor`]: readiness from chapter 3's epoll poller turned
//!    into wakes, and a cross-thread wake through an `eventfd`;
//! 4. [`runtime::timer`]: `sleep` and `timeout`;
//! 5. [`runtime::net`]: `TcpListener` and `TcpStream` whose methods are
//!    futures;
//! 6. [`server`]: the echo, a task per connection, on that runtime;
//! 7. `--threads N`: N independent runtimes, one `SO_REUSEPORT` listener
//!    each ([`server::serve_on_threads`]).
//!
//! The reactor sits on Linux's epoll, so the runtime is Linux-only; on
//! other systems the binaries say so and exit.

#[cfg(target_os = "linux")]
pub mod runtime;
#[cfg(target_os = "linux")]
pub mod server;
