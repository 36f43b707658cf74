//! Step 2: a thread per connection.

use std::net::TcpListener;
use std::thread;

use echo_common::Log;

use crate::echo::{accept, echo};

// ANCHOR: serve
pub fn serve(listener: &TcpListener, log: Log) -> ! {
    loop {
        let (stream, peer) = accept(listener, log);
        log.opened(peer);
        let spawned = thread::Builder::new()
            .name(format!("echo {peer}"))
            .spawn(move || {
                let result = echo(stream);
                log.closed(peer, &result);
            });
        // `thread::spawn` would panic here, taking every connection down
        // with it. The system refuses threads when it is out of memory or
        // over its process limit; that must cost one connection, not all.
        if let Err(err) = spawned {
            // The closure, and the stream in it, were dropped: the client
            // sees its connection closed.
            log.server(format_args!(
                "{peer}: cannot start a thread ({err}); connection closed"
            ));
        }
    }
}
// ANCHOR_END: serve
