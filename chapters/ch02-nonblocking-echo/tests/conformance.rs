//! The shared conformance suite, against this chapter's server.

echo_conformance::server_suite!(std::process::Command::new(env!(
    "CARGO_BIN_EXE_ch02-nonblocking-echo"
)));
