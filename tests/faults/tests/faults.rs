//! Every fault against every chapter's server (see `src/lib.rs`).

use echo_faults::expectations::Fault;
use echo_faults::{
    Pace, accept_errors, back_pressure, bad_input, emfile, for_each_chapter, resets, shutdown,
    slowloris,
};

#[test]
fn out_of_descriptors_on_accept() {
    for_each_chapter(Fault::Emfile, Pace::OneAtATime, emfile::run);
}

#[test]
fn accept_errors_and_eintr() {
    for_each_chapter(Fault::AcceptErrors, Pace::OneAtATime, accept_errors::run);
}

#[test]
fn resets_with_full_buffers() {
    for_each_chapter(Fault::Resets, Pace::OneAtATime, resets::run);
}

#[test]
fn slow_and_stalled_clients() {
    for_each_chapter(Fault::Slowloris, Pace::AllAtOnce, slowloris::run);
}

#[test]
fn back_pressure_under_clients_that_do_not_read() {
    for_each_chapter(Fault::BackPressure, Pace::OneAtATime, back_pressure::run);
}

#[test]
fn shutdown_on_a_signal() {
    for_each_chapter(Fault::Shutdown, Pace::AllAtOnce, shutdown::run);
}

#[test]
fn bad_input_to_the_binaries() {
    for_each_chapter(Fault::BadInput, Pace::OneAtATime, bad_input::run);
}
