//! Step 4: timers. Run it with
//!
//!     cargo run -q -p ch05-runtime-echo --example ch05-timers
//!
//! A sleep, a timeout that fires and one that does not, and a million
//! sleeps cancelled before they fire.

use std::future::poll_fn;
use std::pin::pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use ch05_runtime_echo::runtime::{Runtime, sleep, timeout};

// ANCHOR: main
fn main() -> std::io::Result<()> {
    let runtime = Runtime::new()?;
    runtime.block_on(async {
        let start = Instant::now();
        sleep(Duration::from_millis(50)).await;
        println!("sleep(50 ms) returned after {:?}", rounded(start.elapsed()));

        let start = Instant::now();
        let slow = timeout(Duration::from_millis(20), sleep(Duration::from_secs(10))).await;
        println!(
            "timeout(20 ms, a 10 s sleep) = {slow:?} after {:?}",
            rounded(start.elapsed())
        );

        let fast = timeout(Duration::from_secs(10), async { 42 }).await;
        println!("timeout(10 s, a ready future) = {fast:?}");

        let start = Instant::now();
        for _ in 0..1_000_000 {
            // Polled once, so it registers its timer; then dropped.
            let mut sleep = pin!(sleep(Duration::from_secs(3600)));
            let _ = poll_fn(|cx| Poll::Ready(sleep.as_mut().poll(cx))).await;
        }
        println!(
            "1,000,000 sleeps registered and cancelled in {:?}",
            rounded(start.elapsed())
        );
    })?;
    println!("timers left: {}", runtime.timers());
    Ok(())
}
// ANCHOR_END: main

/// To the millisecond, so the output reads well.
fn rounded(elapsed: Duration) -> Duration {
    Duration::from_millis(elapsed.as_millis() as u64)
}
