//! Idle timeouts for thousands of connections, cheaply.
//!
//! The loop needs the *nearest* deadline (it becomes the `wait` timeout)
//! and must not pay for every byte a connection moves. So each connection
//! has one entry in a min-heap, with the deadline it had when the entry was
//! pushed; activity only updates the connection's `last_active`. When an
//! entry comes due, the connection's real deadline is checked: passed, it is
//! closed; moved on, the entry goes back with the new deadline. Worst case,
//! one early wakeup per connection per timeout period.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

// ANCHOR: timers
pub struct IdleTimers {
    timeout: Duration,
    /// (deadline, slot, connection id), earliest first.
    heap: BinaryHeap<Reverse<(Instant, usize, u64)>>,
}

impl IdleTimers {
    pub fn new(timeout: Duration) -> Self {
        IdleTimers {
            timeout,
            heap: BinaryHeap::new(),
        }
    }

    /// Starts timing the connection `id` in `slot`, last active at `since`.
    pub fn start(&mut self, slot: usize, id: u64, since: Instant) {
        // A timeout too long to add to an Instant (centuries) never fires.
        if let Some(deadline) = since.checked_add(self.timeout) {
            self.heap.push(Reverse((deadline, slot, id)));
        }
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((deadline, _, _))| *deadline)
    }

    /// Slots whose connection has been idle for the whole timeout at `now`.
    /// `last_active(slot, id)` tells when that connection last moved a byte,
    /// or `None` if it has closed (its slot may hold another connection).
    pub fn expired(
        &mut self,
        now: Instant,
        last_active: impl Fn(usize, u64) -> Option<Instant>,
    ) -> Vec<usize> {
        let mut expired = Vec::new();
        while let Some(&Reverse((deadline, slot, id))) = self.heap.peek() {
            if deadline > now {
                break;
            }
            self.heap.pop();
            let Some(active) = last_active(slot, id) else {
                continue; // closed since: forget it
            };
            match active.checked_add(self.timeout) {
                Some(real) if real <= now => expired.push(slot),
                _ => self.start(slot, id, active),
            }
        }
        expired
    }
}
// ANCHOR_END: timers

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_connections_idle_for_the_whole_timeout_expire() {
        let t0 = Instant::now();
        let second = Duration::from_secs(1);
        let mut timers = IdleTimers::new(10 * second);
        timers.start(0, 100, t0); // idle throughout
        timers.start(1, 101, t0); // active at t0+5
        timers.start(2, 102, t0); // closed meanwhile
        assert_eq!(timers.next_deadline(), Some(t0 + 10 * second));

        let active = |slot, id| match (slot, id) {
            (0, 100) => Some(t0),
            (1, 101) => Some(t0 + 5 * second),
            _ => None,
        };
        assert!(timers.expired(t0 + 9 * second, active).is_empty());
        assert_eq!(timers.expired(t0 + 10 * second, active), [0]);
        // Slot 1 was pushed back to its real deadline.
        assert_eq!(timers.next_deadline(), Some(t0 + 15 * second));
        assert_eq!(timers.expired(t0 + 15 * second, active), [1]);
        assert_eq!(timers.next_deadline(), None);
    }

    #[test]
    fn a_reused_slot_is_not_closed_by_its_previous_occupant_timer() {
        let t0 = Instant::now();
        let mut timers = IdleTimers::new(Duration::from_secs(1));
        timers.start(0, 1, t0);
        // Connection 1 closed; connection 2 took slot 0 later.
        let active = |_, id| (id == 2).then_some(t0 + Duration::from_secs(5));
        assert!(
            timers
                .expired(t0 + Duration::from_secs(2), active)
                .is_empty()
        );
    }
}
