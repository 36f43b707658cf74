//! The shared conformance suite against this chapter's server: both echo
//! loops, and both runtime flavours.

mod support;

/// The default: the hand-written read → write_all loop, multi-threaded.
mod hand_written_loop {
    echo_conformance::server_suite!(crate::support::server(&[]));
}

/// `tokio::io::copy` on split halves.
mod copy_on_split_halves {
    echo_conformance::server_suite!(crate::support::server(&["--copy"]));
}

/// Everything on one thread: tokio's current_thread runtime.
mod current_thread_runtime {
    echo_conformance::server_suite!(crate::support::server(&["--threads", "1"]));
}
