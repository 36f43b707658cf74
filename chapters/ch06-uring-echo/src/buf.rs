//! Memory the kernel uses after the call that handed it over has returned.
//!
//! `read(fd, &mut buf)` borrows `buf` for the length of one call, which is
//! exactly what `&mut [u8]` expresses. A receive submitted to io_uring
//! returns at once, and the kernel writes into the buffer *later*, while
//! our code goes on doing other things. For that whole time the buffer
//! must stay allocated, must not move, and must not be read or written by
//! us. No Rust borrow can say "until a completion arrives", so the buffer
//! is owned here, as a raw allocation, and handed out only as pointers;
//! the code that submits an operation on it is responsible (in `unsafe`,
//! with a SAFETY note) for not touching it until the completion.

use std::ptr::NonNull;

// ANCHOR: io_buf
/// A heap buffer whose address is stable for its whole life: moving the
/// `IoBuf` (say, when the slab of connections grows) moves only the
/// pointer, never the bytes the kernel may be writing.
pub struct IoBuf {
    ptr: NonNull<[u8]>,
}

impl IoBuf {
    pub fn new(len: usize) -> IoBuf {
        let boxed: Box<[u8]> = vec![0u8; len].into_boxed_slice();
        // From here on the bytes are reached only through this raw
        // pointer: no `Box` or `&mut` exists that the compiler could assume
        // is the only way to them while the kernel writes.
        IoBuf {
            ptr: NonNull::from(Box::leak(boxed)),
        }
    }

    pub fn len(&self) -> usize {
        self.ptr.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ptr.is_empty()
    }

    /// Where the kernel may write: for a receive or a read.
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr().cast()
    }

    /// Where the kernel may read from: for a send or a write.
    pub fn as_ptr(&self) -> *const u8 {
        self.ptr.as_ptr().cast_const().cast()
    }

    /// The bytes in `start..end`.
    ///
    /// # Safety
    ///
    /// No operation that writes this buffer may be in flight: its
    /// completion must have been reaped.
    pub unsafe fn bytes(&self, start: usize, end: usize) -> &[u8] {
        assert!(
            start <= end && end <= self.len(),
            "range outside the buffer"
        );
        // SAFETY: the range is inside the allocation (checked above), the
        // bytes were initialised at allocation, and the caller promises
        // that the kernel is not writing them now.
        unsafe { std::slice::from_raw_parts(self.as_ptr().add(start), end - start) }
    }
}

impl Drop for IoBuf {
    fn drop(&mut self) {
        // SAFETY: `ptr` is the allocation `Box::leak` gave up in `new`, and
        // it is freed only here. Whoever owns an `IoBuf` drops it only after
        // the last operation on it has completed: the rule this chapter is
        // about.
        drop(unsafe { Box::from_raw(self.ptr.as_ptr()) });
    }
}
// ANCHOR_END: io_buf

/// One value (a timespec, a socket address) whose address the kernel
/// reads or writes while an operation is in flight: like [`IoBuf`], a raw
/// heap allocation that does not move when its owner does.
pub struct KernelCell<T: Copy> {
    ptr: NonNull<T>,
}

impl<T: Copy> KernelCell<T> {
    pub fn new(value: T) -> KernelCell<T> {
        KernelCell {
            ptr: NonNull::from(Box::leak(Box::new(value))),
        }
    }

    pub fn as_ptr(&self) -> *const T {
        self.ptr.as_ptr()
    }

    pub fn as_mut_ptr(&mut self) -> *mut T {
        self.ptr.as_ptr()
    }

    /// # Safety
    ///
    /// No operation that reads or writes the value may be in flight.
    pub unsafe fn set(&mut self, value: T) {
        // SAFETY: the allocation is live and ours alone (caller's promise).
        unsafe { self.ptr.as_ptr().write(value) }
    }

    /// # Safety
    ///
    /// No operation that writes the value may be in flight.
    pub unsafe fn get(&self) -> T {
        // SAFETY: as for `set`.
        unsafe { self.ptr.as_ptr().read() }
    }
}

impl<T: Copy> Drop for KernelCell<T> {
    fn drop(&mut self) {
        // SAFETY: the allocation `Box::leak` gave up in `new`, freed only
        // here, after the last operation on it (the owner's rule).
        drop(unsafe { Box::from_raw(self.ptr.as_ptr()) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moving_the_owner_does_not_move_the_bytes() {
        let mut buf = IoBuf::new(16);
        let before = buf.as_mut_ptr();
        let moved = [buf];
        assert_eq!(moved[0].as_ptr(), before.cast_const());
        // SAFETY: nothing was submitted on it.
        assert_eq!(unsafe { moved[0].bytes(0, 4) }, [0, 0, 0, 0]);
    }

    #[test]
    fn a_cell_keeps_its_address_and_value() {
        let mut cell = KernelCell::new(7u64);
        let at = cell.as_ptr();
        // SAFETY: no operation uses the cell.
        unsafe { cell.set(8) };
        let moved = [cell];
        assert_eq!(moved[0].as_ptr(), at);
        // SAFETY: as above.
        assert_eq!(unsafe { moved[0].get() }, 8);
    }
}
