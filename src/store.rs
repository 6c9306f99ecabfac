//! The embedded store: SQLite through rusqlite. The only module that knows SQL.
//!
//! It keeps the sources' fetch state, the items, their revisions, and the
//! outbox of messages still to be published. An item's insert or revision and
//! its outbox message are written in one transaction.

use crate::item::{Item, SourceRef};
use chrono::{DateTime, Utc};
use std::path::Path;
use std::time::Duration;

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused or failed.
    #[error("store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The store's folder could not be created.
    #[error("store: cannot create {path}: {source}")]
    Io {
        /// The folder.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A stored JSON column could not be read back.
    #[error("store: bad stored JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// What the fetcher remembers about a source between polls.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchState {
    /// The last `ETag` the source sent.
    pub etag: Option<String>,
    /// The last `Last-Modified` the source sent, verbatim.
    pub last_modified: Option<String>,
    /// Where a permanent redirect (301/308) last sent us; fetched instead of the configured URL.
    pub permanent_url: Option<String>,
}

/// One source's state, as `/status` and the scheduler see it.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceStatus {
    /// The source id.
    pub id: String,
    /// The URL last fetched.
    pub url: String,
    /// When the last poll, good or bad, finished.
    pub last_attempt: Option<DateTime<Utc>>,
    /// When a poll last succeeded.
    pub last_success: Option<DateTime<Utc>>,
    /// A one-line human reason for the last failure; cleared by a success.
    pub last_error: Option<String>,
    /// Failures since the last success.
    pub consecutive_failures: u32,
    /// When the source is due next.
    pub next_poll: Option<DateTime<Utc>>,
    /// How many items of the source the store holds.
    pub item_count: u64,
}

/// What [`Store::apply_items`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyOutcome {
    /// Items never seen before; each got an `item.new` outbox message.
    pub new: usize,
    /// Stored items whose content hash changed; each got a new revision and an `item.updated` message.
    pub updated: usize,
    /// Stored items that are unchanged.
    pub unchanged: usize,
}

/// A message waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    /// Position in the outbox; messages are published in this order.
    pub seq: i64,
    /// The CloudEvents id, sent as `message_id`.
    pub event_id: String,
    /// The routing key, `item.new.<source>` or `item.updated.<source>`.
    pub routing_key: String,
    /// The CloudEvents JSON body.
    pub body: Vec<u8>,
    /// When the message was written, as sent in the `timestamp` property.
    pub created_at: DateTime<Utc>,
}

/// One stored revision of an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    /// 1 for the first version.
    pub revision: u32,
    /// The content hash of that version.
    pub content_hash: String,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
}

/// The store. Cheap to clone; all clones share one database.
#[derive(Clone)]
pub struct Store {}

impl Store {
    /// Opens the store at `path`, creating the file, its folder and the schema if needed.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let _ = path;
        todo!()
    }

    /// Notified with a new value whenever items are added, revised or pruned.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        todo!()
    }

    /// The fetch state of `source_id`; the default when it was never fetched.
    pub fn fetch_state(&self, source_id: &str) -> Result<FetchState, StoreError> {
        let _ = source_id;
        todo!()
    }

    /// Records a successful poll: new fetch state, the time, and when it is due next.
    /// Clears the last error and the failure count.
    pub fn record_success(
        &self,
        source_id: &str,
        url: &str,
        state: &FetchState,
        next_poll: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let _ = (source_id, url, state, next_poll, now);
        todo!()
    }

    /// Records a failed poll and returns the consecutive failure count, this one included.
    pub fn record_failure(
        &self,
        source_id: &str,
        url: &str,
        error: &str,
        next_poll: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u32, StoreError> {
        let _ = (source_id, url, error, next_poll, now);
        todo!()
    }

    /// Sets when a source is due, without touching the rest of its state.
    pub fn set_next_poll(
        &self,
        source_id: &str,
        next_poll: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let _ = (source_id, next_poll);
        todo!()
    }

    /// The state of every source the store knows, by id.
    pub fn source_statuses(&self) -> Result<Vec<SourceStatus>, StoreError> {
        todo!()
    }

    /// The state of one source.
    pub fn source_status(&self, source_id: &str) -> Result<Option<SourceStatus>, StoreError> {
        let _ = source_id;
        todo!()
    }

    /// Stores one poll's items of `source` in one transaction, with their outbox messages.
    pub fn apply_items(
        &self,
        source: &SourceRef,
        items: &[Item],
        now: DateTime<Utc>,
    ) -> Result<ApplyOutcome, StoreError> {
        let _ = (source, items, now);
        todo!()
    }

    /// The newest `limit` items over all sources, newest first.
    pub fn newest_items(&self, limit: usize) -> Result<Vec<Item>, StoreError> {
        let _ = limit;
        todo!()
    }

    /// One item by id.
    pub fn item(&self, id: &str) -> Result<Option<Item>, StoreError> {
        let _ = id;
        todo!()
    }

    /// Every revision of one item, oldest first.
    pub fn revisions(&self, id: &str) -> Result<Vec<Revision>, StoreError> {
        let _ = id;
        todo!()
    }

    /// Up to `limit` outbox messages with `seq > after_seq`, in order.
    pub fn outbox_pending(
        &self,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        let _ = (after_seq, limit);
        todo!()
    }

    /// Removes confirmed messages from the outbox.
    pub fn outbox_confirmed(&self, seqs: &[i64]) -> Result<(), StoreError> {
        let _ = seqs;
        todo!()
    }

    /// How many messages wait, and when the oldest was written.
    pub fn outbox_depth(&self) -> Result<(u64, Option<DateTime<Utc>>), StoreError> {
        todo!()
    }

    /// Deletes items older than `max_age` (zero keeps all) and all but the newest
    /// `max_per_source` items of each source (zero keeps all). Returns how many went.
    pub fn prune(
        &self,
        max_age: Duration,
        max_per_source: usize,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let _ = (max_age, max_per_source, now);
        todo!()
    }
}
