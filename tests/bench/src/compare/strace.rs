//! Counting a server's system calls per message with `strace -c -f`.
//!
//! strace stops the server at every system call, so it slows the server
//! down many times over: only the *counts* it reports mean anything here,
//! never its timings.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

use super::results::Syscalls;
use super::servers::RunningServer;
use crate::report::RunReport;

/// Whether `strace` runs here.
pub fn available() -> bool {
    Command::new("strace")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// How long strace may take to attach.
const ATTACH: Duration = Duration::from_secs(10);

/// Attaches strace to every thread of `server`, runs `bench` (a closed
/// loop with a fixed message count, printing JSON), detaches, and counts.
pub fn count(server: &mut RunningServer, mut bench: Command) -> Result<Syscalls> {
    let output = std::env::temp_dir().join(format!(
        "echo-bench-strace-{}-{}.txt",
        std::process::id(),
        server.pid()
    ));
    let mut strace = Command::new("strace")
        .args(["-f", "-c", "-o"])
        .arg(&output)
        .args(["-p", &server.pid().to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start strace")?;
    let strace_pid = strace.id();
    let stop_strace = |strace: &mut std::process::Child| {
        // SAFETY: kill(2) with our own child's pid, not yet waited for.
        // SIGINT makes strace detach and write its summary.
        unsafe { libc::kill(strace_pid as libc::pid_t, libc::SIGINT) };
        strace.wait()
    };

    // strace says "Process N attached" on stderr once it is tracing.
    let stderr = strace.stderr.take().context("stderr is piped")?;
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut attached = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !attached && line.contains("attached") {
                attached = true;
                let _ = tx.send(Ok(()));
            } else if !attached && line.contains("attach:") {
                let _ = tx.send(Err(line));
                return;
            }
        }
    });
    match rx.recv_timeout(ATTACH) {
        Ok(Ok(())) => {}
        Ok(Err(line)) => {
            let _ = stop_strace(&mut strace);
            bail!("strace cannot attach: {line}");
        }
        Err(_) => {
            let _ = stop_strace(&mut strace);
            bail!("strace did not attach within {ATTACH:?}");
        }
    }

    let run = bench.output().context("cannot run the generator");
    stop_strace(&mut strace).context("strace did not finish")?;
    let summary = std::fs::read_to_string(&output);
    let _ = std::fs::remove_file(&output);
    let run = run?;
    let report: RunReport = serde_json::from_slice(&run.stdout).map_err(|_| {
        anyhow!(
            "the generator under strace failed: {}",
            String::from_utf8_lossy(&run.stderr).trim()
        )
    })?;
    if report.errors > 0 {
        bail!(
            "the generator under strace saw errors: {}",
            report.error_samples.join("; ")
        );
    }
    let summary = summary.context("strace wrote no summary")?;
    let calls = parse_summary(&summary);
    if calls.is_empty() {
        bail!("strace's summary lists no calls");
    }
    Ok(Syscalls {
        connections: report.connections,
        messages: report.messages,
        total: calls.iter().map(|(_, n)| n).sum(),
        calls,
    })
}

/// The (name, calls) rows of a `strace -c` table, most frequent first.
///
/// ```text
/// % time     seconds  usecs/call     calls    errors syscall
/// ------ ----------- ----------- --------- --------- ----------------
///  62.50    0.000050          25         2           read
///  37.50    0.000030          10         3         1 accept4
/// ------ ----------- ----------- --------- --------- ----------------
/// 100.00    0.000080          16         5         1 total
/// ```
pub fn parse_summary(text: &str) -> Vec<(String, u64)> {
    let mut calls: Vec<(String, u64)> = text
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // Rows have 5 fields, or 6 with an error count; the name is
            // last and the call count fourth.
            if !(5..=6).contains(&fields.len()) {
                return None;
            }
            let name = *fields.last()?;
            if name == "total" || fields[0].parse::<f64>().is_err() {
                return None;
            }
            Some((name.to_string(), fields[3].parse().ok()?))
        })
        .collect();
    calls.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    calls
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_strace_summary() {
        let text = "\
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 62.50    0.000050          25         2           read
 37.50    0.000030          10         3         1 accept4
  0.00    0.000000           0        40           epoll_wait
------ ----------- ----------- --------- --------- ----------------
100.00    0.000080          16        45         1 total
";
        assert_eq!(
            parse_summary(text),
            vec![
                ("epoll_wait".to_string(), 40),
                ("accept4".to_string(), 3),
                ("read".to_string(), 2),
            ]
        );
        assert!(parse_summary("strace: Process 1 attached\n").is_empty());
    }
}
