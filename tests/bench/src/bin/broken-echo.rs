//! A deliberately broken echo server, for the tests of `echo-bench soak`:
//! a soak that passes against it has missed something. A thread per
//! connection, chapter 1's idle timeout (`SO_RCVTIMEO`), and one of two
//! faults:
//!
//! - `--lose-byte N`: byte N (from 0) of every connection is never echoed;
//! - `--leak`: a connection that ends in an error (the client reset it) is
//!   never closed: the server keeps its descriptor, the classic leak of an
//!   error path that forgets to clean up.
//!
//! It takes the chapters' flags and ignores all but `--listen` and
//! `--idle-timeout`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};

use clap::Parser;
use echo_common::ServerArgs;

/// A broken echo server, for the soak's tests (ignores every flag but
/// --listen and --idle-timeout)
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Args {
    #[command(flatten)]
    server: ServerArgs,

    /// Never echo byte N (from 0) of any connection
    #[arg(long, value_name = "N")]
    lose_byte: Option<u64>,

    /// Never close a connection that ended in an error
    #[arg(long)]
    leak: bool,
}

fn main() -> ExitCode {
    echo_common::run(|| {
        let args = Args::parse();
        let listener = echo_common::bind(&args.server.listen)?;
        echo_common::announce(&listener)?;
        let leaked = Arc::new(Mutex::new(Vec::new()));
        for stream in listener.incoming().flatten() {
            let leaked = Arc::clone(&leaked);
            let (lose, leak) = (args.lose_byte, args.leak);
            // A silent client's read fails after this long: closed.
            let _ = stream.set_read_timeout(Some(args.server.idle_timeout));
            std::thread::spawn(move || {
                let clean = echo(&stream, lose);
                if leak && !clean {
                    leaked
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(stream);
                }
            });
        }
        Ok(())
    })
}

/// Echoes until EOF (true) or an error (false), leaving out byte number
/// `lose`.
fn echo(mut stream: &TcpStream, lose: Option<u64>) -> bool {
    let mut buf = [0; 8192];
    let mut received = 0;
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) => return true,
            Err(_) => return false,
            Ok(n) => n,
        };
        let first = received;
        received += n as u64;
        let mut echo = buf[..n].to_vec();
        if let Some(lose) = lose {
            if (first..first + n as u64).contains(&lose) {
                echo.remove((lose - first) as usize);
            }
        }
        if stream.write_all(&echo).is_err() {
            return false;
        }
    }
}
