//! A short run of the real generator against chapter 1's real server: every
//! mode finishes, checks every echo and finds nothing wrong. Correctness
//! only; no assertion about speed.

// Helpers outside #[test] functions too: a failed setup should fail the test.
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::Duration;

use echo_bench::epoll_load::Latency;
use echo_bench::report::RunReport;
use echo_bench::{LoadConfig, epoll_load, load, threaded};
use echo_conformance::{Server, binary};

fn ch01() -> Server {
    let mut command = Command::new(binary("ch01-blocking-echo"));
    command.arg("--quiet");
    Server::start(command)
}

fn config(server: &Server) -> LoadConfig {
    LoadConfig {
        addr: server.addr(),
        connections: 4,
        size: 512,
        duration: Duration::from_millis(300),
        warmup: Duration::from_millis(100),
        messages: Some(200),
        rate: None,
        timeout: Duration::from_secs(30),
        server_pid: Some(server.pid()),
    }
}

#[test]
fn closed_loop_with_a_message_count_echoes_every_message() {
    let server = ch01();
    let config = config(&server);
    // The generator, its threads, and the latencies it records (the
    // yardstick, minimal-epoll, measures none).
    for (generator, threads, outcome, latencies) in [
        ("tokio", 1, load::run(&config, 1, false).unwrap(), 800),
        ("tokio", 2, load::run(&config, 2, false).unwrap(), 800),
        ("threads", 0, threaded::run(&config).unwrap(), 800),
        (
            "epoll",
            1,
            epoll_load::run(&config, Latency::Record, false).unwrap(),
            800,
        ),
        (
            "minimal-epoll",
            1,
            epoll_load::run(&config, Latency::Skip, false).unwrap(),
            0,
        ),
    ] {
        assert!(
            outcome.errors.is_empty(),
            "{generator}: {:?}",
            outcome.errors
        );
        assert_eq!(outcome.completed, 800, "{generator}");
        assert_eq!(outcome.latency.len(), latencies, "{generator}");
        let report = RunReport::new(&config, generator, threads, &outcome);
        // The server was sampled: it is ours and alive.
        assert!(report.server.is_some());
        assert_eq!(report.messages, 800);
    }
}

#[test]
fn open_loop_for_a_duration_finishes_cleanly() {
    let server = ch01();
    let mut config = config(&server);
    config.messages = None;
    config.rate = Some(1000.0);
    let outcome = load::run(&config, 1, false).unwrap();
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    // 1,000 msgs/s over a 0.3 s window: messages 100..400 of the run.
    assert_eq!(outcome.latency.len(), 300);
}

#[test]
fn the_command_line_prints_json_that_reads_back() {
    let server = ch01();
    let output = Command::new(env!("CARGO_BIN_EXE_echo-bench"))
        .args(["--connect", &server.addr().to_string()])
        .args(["--connections", "3", "--size", "100", "--messages", "50"])
        .args(["--server-pid", &server.pid().to_string(), "--json"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: RunReport = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        (report.connections, report.size, report.messages),
        (3, 100, 150)
    );
    assert_eq!(report.errors, 0);
    assert_eq!(report.latency_us.count, 150);
}

#[test]
fn the_command_line_fails_on_a_refused_connection() {
    // Bind and drop: nothing listens there now.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_echo-bench"))
        .args(["--connect", &addr.to_string(), "--messages", "1"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: 10 of 10 connections failed"),
        "{stderr}"
    );
}
