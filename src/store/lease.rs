//! Leases: the types both backends share for replicas on one database.
//!
//! A lease is a replica's hold on a piece of work (one source's poll, or
//! the outbox) until a time of the database's clock. Its epoch goes up by
//! one with every claim, by any replica, so a write made under a lease
//! that was lost since (expired and claimed by another) carries an old
//! epoch and is refused in its own transaction: that is the fencing.

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::time::Duration;

/// A held lease, as the holder carries it into its writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The replica holding it (`cluster.replica_id`).
    pub holder: String,
    /// Which claim this is. 0 on SQLite, where one daemon owns the store and
    /// every lease is held for good.
    pub epoch: i64,
}

impl Lease {
    /// Whether this claim directly follows `previous`, the same replica's
    /// last one: no other replica held the work in between, so what the
    /// holder remembers of it is still true.
    pub fn follows(&self, previous: Option<&Lease>) -> bool {
        self.epoch == 0
            || previous.is_some_and(|p| p.holder == self.holder && p.epoch + 1 == self.epoch)
    }
}

/// A source a reload brought forward by shortening its interval: due at
/// `due`, before the stored next poll, as long as the stored next poll is
/// still `stored`. Once any replica polls the source its new next poll
/// replaces `stored`, and the schedule it wrote counts again, so a source
/// is never polled twice within its interval for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BroughtForward {
    /// The next poll the store held when the schedule was brought forward.
    pub stored: DateTime<Utc>,
    /// When the source is due instead.
    pub due: DateTime<Utc>,
}

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The lease is this replica's until it expires.
    Held(Lease),
    /// Not now: the work is not due yet, or another replica holds it. Ask
    /// again after `wait` (by the database's clock).
    Busy {
        /// How long until the work may be due or free.
        wait: Duration,
    },
}

/// A lease as `/status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeaseView {
    /// The replica holding it.
    pub holder: String,
    /// When it expires unless renewed.
    pub until: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_follows_only_the_same_replicas_previous_one() {
        let lease = |holder: &str, epoch| Lease {
            holder: holder.into(),
            epoch,
        };
        assert!(lease("a", 0).follows(None), "SQLite's lease is always held");
        assert!(lease("a", 5).follows(Some(&lease("a", 4))));
        assert!(
            !lease("a", 6).follows(Some(&lease("a", 4))),
            "another claimed 5"
        );
        assert!(!lease("a", 5).follows(Some(&lease("b", 4))));
        assert!(!lease("a", 5).follows(None));
    }
}
