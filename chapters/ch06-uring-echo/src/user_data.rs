//! What a completion is about.
//!
//! The kernel hands every completion back with the 64 bits of *user data*
//! that were in its submission, and nothing else that says where it came
//! from. Chapter 3's token only had to name a socket ("this one is
//! ready"); here it must name an *operation*: which connection, and which
//! of its operations (the receive, the send, the idle timer, a cancel)
//! has finished. So the 64 bits are a small struct:
//!
//! ```text
//!  63      56 55                    32 31                            0
//! +----------+------------------------+-------------------------------+
//! |    op    |       generation       |             slot              |
//! +----------+------------------------+-------------------------------+
//! ```
//!
//! `slot` is the connection's place in the slab, `generation` counts how
//! often that slot has been reused, so a completion that outlived its
//! connection can never be mistaken for the next occupant's.

// ANCHOR: user_data
/// The kinds of operation the server submits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Op {
    /// The listener's accept (one-shot or multishot).
    Accept = 1,
    /// The read of the signal descriptor: Ctrl-C as a completion.
    Signal,
    /// The timer that ends an accept back-off.
    AcceptBackoff,
    /// The timer that ends the grace period of a shutdown.
    Grace,
    /// A cancellation the loop asked for (of the accept, or a timer).
    Cancel,
    /// A connection's receive.
    Recv,
    /// A connection's send.
    Send,
    /// A connection's idle timer.
    Idle,
    /// A cancellation of a connection's operations.
    CancelConnection,
}

/// The user data of one submission: the operation and whose it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserData {
    pub op: Op,
    pub slot: u32,
    pub generation: u32,
}

/// Generations wrap around within the 24 bits they get.
pub const GENERATION_MASK: u32 = (1 << 24) - 1;

impl UserData {
    /// An operation of the loop itself, not of a connection.
    pub const fn of_loop(op: Op) -> UserData {
        UserData {
            op,
            slot: 0,
            generation: 0,
        }
    }

    pub fn encode(self) -> u64 {
        (self.op as u64) << 56
            | u64::from(self.generation & GENERATION_MASK) << 32
            | u64::from(self.slot)
    }

    /// `None` for bits this server never submitted.
    pub fn decode(bits: u64) -> Option<UserData> {
        let op = match (bits >> 56) as u8 {
            1 => Op::Accept,
            2 => Op::Signal,
            3 => Op::AcceptBackoff,
            4 => Op::Grace,
            5 => Op::Cancel,
            6 => Op::Recv,
            7 => Op::Send,
            8 => Op::Idle,
            9 => Op::CancelConnection,
            _ => return None,
        };
        Some(UserData {
            op,
            slot: bits as u32,
            generation: (bits >> 32) as u32 & GENERATION_MASK,
        })
    }
}
// ANCHOR_END: user_data

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_op_survives_the_round_trip() {
        for op in [
            Op::Accept,
            Op::Signal,
            Op::AcceptBackoff,
            Op::Grace,
            Op::Cancel,
            Op::Recv,
            Op::Send,
            Op::Idle,
            Op::CancelConnection,
        ] {
            let data = UserData {
                op,
                slot: u32::MAX,
                generation: GENERATION_MASK,
            };
            assert_eq!(UserData::decode(data.encode()), Some(data));
        }
    }

    #[test]
    fn generations_wrap_instead_of_spilling_into_the_op() {
        let data = UserData {
            op: Op::Recv,
            slot: 7,
            generation: GENERATION_MASK + 1,
        };
        let back = UserData::decode(data.encode()).unwrap();
        assert_eq!((back.op, back.slot, back.generation), (Op::Recv, 7, 0));
    }

    #[test]
    fn foreign_bits_are_not_ours() {
        assert_eq!(UserData::decode(0), None);
        assert_eq!(UserData::decode(u64::MAX), None);
    }
}
