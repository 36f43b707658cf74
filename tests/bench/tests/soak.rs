//! `echo-bench soak` against real servers: chapters' servers pass it, and
//! deliberately broken ones (`src/bin/broken-echo.rs`) fail it, naming the
//! seed that replays the run. Short soaks (two seconds of clients), with a
//! one-second idle timeout; correctness only, no assertion about speed.

// Helpers outside #[test] functions too: a failed setup should fail the test.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};

use echo_conformance::binary;

/// `echo-bench soak` with short settings, the given seed, against
/// `server`.
fn soak(seed: u64, server: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_echo-bench"))
        .args(["soak", "--duration", "2", "--seed", &seed.to_string()])
        .args(["--idle-timeout", "1", "--timeout", "10", "--settle", "3"])
        .arg("--")
        .args(server)
        .output()
        .unwrap()
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_server_that_loses_a_byte_fails_the_soak_naming_the_seed() {
    // Byte 100 of every connection: every behaviour but a burst's short
    // messages goes past it.
    let output = soak(
        4242,
        &[env!("CARGO_BIN_EXE_broken-echo"), "--lose-byte", "100"],
    );
    let (stdout, stderr) = text(&output);
    assert!(!output.status.success(), "{stdout}");
    // The lost byte shifts the rest of each echo: a wrong byte at
    // offset 100.
    assert!(stdout.contains("error: wrong byte"), "{stdout}");
    assert!(stdout.contains("wrong byte at offset 100:"), "{stdout}");
    assert!(stdout.contains("soak FAILED (seed 4242)"), "{stdout}");
    assert!(
        stdout.contains("replay: echo-bench soak --seed 4242"),
        "{stdout}"
    );
    assert!(stderr.contains("seed 4242"), "{stderr}");
}

#[test]
fn a_server_that_leaks_descriptors_fails_the_soak() {
    // Resets are one behaviour in seven: two seconds of them leak plenty.
    let output = soak(77, &[env!("CARGO_BIN_EXE_broken-echo"), "--leak"]);
    let (stdout, stderr) = text(&output);
    assert!(!output.status.success(), "{stdout}");
    assert!(stdout.contains("leaked"), "{stdout}");
    assert!(stdout.contains("descriptors"), "{stdout}");
    assert!(stderr.contains("seed 77"), "{stderr}");
}

#[test]
fn a_chapter_server_passes_with_every_behaviour_counted() {
    let ch03 = binary("ch03-multiplexed-echo");
    let output = soak(1, &[ch03.to_str().unwrap()]);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    for line in [
        "echo ",
        "half-close with data pending",
        "reset mid-stream",
        "stops reading for a while",
        "silent past the idle timeout",
        "burst over the cap",
        "errors                         none",
        "still answers a hello          yes",
        "SIGTERM                        exit 0",
        "soak passed (seed 1)",
    ] {
        assert!(stdout.contains(line), "no {line:?} in:\n{stdout}");
    }
}

#[test]
fn chapter_1s_shutdown_limitation_is_reported_not_hidden() {
    let ch01 = binary("ch01-blocking-echo");
    let output = soak(2, &[ch01.to_str().unwrap()]);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("killed by it, as the fault table says"),
        "{stdout}"
    );
    assert!(
        stdout.contains("limitation                     killed by the signal"),
        "{stdout}"
    );
}
