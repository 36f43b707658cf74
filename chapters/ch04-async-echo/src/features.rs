//! The switches of the cost ledger on the chapter's page: each turns one
//! feature off, so that `echo-bench ledger` can measure what that feature
//! costs per message (chapter 4 with it, against chapter 4 without it, in
//! the same run). They are hidden from `--help`: a server without them
//! still echoes, but no longer keeps the whole echo contract.

use clap::ValueEnum;

/// What `--without` can leave out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Feature {
    /// `--idle-timeout`: no note of the time when bytes move, no idle timer.
    IdleTimeout,
    /// `--grace`: no task tracker, no closing at the end of the grace
    /// period; on a signal, stop accepting and exit at once.
    Grace,
    /// `--max-connections`: no semaphore, every client is accepted.
    Cap,
    /// Idle tasks that hold no buffer: each connection owns its 8 KiB for
    /// as long as it lives instead, as in tokio's own example.
    SharedBuffer,
}

/// Which features are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    pub idle_timeout: bool,
    pub grace: bool,
    pub cap: bool,
    pub shared_buffer: bool,
}

impl Features {
    /// Everything, except what `without` names.
    pub fn all_but(without: &[Feature]) -> Features {
        let on = |feature| !without.contains(&feature);
        Features {
            idle_timeout: on(Feature::IdleTimeout),
            grace: on(Feature::Grace),
            cap: on(Feature::Cap),
            shared_buffer: on(Feature::SharedBuffer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_is_on_unless_named() {
        let all = Features::all_but(&[]);
        assert!(all.idle_timeout && all.grace && all.cap && all.shared_buffer);
        let some = Features::all_but(&[Feature::Cap, Feature::SharedBuffer]);
        assert!(!some.cap && !some.shared_buffer && some.idle_timeout && some.grace);
    }
}
