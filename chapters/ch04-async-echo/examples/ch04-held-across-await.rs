//! Why chapter 4's echo waits for readability *before* it takes a buffer:
//! a local that lives across an `.await` is stored in the future, so a
//! task parked at that `.await` holds it for as long as it waits. Spawns
//! 10,000 tasks that each wait for a message that never comes, once with
//! an 8 KiB buffer declared before the `.await` (the first version of
//! chapter 4's loop) and once with the buffer taken after it (the loop
//! now), each in a fresh process, and prints the size of one task's future
//! and the process's resident memory (Linux: /proc/self/status):
//!
//!     cargo run --release -p ch04-async-echo --example ch04-held-across-await

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};
use tokio::sync::oneshot;

const BUF_SIZE: usize = 8 * 1024;

#[derive(Debug, Parser)]
struct Args {
    /// Tasks to spawn
    #[arg(long, default_value_t = 10_000)]
    tasks: usize,
    /// Measure one shape in this process (the table runs each in a child)
    #[arg(long, value_enum)]
    only: Option<Shape>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Shape {
    Before,
    After,
}

// ANCHOR: shapes
/// The buffer is declared before the `.await` and used after it, so it is
/// one of the future's fields: 8 KiB in every waiting task.
async fn buffer_before_await(message: oneshot::Receiver<Vec<u8>>, polled: Arc<AtomicUsize>) {
    let mut buf = [0u8; BUF_SIZE];
    polled.fetch_add(1, Ordering::Relaxed);
    if let Ok(bytes) = message.await {
        let n = bytes.len().min(buf.len());
        buf[..n].copy_from_slice(&bytes[..n]);
        std::hint::black_box(&buf);
    }
}

/// The buffer exists only after the `.await`: a waiting task holds the
/// receiver and the counter, and nothing else.
async fn buffer_after_await(message: oneshot::Receiver<Vec<u8>>, polled: Arc<AtomicUsize>) {
    polled.fetch_add(1, Ordering::Relaxed);
    if let Ok(bytes) = message.await {
        let mut buf = vec![0u8; BUF_SIZE];
        let n = bytes.len().min(buf.len());
        buf[..n].copy_from_slice(&bytes[..n]);
        std::hint::black_box(&buf);
    }
}
// ANCHOR_END: shapes

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(shape) = args.only {
        return measure(shape, args.tasks);
    }
    println!(
        "| what a waiting task holds | one task's future | RSS before | RSS with {} waiting tasks | per task |",
        args.tasks
    );
    println!("|---|---:|---:|---:|---:|");
    let exe = std::env::current_exe().context("cannot find this program")?;
    for (shape, flag) in [(Shape::Before, "before"), (Shape::After, "after")] {
        // A fresh process for each, so that neither inherits the other's heap.
        let output = Command::new(&exe)
            .args(["--tasks", &args.tasks.to_string(), "--only", flag])
            .output()
            .context("cannot run the measurement")?;
        if !output.status.success() {
            bail!(
                "measuring {shape:?} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        print!("{}", String::from_utf8_lossy(&output.stdout));
    }
    Ok(())
}

/// Spawns `tasks` tasks of one shape, waits until every one has been polled
/// (and so has written its buffer, if it has one), and prints a table row.
fn measure(shape: Shape, tasks: usize) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .context("cannot build the runtime")?;
    let before = rss_kib()?;
    let (size, after) = runtime.block_on(async {
        let polled = Arc::new(AtomicUsize::new(0));
        let mut senders = Vec::with_capacity(tasks);
        let mut size = 0;
        for _ in 0..tasks {
            let (send, receive) = oneshot::channel();
            senders.push(send);
            let counter = Arc::clone(&polled);
            size = match shape {
                Shape::Before => spawn(buffer_before_await(receive, counter)),
                Shape::After => spawn(buffer_after_await(receive, counter)),
            };
        }
        // On this one-thread runtime the tasks run while `main` yields.
        while polled.load(Ordering::Relaxed) < tasks {
            tokio::task::yield_now().await;
        }
        let after = rss_kib();
        drop(senders); // every task ends: its message will never come
        (size, after)
    });
    let after = after?;
    let (what, name) = match shape {
        Shape::Before => ("an 8 KiB buffer, declared before the `.await`", "before"),
        Shape::After => ("nothing: the buffer is taken after the `.await`", "after"),
    };
    let per_task = (after.saturating_sub(before) * 1024) as f64 / tasks as f64;
    println!(
        "| {what} (`{name}`) | {} B | {:.1} MiB | {:.1} MiB | {:.0} B |",
        size,
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        per_task.round()
    );
    Ok(())
}

/// Spawns `future` and returns its size: what its task stores.
fn spawn<F: Future<Output = ()> + Send + 'static>(future: F) -> usize {
    let size = size_of_val(&future);
    tokio::spawn(future);
    size
}

fn rss_kib() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status").context("cannot read /proc")?;
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .context("no VmRSS in /proc/self/status")?;
    line.split_whitespace()
        .nth(1)
        .and_then(|kib| kib.parse().ok())
        .context("cannot parse VmRSS")
}
