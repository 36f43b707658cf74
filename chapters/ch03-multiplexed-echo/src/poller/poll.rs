//! Step 1: `poll(2)`. Portable (POSIX), and simple: one call takes an array
//! of (descriptor, events wanted) and fills in the events that happened.
//! The kernel remembers nothing between calls, so every call hands over
//! the whole array, the kernel checks every entry, and we scan every entry
//! for results: O(n) per wakeup, where n is every open connection, however
//! few of them are ready.

use std::io;
use std::os::fd::BorrowedFd;
use std::time::Duration;

use rustix::event::{PollFd, PollFlags};

use super::{Event, Interest, Poller, Token};

/// `poll(2)` keeps no state in the kernel, so this keeps none either: only
/// a reusable list of the tokens, parallel to the array of descriptors.
#[derive(Debug, Default)]
pub struct PollPoller {
    tokens: Vec<Token>,
}

// ANCHOR: wait
impl Poller for PollPoller {
    fn edge_triggered(&self) -> bool {
        false
    }

    // The kernel keeps no list for poll(2): nothing to add, change or
    // remove. What each source wants is read afresh at every `wait`.
    fn add(&mut self, _: BorrowedFd<'_>, _: Token, _: Interest) -> io::Result<()> {
        Ok(())
    }
    fn modify(&mut self, _: BorrowedFd<'_>, _: Token, _: Interest) -> io::Result<()> {
        Ok(())
    }
    fn remove(&mut self, _: BorrowedFd<'_>) -> io::Result<()> {
        Ok(())
    }

    fn wait<'fd>(
        &mut self,
        watched: impl Iterator<Item = (BorrowedFd<'fd>, Token, Interest)>,
        timeout: Option<Duration>,
        events: &mut Vec<Event>,
    ) -> io::Result<()> {
        // O(n): build the array, one entry per source that wants anything.
        self.tokens.clear();
        let mut fds = Vec::new();
        for (fd, token, interest) in watched {
            let mut flags = PollFlags::empty();
            flags.set(PollFlags::IN, interest.read);
            flags.set(PollFlags::OUT, interest.write);
            if !flags.is_empty() {
                fds.push(PollFd::from_borrowed_fd(fd, flags));
                self.tokens.push(token);
            }
        }

        // The kernel copies in all n entries and checks each one.
        rustix::event::poll(&mut fds, super::timespec(timeout).as_ref())?;

        // O(n) again: find the few entries that have news.
        for (fd, &token) in fds.iter().zip(&self.tokens) {
            let happened = fd.revents();
            let failed = happened.intersects(PollFlags::ERR | PollFlags::HUP | PollFlags::NVAL);
            if !happened.is_empty() {
                events.push(Event {
                    token,
                    readable: failed || happened.contains(PollFlags::IN),
                    writable: failed || happened.contains(PollFlags::OUT),
                    // POLLRDHUP is Linux-only; POLLHUP (both directions
                    // shut) and errors are what every poll(2) reports.
                    read_closed: failed,
                });
            }
        }
        Ok(())
    }
}
// ANCHOR_END: wait
