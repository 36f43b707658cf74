//! What each connection sends, and checking what comes back.
//!
//! A benchmark that does not check its echoes measures a server that may be
//! dropping, duplicating or mixing up bytes. Checking costs one `memcmp` per
//! message, so every echoed byte is checked.

use std::fmt;

/// How many different messages a connection cycles through. Prime, so the
/// windows never line up with a power-of-two buffer size in a server.
const VARIANTS: usize = 251;

/// The messages of one connection. Message `n` is a window of a
/// pseudo-random pattern starting at `n % 251`, so consecutive messages
/// differ (a server that echoes a stale buffer is caught) and connections
/// differ (a server that mixes up connections is caught).
#[derive(Debug, Clone)]
pub struct Payload {
    pattern: Vec<u8>,
    size: usize,
}

impl Payload {
    pub fn new(connection: u64, size: usize) -> Payload {
        // xorshift64*, seeded per connection: fast, and no two
        // connections share a pattern. The seed must not be 0.
        let mut state = connection.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let pattern = (0..size + VARIANTS)
            .map(|_| {
                state ^= state >> 12;
                state ^= state << 25;
                state ^= state >> 27;
                (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
            })
            .collect();
        Payload { pattern, size }
    }

    pub fn size(&self) -> usize {
        self.size
    }

    /// The bytes of message number `seq`.
    pub fn message(&self, seq: u64) -> &[u8] {
        let start = (seq % VARIANTS as u64) as usize;
        &self.pattern[start..start + self.size]
    }
}

/// The first byte where an echo differs from what was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mismatch {
    pub offset: usize,
    pub expected: u8,
    pub got: u8,
}

/// Compares an echo with the message it should repeat (equal lengths: the
/// reader reads exactly one message's worth).
pub fn first_mismatch(expected: &[u8], got: &[u8]) -> Option<Mismatch> {
    if expected == got {
        return None; // the fast path: one memcmp
    }
    expected
        .iter()
        .zip(got)
        .position(|(e, g)| e != g)
        .map(|offset| Mismatch {
            offset,
            expected: expected[offset],
            got: got[offset],
        })
}

/// Everything that can go wrong with one connection. Each ends that
/// connection, is counted, and makes the run fail: a benchmark of a broken
/// server is not a result.
#[derive(Debug, Clone, PartialEq)]
pub enum EchoError {
    Connect(String),
    Io {
        message: u64,
        error: String,
    },
    /// The server closed before echoing the whole message.
    Short {
        message: u64,
        got: usize,
        expected: usize,
    },
    Wrong {
        message: u64,
        mismatch: Mismatch,
    },
    /// More bytes came back than were sent: after the last message's
    /// echo, or (closed loop) beyond the one message in flight.
    Extra {
        bytes: usize,
    },
    /// No echo within the timeout.
    Timeout {
        message: u64,
        secs: f64,
    },
    /// An error after the last echo, while closing.
    Closing(String),
    /// The server did not close within the timeout after our half-close.
    NoClose {
        secs: f64,
    },
}

impl fmt::Display for EchoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EchoError::Connect(error) => write!(f, "cannot connect: {error}"),
            EchoError::Io { message, error } => write!(f, "message {message}: {error}"),
            EchoError::Short {
                message,
                got,
                expected,
            } => write!(
                f,
                "message {message}: the server closed after echoing {got} of {expected} bytes"
            ),
            EchoError::Wrong { message, mismatch } => write!(
                f,
                "message {message}: byte {} came back as {:#04x}, sent {:#04x}",
                mismatch.offset, mismatch.got, mismatch.expected
            ),
            EchoError::Extra { bytes } => {
                write!(f, "{bytes} more bytes came back than were sent")
            }
            EchoError::Timeout { message, secs } => {
                write!(f, "message {message}: no echo within {secs} s")
            }
            EchoError::Closing(error) => write!(f, "after the last echo: {error}"),
            EchoError::NoClose { secs } => write!(
                f,
                "the server did not close within {secs} s of our half-close"
            ),
        }
    }
}

// ANCHOR: check
/// Checks one echo: the message's own bytes, all of them.
pub fn check_echo(payload: &Payload, seq: u64, got: &[u8]) -> Result<(), EchoError> {
    match first_mismatch(payload.message(seq), got) {
        None => Ok(()),
        Some(mismatch) => Err(EchoError::Wrong {
            message: seq,
            mismatch,
        }),
    }
}
// ANCHOR_END: check

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_have_the_requested_size_and_differ() {
        let payload = Payload::new(7, 64);
        assert_eq!(payload.message(0).len(), 64);
        assert_eq!(payload.message(1_000_000).len(), 64);
        assert_ne!(payload.message(0), payload.message(1));
        // The cycle is 251 messages long.
        assert_eq!(payload.message(3), payload.message(3 + 251));
    }

    #[test]
    fn connections_send_different_bytes() {
        assert_ne!(
            Payload::new(1, 64).message(0),
            Payload::new(2, 64).message(0)
        );
    }

    #[test]
    fn the_pattern_uses_every_byte_value() {
        let payload = Payload::new(3, 4096);
        let mut seen = [false; 256];
        for &b in payload.message(0) {
            seen[b as usize] = true;
        }
        assert!(
            seen.iter().all(|&s| s),
            "a 4 KiB message misses some byte values"
        );
    }

    #[test]
    fn a_correct_echo_passes() {
        let payload = Payload::new(1, 100);
        let echo = payload.message(5).to_vec();
        assert_eq!(check_echo(&payload, 5, &echo), Ok(()));
    }

    #[test]
    fn one_wrong_byte_is_caught_and_located() {
        let payload = Payload::new(1, 100);
        let mut echo = payload.message(5).to_vec();
        echo[42] ^= 0x01;
        let err = check_echo(&payload, 5, &echo).unwrap_err();
        assert_eq!(
            err,
            EchoError::Wrong {
                message: 5,
                mismatch: Mismatch {
                    offset: 42,
                    expected: payload.message(5)[42],
                    got: payload.message(5)[42] ^ 0x01,
                }
            }
        );
        assert!(
            err.to_string()
                .starts_with("message 5: byte 42 came back as")
        );
    }

    #[test]
    fn an_echo_of_the_previous_message_is_caught() {
        let payload = Payload::new(1, 64);
        let stale = payload.message(4).to_vec();
        assert!(check_echo(&payload, 5, &stale).is_err());
    }
}
