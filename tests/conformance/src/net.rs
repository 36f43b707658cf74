//! Client-side moves every test makes: send and read back, read to the
//! end, hold connections open. Each panics with a clear message on an
//! unexpected error, except [`open_idle`], which the measuring examples
//! use outside tests and so returns the error.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::thread;
use std::time::{Duration, Instant};

use crate::pattern;

/// A `HOST:PORT` whose host does not resolve, and whose lookup never leaves
/// this machine: its first label is longer than the 63 bytes DNS allows in
/// one label, so no query can carry it. (`no.such.host.invalid` would not
/// resolve either, but only after asking the name server.)
pub const UNRESOLVABLE: &str =
    "a-label-longer-than-the-63-bytes-that-dns-allows-so-no-query-can-carry-it.invalid:80";

/// Sends `data` and reads back exactly as many bytes, which must be `data`.
pub fn exchange(mut stream: &TcpStream, data: &[u8]) {
    stream.write_all(data).expect("sending");
    let mut echoed = vec![0; data.len()];
    stream.read_exact(&mut echoed).expect("reading the echo");
    assert!(echoed == data, "the echo differs from what was sent");
}

/// Sends `data`, half-closes, and returns everything until EOF.
pub fn round_trip(stream: &mut TcpStream, data: &[u8]) -> Vec<u8> {
    stream.write_all(data).expect("sending");
    stream.shutdown(Shutdown::Write).expect("half-closing");
    read_to_eof(stream)
}

/// Reads until EOF; returns what came.
pub fn read_to_eof(mut stream: &TcpStream) -> Vec<u8> {
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).expect("reading until EOF");
    rest
}

/// Reads until EOF, which must come with no further byte.
pub fn expect_eof(stream: &TcpStream) {
    let rest = read_to_eof(stream);
    assert!(
        rest.is_empty(),
        "{} unexpected bytes before EOF",
        rest.len()
    );
}

/// Reads `stream` until EOF, checking it against stream `seed` (see
/// [`pattern`]) from offset 0; returns the byte count.
pub fn read_checked(mut stream: &TcpStream, seed: u64) -> u64 {
    let mut buf = vec![0; 64 * 1024];
    let mut received = 0;
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return received,
            Ok(n) => {
                pattern::check(seed, received, &buf[..n]);
                received += n as u64;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!("reading the echo after {received} bytes: {e}"),
        }
    }
}

/// `count` connections to `addr` that each echo one byte (so the server
/// has surely accepted them) and then say nothing, for as long as the
/// returned streams live.
pub fn open_idle(addr: impl ToSocketAddrs + Copy, count: usize) -> io::Result<Vec<TcpStream>> {
    (0..count)
        .map(|_| {
            let mut stream = TcpStream::connect(addr)?;
            stream.write_all(b"x")?;
            stream.read_exact(&mut [0])?;
            Ok(stream)
        })
        .collect()
}

/// Times `count` round trips of `size` bytes on a new connection to `addr`,
/// one message at a time; with `max_pause`, waits a random time up to it
/// before each (random, so that the messages do not fall into step with a
/// server that sleeps between passes). Returns each round trip's time.
pub fn time_round_trips(
    addr: impl ToSocketAddrs,
    count: usize,
    size: usize,
    max_pause: Option<Duration>,
) -> io::Result<Vec<Duration>> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    let message = vec![b'm'; size];
    let mut echo = vec![0; size];
    let mut latencies = Vec::with_capacity(count);
    let mut random = 0x9E37_79B9_7F4A_7C15_u64;
    for _ in 0..count {
        if let Some(pause) = max_pause {
            // xorshift: plenty random for spreading pauses.
            random ^= random << 13;
            random ^= random >> 7;
            random ^= random << 17;
            thread::sleep(pause.mul_f64((random >> 11) as f64 / (1u64 << 53) as f64));
        }
        let sent = Instant::now();
        stream.write_all(&message)?;
        stream.read_exact(&mut echo)?;
        latencies.push(sent.elapsed());
    }
    if echo != message {
        return Err(io::Error::other("the echo differs from the message"));
    }
    Ok(latencies)
}
