//! What one soak client does, one behaviour at a time: each opens its own
//! connections, checks every byte that must come back, and reports what it
//! did or the first thing that went wrong. Blocking sockets with timeouts:
//! a behaviour that waits longer than the soak's `--timeout` for anything
//! is an error, never a hang.

use std::io::{self, ErrorKind, Read};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use echo_conformance::pattern;
use echo_faults::net::{send_pattern, try_fill_until_blocked};
use socket2::SockRef;

pub use super::watcher::Watcher;

// ANCHOR: behaviours
/// The behaviours, in the order the report lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Behaviour {
    /// Messages of random sizes, each echo read and checked before the
    /// next; then a half-close, and the server must close with nothing
    /// more to say.
    Echo,
    /// Up to 1 MiB sent and half-closed before reading a byte: all of it
    /// comes back, then the close.
    HalfClose,
    /// Sends, reads part of the echo, and resets (`SO_LINGER` 0).
    Reset,
    /// Sends without reading until the server stops taking bytes (its
    /// back-pressure), pauses well inside the idle timeout, then reads
    /// everything back.
    StalledReader,
    /// Echoes one message, then says nothing: the server must close the
    /// connection once the idle timeout has passed, and not much before
    /// (the [`Watcher`] waits for that, while the client goes on).
    Silent,
    /// Opens more connections at once than the server's cap, sends on
    /// each, and reads each echo in turn, closing each before the next:
    /// the clients over the cap wait in the listen backlog until a slot
    /// frees.
    Burst,
}
// ANCHOR_END: behaviours

impl Behaviour {
    pub const ALL: [Behaviour; 6] = [
        Behaviour::Echo,
        Behaviour::HalfClose,
        Behaviour::Reset,
        Behaviour::StalledReader,
        Behaviour::Silent,
        Behaviour::Burst,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Behaviour::Echo => "echo",
            Behaviour::HalfClose => "half-close with data pending",
            Behaviour::Reset => "reset mid-stream",
            Behaviour::StalledReader => "stops reading for a while",
            Behaviour::Silent => "silent past the idle timeout",
            Behaviour::Burst => "burst over the cap",
        }
    }

    /// Whether it is a fault (everything but a plain echo).
    pub fn is_fault(self) -> bool {
        self != Behaviour::Echo
    }

    /// Picks one, with weights: mostly plain echoes, the faults among them.
    pub fn pick(rng: &mut fastrand::Rng) -> Behaviour {
        match rng.u32(0..100) {
            0..40 => Behaviour::Echo,
            40..55 => Behaviour::HalfClose,
            55..70 => Behaviour::Reset,
            70..82 => Behaviour::StalledReader,
            82..94 => Behaviour::Silent,
            _ => Behaviour::Burst,
        }
    }
}

/// What the server the behaviours talk to was started with.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub addr: SocketAddr,
    /// How long any one read, write or connect may wait.
    pub timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

/// What one behaviour did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Done {
    pub connections: u64,
    /// Bytes that came back and were checked, byte by byte.
    pub verified: u64,
}

/// What went wrong, by kind (the report counts them by kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FailureKind {
    Connect,
    WrongByte,
    /// The server closed before echoing everything.
    Short,
    /// Bytes came back that were never sent.
    Extra,
    /// The server reset a connection it should have served.
    Reset,
    Timeout,
    /// A silent client was closed well before the idle timeout.
    ClosedEarly,
    /// A silent client was still open long after the idle timeout.
    NotClosed,
    Io,
}

impl FailureKind {
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::Connect => "cannot connect",
            FailureKind::WrongByte => "wrong byte",
            FailureKind::Short => "echo cut short",
            FailureKind::Extra => "bytes never sent",
            FailureKind::Reset => "reset by the server",
            FailureKind::Timeout => "timeout",
            FailureKind::ClosedEarly => "closed before the idle timeout",
            FailureKind::NotClosed => "not closed after the idle timeout",
            FailureKind::Io => "other IO error",
        }
    }
}

/// One error, with what the behaviour was doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: FailureKind,
    pub detail: String,
}

impl Failure {
    pub fn new(kind: FailureKind, detail: impl Into<String>) -> Failure {
        Failure {
            kind,
            detail: detail.into(),
        }
    }

    fn io(doing: &str, error: &io::Error) -> Failure {
        let kind = match error.kind() {
            ErrorKind::WouldBlock | ErrorKind::TimedOut => FailureKind::Timeout,
            ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::ConnectionAborted => {
                FailureKind::Reset
            }
            _ => FailureKind::Io,
        };
        Failure::new(kind, format!("{doing}: {error}"))
    }
}

type Outcome = Result<Done, Failure>;

/// Runs `behaviour` once against `target`, with sizes and data drawn from
/// `rng`. A silent connection is handed to `watcher`, which sees it closed.
pub fn run(
    behaviour: Behaviour,
    target: &Target,
    rng: &mut fastrand::Rng,
    watcher: &Watcher,
) -> Outcome {
    match behaviour {
        Behaviour::Echo => echo(target, rng),
        Behaviour::HalfClose => half_close(target, rng),
        Behaviour::Reset => reset(target, rng),
        Behaviour::StalledReader => stalled_reader(target, rng),
        Behaviour::Silent => silent(target, rng, watcher),
        Behaviour::Burst => burst(target, rng),
    }
}

fn connect(target: &Target) -> Result<TcpStream, Failure> {
    let stream = TcpStream::connect_timeout(&target.addr, target.timeout)
        .map_err(|e| Failure::new(FailureKind::Connect, e.to_string()))?;
    let set = |stream: &TcpStream| {
        stream.set_read_timeout(Some(target.timeout))?;
        stream.set_write_timeout(Some(target.timeout))?;
        stream.set_nodelay(true)
    };
    set(&stream).map_err(|e| Failure::io("setting up the socket", &e))?;
    Ok(stream)
}

/// A message size: mostly small, sometimes up to 64 KiB (both ends' socket
/// buffers hold that much, so writing it all before reading cannot
/// deadlock).
fn message_size(rng: &mut fastrand::Rng) -> usize {
    match rng.u32(0..10) {
        0..6 => rng.usize(1..=512),
        6..9 => rng.usize(513..=8 * 1024),
        _ => rng.usize(8 * 1024 + 1..=64 * 1024),
    }
}

/// Reads exactly `len` bytes of stream `seed` from `offset`, checking each.
fn read_checked(mut stream: &TcpStream, seed: u64, offset: u64, len: u64) -> Result<u64, Failure> {
    let mut buf = vec![0; 64 * 1024];
    let mut got = 0;
    while got < len {
        let want = buf.len().min((len - got) as usize);
        match stream.read(&mut buf[..want]) {
            Ok(0) => {
                return Err(Failure::new(
                    FailureKind::Short,
                    format!("the server closed after {got} of {len} bytes"),
                ));
            }
            Ok(n) => {
                if let Some(wrong) = pattern::mismatch(seed, offset + got, &buf[..n]) {
                    return Err(Failure::new(FailureKind::WrongByte, wrong.to_string()));
                }
                got += n as u64;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(Failure::io(
                    &format!("reading the echo after {got} of {len} bytes"),
                    &e,
                ));
            }
        }
    }
    Ok(got)
}

/// Half-closes, then the server must close with nothing more to send.
fn finish(stream: &TcpStream) -> Result<(), Failure> {
    stream
        .shutdown(Shutdown::Write)
        .map_err(|e| Failure::io("half-closing", &e))?;
    let mut buf = [0; 4096];
    let mut extra = 0;
    loop {
        match (&*stream).read(&mut buf) {
            Ok(0) if extra == 0 => return Ok(()),
            Ok(0) => {
                return Err(Failure::new(
                    FailureKind::Extra,
                    format!("{extra} bytes after the last echo"),
                ));
            }
            Ok(n) => extra += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(Failure::io("waiting for the close", &e)),
        }
    }
}

fn send(stream: &TcpStream, seed: u64, from: u64, to: u64) -> Result<(), Failure> {
    send_pattern(stream, seed, from as usize, to as usize).map_err(|e| Failure::io("sending", &e))
}

fn echo(target: &Target, rng: &mut fastrand::Rng) -> Outcome {
    let stream = connect(target)?;
    let seed = rng.u64(..);
    let mut offset = 0;
    for _ in 0..rng.usize(1..=20) {
        let len = message_size(rng) as u64;
        send(&stream, seed, offset, offset + len)?;
        read_checked(&stream, seed, offset, len)?;
        offset += len;
    }
    finish(&stream)?;
    Ok(Done {
        connections: 1,
        verified: offset,
    })
}

fn half_close(target: &Target, rng: &mut fastrand::Rng) -> Outcome {
    let stream = connect(target)?;
    let seed = rng.u64(..);
    let len = rng.u64(1..=1 << 20);
    let writer = stream
        .try_clone()
        .map_err(|e| Failure::io("cloning the socket", &e))?;
    // The writer sends everything and half-closes while this thread reads:
    // a megabyte does not fit in the socket buffers.
    let verified = thread::scope(|scope| {
        let sending = scope.spawn(move || -> Result<(), Failure> {
            send(&writer, seed, 0, len)?;
            writer
                .shutdown(Shutdown::Write)
                .map_err(|e| Failure::io("half-closing", &e))
        });
        let read = read_checked(&stream, seed, 0, len);
        let sent = sending
            .join()
            .unwrap_or_else(|_| Err(Failure::new(FailureKind::Io, "the writer panicked")));
        sent.and(read)
    })?;
    // Everything came back; now the server closes.
    expect_eof(&stream)?;
    Ok(Done {
        connections: 1,
        verified,
    })
}

fn expect_eof(mut stream: &TcpStream) -> Result<(), Failure> {
    let mut byte = [0; 1];
    match stream.read(&mut byte) {
        Ok(0) => Ok(()),
        Ok(_) => Err(Failure::new(
            FailureKind::Extra,
            "bytes after the whole echo",
        )),
        Err(e) => Err(Failure::io("waiting for the close", &e)),
    }
}

fn reset(target: &Target, rng: &mut fastrand::Rng) -> Outcome {
    let stream = connect(target)?;
    let seed = rng.u64(..);
    let len = rng.u64(1..=256 * 1024);
    // Never more than the socket buffers take without reading: sent
    // non-blocking, whatever went.
    let sent = try_fill_until_blocked(&stream, seed, len as usize)
        .map_err(|(sent, e)| Failure::io(&format!("sending after {sent} bytes"), &e))?;
    let read = rng.u64(0..=sent as u64);
    let verified = read_checked(&stream, seed, 0, read)?;
    SockRef::from(&stream)
        .set_linger(Some(Duration::ZERO))
        .map_err(|e| Failure::io("SO_LINGER", &e))?;
    drop(stream); // sends RST, with the rest of the echo unread
    Ok(Done {
        connections: 1,
        verified,
    })
}

fn stalled_reader(target: &Target, rng: &mut fastrand::Rng) -> Outcome {
    let stream = connect(target)?;
    let seed = rng.u64(..);
    let sent = try_fill_until_blocked(&stream, seed, 16 << 20)
        .map_err(|(sent, e)| Failure::io(&format!("filling after {sent} bytes"), &e))?
        as u64;
    // Nothing moves now, either way; a quarter of the idle timeout at most,
    // so that the server has no reason to close us.
    let most = (target.idle_timeout / 4).max(Duration::from_millis(1));
    thread::sleep(most.mul_f64(rng.f64()));
    let verified = read_checked(&stream, seed, 0, sent)?;
    finish(&stream)?;
    Ok(Done {
        connections: 1,
        verified,
    })
}

fn silent(target: &Target, rng: &mut fastrand::Rng, watcher: &Watcher) -> Outcome {
    let stream = connect(target)?;
    let seed = rng.u64(..);
    let len = rng.u64(1..=64);
    // One echo first: then the server has surely accepted the connection,
    // and its idle clock starts from here.
    send(&stream, seed, 0, len)?;
    let verified = read_checked(&stream, seed, 0, len)?;
    // The watcher waits for the server to close it; this client goes on.
    watcher.watch(stream, Instant::now());
    Ok(Done {
        connections: 1,
        verified,
    })
}

fn burst(target: &Target, rng: &mut fastrand::Rng) -> Outcome {
    let count = rng.usize(target.max_connections / 2..=target.max_connections * 3 / 2);
    let mut streams = Vec::with_capacity(count);
    for _ in 0..count {
        let stream = connect(target)?;
        let seed = rng.u64(..);
        let len = rng.u64(1..=256);
        // The kernel has completed the handshake; the server may not have
        // accepted yet (over the cap), and the message waits with it.
        send(&stream, seed, 0, len)?;
        streams.push((stream, seed, len));
    }
    let mut verified = 0;
    for (stream, seed, len) in &streams {
        verified += read_checked(stream, *seed, 0, *len)?;
        // Closing frees the slot the next one over the cap waits for.
        finish(stream)?;
    }
    Ok(Done {
        connections: count as u64,
        verified,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_picks_the_same_mix() {
        let picks = |seed| {
            let mut rng = fastrand::Rng::with_seed(seed);
            (0..1000)
                .map(|_| Behaviour::pick(&mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(picks(7), picks(7));
        assert_ne!(picks(7), picks(8));
        // Every behaviour comes up.
        let mix = picks(7);
        for behaviour in Behaviour::ALL {
            assert!(mix.contains(&behaviour), "{behaviour:?}");
        }
    }
}
