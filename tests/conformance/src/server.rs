//! Scenarios every chapter's server must pass, unchanged.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::Duration;

use socket2::SockRef;

use crate::net::{exchange, expect_eof, read_checked, round_trip};
use crate::pattern;
use crate::process::{AbandonOnPanic, DEADLINE, Rendezvous, Server, eventually};

/// The README's first command: a line in, the same line out, then EOF.
pub fn hello_line(server: &Server) {
    let echoed = round_trip(&mut server.connect(), b"Hello World\n");
    assert_eq!(echoed, b"Hello World\n");
}

/// Bytes, not lines: three bytes with no newline come back while the
/// connection stays open, without the server waiting for more.
pub fn echoes_without_waiting_for_more(server: &Server) {
    let stream = server.connect();
    exchange(&stream, b"abc");
    exchange(&stream, b"\r\n\0");
}

/// Connect and half-close at once: the server closes with nothing sent.
pub fn empty_connection(server: &Server) {
    let echoed = round_trip(&mut server.connect(), b"");
    assert!(
        echoed.is_empty(),
        "{} bytes echoed for an empty connection",
        echoed.len()
    );
}

/// 100 KiB sent and half-closed before reading a byte: all of it comes back
/// before the server closes.
pub fn half_close_with_100_kib_pending(server: &Server) {
    let data = pattern::bytes(0x100, 100 * 1024);
    let echoed = round_trip(&mut server.connect(), &data);
    assert_eq!(echoed.len(), data.len(), "short echo after half-close");
    pattern::check(0x100, 0, &echoed);
}

/// Every byte value, in both directions of order, untouched.
pub fn all_256_byte_values(server: &Server) {
    let mut data: Vec<u8> = (0..=255).collect();
    data.extend((0..=255).rev());
    assert_eq!(round_trip(&mut server.connect(), &data), data);
}

/// 32 MiB written by one thread while another reads the echo: far more than
/// the kernel's buffers hold, so it only finishes if the server keeps both
/// directions moving.
pub fn stream_32_mib_while_reading(server: &Server) {
    const LEN: u64 = 32 << 20;
    const SEED: u64 = 0x32;
    let stream = server.connect();
    let mut writer = stream.try_clone().unwrap();
    let sender = thread::spawn(move || {
        let mut rng = fastrand::Rng::with_seed(SEED);
        let mut buf = vec![0; 64 * 1024];
        let mut sent = 0;
        while sent < LEN {
            let n = rng.usize(1..=buf.len()).min((LEN - sent) as usize);
            pattern::fill(SEED, sent, &mut buf[..n]);
            writer.write_all(&buf[..n]).unwrap();
            sent += n as u64;
        }
        writer.shutdown(Shutdown::Write).unwrap();
    });
    let received = read_checked(&stream, SEED);
    sender.join().unwrap();
    assert_eq!(received, LEN, "echo of the 32 MiB stream is short");
}

/// A message dribbled out one byte per segment (Nagle off), then in
/// fragments of growing size: the echo is the same bytes in the same order.
pub fn one_byte_and_fragmented_writes(server: &Server) {
    let mut stream = server.connect();
    stream.set_nodelay(true).unwrap();
    let data = pattern::bytes(0x1b, 8 * 1024);
    for byte in &data[..512] {
        exchange(&stream, std::slice::from_ref(byte));
    }
    let mut rest = &data[512..];
    let mut size = 1;
    while !rest.is_empty() {
        let (fragment, tail) = rest.split_at(size.min(rest.len()));
        stream.write_all(fragment).unwrap();
        rest = tail;
        size += 1;
    }
    stream.shutdown(Shutdown::Write).unwrap();
    let mut echoed = Vec::new();
    stream.read_to_end(&mut echoed).unwrap();
    assert_eq!(echoed.len(), data.len() - 512);
    pattern::check(0x1b, 512, &echoed);
}

/// 50 clients, all connected at once, each sending random-sized messages
/// from its own stream: each gets back exactly its own bytes. The clients
/// move in lock-step, every one sending round k before any sends round k+1,
/// so a server that serves one client to the end before the next cannot
/// pass.
pub fn fifty_clients_interleaved(server: &Server) {
    const CLIENTS: u64 = 50;
    let barrier = Rendezvous::new(CLIENTS as usize);
    thread::scope(|scope| {
        for client in 0..CLIENTS {
            let barrier = &barrier;
            scope.spawn(move || {
                let _guard = AbandonOnPanic(barrier);
                let stream = server.connect();
                // Nobody sends until everybody is connected.
                barrier.wait("connecting");
                let seed = 0x5000 + client;
                let mut rng = fastrand::Rng::with_seed(seed);
                let mut offset = 0;
                for _ in 0..20 {
                    let len = rng.usize(1..=16 * 1024);
                    let mut message = vec![0; len];
                    pattern::fill(seed, offset, &mut message);
                    exchange(&stream, &message);
                    offset += len as u64;
                    barrier.wait("every client's previous round echoed");
                }
                stream.shutdown(Shutdown::Write).unwrap();
                expect_eof(&stream);
            });
        }
    });
}

/// One client fills the buffers and then resets its connection (SO_LINGER
/// 0). Clients connected before and after are unaffected.
pub fn reset_mid_stream_leaves_others_alone(server: &Server) {
    let mut healthy: Vec<TcpStream> = (0..5).map(|_| server.connect()).collect();
    for stream in &mut healthy {
        exchange(stream, b"before");
    }

    let doomed = server.connect();
    let mut writer = &doomed;
    // Send without reading until the kernel refuses more for now; the
    // server is then blocked (or waiting) on writing back to us.
    writer.set_nonblocking(true).unwrap();
    let chunk = pattern::bytes(0xdead, 64 * 1024);
    let mut sent = 0usize;
    while sent < 64 << 20 {
        match writer.write(&chunk) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => panic!("filling the doomed connection: {e}"),
        }
    }
    SockRef::from(&doomed)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(doomed); // sends RST: the server's next read or write fails

    for stream in &mut healthy {
        exchange(stream, b"after");
    }
    let mut late = server.connect();
    assert_eq!(round_trip(&mut late, b"late"), b"late");
    for stream in healthy {
        stream.shutdown(Shutdown::Write).unwrap();
        expect_eof(&stream);
    }
}

/// A client sends far more than the buffers hold and reads nothing. The
/// server must stop reading (back-pressure) rather than buffer it all: the
/// sender stalls and the server's memory stays flat. Once the client reads,
/// every byte comes back in order.
pub fn sender_that_never_reads_gets_back_pressure(server: &Server) {
    const LEN: usize = 64 << 20;
    const SEED: u64 = 0xbac;
    // How much the server's RSS may grow: its own bounded buffers, not the
    // megabytes the client pushes.
    const RSS_GROWTH_LIMIT: u64 = 8 << 20;
    const STALL: Duration = Duration::from_secs(1);

    let stream = server.connect();
    exchange(&stream, &pattern::bytes(SEED ^ 1, 16));
    let rss_before = server.rss_bytes();

    // Write with a short timeout: a write that makes no progress for a
    // whole second means nothing drains the buffers, because we are not
    // reading and the server is not buffering without bound.
    let mut writer = &stream;
    writer.set_write_timeout(Some(STALL)).unwrap();
    let mut buf = vec![0; 64 * 1024];
    let mut sent = 0;
    let stalled = loop {
        if sent == LEN {
            break false;
        }
        let n = buf.len().min(LEN - sent);
        pattern::fill(SEED, sent as u64, &mut buf[..n]);
        match writer.write(&buf[..n]) {
            Ok(written) => sent += written,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break true;
            }
            Err(e) => panic!("sending after {sent} bytes: {e}"),
        }
    };
    assert!(
        stalled,
        "the server took all {LEN} bytes from a client that reads nothing: no back-pressure"
    );
    let growth = server.rss_bytes().saturating_sub(rss_before);
    assert!(
        growth < RSS_GROWTH_LIMIT,
        "server RSS grew {growth} bytes while {sent} bytes were unread (limit {RSS_GROWTH_LIMIT})"
    );

    // Now read everything, while sending the rest.
    writer.set_write_timeout(Some(DEADLINE)).unwrap();
    thread::scope(|scope| {
        let reader = scope.spawn(|| read_checked(&stream, SEED));
        while sent < LEN {
            let n = buf.len().min(LEN - sent);
            pattern::fill(SEED, sent as u64, &mut buf[..n]);
            writer.write_all(&buf[..n]).unwrap();
            sent += n;
        }
        writer.shutdown(Shutdown::Write).unwrap();
        assert_eq!(
            reader.join().unwrap(),
            LEN as u64,
            "bytes lost after back-pressure"
        );
    });
}

/// 1,000 connections one after another: afterwards the server holds as many
/// descriptors as before.
pub fn thousand_sequential_connections_leak_no_descriptors(server: &Server) {
    assert_eq!(round_trip(&mut server.connect(), b"warm-up"), b"warm-up");
    let baseline = server.open_fds();
    for i in 0..1000u32 {
        let message = i.to_be_bytes();
        assert_eq!(round_trip(&mut server.connect(), &message), message);
    }
    // The server closes its socket when it has sent everything back; we see
    // EOF a moment before its close(2) returns, so let it settle.
    eventually("server back to its baseline descriptor count", || {
        server.open_fds() <= baseline
    });
}

/// 1,000 connections open at the same time, each echoing, none refused or
/// starved.
pub fn thousand_concurrent_connections(server: &Server) {
    let mut streams: Vec<TcpStream> = (0..1000).map(|_| server.connect()).collect();
    for (i, stream) in streams.iter_mut().enumerate() {
        stream.write_all(&(i as u32).to_be_bytes()).unwrap();
    }
    for (i, stream) in streams.iter_mut().enumerate() {
        let mut echoed = [0; 4];
        stream.read_exact(&mut echoed).unwrap();
        assert_eq!(
            echoed,
            (i as u32).to_be_bytes(),
            "connection {i} got another's bytes"
        );
    }
    for stream in streams {
        stream.shutdown(Shutdown::Write).unwrap();
        expect_eof(&stream);
    }
}
