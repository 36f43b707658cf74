//! Steps 2 and 3: `epoll(7)`, Linux only. The kernel keeps the interest
//! list: `epoll_ctl` adds, changes or removes one descriptor, and
//! `epoll_wait` returns only the descriptors that are ready. A socket that
//! becomes ready puts itself on the epoll's ready list (from the network
//! stack's wake-up callback), so a wakeup costs O(ready), not O(watched).

use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::time::Duration;

use rustix::buffer::spare_capacity;
use rustix::event::epoll::{self, CreateFlags, EventData, EventFlags};

use super::{Event, Interest, Poller, Token};

// ANCHOR: new
/// At most this many events per `epoll_wait`; more ready sources are simply
/// returned by the next call.
const MAX_EVENTS: usize = 1024;

/// When epoll reports readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// Every `epoll_wait` reports a source for as long as it is ready, like
    /// `poll`. The loop may stop reading at any point; it will be told again.
    Level,
    /// `epoll_wait` reports a source once each time it *becomes* ready
    /// (`EPOLLET`). Fewer wakeups and no `epoll_ctl` to change interest, but
    /// the loop must drain until `WouldBlock` or remember what is ready.
    Edge,
}

pub struct EpollPoller {
    epoll: OwnedFd,
    trigger: Trigger,
    ready: Vec<epoll::Event>,
}

impl EpollPoller {
    pub fn new(trigger: Trigger) -> io::Result<EpollPoller> {
        Ok(EpollPoller {
            epoll: epoll::create(CreateFlags::CLOEXEC)?,
            trigger,
            ready: Vec::with_capacity(MAX_EVENTS),
        })
    }
    // ANCHOR_END: new

    // ANCHOR: flags
    /// What to ask epoll for. Level-triggered asks for exactly what the
    /// source wants now, and must be told (`epoll_ctl(MOD)`) whenever that
    /// changes. Edge-triggered asks once for both directions and never
    /// changes: an edge that the loop does not need yet is remembered by the
    /// loop, not re-requested from the kernel.
    fn flags(&self, interest: Interest) -> EventFlags {
        match self.trigger {
            Trigger::Level => {
                let mut flags = EventFlags::empty();
                flags.set(EventFlags::IN | EventFlags::RDHUP, interest.read);
                flags.set(EventFlags::OUT, interest.write);
                flags
            }
            Trigger::Edge => EventFlags::IN | EventFlags::RDHUP | EventFlags::OUT | EventFlags::ET,
        }
    }
    // ANCHOR_END: flags
}

// ANCHOR: epoll
impl Poller for EpollPoller {
    fn edge_triggered(&self) -> bool {
        self.trigger == Trigger::Edge
    }

    fn add(&mut self, fd: BorrowedFd<'_>, token: Token, interest: Interest) -> io::Result<()> {
        let data = EventData::new_u64(token as u64);
        Ok(epoll::add(&self.epoll, fd, data, self.flags(interest))?)
    }

    fn modify(&mut self, fd: BorrowedFd<'_>, token: Token, interest: Interest) -> io::Result<()> {
        if self.trigger == Trigger::Edge {
            return Ok(()); // registered for everything already
        }
        let data = EventData::new_u64(token as u64);
        Ok(epoll::modify(&self.epoll, fd, data, self.flags(interest))?)
    }

    fn remove(&mut self, fd: BorrowedFd<'_>) -> io::Result<()> {
        Ok(epoll::delete(&self.epoll, fd)?)
    }

    fn wait<'fd>(
        &mut self,
        _watched: impl Iterator<Item = (BorrowedFd<'fd>, Token, Interest)>,
        timeout: Option<Duration>,
        events: &mut Vec<Event>,
    ) -> io::Result<()> {
        // The kernel already has the list: we pass only room for results.
        self.ready.clear();
        let timeout = super::timespec(timeout);
        epoll::wait(
            &self.epoll,
            spare_capacity(&mut self.ready),
            timeout.as_ref(),
        )?;

        // O(ready): every entry returned has news.
        for event in &self.ready {
            let flags = event.flags;
            let failed = flags.intersects(EventFlags::ERR | EventFlags::HUP);
            events.push(Event {
                token: event.data.u64() as Token,
                readable: failed || flags.intersects(EventFlags::IN | EventFlags::RDHUP),
                writable: failed || flags.contains(EventFlags::OUT),
                read_closed: failed || flags.contains(EventFlags::RDHUP),
            });
        }
        Ok(())
    }
}
// ANCHOR_END: epoll
