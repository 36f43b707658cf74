//! Percentiles, rates and medians.
//!
//! Latencies go into an HDR histogram: fixed memory however many samples,
//! every percentile within 0.1% of the true value (3 significant digits).
//! An average would hide exactly what the open loop is there to show: the
//! few slow messages that every user eventually meets.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// A histogram of nanoseconds, 3 significant digits, growing as needed.
pub fn new_histogram() -> Histogram<u64> {
    // 3 significant digits is in range (1..=5), so this cannot fail.
    #[allow(clippy::expect_used)]
    let mut histogram = Histogram::new(3).expect("3 significant digits is valid");
    histogram.auto(true);
    histogram
}

/// Records latencies into a histogram shared by many connections. Each
/// connection batches its samples and takes the lock once per batch: one
/// histogram per connection would cost 144 KiB each once it has seen a
/// 0.1 s latency (141 MiB at 1,000 connections; see the test
/// `what_a_histogram_costs`), one lock per message would make connections
/// queue on it.
pub struct Recorder {
    shared: Arc<Mutex<Histogram<u64>>>,
    batch: Vec<u64>,
}

const BATCH: usize = 256;

impl Recorder {
    pub fn new(shared: Arc<Mutex<Histogram<u64>>>) -> Recorder {
        Recorder {
            shared,
            batch: Vec::with_capacity(BATCH),
        }
    }

    pub fn record(&mut self, latency: Duration) {
        self.batch
            .push(u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX));
        if self.batch.len() == BATCH {
            self.flush();
        }
    }

    pub fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        // A panic elsewhere cannot leave a histogram half-updated in a way
        // that matters here: take it anyway.
        let mut histogram = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        for &ns in &self.batch {
            // `record` grows an auto-resizing histogram; only a value
            // beyond what it can ever hold (centuries) is clamped.
            if histogram.record(ns.max(1)).is_err() {
                histogram.saturating_record(ns);
            }
        }
        self.batch.clear();
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Latency percentiles, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub count: u64,
    pub mean: f64,
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl LatencySummary {
    pub fn of(histogram: &Histogram<u64>) -> LatencySummary {
        let us = |ns: u64| ns as f64 / 1000.0;
        if histogram.is_empty() {
            return LatencySummary {
                count: 0,
                mean: 0.0,
                p50: 0.0,
                p99: 0.0,
                p999: 0.0,
                max: 0.0,
            };
        }
        LatencySummary {
            count: histogram.len(),
            mean: histogram.mean() / 1000.0,
            p50: us(histogram.value_at_quantile(0.50)),
            p99: us(histogram.value_at_quantile(0.99)),
            p999: us(histogram.value_at_quantile(0.999)),
            max: us(histogram.max()),
        }
    }
}

/// `count` events in `window`, per second.
pub fn per_second(count: u64, window: Duration) -> f64 {
    if window.is_zero() {
        0.0
    } else {
        count as f64 / window.as_secs_f64()
    }
}

pub const MIB: f64 = 1024.0 * 1024.0;

/// The middle of repeated measurements, with their range.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    /// `None` for no values. With an even count the median is the mean of
    /// the two middle values.
    pub fn of(values: impl IntoIterator<Item = f64>) -> Option<Spread> {
        let mut values: Vec<f64> = values.into_iter().filter(|v| v.is_finite()).collect();
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let median = if n % 2 == 1 {
            values[n / 2]
        } else {
            (values[n / 2 - 1] + values[n / 2]) / 2.0
        };
        Some(Spread {
            median,
            min: values[0],
            max: values[n - 1],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, relative: f64) -> bool {
        (a - b).abs() <= b.abs() * relative
    }

    #[test]
    fn percentiles_of_one_to_ten_thousand_microseconds() {
        let shared = Arc::new(Mutex::new(new_histogram()));
        let mut recorder = Recorder::new(Arc::clone(&shared));
        for us in 1..=10_000 {
            recorder.record(Duration::from_micros(us));
        }
        drop(recorder); // flushes the last partial batch
        let summary = LatencySummary::of(&shared.lock().unwrap());
        assert_eq!(summary.count, 10_000);
        // 3 significant digits: within 0.1%.
        assert!(close(summary.p50, 5_000.0, 0.001), "{summary:?}");
        assert!(close(summary.p99, 9_900.0, 0.001), "{summary:?}");
        assert!(close(summary.p999, 9_990.0, 0.001), "{summary:?}");
        assert!(close(summary.max, 10_000.0, 0.001), "{summary:?}");
        assert!(close(summary.mean, 5_000.5, 0.001), "{summary:?}");
    }

    #[test]
    fn one_slow_message_in_a_thousand_shows_only_as_the_max() {
        let shared = Arc::new(Mutex::new(new_histogram()));
        let mut recorder = Recorder::new(Arc::clone(&shared));
        for _ in 0..999 {
            recorder.record(Duration::from_micros(50));
        }
        recorder.record(Duration::from_secs(1));
        recorder.flush();
        let summary = LatencySummary::of(&shared.lock().unwrap());
        assert!(close(summary.p99, 50.0, 0.001), "{summary:?}");
        assert!(close(summary.p999, 50.0, 0.001), "{summary:?}");
        assert!(close(summary.max, 1_000_000.0, 0.001), "{summary:?}");
    }

    #[test]
    fn what_a_histogram_costs() {
        // 3 significant digits: 2,048 buckets per power of two, half of
        // them shared with the power below. Each counter is a u64.
        let counters = |max_ns: u64| {
            let mut histogram = new_histogram();
            histogram.record(max_ns).unwrap();
            histogram.distinct_values()
        };
        assert_eq!(counters(100_000_000), 18_432); // 0.1 s: 144 KiB
        assert_eq!(counters(3_600_000_000_000), 33_792); // an hour: 264 KiB
    }

    #[test]
    fn an_empty_histogram_summarises_to_zero() {
        let summary = LatencySummary::of(&new_histogram());
        assert_eq!(summary.count, 0);
        assert_eq!(summary.max, 0.0);
    }

    #[test]
    fn rates() {
        assert_eq!(per_second(500, Duration::from_millis(250)), 2000.0);
        assert_eq!(per_second(5, Duration::ZERO), 0.0);
    }

    #[test]
    fn median_and_range() {
        let odd = Spread::of([3.0, 1.0, 2.0]).unwrap();
        assert_eq!((odd.median, odd.min, odd.max), (2.0, 1.0, 3.0));
        let even = Spread::of([4.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!((even.median, even.min, even.max), (2.5, 1.0, 4.0));
        assert_eq!(Spread::of([]), None);
        // A failed run's NaN does not poison the median.
        assert_eq!(Spread::of([f64::NAN, 5.0]).unwrap().median, 5.0);
    }
}
