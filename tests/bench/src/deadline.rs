//! "No echo within `--timeout`", with one timer per connection.
//!
//! `tokio::time::timeout` around every round trip would insert a timer
//! into tokio's timer wheel and remove it again for every message: most of
//! a microsecond of the generator's CPU per echo, measured. A connection
//! keeps one timer instead, for as long as it lives. It is armed for the
//! message in flight and moved on only when it fires early (the message it
//! was armed for has long been echoed), the way chapter 4's idle timeout
//! works: with a 10 s timeout, once every 10 s rather than once per echo.

use std::pin::{Pin, pin};
use std::time::{Duration, Instant};

use tokio::time::Sleep;

/// tokio's clock, which is the system's except in tests that pause it.
type TokioInstant = tokio::time::Instant;

/// One connection's timer.
pub struct Deadline {
    timer: Pin<Box<Sleep>>,
    limit: Duration,
}

impl Deadline {
    pub fn new(limit: Duration) -> Deadline {
        Deadline {
            timer: Box::pin(tokio::time::sleep(limit)),
            limit,
        }
    }

    pub fn limit(&self) -> Duration {
        self.limit
    }

    /// Runs `future` to completion, or gives up (`None`) once `limit` has
    /// passed since `since`.
    pub async fn within<F: Future>(&mut self, since: Instant, future: F) -> Option<F::Output> {
        let due = TokioInstant::from_std(since) + self.limit;
        let mut future = pin!(future);
        loop {
            tokio::select! {
                // The future first: an echo that is there wins over a timer
                // that has also fired.
                biased;
                output = &mut future => return Some(output),
                () = self.timer.as_mut() => {
                    if TokioInstant::now() >= due {
                        return None;
                    }
                    self.timer.as_mut().reset(due);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Now on tokio's clock, which these tests pause and move on.
    fn now() -> Instant {
        TokioInstant::now().into_std()
    }

    fn run<T>(future: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap()
            .block_on(future)
    }

    #[test]
    fn a_future_that_completes_in_time_is_not_cut() {
        run(async {
            let mut deadline = Deadline::new(Duration::from_secs(10));
            // Many short waits, far longer than the limit in all: each is
            // measured from its own start.
            for _ in 0..30 {
                let since = now();
                let slept = deadline
                    .within(since, tokio::time::sleep(Duration::from_secs(1)))
                    .await;
                assert_eq!(slept, Some(()));
            }
        });
    }

    #[test]
    fn a_future_that_takes_too_long_is_given_up() {
        run(async {
            let mut deadline = Deadline::new(Duration::from_secs(10));
            let since = now();
            let never = deadline.within(since, std::future::pending::<()>()).await;
            assert_eq!(never, None);
            assert!(now() - since >= Duration::from_secs(10));
        });
    }
}
