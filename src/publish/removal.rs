//! Removing confirmed rows from the outbox, and what the publisher does when
//! the store cannot.
//!
//! A row the broker acked leaves the outbox here. When the store cannot
//! write (a full disk, a read-only or broken file system), the removal fails;
//! sending on would only pile up more rows that cannot be removed, and ending
//! the session would send every one of them again from the lowest pending
//! seq. So the acked seqs are kept, the publisher stops taking new rows, keeps
//! its connection, and retries the removal with backoff until the store
//! writes again. Nothing is sent twice because of it, except what a restart
//! meanwhile must send again (at-least-once allows that; it is logged).
//!
//! [`Acked`] outlives a session: the supervisor hands it from one session to
//! the next, so a reconnection in the middle of a store outage does not send
//! the acked rows again either.

use super::PublisherStats;
use super::backoff::Backoff;
use crate::error::error_chain;
use crate::store::Store;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

/// Seqs the broker acked that the outbox still holds, the removal under way,
/// and the episode of failed removals, if one is on.
///
/// One removal runs at a time, as a task of its own beside the publishes:
/// a delete (a transaction, a flush to disk) never holds up the next
/// message. Seqs acked meanwhile wait for the next removal, and removals
/// start at most every [`REMOVE_EVERY`], so that a drain deletes in a few
/// large transactions rather than many small ones: each commit rewrites
/// the outbox's index pages it touched, and the disk is shared with the
/// broker.
pub(super) struct Acked {
    /// Acked, and not yet handed to a removal.
    seqs: Vec<i64>,
    removing: Option<Removal>,
    /// When the last removal started.
    last_start: Option<Instant>,
    trouble: Option<Trouble>,
    backoff: Backoff,
}

/// The least time from one removal's start to the next one's, while
/// messages flow. A crash undoes at most this much of the deletes: those
/// rows are sent again at the next start, as at-least-once allows.
pub(super) const REMOVE_EVERY: Duration = Duration::from_millis(100);

/// A removal under way: its seqs, and the task deleting them.
struct Removal {
    seqs: Vec<i64>,
    task: JoinHandle<Result<(), String>>,
}

/// An episode of failed removals.
#[derive(Debug)]
struct Trouble {
    since: Instant,
    /// When the next removal is tried.
    retry_at: Instant,
    attempts: u64,
}

impl std::fmt::Debug for Acked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acked")
            .field("seqs", &self.seqs.len())
            .field("removing", &self.removing.as_ref().map(|r| r.seqs.len()))
            .field("last_start", &self.last_start)
            .field("trouble", &self.trouble)
            .finish()
    }
}

impl Acked {
    /// Nothing acked yet; failed removals are retried at most `max_pause` apart.
    pub(super) fn new(max_pause: Duration) -> Acked {
        Acked {
            seqs: Vec::new(),
            removing: None,
            last_start: None,
            trouble: None,
            backoff: Backoff::new(max_pause),
        }
    }

    /// Records that the broker acked row `seq`.
    pub(super) fn push(&mut self, seq: i64) {
        self.seqs.push(seq);
    }

    /// Whether removals fail, so no new row may be sent.
    pub(super) fn held(&self) -> bool {
        self.trouble.is_some()
    }

    /// When the next removal is due, while removals fail.
    pub(super) fn retry_at(&self) -> Option<Instant> {
        self.trouble.as_ref().map(|t| t.retry_at)
    }

    /// Whether a removal is under way; [`Acked::removed`] waits for it.
    pub(super) fn removing(&self) -> bool {
        self.removing.is_some()
    }

    /// Starts removing the acked rows from the outbox, unless a removal is
    /// under way, nothing waits, the last removal started less than
    /// [`REMOVE_EVERY`] ago ([`Acked::due_at`] says when), or a failed
    /// removal's pause still runs. Never waits: [`Acked::removed`] takes
    /// the outcome.
    pub(super) fn start(&mut self, store: &Store) {
        let early = self
            .last_start
            .is_some_and(|at| Instant::now() < at + REMOVE_EVERY);
        if !early {
            self.start_unless_pausing(store);
        }
    }

    /// When [`Acked::start`] would start a removal that waits only for
    /// [`REMOVE_EVERY`] to pass.
    pub(super) fn due_at(&self) -> Option<Instant> {
        if self.seqs.is_empty() || self.removing.is_some() || self.trouble.is_some() {
            return None;
        }
        self.last_start.map(|at| at + REMOVE_EVERY)
    }

    fn start_unless_pausing(&mut self, store: &Store) {
        let pausing = self
            .trouble
            .as_ref()
            .is_some_and(|t| Instant::now() < t.retry_at);
        if !pausing {
            self.start_now(store);
        }
    }

    fn start_now(&mut self, store: &Store) {
        if self.removing.is_some() || self.seqs.is_empty() {
            return;
        }
        self.last_start = Some(Instant::now());
        let seqs = std::mem::take(&mut self.seqs);
        let store = store.clone();
        let given = seqs.clone();
        let task = tokio::spawn(async move {
            store
                .outbox_confirmed(&given)
                .await
                .map_err(|err| error_chain(&err))
        });
        self.removing = Some(Removal { seqs, task });
    }

    /// Waits for the removal under way (forever when there is none) and
    /// takes its outcome: a failure holds publishing (see [`Acked::held`])
    /// and keeps its seqs for the next try. Cancel-safe: dropped before the
    /// removal ends, it leaves the removal under way.
    pub(super) async fn removed(&mut self, stats: &PublisherStats) {
        let Some(removal) = self.removing.as_mut() else {
            return std::future::pending().await;
        };
        let joined = (&mut removal.task).await;
        let Removal { seqs, .. } = self.removing.take().expect("the removal just awaited");
        let result = match joined {
            Ok(result) => result,
            Err(err) => Err(format!("the removal task failed: {err}")),
        };
        self.settled(seqs, result, stats);
    }

    fn settled(&mut self, mut seqs: Vec<i64>, result: Result<(), String>, stats: &PublisherStats) {
        let count = seqs.len();
        match result {
            Ok(()) => {
                if let Some(trouble) = self.trouble.take() {
                    self.backoff.reset();
                    stats.paused.store(false, Ordering::Relaxed);
                    info!(
                        removed = count,
                        attempts = trouble.attempts,
                        paused_for = ?trouble.since.elapsed(),
                        "the store writes again: confirmed messages removed from the outbox; publishing resumes"
                    );
                }
            }
            Err(reason) => {
                // Tried again with whatever was acked since.
                seqs.append(&mut self.seqs);
                self.seqs = seqs;
                let pause = self.backoff.next_delay();
                let now = Instant::now();
                match &mut self.trouble {
                    Some(trouble) => {
                        trouble.retry_at = now + pause;
                        trouble.attempts += 1;
                        debug!(error = %reason, retry_in = ?pause, "removing confirmed messages from the outbox failed again");
                    }
                    None => {
                        // Once per episode: the retries are quiet until it ends.
                        error!(
                            error = %reason,
                            confirmed = count,
                            retry_in = ?pause,
                            "cannot remove confirmed messages from the outbox; publishing is paused, \
                             the connection kept, and the removal retried with backoff until the store writes again"
                        );
                        stats.paused.store(true, Ordering::Relaxed);
                        self.trouble = Some(Trouble {
                            since: now,
                            retry_at: now + pause,
                            attempts: 1,
                        });
                    }
                }
            }
        }
    }

    /// Waits for the removal under way, then removes what else was acked
    /// (whatever [`REMOVE_EVERY`] says), unless a failed removal's pause
    /// still runs: before a session reads
    /// the outbox from its start, so that no acked row is read (and sent)
    /// again.
    pub(super) async fn remove(&mut self, store: &Store, stats: &PublisherStats) {
        self.remove_all(store, stats, Acked::start_unless_pausing)
            .await;
    }

    /// Removes every acked row now, whatever the pause, after the removal
    /// under way: at shutdown.
    pub(super) async fn remove_now(&mut self, store: &Store, stats: &PublisherStats) {
        self.remove_all(store, stats, Acked::start_now).await;
    }

    /// Waits for the removal under way, lets `start` start one for what else
    /// was acked, and waits for that.
    async fn remove_all(
        &mut self,
        store: &Store,
        stats: &PublisherStats,
        start: fn(&mut Acked, &Store),
    ) {
        if self.removing() {
            self.removed(stats).await;
        }
        start(self, store);
        if self.removing() {
            self.removed(stats).await;
        }
    }

    /// Logs what a stop leaves behind: acked rows still in the outbox are
    /// sent again at the next start.
    pub(super) fn report_left(&self) {
        if !self.seqs.is_empty() {
            warn!(
                confirmed = self.seqs.len(),
                "stopping with confirmed messages the store could not remove; they will be sent again at next start"
            );
        }
    }
}
