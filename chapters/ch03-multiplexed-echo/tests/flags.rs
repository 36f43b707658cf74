//! The flags this chapter implements: `--backend`, `--idle-timeout`,
//! `--max-connections`, and accept's back-off when out of descriptors.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::{BACKENDS, start};

const BINARY: &str = env!("CARGO_BIN_EXE_ch03-multiplexed-echo");

fn exchange(mut stream: &TcpStream, data: &[u8]) {
    stream.write_all(data).expect("sending");
    let mut echoed = vec![0; data.len()];
    stream.read_exact(&mut echoed).expect("reading the echo");
    assert_eq!(echoed, data);
}

/// Reads until EOF; true if the server closed with no further byte.
fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut rest = Vec::new();
    matches!(stream.read_to_end(&mut rest), Ok(0))
}

#[test]
fn default_backend_is_edge_triggered_epoll_on_linux() {
    let help = Command::new(BINARY).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    let default = if cfg!(target_os = "linux") {
        "[default: epoll-edge]"
    } else {
        "[default: poll]"
    };
    assert!(help.contains(default), "{help}");
}

#[test]
fn idle_connections_are_closed_busy_ones_are_not() {
    for backend in BACKENDS {
        let server = start(backend, &["--idle-timeout", "1"]);
        let mut idle = server.connect();
        let busy = server.connect();
        let started = Instant::now();
        // Keep `busy` moving bytes for longer than the timeout; a pause of
        // 50 ms is far below it, so busy never looks idle.
        while started.elapsed() < Duration::from_millis(1500) {
            exchange(&busy, b"tick");
            thread::sleep(Duration::from_millis(50));
        }
        assert!(closed_by_server(&mut idle), "{backend}: idle not closed");
        exchange(&busy, b"still open");
        assert!(server.stderr().contains("no byte moved for 1s"));
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

#[cfg(target_os = "linux")] // reads the server's CPU time from /proc
mod out_of_descriptors {
    use std::os::unix::process::CommandExt;

    use echo_conformance::Server;
    use echo_conformance::process::eventually;

    use super::common::cpu_ticks;
    use super::*;

    #[test]
    fn out_of_descriptors_the_server_backs_off_without_spinning_and_recovers() {
        const FD_LIMIT: u64 = 32;
        const CLIENTS: usize = 40;
        for backend in BACKENDS {
            let mut command = Command::new(BINARY);
            command.args(["--backend", backend]);
            // SAFETY: the closure runs in the child between fork and exec, and
            // calls only setrlimit, which is async-signal-safe.
            unsafe {
                command.pre_exec(|| {
                    let limit = libc::rlimit {
                        rlim_cur: FD_LIMIT as libc::rlim_t,
                        rlim_max: FD_LIMIT as libc::rlim_t,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            let server = Server::start(command);

            // More clients than descriptors: the kernel queues them all, the
            // server accepts until EMFILE.
            let mut clients: Vec<TcpStream> = (0..CLIENTS).map(|_| server.connect()).collect();
            eventually("the server runs out of descriptors", || {
                server.stderr().contains("Too many open files")
            });

            // Saturated: the listener stays readable, but the server is not
            // watching it, so it sleeps. 100 ms of back-off per retry means a
            // few retries a second; a spinning loop would burn the whole second.
            let before = cpu_ticks(server.pid());
            thread::sleep(Duration::from_secs(1));
            let used = cpu_ticks(server.pid()) - before;
            assert!(
                used <= 10,
                "{backend}: {used} ticks of CPU in 1 s while saturated"
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
