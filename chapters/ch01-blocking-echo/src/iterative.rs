//! Step 1: one thread, one client at a time.

use std::net::TcpListener;
use std::time::Duration;

use echo_common::Log;

use crate::echo::{accept, echo};

// ANCHOR: serve
pub fn serve(listener: &TcpListener, idle_timeout: Duration, log: Log) -> ! {
    loop {
        let (stream, peer) = accept(listener, log);
        log.opened(peer);
        // The whole server is inside this call until `peer` half-closes.
        // Clients that connect meanwhile wait in the listen backlog.
        let result = echo(stream, idle_timeout);
        log.closed(peer, &result);
    }
}
// ANCHOR_END: serve
