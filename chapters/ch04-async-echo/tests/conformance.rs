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

/// The cost ledger's server with every feature it can turn off left out
/// (its other echo loop, a buffer per connection): it must still echo
/// exactly, or the ledger would measure a broken server.
mod without_the_ledger_features {
    echo_conformance::server_suite!(crate::support::server(&[
        "--without",
        "idle-timeout,grace,cap,shared-buffer"
    ]));
}
