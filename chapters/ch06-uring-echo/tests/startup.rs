//! Starting where io_uring is refused, and stopping on signals: against
//! the real binaries.
//!
//! This machine has io_uring enabled, and switching it off
//! (`/proc/sys/kernel/io_uring_disabled`) would switch it off for every
//! process on the machine. So the tests do what a container runtime's
//! seccomp profile does: the binary starts under a filter that makes
//! `io_uring_setup` fail, with `EPERM` (Docker's default profile) or with
//! `ENOSYS` (a kernel without io_uring looks the same). The binary must
//! say so in one line and exit non-zero, and print no `listening on`.

#![cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};

use echo_conformance::client::assert_user_error;
use echo_conformance::{Server, process};

const SERVER: &str = env!("CARGO_BIN_EXE_ch06-uring-echo");
const CLIENT: &str = env!("CARGO_BIN_EXE_ch06-uring-client");

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E; // AUDIT_ARCH_X86_64
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7; // AUDIT_ARCH_AARCH64

// ANCHOR: seccomp
/// Makes the child's `io_uring_setup` fail with `errno`, as a seccomp
/// profile would: a classic BPF program over the system call number.
fn refuse_io_uring(command: &mut Command, errno: u32) {
    use libc::{BPF_ABS, BPF_JEQ, BPF_JMP, BPF_K, BPF_LD, BPF_RET, BPF_W, sock_filter};
    let op = |code: u32| code as u16;
    let filter: Vec<sock_filter> = vec![
        // Another architecture's numbers mean other calls: allow.
        sock_filter {
            code: op(BPF_LD | BPF_W | BPF_ABS),
            jt: 0,
            jf: 0,
            k: 4,
        }, // arch
        sock_filter {
            code: op(BPF_JMP | BPF_JEQ | BPF_K),
            jt: 1,
            jf: 0,
            k: AUDIT_ARCH,
        },
        sock_filter {
            code: op(BPF_RET | BPF_K),
            jt: 0,
            jf: 0,
            k: libc::SECCOMP_RET_ALLOW,
        },
        sock_filter {
            code: op(BPF_LD | BPF_W | BPF_ABS),
            jt: 0,
            jf: 0,
            k: 0,
        }, // nr
        sock_filter {
            code: op(BPF_JMP | BPF_JEQ | BPF_K),
            jt: 0,
            jf: 1,
            k: libc::SYS_io_uring_setup as u32,
        },
        sock_filter {
            code: op(BPF_RET | BPF_K),
            jt: 0,
            jf: 0,
            k: libc::SECCOMP_RET_ERRNO | errno,
        },
        sock_filter {
            code: op(BPF_RET | BPF_K),
            jt: 0,
            jf: 0,
            k: libc::SECCOMP_RET_ALLOW,
        },
    ];
    // SAFETY: the closure runs in the child between fork and exec and makes
    // two prctl calls, which are async-signal-safe; `filter` was built
    // before the fork and is only read.
    unsafe {
        command.pre_exec(move || {
            let program = libc::sock_fprog {
                len: filter.len() as u16,
                filter: filter.as_ptr().cast_mut(),
            };
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::prctl(
                    libc::PR_SET_SECCOMP,
                    libc::SECCOMP_MODE_FILTER,
                    &program as *const libc::sock_fprog,
                ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}
// ANCHOR_END: seccomp

fn run_refused(binary: &str, args: &[&str], errno: u32) -> process::ClientRun {
    let mut command = Command::new(binary);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    refuse_io_uring(&mut command, errno);
    process::wait_with_deadline(command.spawn().expect("starting the binary"))
}

// ANCHOR: refused
#[test]
fn a_seccomp_profile_that_refuses_io_uring_is_one_clear_line() {
    for step in ["single", "multishot"] {
        let args = ["--listen", "127.0.0.1:0", "--step", step];
        let run = run_refused(SERVER, &args, libc::EPERM as u32);
        assert!(!run.status.success(), "{run:?}");
        assert!(run.stdout.is_empty(), "it must not announce: {run:?}");
        assert_user_error(&run.stderr);
        assert!(
            run.stderr
                .starts_with("error: cannot set up io_uring: Operation not permitted")
                && run.stderr.contains("seccomp"),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn a_kernel_without_io_uring_is_one_clear_line() {
    let run = run_refused(SERVER, &["--listen", "127.0.0.1:0"], libc::ENOSYS as u32);
    assert!(!run.status.success() && run.stdout.is_empty(), "{run:?}");
    assert_user_error(&run.stderr);
    assert!(run.stderr.contains("has no io_uring"), "{}", run.stderr);

    // The client too, once it has connected.
    let server = Server::start(Command::new(SERVER));
    let run = run_refused(
        CLIENT,
        &["--connect", &server.addr().to_string()],
        libc::ENOSYS as u32,
    );
    assert!(!run.status.success(), "{run:?}");
    assert_user_error(&run.stderr);
    assert!(run.stderr.contains("has no io_uring"), "{}", run.stderr);
}
// ANCHOR_END: refused

/// The contract's second signal: one log line, exit status 130, with a
/// connection still open and a grace period far from over.
#[test]
fn a_second_signal_exits_at_once_with_130() {
    for step in ["single", "multishot"] {
        let mut server = Server::start({
            let mut command = Command::new(SERVER);
            command.args(["--step", step, "--grace", "600"]);
            command
        });
        let _open = server.connect();
        server.wait_for_stderr("connected");
        server.signal(libc::SIGINT);
        server.wait_for_stderr("shutting down");
        server.signal(libc::SIGTERM);
        let status = server.wait_exit();
        assert_eq!(
            status.code(),
            Some(130),
            "{step}: {status} (signal {:?})",
            status.signal()
        );
        server.wait_for_stderr("second signal: exiting now");
    }
}

#[test]
fn help_names_every_step_and_flag() {
    let help = Command::new(SERVER).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for word in [
        "--step",
        "single",
        "multishot",
        "--fixed-files",
        "--sqpoll",
        "--ring-entries",
        "--buffers",
    ] {
        assert!(
            help.contains(word),
            "--help does not mention {word}: {help}"
        );
    }
}
