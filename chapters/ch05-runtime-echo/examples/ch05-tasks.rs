//! Step 2: the executor. Run it with
//!
//!     cargo run -q -p ch05-runtime-echo --example ch05-tasks
//!
//! Three tasks take turns on one thread; each yields (wakes itself and
//! returns `Pending`) between steps, so the run queue interleaves them.

use ch05_runtime_echo::runtime::{Runtime, spawn, yield_now};

// ANCHOR: main
fn main() -> std::io::Result<()> {
    let runtime = Runtime::new()?;
    let total = runtime.block_on(async {
        let handles: Vec<_> = ["a", "b", "c"]
            .into_iter()
            .map(|name| {
                spawn(async move {
                    for step in 1..=3 {
                        println!("task {name}: step {step}");
                        yield_now().await;
                    }
                    name.len()
                })
            })
            .collect();
        println!("main: spawned 3 tasks; none has run yet");
        let mut total = 0;
        for handle in handles {
            total += handle.await.unwrap_or(0);
        }
        total
    })?;
    println!("main: the tasks returned {total} in all");
    Ok(())
}
// ANCHOR_END: main
