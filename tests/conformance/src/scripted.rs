//! A stand-in socket for unit tests of a connection's state machine: it
//! plays back a script of what each `read` returns and how much each
//! `write` accepts, so a test can stage a partial write, a `WouldBlock`, a
//! half-close or a reset exactly when it wants one. Chapters 2 and 3 test
//! their `Connection` with it.

use std::collections::VecDeque;
use std::io::{self, Read, Write};

// ANCHOR: scripted
/// Each `read` takes the next entry of `reads` (bytes, `Ok(vec![])` for
/// end of stream, or an error; once the script runs out, `WouldBlock`).
/// Each `write` accepts at most the next entry of `write_room` bytes (0,
/// or no entry left: `WouldBlock`).
#[derive(Default)]
pub struct Scripted {
    pub reads: VecDeque<io::Result<Vec<u8>>>,
    pub write_room: VecDeque<usize>,
    /// Everything the writes accepted, in order.
    pub sent: Vec<u8>,
    /// How many times `read` was called.
    pub read_calls: usize,
}

/// A [`Scripted`] socket: `script(reads, write_room)`.
pub fn script(reads: Vec<io::Result<Vec<u8>>>, write_room: Vec<usize>) -> Scripted {
    Scripted {
        reads: reads.into(),
        write_room: write_room.into(),
        ..Scripted::default()
    }
}
// ANCHOR_END: scripted

impl Read for Scripted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_calls += 1;
        match self.reads.pop_front() {
            None => Err(io::ErrorKind::WouldBlock.into()),
            Some(Err(err)) => Err(err),
            Some(Ok(mut bytes)) => {
                let n = bytes.len().min(buf.len());
                buf[..n].copy_from_slice(&bytes[..n]);
                // What did not fit stays for the next read.
                if n < bytes.len() {
                    self.reads.push_front(Ok(bytes.split_off(n)));
                }
                Ok(n)
            }
        }
    }
}

impl Write for Scripted {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.write_room.pop_front() {
            None | Some(0) => Err(io::ErrorKind::WouldBlock.into()),
            Some(room) => {
                let n = room.min(buf.len());
                self.sent.extend_from_slice(&buf[..n]);
                Ok(n)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plays_back_the_script() {
        let mut socket = script(vec![Ok(b"hello".to_vec()), Ok(vec![])], vec![2, 0, 9]);
        let mut buf = [0; 3];
        assert_eq!(socket.read(&mut buf).unwrap(), 3);
        assert_eq!(socket.read(&mut buf).unwrap(), 2, "the rest of the entry");
        assert_eq!(socket.read(&mut buf).unwrap(), 0, "end of stream");
        let blocked = socket.read(&mut buf).unwrap_err();
        assert_eq!(blocked.kind(), io::ErrorKind::WouldBlock);
        assert_eq!(socket.read_calls, 4);

        assert_eq!(socket.write(b"abc").unwrap(), 2);
        let full = socket.write(b"c").unwrap_err();
        assert_eq!(full.kind(), io::ErrorKind::WouldBlock);
        assert_eq!(socket.write(b"c").unwrap(), 1);
        assert_eq!(socket.sent, b"abc");
    }
}
