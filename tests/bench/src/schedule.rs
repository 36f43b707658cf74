//! The open-loop schedule: when each message is *meant* to be sent.
//!
//! A closed-loop client sends its next message only after the previous echo
//! arrived, so when the server stalls for a second the client stalls with
//! it, sends nothing, and records one slow message instead of the hundreds
//! that real users would have sent during the stall: *coordinated omission*.
//! An open-loop client sends on a fixed timetable whatever the server does,
//! and measures each message's latency from the moment the timetable said
//! to send it. If it falls behind, the time it spent behind counts.

use std::time::Duration;

/// One connection's timetable. `rate` messages per second are spread over
/// `connections`: each connection sends every `connections / rate` seconds,
/// and connection `c` starts `c / rate` seconds in, so that together they
/// send one message every `1 / rate` seconds rather than all at once.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// Nanoseconds between two messages of this connection.
    interval_ns: f64,
    /// Nanoseconds from the start to this connection's first message.
    offset_ns: f64,
}

impl Schedule {
    /// `rate` must be positive and `connection < connections`.
    pub fn new(rate: f64, connections: usize, connection: usize) -> Schedule {
        let gap_ns = 1e9 / rate; // between two messages of the whole run
        Schedule {
            interval_ns: gap_ns * connections as f64,
            offset_ns: gap_ns * connection as f64,
        }
    }

    /// When message `seq` is due, counted from the start of the load.
    /// Computed from `seq`, not by adding intervals, so rounding never
    /// accumulates.
    pub fn intended(&self, seq: u64) -> Duration {
        Duration::from_nanos((self.offset_ns + seq as f64 * self.interval_ns).round() as u64)
    }
}

/// The run's timetable as one sequence: message `n` of the whole run is
/// due at `n / rate` seconds and belongs to connection `n % connections`,
/// as its message number `n / connections`. This is the same timetable as
/// the per-connection [`Schedule`]s, walked in time order, which is how
/// the pacer thread walks it.
#[derive(Debug, Clone, Copy)]
pub struct Timetable {
    rate: f64,
    connections: usize,
}

impl Timetable {
    pub fn new(rate: f64, connections: usize) -> Timetable {
        Timetable { rate, connections }
    }

    /// When message `n` of the run is due.
    pub fn due(&self, n: u64) -> Duration {
        Duration::from_nanos((n as f64 * 1e9 / self.rate).round() as u64)
    }

    /// Which connection sends message `n` of the run.
    pub fn connection(&self, n: u64) -> usize {
        (n % self.connections as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_sends(rate: f64, connections: usize, until: Duration) -> Vec<Duration> {
        let mut times = Vec::new();
        for c in 0..connections {
            let schedule = Schedule::new(rate, connections, c);
            let mut seq = 0;
            while schedule.intended(seq) < until {
                times.push(schedule.intended(seq));
                seq += 1;
            }
        }
        times.sort();
        times
    }

    #[test]
    fn one_connection_sends_at_the_rate() {
        let schedule = Schedule::new(1000.0, 1, 0);
        assert_eq!(schedule.intended(0), Duration::ZERO);
        assert_eq!(schedule.intended(1), Duration::from_millis(1));
        assert_eq!(schedule.intended(1000), Duration::from_secs(1));
    }

    #[test]
    fn connections_together_send_rate_messages_per_second() {
        let sends = all_sends(10_000.0, 7, Duration::from_secs(2));
        assert_eq!(sends.len(), 20_000);
    }

    #[test]
    fn sends_are_spread_evenly_not_bunched() {
        // 4 connections at 1,000 msg/s: one send every millisecond, each
        // connection's every 4 ms, interleaved.
        let sends = all_sends(1000.0, 4, Duration::from_millis(100));
        for pair in sends.windows(2) {
            let gap = pair[1] - pair[0];
            assert_eq!(gap, Duration::from_millis(1), "{pair:?}");
        }
        let third = Schedule::new(1000.0, 4, 2);
        assert_eq!(third.intended(0), Duration::from_millis(2));
        assert_eq!(third.intended(1), Duration::from_millis(6));
    }

    #[test]
    fn the_timetable_walks_the_schedules_in_time_order() {
        let (rate, connections) = (7_000.0, 13);
        let timetable = Timetable::new(rate, connections);
        let schedules: Vec<_> = (0..connections)
            .map(|c| Schedule::new(rate, connections, c))
            .collect();
        let mut next_seq = vec![0; connections];
        for n in 0..10_000 {
            let c = timetable.connection(n);
            let seq = next_seq[c];
            next_seq[c] += 1;
            let (a, b) = (timetable.due(n), schedules[c].intended(seq));
            // Equal up to rounding of the last nanosecond.
            assert!(
                a.abs_diff(b) <= Duration::from_nanos(1),
                "n={n}: {a:?} vs {b:?}"
            );
        }
    }

    #[test]
    fn rounding_does_not_drift() {
        // 3 msg/s: 333,333,333.3 ns apart; the millionth send is still
        // exactly a million thirds of a second in.
        let schedule = Schedule::new(3.0, 1, 0);
        assert_eq!(schedule.intended(3_000_000), Duration::from_secs(1_000_000));
    }
}
