//! Chapter 6: completion IO with io_uring.
//!
//! Chapters 1 to 4 all asked the kernel, one way or another, *when* a
//! socket could be read or written, and then did the reading and writing
//! themselves: readiness. This chapter hands the kernel the whole
//! operation ("receive into this buffer", "send these bytes") and hears
//! back when it is *done*: completion, Stevens' fifth model. Linux's
//! io_uring (5.1 and later; this chapter needs 6.1) does it with two
//! queues shared between the program and the kernel.
//!
//! - [`ring`]: the queues, and what the system may refuse ([`setup`]);
//! - [`user_data`]: how a completion says which operation it finishes;
//! - [`buf`]: memory the kernel uses after the call that lent it returned;
//! - [`connection`]: one connection as a state machine fed by completions;
//! - [`event_loop`], with `serve.rs`, `accept.rs` and `shutdown.rs`: the
//!   loop of submissions and completions;
//! - [`buf_ring`]: step 3's pool of buffers shared with the kernel;
//! - [`signals`]: Ctrl-C as one more completion.
//!
//! io_uring is Linux's alone: elsewhere this library is empty, and the
//! binaries say so.

#![cfg(target_os = "linux")]

mod accept;
pub mod buf;
pub mod buf_ring;
pub mod connection;
pub mod event_loop;
pub mod ring;
mod serve;
pub mod setup;
mod shutdown;
pub mod signals;
mod slab;
pub mod user_data;
