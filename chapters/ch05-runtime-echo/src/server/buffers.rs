//! Buffers for the bytes in flight, reused by every connection on one
//! thread.
//!
//! A connection needs a buffer only between a read and the end of the
//! write that echoes it. Allocating one per message (and zeroing it, since
//! our `read` takes an initialised `&mut [u8]`) would cost an 8 KiB
//! `memset` and a trip through the allocator on every echo; keeping one per
//! connection would cost 8 KiB for every idle client. So buffers live in a
//! per-thread free list: taken after the socket is readable, returned when
//! dropped.

use std::cell::RefCell;
use std::ops::{Deref, DerefMut};

/// How many bytes we read at a time: a connection holds at most this many
/// that the client has not yet taken back.
pub const BUF_SIZE: usize = 8 * 1024;

/// How many free buffers a thread keeps; more are given back to the
/// allocator, so a burst of busy connections does not pin memory forever.
const KEEP: usize = 256;

thread_local! {
    static FREE: RefCell<Vec<Box<[u8]>>> = const { RefCell::new(Vec::new()) };
}

/// A [`BUF_SIZE`] buffer from this thread's free list.
pub struct Buffer {
    bytes: Option<Box<[u8]>>,
}

impl Buffer {
    pub fn take() -> Buffer {
        let bytes = FREE
            .with(|free| free.borrow_mut().pop())
            .unwrap_or_else(|| vec![0; BUF_SIZE].into_boxed_slice());
        Buffer { bytes: Some(bytes) }
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        if let Some(bytes) = self.bytes.take() {
            FREE.with(|free| {
                let mut free = free.borrow_mut();
                if free.len() < KEEP {
                    free.push(bytes);
                }
            });
        }
    }
}

impl Deref for Buffer {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.bytes.as_deref().unwrap_or_default()
    }
}

impl DerefMut for Buffer {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.bytes.as_deref_mut().unwrap_or_default()
    }
}
