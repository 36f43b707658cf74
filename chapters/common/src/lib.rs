//! Plumbing that every chapter shares, so that each chapter's crate holds only
//! what its IO model teaches.
//!
//! - the command-line contract ([`ServerArgs`], [`ClientArgs`]),
//! - binding a listener and announcing it ([`bind`], [`announce`]),
//! - connecting ([`connect`]),
//! - per-connection logging on stderr ([`Log`]),
//! - deciding what an `accept` error means ([`AcceptError`]),
//! - the words and exit statuses every chapter shares for the same event
//!   ([`idle_timeout_error`], [`exit_on_second_signal`]),
//! - turning an error into one line on stderr and a non-zero exit ([`run`]).
//!
//! Everything here is blocking `std::net`; the non-blocking and async chapters
//! convert the listener they get from [`bind`] into their own kind.

use std::fmt::Display;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use socket2::{Domain, Protocol, Socket, Type};

/// Where servers listen and clients connect when no flag says otherwise.
pub const DEFAULT_ADDR: &str = "127.0.0.1:7878";

/// How many finished handshakes the kernel queues for us before we `accept`.
/// std's `TcpListener::bind` uses 128; a burst of clients (the conformance
/// suite opens 50 at once, the benchmark 1,000) should wait in the queue, not
/// be refused.
pub const LISTEN_BACKLOG: i32 = 1024;

/// At most this many new connections per turn of an event loop, so that a
/// burst of clients cannot keep the thread from the connections it already
/// has: a loop that accepted until the kernel's queue ran dry would serve
/// nobody while 1,000 clients connected at once. The rest stay in the
/// listen backlog until the next turn, a few microseconds later.
pub const ACCEPTS_PER_PASS: usize = 64;

/// The flags every chapter's server accepts.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// Address to listen on, as HOST:PORT; port 0 picks any free port
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_ADDR)]
    pub listen: String,

    /// Don't log connections opened and closed on stderr
    #[arg(long)]
    pub quiet: bool,

    /// Close a connection when no byte has moved in either direction for
    /// this many seconds: a client that stops sending, or stops reading
    /// while we have bytes for it, cannot hold a slot forever
    #[arg(long, value_name = "SECS", default_value = "300", value_parser = parse_secs)]
    pub idle_timeout: Duration,

    /// Serve at most this many connections at once; more wait in the
    /// listen backlog until one closes
    #[arg(long, value_name = "N", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// On Ctrl-C or SIGTERM, stop accepting and give open connections this
    /// many seconds to finish before closing them (where the chapter's
    /// model supports graceful shutdown)
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = parse_secs)]
    pub grace: Duration,
}

/// What a server obeys, from its [`ServerArgs`]: the limits every chapter
/// enforces, in the types its loop uses.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub grace: Duration,
    pub log: Log,
}

impl From<&ServerArgs> for Settings {
    fn from(args: &ServerArgs) -> Settings {
        Settings {
            idle_timeout: args.idle_timeout,
            // Lossless: usize is at least 32 bits on Linux, the only system
            // this book supports.
            max_connections: args.max_connections as usize,
            grace: args.grace,
            log: Log::new(args.quiet),
        }
    }
}

/// Parses a number of seconds such as `300` or `0.5`.
pub fn parse_secs(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("'{text}' is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("'{text}' is not a duration in seconds"))
}

/// The flags every chapter's client accepts.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientArgs {
    /// Address of the echo server, as HOST:PORT
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_ADDR)]
    pub connect: String,
}

/// Runs a binary's real `main`, turning an error into one line on stderr and
/// a failing exit code. `fn main() -> anyhow::Result<()>` would print the
/// error's `Debug` form over several lines; a user who mistyped a flag wants
/// one sentence.
pub fn run(main: impl FnOnce() -> Result<()>) -> ExitCode {
    match main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Parses the command line like `T::parse()`, but reports a mistake in one
/// line on stderr (clap's own report adds a blank line and a pointer to
/// `--help`) and exits with status 2. `--help` and `--version` print as usual.
pub fn parse_args<T: clap::Parser>() -> T {
    T::try_parse().unwrap_or_else(|err| {
        if !err.use_stderr() {
            err.exit(); // --help or --version: not an error
        }
        let rendered = err.render().to_string();
        let first = rendered
            .lines()
            .next()
            .unwrap_or("error: invalid arguments");
        eprintln!("{first} (see --help)");
        std::process::exit(2);
    })
}

/// Resolves `HOST:PORT` (`flag` names the option it came from, for the
/// message).
pub fn resolve(addr: &str, flag: &str) -> Result<Vec<SocketAddr>> {
    let addrs: Vec<SocketAddr> = match addr.to_socket_addrs() {
        Ok(addrs) => addrs.collect(),
        // std says InvalidInput when the text is not HOST:PORT at all.
        Err(err) if err.kind() == io::ErrorKind::InvalidInput => {
            return Err(err).with_context(|| {
                format!("bad {flag} address '{addr}' (expected HOST:PORT, e.g. {DEFAULT_ADDR})")
            });
        }
        Err(err) => {
            return Err(err)
                .with_context(|| format!("cannot resolve the host in {flag} address '{addr}'"));
        }
    };
    if addrs.is_empty() {
        return Err(anyhow!("{flag} address '{addr}' resolved to no address"));
    }
    Ok(addrs)
}

/// Binds a listening socket on the first address `addr` resolves to that
/// works, with `SO_REUSEADDR` (so a restarted server need not wait for the
/// old connections' TIME_WAIT to expire) and a [`LISTEN_BACKLOG`]-deep queue.
pub fn bind(addr: &str) -> Result<TcpListener> {
    bind_with(addr, |_| Ok(()))
}

/// [`bind`], with `configure` applied to the socket before it is bound:
/// chapter 5 sets `SO_REUSEPORT` there, so that several listeners can share
/// one port. Errors read exactly as [`bind`]'s.
pub fn bind_with(addr: &str, configure: impl Fn(&Socket) -> io::Result<()>) -> Result<TcpListener> {
    let mut last_err = None;
    for candidate in resolve(addr, "--listen")? {
        match bind_one(candidate, &configure) {
            Ok(listener) => return Ok(listener),
            Err(err) => last_err = Some((candidate, err)),
        }
    }
    // `resolve` fails rather than return no address, so the loop ran and
    // recorded an error.
    let (candidate, err) = last_err.expect("resolve returns at least one address");
    Err(anyhow!("{err}{}", hint(&err))).with_context(|| format!("cannot listen on {candidate}"))
}

fn bind_one(
    addr: SocketAddr,
    configure: impl Fn(&Socket) -> io::Result<()>,
) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    configure(&socket)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}

/// Prints the contract's first line, `listening on ADDR`, with the address
/// actually bound (port 0 becomes a real port), and flushes it so that a
/// parent process reading our stdout through a pipe sees it at once.
pub fn announce(listener: &TcpListener) -> Result<SocketAddr> {
    let local = listener
        .local_addr()
        .context("cannot read the listener's address")?;
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "listening on {local}").context("cannot write to stdout")?;
    stdout.flush().context("cannot flush stdout")?;
    Ok(local)
}

/// Connects to the first address `addr` resolves to that accepts.
pub fn connect(addr: &str) -> Result<TcpStream> {
    let mut last_err = None;
    for candidate in resolve(addr, "--connect")? {
        match TcpStream::connect(candidate) {
            Ok(stream) => return Ok(stream),
            Err(err) => last_err = Some((candidate, err)),
        }
    }
    // `resolve` fails rather than return no address, so the loop ran and
    // recorded an error.
    let (candidate, err) = last_err.expect("resolve returns at least one address");
    Err(anyhow!("{err}{}", hint(&err))).with_context(|| format!("cannot connect to {candidate}"))
}

/// What to tell a user beyond the OS's own words.
fn hint(err: &io::Error) -> &'static str {
    match err.kind() {
        io::ErrorKind::AddrInUse => {
            " (another process has this port; choose another with --listen, or port 0 for any free one)"
        }
        io::ErrorKind::PermissionDenied => {
            " (ports below 1024 need privileges; choose a port above 1023)"
        }
        io::ErrorKind::AddrNotAvailable => {
            " (no network interface of this machine has that address)"
        }
        io::ErrorKind::ConnectionRefused => " (is an echo server running there?)",
        _ => "",
    }
}

/// Connection logging on stderr: one line when a connection opens, one when
/// it closes, nothing per message (a line per message would cost more than
/// the echo itself). `--quiet` turns it off.
#[derive(Debug, Clone, Copy)]
pub struct Log {
    quiet: bool,
}

impl Log {
    pub fn new(quiet: bool) -> Self {
        Log { quiet }
    }

    pub fn opened(&self, peer: SocketAddr) {
        self.line(format_args!("{peer}: connected"));
    }

    /// `result` holds how many bytes went back, or why the connection failed.
    pub fn closed(&self, peer: SocketAddr, result: &io::Result<u64>) {
        match result {
            Ok(echoed) => self.line(format_args!("{peer}: closed after echoing {echoed} bytes")),
            Err(err) => self.line(format_args!("{peer}: closed on error: {err}")),
        }
    }

    /// Something about the server rather than one connection.
    pub fn server(&self, message: impl Display) {
        self.line(format_args!("{message}"));
    }

    /// Writes one line with one `write` call: stderr is unbuffered, and
    /// `eprintln!` would make a call per formatted piece. A failure to log
    /// (stderr closed, or a pipe whose reader has gone) must not take the
    /// server down, so it is ignored, where `eprintln!` would panic.
    fn line(&self, args: std::fmt::Arguments<'_>) {
        if self.quiet {
            return;
        }
        let mut line = args.to_string();
        line.push('\n');
        let _ = io::stderr().write_all(line.as_bytes());
    }
}

/// The error a connection is closed with when `--idle-timeout` passes with
/// no byte moved. Every chapter closes idle connections with this error, so
/// the log line (`PEER: closed on error: idle timeout: no byte moved for
/// 1s`) reads the same whichever model served the connection.
pub fn idle_timeout_error(timeout: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("idle timeout: no byte moved for {timeout:?}"),
    )
}

/// The exit status of a server that a second SIGINT or SIGTERM ended
/// during a graceful shutdown: 128 + SIGINT (2), what a shell reports for a
/// program that Ctrl-C killed.
pub const EXIT_SECOND_SIGNAL: u8 = 130;

/// What every chapter with a graceful shutdown does on a second SIGINT or
/// SIGTERM: one log line, then exit at once with [`EXIT_SECOND_SIGNAL`],
/// whatever connections are still open.
pub fn exit_on_second_signal(log: Log) -> ! {
    log.server("second signal: exiting now");
    std::process::exit(i32::from(EXIT_SECOND_SIGNAL))
}

// ANCHOR: accept_error
/// What an error from `accept` means for the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptError {
    /// The failure belongs to one would-be connection (it was aborted or
    /// reset before we took it, a signal interrupted the call): skip it and
    /// accept the next.
    Skip,
    /// The process or the system is out of a resource (descriptors, memory,
    /// buffers). The pending connection is still queued, so accepting again
    /// at once fails again at once: wait a little before retrying, or the
    /// loop spins at 100% CPU.
    BackOff,
}

impl AcceptError {
    pub fn classify(err: &io::Error) -> AcceptError {
        match err.raw_os_error() {
            // EMFILE: this process is out of descriptors; ENFILE: the system
            // is; ENOBUFS/ENOMEM: the kernel is out of memory for sockets.
            Some(code) if RESOURCE_ERRORS.contains(&code) => AcceptError::BackOff,
            _ => AcceptError::Skip,
        }
    }
}

const RESOURCE_ERRORS: [i32; 4] = [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM];
// ANCHOR_END: accept_error

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_listen_address_is_one_readable_line() {
        let err = bind("not an address").unwrap_err();
        let line = format!("{err:#}");
        assert!(
            line.starts_with("bad --listen address 'not an address'"),
            "{line}"
        );
        assert!(!line.contains('\n'), "{line}");
    }

    #[test]
    fn unresolvable_host_is_not_called_malformed() {
        // A label over DNS's 63 bytes: fails without a query leaving the
        // machine (echo_conformance::net::UNRESOLVABLE, which this crate
        // cannot depend on).
        let host =
            "a-label-longer-than-the-63-bytes-that-dns-allows-so-no-query-can-carry-it.invalid:80";
        let err = resolve(host, "--connect").unwrap_err();
        let line = format!("{err:#}");
        assert!(
            line.starts_with("cannot resolve the host in --connect address"),
            "{line}"
        );
    }

    #[test]
    fn port_in_use_says_what_to_do() {
        let first = bind("127.0.0.1:0").unwrap();
        let taken = first.local_addr().unwrap().to_string();
        // SO_REUSEADDR does not let two listeners share a port on Linux.
        let err = bind(&taken).unwrap_err();
        let line = format!("{err:#}");
        assert!(
            line.contains(&format!("cannot listen on {taken}")),
            "{line}"
        );
        assert!(line.contains("choose another with --listen"), "{line}");
    }

    #[test]
    fn refused_connection_names_the_address() {
        // Bind then drop: the port was just free and nothing listens on it.
        let port = bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let err = connect(&format!("127.0.0.1:{port}")).unwrap_err();
        let line = format!("{err:#}");
        assert!(
            line.contains(&format!("cannot connect to 127.0.0.1:{port}")),
            "{line}"
        );
        assert!(line.contains("is an echo server running there?"), "{line}");
    }

    #[test]
    fn seconds_parse() {
        assert_eq!(parse_secs("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_secs("300"), Ok(Duration::from_secs(300)));
        assert!(parse_secs("-1").is_err());
        assert!(parse_secs("soon").is_err());
    }

    #[test]
    fn accept_errors_are_classified() {
        let emfile = io::Error::from_raw_os_error(libc::EMFILE);
        assert_eq!(AcceptError::classify(&emfile), AcceptError::BackOff);
        let aborted = io::Error::from(io::ErrorKind::ConnectionAborted);
        assert_eq!(AcceptError::classify(&aborted), AcceptError::Skip);
    }
}
