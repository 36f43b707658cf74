//! Test data that checks itself: the byte at each offset of a stream is a
//! function of the stream's seed and the offset, so a lost, duplicated,
//! reordered or foreign byte shows up without keeping a copy of what was
//! sent (32 or 100 MiB streams stay cheap).

/// The byte at `offset` of stream `seed`.
pub fn byte(seed: u64, offset: u64) -> u8 {
    let x = (offset ^ seed.rotate_left(17)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (x >> 56) as u8 ^ offset as u8
}

/// Fills `buf` with stream `seed` from `offset` on.
pub fn fill(seed: u64, offset: u64, buf: &mut [u8]) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = byte(seed, offset + i as u64);
    }
}

/// `len` bytes of stream `seed` from offset 0.
pub fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0; len];
    fill(seed, 0, &mut buf);
    buf
}

/// The first byte where `buf` differs from stream `seed` from `offset` on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mismatch {
    /// The offset in the stream.
    pub offset: u64,
    pub got: u8,
    pub expected: u8,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "wrong byte at offset {}: got {:#04x}, expected {:#04x}",
            self.offset, self.got, self.expected
        )
    }
}

/// Compares `buf` with stream `seed` from `offset` on, for callers that
/// report a wrong byte rather than fail on it (the soak).
pub fn mismatch(seed: u64, offset: u64, buf: &[u8]) -> Option<Mismatch> {
    (0..buf.len())
        .find(|&i| buf[i] != byte(seed, offset + i as u64))
        .map(|i| Mismatch {
            offset: offset + i as u64,
            got: buf[i],
            expected: byte(seed, offset + i as u64),
        })
}

/// Checks that `buf` is stream `seed` from `offset` on; panics naming the
/// first wrong offset.
pub fn check(seed: u64, offset: u64, buf: &[u8]) {
    if let Some(wrong) = mismatch(seed, offset, buf) {
        panic!("stream {seed:#x}: {wrong}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_differ_and_shifts_are_caught() {
        assert_ne!(bytes(1, 64), bytes(2, 64));
        let data = bytes(7, 1000);
        check(7, 0, &data);
        let shifted = std::panic::catch_unwind(|| check(7, 1, &data[..999]));
        assert!(shifted.is_err(), "a stream off by one byte must not pass");
    }

    #[test]
    fn every_byte_value_occurs() {
        let data = bytes(3, 64 * 1024);
        let mut seen = [false; 256];
        data.iter().for_each(|&b| seen[b as usize] = true);
        assert!(seen.iter().all(|&s| s));
    }
}
