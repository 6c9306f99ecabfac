//! Leases: the types both backends share for replicas on one database.
//!
//! A lease is a replica's hold on a piece of work (one source's poll, or
//! the outbox) until a time of the database's clock. Its epoch goes up by
//! one with every claim, by any replica, so a write made under a lease
//! that was lost since (expired and claimed by another) carries an old
//! epoch and is refused in its own transaction: that is the fencing.

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

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

/// A held lease's expiry on this process's own monotonic clock: until when
/// the holder may still send requests under it.
///
/// The database's clock decides who holds a lease, and the fencing refuses
/// a late write; but a request to a source needs no database, so a replica
/// that was paused (SIGSTOP, a stalled VM) past its lease would still send
/// the requests of the polls it claimed before. It checks this deadline
/// just before each request instead: the deadline is taken from when the
/// claim (or renewal) was *sent*, plus the lease length the database
/// grants, minus a margin ([`LeaseDeadline::MARGIN_DIVISOR`]), so it never
/// comes after the database's expiry. A monotonic clock keeps running while
/// the process is stopped, so a woken replica sees the deadline passed.
/// (Linux's monotonic clock does not count a suspend of the whole machine;
/// a replica suspended with its host is still fenced at its write.)
///
/// Cheap to clone; the clones share one deadline, which renewals move.
#[derive(Debug, Clone)]
pub struct LeaseDeadline(Arc<Mutex<Option<Instant>>>);

impl LeaseDeadline {
    /// The margin kept before the database's expiry is the lease length
    /// divided by this: 6 s of the default 60 s lease.
    pub const MARGIN_DIVISOR: u32 = 10;

    /// A lease that never runs out: SQLite's, held by the one daemon that
    /// owns the file.
    pub fn never() -> LeaseDeadline {
        LeaseDeadline(Arc::new(Mutex::new(None)))
    }

    /// The deadline of a lease of `length` granted by a claim sent at `asked`.
    pub fn claimed(asked: Instant, length: Duration) -> LeaseDeadline {
        LeaseDeadline(Arc::new(Mutex::new(Some(Self::end(asked, length)))))
    }

    /// Moves the deadline on after a renewal, sent at `asked`, extended the
    /// lease to `length` from the database's now. A lease that never runs
    /// out stays so.
    pub fn renewed(&self, asked: Instant, length: Duration) {
        let mut deadline = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(current) = deadline.as_mut() {
            *current = (*current).max(Self::end(asked, length));
        }
    }

    /// Whether the deadline has passed: the lease may be lost, and no
    /// request may be sent under it any more.
    pub fn passed(&self) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some_and(|deadline| Instant::now() >= deadline)
    }

    fn end(asked: Instant, length: Duration) -> Instant {
        asked + length.saturating_sub(length / Self::MARGIN_DIVISOR)
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

    #[tokio::test(start_paused = true)]
    async fn a_local_deadline_comes_a_margin_before_the_lease_ends_and_renewals_move_it() {
        let lease = Duration::from_secs(60);
        let asked = Instant::now();
        let deadline = LeaseDeadline::claimed(asked, lease);
        let shared = deadline.clone();
        tokio::time::sleep(Duration::from_secs(53)).await;
        assert!(!shared.passed(), "54 s of a 60 s lease are usable");
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(shared.passed(), "the last 6 s are the margin");
        // A renewal sent 20 s in moves every clone's deadline to 74 s.
        deadline.renewed(asked + Duration::from_secs(20), lease);
        assert!(!shared.passed());
        // An older renewal's answer arriving late never moves it back.
        deadline.renewed(asked, lease);
        assert!(!shared.passed());
        tokio::time::sleep(Duration::from_secs(20)).await;
        assert!(shared.passed());
        let never = LeaseDeadline::never();
        never.renewed(Instant::now(), lease);
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert!(!never.passed(), "SQLite's lease does not run out");
    }
}
