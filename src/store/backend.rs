//! The contract every store backend keeps: what [`Store`](super::Store)
//! asks of it. The shared suite in `tests.rs` runs against each one.
//!
//! Arguments are owned, so that a backend can move them into work of its
//! own (SQLite's runs on the blocking pool).

use super::{
    ApplyOutcome, BroughtForward, Claim, DayCount, DuplicateCount, Duplication, FeedItems,
    FullTextCount, FullTextState, HourOutcomes, ItemFilter, Lease, LeaseView, OutboxMessage,
    PollRecord, PollRecorded, Problem, Retention, Revision, SourceStatus, StoreError,
};
use crate::fetch::FetchState;
use crate::item::{Item, ItemId, SourceRef};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// One store backend. See the [`Store`](super::Store) method of the same
/// name for what each one does; the backend does exactly that.
#[async_trait::async_trait]
pub(super) trait Backend: Send + Sync + 'static {
    /// The store in words for logs and errors, never with a password.
    fn describe(&self) -> String;
    /// Bumped after every commit that added, revised or removed items (by
    /// any replica, for a shared database).
    fn changes(&self) -> &tokio::sync::watch::Sender<u64>;
    /// What is wrong with the store now.
    fn problems(&self) -> Vec<Problem>;
    async fn ping(&self) -> Result<(), StoreError>;
    /// Whether several replicas may share the store.
    fn is_shared(&self) -> bool;

    async fn claim_source(
        &self,
        source_id: String,
        url: String,
        holder: String,
        lease: Duration,
        brought_forward: Option<BroughtForward>,
    ) -> Result<Claim, StoreError>;
    async fn renew_source(
        &self,
        source_id: String,
        held: Lease,
        lease: Duration,
    ) -> Result<bool, StoreError>;
    async fn release_source(&self, source_id: String, held: Lease) -> Result<(), StoreError>;
    async fn claim_publisher(&self, holder: String, lease: Duration) -> Result<Claim, StoreError>;
    async fn release_publisher(&self, held: Lease) -> Result<(), StoreError>;
    async fn publisher_lease(&self) -> Result<Option<LeaseView>, StoreError>;
    /// Whether this store holds the publisher lease now (its last claim or
    /// renewal got it); always on SQLite.
    fn holds_publisher_lease(&self) -> bool;

    async fn record_poll(&self, record: PollRecord) -> Result<PollRecorded, StoreError>;
    async fn apply_items(
        &self,
        source: SourceRef,
        items: Vec<Item>,
        now: DateTime<Utc>,
    ) -> Result<ApplyOutcome, StoreError>;
    async fn prune(&self, retention: Retention, now: DateTime<Utc>) -> Result<usize, StoreError>;
    async fn set_next_poll(
        &self,
        source_id: String,
        next_poll: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    async fn fetch_state(&self, source_id: String) -> Result<FetchState, StoreError>;
    async fn page_baseline(&self, source_id: String) -> Result<Option<u64>, StoreError>;
    async fn full_text_states(
        &self,
        ids: Vec<ItemId>,
    ) -> Result<HashMap<ItemId, FullTextState>, StoreError>;
    async fn full_text_counts(&self) -> Result<Vec<FullTextCount>, StoreError>;
    async fn source_statuses(&self) -> Result<Vec<SourceStatus>, StoreError>;
    async fn source_status(&self, source_id: String) -> Result<Option<SourceStatus>, StoreError>;

    async fn feed(&self, filter: ItemFilter, limit: usize) -> Result<FeedItems, StoreError>;
    async fn item(&self, id: String) -> Result<Option<Item>, StoreError>;
    async fn known_ids(&self, ids: Vec<ItemId>) -> Result<HashSet<ItemId>, StoreError>;
    async fn duplication(&self, id: String) -> Result<Duplication, StoreError>;
    async fn duplicate_counts(&self) -> Result<Vec<DuplicateCount>, StoreError>;
    async fn items_per_day(&self, since: DateTime<Utc>) -> Result<Vec<DayCount>, StoreError>;
    async fn fetch_outcomes(&self, since: DateTime<Utc>) -> Result<Vec<HourOutcomes>, StoreError>;
    async fn revisions(&self, id: String) -> Result<Vec<Revision>, StoreError>;
    async fn has_source(&self, id: String) -> Result<bool, StoreError>;

    async fn outbox_pending(
        &self,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<OutboxMessage>, StoreError>;
    async fn outbox_confirmed(&self, seqs: Vec<i64>) -> Result<(), StoreError>;
    async fn outbox_depth(&self) -> Result<(u64, Option<DateTime<Utc>>), StoreError>;
}
