//! The flags this chapter implements: `--backend`, `--idle-timeout`,
//! `--max-connections`, and accept's back-off when out of descriptors.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use echo_conformance::net::{exchange, read_to_eof};
use echo_conformance::process::eventually;

use common::{BACKENDS, start};

const BINARY: &str = env!("CARGO_BIN_EXE_ch03-multiplexed-echo");

#[test]
fn default_backend_is_edge_triggered_epoll() {
    let help = Command::new(BINARY).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("[default: epoll-edge]"), "{help}");
}

#[test]
fn idle_connections_are_closed_busy_ones_are_not() {
    for backend in BACKENDS {
        let server = start(backend, &["--idle-timeout", "1"]);
        let idle = server.connect();
        let busy = server.connect();
        let started = Instant::now();
        // Keep `busy` moving bytes for longer than the timeout; a pause of
        // 50 ms is far below it, so busy never looks idle.
        while started.elapsed() < Duration::from_millis(1500) {
            exchange(&busy, b"tick");
            thread::sleep(Duration::from_millis(50));
        }
        assert!(read_to_eof(&idle).is_empty(), "{backend}: idle not closed");
        exchange(&busy, b"still open");
        server.wait_for_stderr("no byte moved for 1s");
    }
}

#[test]
fn over_max_connections_clients_wait_in_the_backlog() {
    for backend in BACKENDS {
        let server = start(backend, &["--max-connections", "2"]);
        let first = server.connect();
        let second = server.connect();
        exchange(&first, b"1");
        exchange(&second, b"2");

        // The third connects (the kernel completes the handshake and queues
        // it) but is not accepted, so nothing comes back while two are open.
        let mut third = server.connect();
        third.write_all(b"3").unwrap();
        third
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut byte = [0];
        let waited = third.read(&mut byte);
        assert!(
            waited
                .as_ref()
                .is_err_and(|e| matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)),
            "{backend}: third client served over the cap: {waited:?}"
        );
        // Both served ones have logged their "connected"; the third has not
        // (a snapshot: a line still in the pipe could only hide a failure).
        eventually("both served connections logged", || {
            server.stderr().matches("connected").count() >= 2
        });
        assert_eq!(server.stderr().matches("connected").count(), 2);

        // One leaves; the third is accepted and gets its echo.
        first.shutdown(Shutdown::Write).unwrap();
        drop(first);
        third
            .set_read_timeout(Some(echo_conformance::process::DEADLINE))
            .unwrap();
        third.read_exact(&mut byte).unwrap();
        assert_eq!(&byte, b"3");
        exchange(&second, b"2 again");
    }
}

mod out_of_descriptors {
    use echo_conformance::Server;
    use echo_conformance::limits::limit_descriptors;

    use super::*;

    #[test]
    fn out_of_descriptors_the_server_backs_off_without_spinning_and_recovers() {
        const FD_LIMIT: u64 = 32;
        const CLIENTS: usize = 40;
        for backend in BACKENDS {
            let mut command = Command::new(BINARY);
            command.args(["--backend", backend]);
            limit_descriptors(&mut command, FD_LIMIT);
            let server = Server::start(command);

            // More clients than descriptors: the kernel queues them all, the
            // server accepts until EMFILE.
            let mut clients: Vec<TcpStream> = (0..CLIENTS).map(|_| server.connect()).collect();
            server.wait_for_stderr("Too many open files");

            // Saturated: the listener stays readable, but the server is not
            // watching it, so it sleeps. 100 ms of back-off per retry means a
            // few retries a second; a spinning loop would burn the whole second.
            let before = server.cpu_time();
            thread::sleep(Duration::from_secs(1));
            let used = server.cpu_time() - before;
            assert!(
                used <= Duration::from_millis(100),
                "{backend}: {used:?} of CPU in 1 s while saturated"
            );

            // As clients leave, the waiting ones are accepted and echoed.
            for (i, client) in clients.iter_mut().enumerate() {
                let message = (i as u32).to_be_bytes();
                client.write_all(&message).unwrap();
                client.shutdown(Shutdown::Write).unwrap();
                let mut echoed = Vec::new();
                client.read_to_end(&mut echoed).unwrap();
                assert_eq!(echoed, message, "{backend}: client {i}");
            }
        }
    }
}
