//! A server holding many connections that do nothing: what each costs in
//! memory, and whether the server burns CPU while nothing happens.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::timeout;

use super::results::Idle;
use super::servers::RunningServer;
use crate::procfs::{self, Footprint};

/// Connections being set up at once. The listen backlog of Python's
/// asyncio server is 100; more at once would overflow it and cost the
/// kernel's one-second SYN retry.
const CONCURRENT_CONNECTS: usize = 64;

/// How long one connection may take to connect and echo its byte.
const PER_CONNECTION: Duration = Duration::from_secs(10);

/// Opens `count` connections to `server`, has each echo one byte (so the
/// server has surely accepted it and set up whatever it keeps per
/// connection), then measures the server with all of them idle.
pub fn measure(server: &mut RunningServer, count: usize, idle_for: Duration) -> Result<Idle> {
    let pid = server.pid();
    let before = Footprint::take(pid).context("cannot read the server's memory")?;
    let kernel_stack_before = procfs::kernel_stack_kib().unwrap_or(0);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start a tokio runtime")?;
    let (streams, shortfall) = runtime.block_on(open(server.addr, count));
    server.check_alive()?;

    let with_connections = Footprint::take(pid).context("cannot read the server's memory")?;
    let kernel_stack_after = procfs::kernel_stack_kib().unwrap_or(0);
    let cpu_before = procfs::cpu_time(pid)?;
    // Measuring over a span of time, not waiting for something to happen.
    std::thread::sleep(idle_for);
    let cpu_after = procfs::cpu_time(pid)?;
    let idle_cpu_percent =
        100.0 * cpu_after.saturating_sub(cpu_before).as_secs_f64() / idle_for.as_secs_f64();
    server.check_alive()?;
    let held = streams.len();
    drop(streams);

    Ok(Idle {
        connections: held,
        before,
        with_connections,
        kernel_stack_delta_kib: kernel_stack_after as i64 - kernel_stack_before as i64,
        idle_cpu_percent,
        idle_secs: idle_for.as_secs_f64(),
        shortfall,
    })
}

/// Opens up to `count` echoed connections; after the first failure it
/// stops opening more and says why.
async fn open(addr: SocketAddr, count: usize) -> (Vec<std::net::TcpStream>, Option<String>) {
    let permits = Arc::new(Semaphore::new(CONCURRENT_CONNECTS));
    let failed = Arc::new(AtomicBool::new(false));
    let mut tasks = JoinSet::new();
    for _ in 0..count {
        let permits = Arc::clone(&permits);
        let failed = Arc::clone(&failed);
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await.ok()?;
            if failed.load(Ordering::Relaxed) {
                return None;
            }
            let result = timeout(PER_CONNECTION, echo_one_byte(addr)).await;
            match result {
                Ok(Ok(stream)) => Some(Ok(stream)),
                Ok(Err(e)) => {
                    failed.store(true, Ordering::Relaxed);
                    Some(Err(e.to_string()))
                }
                Err(_) => {
                    failed.store(true, Ordering::Relaxed);
                    Some(Err(format!("no echo within {PER_CONNECTION:?}")))
                }
            }
        });
    }
    let mut streams = Vec::with_capacity(count);
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Some(Ok(stream))) => streams.push(stream),
            Ok(Some(Err(e))) => {
                first_error.get_or_insert(e);
            }
            Ok(None) => {}
            Err(e) => {
                first_error.get_or_insert(e.to_string());
            }
        }
    }
    let shortfall = first_error.map(|e| {
        format!(
            "held {} of {count} connections; the first failure: {e}",
            streams.len()
        )
    });
    (streams, shortfall)
}

async fn echo_one_byte(addr: SocketAddr) -> std::io::Result<std::net::TcpStream> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream.write_all(b"x").await?;
    let mut byte = [0];
    stream.read_exact(&mut byte).await?;
    if byte != *b"x" {
        return Err(std::io::Error::other("the echo of one byte was wrong"));
    }
    // Hold it as a plain socket: it does nothing more, and a std stream
    // can be dropped outside the runtime.
    stream.into_std()
}
