//! A provided-buffer ring, written by hand (Linux 5.19).
//!
//! With one-shot receives (step 1), every connection that waits for data
//! needs a buffer of its own in the kernel's hands, even if it never sends
//! a byte: 10,000 idle connections pin 10,000 buffers. A *buffer ring*
//! turns that around. The server gives the kernel one pool of buffers, a
//! ring of `(address, length, id)` entries in memory both sides can see,
//! and a receive submitted with `IOSQE_BUFFER_SELECT` takes a buffer from
//! the pool only at the moment data arrives. The completion says which
//! buffer (its id, in the upper 16 bits of the flags); once the bytes are
//! sent back, the server puts that buffer back at the ring's tail.
//!
//! ```text
//!            kernel takes from the head          we add at the tail
//!                       v                                v
//!   entries: [ buf 3 | buf 4 | buf 0 | buf 1 |  ...  |       |       ]
//!   tail: a u16 in the first entry's reserved field, written by us
//! ```
//!
//! The kernel never tells us the head; it needs none from us either. We
//! count how many buffers are in the ring ([`BufRing::available`]) to know
//! when a receive that failed with `ENOBUFS` may be tried again.

use std::io;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::Submitter;
use io_uring::types::BufRingEntry;

// ANCHOR: buf_ring
pub struct BufRing {
    /// `count` entries of 16 bytes, page-aligned (the kernel requires it).
    entries: Mmap,
    /// `count` buffers of `size` bytes each, one after the other.
    buffers: Mmap,
    count: u16,
    size: u32,
    group: u16,
    /// Our copy of the tail, published to the kernel by [`BufRing::put`].
    tail: u16,
    /// Buffers in the ring now, that the kernel may pick.
    available: u16,
}

impl BufRing {
    /// `count` buffers of `size` bytes for buffer group `group`. `count` must
    /// be a power of two, at most 32,768.
    pub fn new(count: u16, size: u32, group: u16) -> io::Result<BufRing> {
        if !count.is_power_of_two() || count > 1 << 15 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a buffer ring's size is a power of two, at most 32768",
            ));
        }
        let entries = Mmap::anonymous(usize::from(count) * size_of::<BufRingEntry>(), false)?;
        // MAP_POPULATE: the pages are allocated now, so the pool counts in
        // the server's memory from the start instead of growing into it.
        let buffers = Mmap::anonymous(usize::from(count) * size as usize, true)?;
        let mut ring = BufRing {
            entries,
            buffers,
            count,
            size,
            group,
            tail: 0,
            available: 0,
        };
        for id in 0..count {
            ring.put(id);
        }
        Ok(ring)
    }

    /// Tells the kernel about the ring.
    pub fn register(&self, submitter: &Submitter<'_>) -> io::Result<()> {
        // SAFETY: the entries stay mapped, at this address, until the ring
        // is unregistered (`unregister`, or the io_uring is closed): the
        // event loop drops the `BufRing` only after both.
        unsafe {
            submitter.register_buf_ring_with_flags(
                self.entries.ptr.as_ptr() as u64,
                self.count,
                self.group,
                0,
            )
        }
    }

    pub fn unregister(&self, submitter: &Submitter<'_>) -> io::Result<()> {
        submitter.unregister_buf_ring(self.group)
    }

    pub fn group(&self) -> u16 {
        self.group
    }

    pub fn buffer_size(&self) -> u32 {
        self.size
    }

    pub fn available(&self) -> u16 {
        self.available
    }

    /// The kernel picked buffer `id` for a completion: it is ours now.
    pub fn taken(&mut self, id: u16) {
        debug_assert!(id < self.count);
        self.available = self.available.saturating_sub(1);
    }

    /// Puts buffer `id`, ours until now, back in the ring for the kernel.
    pub fn put(&mut self, id: u16) {
        let slot = usize::from(self.tail & (self.count - 1));
        let entry = self.entry(slot);
        // SAFETY: `slot` is below `count`, so the entry is inside the
        // mapping. The kernel reads entries only between its head and the
        // tail it last saw, and this one is past that tail until the store
        // below publishes it.
        unsafe {
            (*entry).set_addr(self.buffer_ptr(id) as u64);
            (*entry).set_len(self.size);
            (*entry).set_bid(id);
        }
        self.tail = self.tail.wrapping_add(1);
        self.available += 1;
        // Release: the kernel must see the entry written before the tail
        // that covers it.
        self.shared_tail().store(self.tail, Ordering::Release);
    }

    /// The first `len` bytes the kernel wrote into buffer `id`.
    ///
    /// # Safety
    ///
    /// Buffer `id` must be ours: taken by a completion and not yet `put`
    /// back, so that the kernel is not writing it.
    pub unsafe fn bytes(&self, id: u16, start: usize, end: usize) -> &[u8] {
        assert!(id < self.count && start <= end && end <= self.size as usize);
        // SAFETY: inside the mapping (checked), initialised (anonymous
        // memory is zero-filled), and not written by the kernel while it is
        // ours (the caller's promise).
        unsafe { std::slice::from_raw_parts(self.buffer_ptr(id).add(start), end - start) }
    }

    /// The address of byte `offset` of buffer `id`, for a send.
    pub fn ptr(&self, id: u16, offset: usize) -> *const u8 {
        assert!(id < self.count && offset <= self.size as usize);
        // SAFETY: inside the mapping (checked above).
        unsafe { self.buffer_ptr(id).add(offset) }
    }

    fn buffer_ptr(&self, id: u16) -> *mut u8 {
        let offset = usize::from(id) * self.size as usize;
        // SAFETY: callers pass `id < count`, so the offset is inside the
        // mapping of `count * size` bytes.
        unsafe { self.buffers.ptr.as_ptr().cast::<u8>().add(offset) }
    }

    fn entry(&self, slot: usize) -> *mut BufRingEntry {
        // SAFETY: callers pass `slot < count`.
        unsafe { self.entries.ptr.as_ptr().cast::<BufRingEntry>().add(slot) }
    }

    fn shared_tail(&self) -> &AtomicU16 {
        // SAFETY: the tail is the `resv` field of entry 0, a u16 inside the
        // page-aligned mapping (so aligned for an AtomicU16), which lives as
        // long as `self`. The kernel only reads it.
        unsafe { &*BufRingEntry::tail(self.entry(0)).cast::<AtomicU16>() }
    }
}
// ANCHOR_END: buf_ring

/// An anonymous, private, page-aligned mapping, unmapped on drop.
struct Mmap {
    ptr: NonNull<libc::c_void>,
    len: usize,
}

impl Mmap {
    fn anonymous(len: usize, populate: bool) -> io::Result<Mmap> {
        let mut flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
        if populate {
            flags |= libc::MAP_POPULATE;
        }
        // SAFETY: a new anonymous mapping overlaps nothing of ours; the
        // result is checked before use.
        let addr = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                -1,
                0,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        NonNull::new(addr)
            .map(|ptr| Mmap { ptr, len })
            .ok_or_else(|| io::Error::other("mmap returned a null address"))
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        // SAFETY: the mapping is ours and nothing refers to it any more:
        // `BufRing` is dropped only after the kernel has stopped using it.
        unsafe { libc::munmap(self.ptr.as_ptr(), self.len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_ring_offers_every_buffer_and_counts_what_is_taken() {
        let mut ring = BufRing::new(4, 64, 0).unwrap();
        assert_eq!(ring.available(), 4);
        assert_eq!(ring.shared_tail().load(Ordering::Relaxed), 4);
        ring.taken(2);
        assert_eq!(ring.available(), 3);
        ring.put(2);
        assert_eq!(ring.available(), 4);
        // The fifth entry wrapped around to slot 0, which now names buffer 2.
        // SAFETY: reading our own entry; no kernel is involved.
        let bid = unsafe { (*ring.entry(0)).bid() };
        assert_eq!(bid, 2);
    }

    #[test]
    fn sizes_that_are_not_powers_of_two_are_refused() {
        assert!(BufRing::new(3, 64, 0).is_err());
    }
}
