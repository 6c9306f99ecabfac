//! The store: the only module that knows SQL. One contract, two backends.
//!
//! It keeps the sources' fetch state and schedule, the items, their
//! revisions, and the outbox of messages still to be published. An item's
//! insert or revision and its outbox message are written in one transaction.
//!
//! [`Store`] is the one interface every other module uses: async methods
//! over a backend behind the [`backend::Backend`] trait.
//!
//! - `sqlite/`: the embedded default, one file (rusqlite, bundled SQLite,
//!   WAL). Its code is synchronous and runs on tokio's blocking pool; one
//!   daemon at a time may open a file, so its leases are always held.
//! - `postgres/`: one database shared by any number of replicas
//!   (tokio-postgres through a deadpool-postgres pool). Leases with
//!   fencing say which replica polls a source and which one publishes;
//!   `LISTEN/NOTIFY` tells every replica of the others' new items.
//!
//! Layout: this file holds the public types and the [`Store`] handle;
//! `backend.rs` the contract; `query.rs` the feed filters' rules, which both
//! backends follow; `health.rs` what `/readyz` asks of the store; each
//! backend folder one file per table family, its schema and its SQL.
//!
//! Times are stored as integer unix microseconds in both backends: they
//! sort and compare as numbers, and every time is cut to whole microseconds
//! before it is stored *and* before it goes into an event, so an event
//! carries the item exactly as it reads back.

mod backend;
mod dedup;
mod full_text;
mod health;
mod items;
mod lease;
mod postgres;
mod query;
mod schema;
mod sqlite;
#[cfg(test)]
mod tests;
mod transfer;

pub use health::{Problem, ProblemKind};
pub use lease::{BroughtForward, Claim, Lease, LeaseDeadline, LeaseView};
pub use query::{Cursor, ItemFilter};
pub use transfer::{Copied, migrate_store};

use crate::config::{StoreLocation, StoreSettings};
use crate::dedup::{AlsoIn, DedupRule, Verdict};
use crate::fetch::FetchState;
use crate::item::{Item, ItemId, SourceRef};
use backend::Backend;
use chrono::{DateTime, TimeDelta, Utc};
use std::collections::BTreeMap;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How long a filtered read ([`Store::filtered_items`]) may run before it
/// is stopped with [`StoreError::TimeBudget`]. An index lookup takes
/// milliseconds; only a pathological filter on a large store comes near it,
/// and it must not hold a connection for longer.
pub const FILTER_BUDGET: Duration = Duration::from_secs(2);

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
    /// The store's folder is read-only (a read-only mount) or not writable
    /// by this user: the store cannot be created or locked there.
    #[error(
        "store: the folder {folder} is read-only or not writable ({source}); the store needs to write there"
    )]
    NotWritable {
        /// The folder.
        folder: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A stored JSON column could not be read back.
    #[error("store: bad stored JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The database file could not be opened, set up or migrated.
    #[error("store {path}: cannot open: {source}")]
    Open {
        /// The database file.
        path: String,
        /// The cause.
        source: rusqlite::Error,
    },
    /// PostgreSQL refused or failed.
    #[error("store: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// No PostgreSQL connection came free (or could be opened) in time.
    #[error("store: no PostgreSQL connection: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// `store.url` is not a URL the store can use.
    #[error("store.url: {reason}")]
    BadUrl {
        /// What is wrong with it; never the URL itself, which may hold a password.
        reason: String,
    },
    /// The PostgreSQL database at `store.url` could not be reached or set up.
    #[error("store.url {shown}: cannot open the store: {reason}")]
    Connect {
        /// The URL without its password.
        shown: String,
        /// The cause, one line.
        reason: String,
    },
    /// A write was refused because this replica no longer holds the lease
    /// it was made under: another replica took the work over.
    #[error(
        "store: the lease on {what} held by {holder} (epoch {epoch}) was lost; nothing was written"
    )]
    LeaseLost {
        /// The source, or "the outbox".
        what: String,
        /// The replica that held it.
        holder: String,
        /// The lease epoch the write carried.
        epoch: i64,
    },
    /// `migrate-store`'s target already holds data: it copies only into an
    /// empty database, so nothing is published twice or overwritten.
    #[error(
        "migrate-store --to {shown}: the database already holds {holds}; \
         migrate-store copies only into an empty database"
    )]
    TargetNotEmpty {
        /// The target's URL without its password.
        shown: String,
        /// What it holds, counted ("12 sources, 340 items").
        holds: String,
    },
    /// Another process has the SQLite file open: SQLite is for one replica.
    #[error(
        "store {path}: another librarywire process has this file open (it holds {lock}); \
         an SQLite store serves one daemon: stop the other one, or run replicas on PostgreSQL (store.url)"
    )]
    Locked {
        /// The database file.
        path: String,
        /// The lock file.
        lock: String,
    },
    /// SQLite would not put the file in WAL mode, which the store relies on
    /// to let readers run beside the writer.
    #[error(
        "store {path}: journal mode is {mode:?}, not \"wal\"; keep the store on a local file system"
    )]
    NotWal {
        /// The database file.
        path: String,
        /// The journal mode SQLite reported.
        mode: String,
    },
    /// No SQLite reader connection came free (or could be opened) in time.
    #[error("store: no reader connection: {0}")]
    Readers(#[from] r2d2::Error),
    /// A read ran past its time budget and was stopped, to keep a
    /// connection free for others.
    #[error("store: the read took longer than its {budget:?} budget and was stopped")]
    TimeBudget {
        /// The budget it ran past.
        budget: Duration,
    },
    /// The database was written by a newer build with a schema this one does not know.
    #[error(
        "store {path}: schema version {found} is newer than this build knows ({known}); \
         run a newer librarywire or point the store elsewhere"
    )]
    SchemaTooNew {
        /// The database.
        path: String,
        /// Its schema version.
        found: i64,
        /// The newest version this build can migrate to.
        known: i64,
    },
    /// A stored value could not be read back into its Rust type.
    #[error("store: {table} row {key:?}: bad {column}: {reason}")]
    BadValue {
        /// The table.
        table: &'static str,
        /// The row's key.
        key: String,
        /// The column.
        column: &'static str,
        /// What was wrong with it.
        reason: String,
    },
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
    /// When the current run of failures began; `None` while the source works.
    pub failing_since: Option<DateTime<Utc>>,
    /// The source answered 410 Gone and is no longer polled.
    pub gone: bool,
    /// When the source is due next.
    pub next_poll: Option<DateTime<Utc>>,
    /// How many items of the source the store holds.
    pub item_count: u64,
    /// A warning about a working source, such as a page whose selectors may
    /// be stale; set and cleared by a poll's [`PageYield`].
    pub warning: Option<String>,
    /// Why items of the last page poll that followed articles kept only
    /// what the list gave, one line each ("not followed: …").
    pub not_followed: Vec<String>,
    /// Which replica holds the source's lease, and until when, while one
    /// does (a poll is under way); always `None` on SQLite.
    pub lease: Option<LeaseView>,
}

/// One finished poll of a source, whole: what [`Store::record_poll`] writes
/// in one transaction.
#[derive(Debug, Clone)]
pub struct PollRecord {
    /// The source: its id, and the name and configured URL its items carry.
    pub source: SourceRef,
    /// The URL the poll fetched: where redirects led when it worked.
    pub url: String,
    /// When the poll started: the time its items are stamped with.
    pub started: DateTime<Utc>,
    /// When it finished: the source's last attempt (and success).
    pub finished: DateTime<Utc>,
    /// When the source is due next; a gone source has no next poll.
    pub next_poll: DateTime<Utc>,
    /// How it went, and what it brought.
    pub outcome: PollOutcome,
    /// What retention keeps: a new item already older than its `max_age`
    /// and below the source's newest `min_per_source` is not stored (see
    /// [`Store::record_poll`]). [`Retention::default`] keeps every item.
    pub retention: Retention,
    /// Whether its new items are judged as duplicates of other sources'
    /// items, and how (see [`Store::record_poll`]).
    pub dedup: DedupRule,
    /// The lease the poll ran under: the write commits only while it is
    /// still held (fencing), and releases it. `None` writes unfenced (tools,
    /// tests).
    pub lease: Option<Lease>,
}

/// How a poll went, with what it brought.
#[derive(Debug, Clone)]
pub enum PollOutcome {
    /// The poll worked.
    Success {
        /// The validators and permanent redirect for the next poll.
        state: FetchState,
        /// The items it read; empty when the source answered "not modified".
        items: Vec<Item>,
        /// For a page source that sent a page: what it yielded. `None`
        /// leaves the stored yield as it is.
        page_yield: Option<PageYield>,
        /// For a `full_text = true` source: the article fetches it made,
        /// kept per item so that an article is fetched once, and a failed
        /// one retried a bounded number of times.
        full_text: Vec<FullTextAttempt>,
    },
    /// The poll failed. The fetch state stays as the last success left it.
    Failure {
        /// A one-line human reason.
        reason: String,
        /// The source said it is gone for good (HTTP 410): it is not
        /// polled again, and has no next poll.
        gone: bool,
    },
}

/// What one poll of a page source yielded, as the next poll's yield is
/// judged against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageYield {
    /// The item count later polls are compared with.
    pub baseline: Option<u64>,
    /// The warning this yield raised ("selectors may be stale: …"); `None`
    /// clears an earlier one.
    pub warning: Option<String>,
    /// For a poll that followed articles: why each one it did not follow
    /// was not, one line each (empty clears the earlier list). `None`
    /// leaves the stored list as it is: a poll with no new item to follow
    /// says nothing new about following.
    pub not_followed: Option<Vec<String>>,
}

impl PageYield {
    /// `not_followed` as the store keeps it: a JSON array, or NULL for `None`.
    pub(crate) fn not_followed_stored(&self) -> Option<String> {
        self.not_followed
            .as_ref()
            .map(|lines| serde_json::Value::from(lines.clone()).to_string())
    }
}

/// The stored `not_followed` column read back; a value that is not a JSON
/// array of strings is shown as the one line it is.
pub(crate) fn not_followed_from_stored(stored: Option<String>) -> Vec<String> {
    match stored {
        None => Vec::new(),
        Some(text) => serde_json::from_str(&text).unwrap_or_else(|_| vec![text]),
    }
}

/// One article fetch of a `full_text = true` source's item, as its poll
/// records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FullTextAttempt {
    /// The article page was fetched and read: it is never fetched again.
    Fetched {
        /// The item.
        item_id: ItemId,
        /// The article's sanitized body as the item took it, `None` when it
        /// was not longer than what the source gave. Kept so that a later
        /// edit of the source's entry keeps the article's text.
        content_html: Option<String>,
    },
    /// The fetch failed.
    Failed {
        /// The item.
        item_id: ItemId,
        /// A one-line human reason.
        reason: String,
        /// No more tries: the item keeps what the source gave.
        last: bool,
    },
}

/// What the store keeps of an item's article fetches.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FullTextState {
    /// The article was fetched and read.
    pub fetched: bool,
    /// Failed fetches so far.
    pub failures: u32,
    /// Fetching was given up: the item keeps what the source gave.
    pub given_up: bool,
    /// The article's body as the item took it, when fetched and longer.
    pub content_html: Option<String>,
}

/// One source's article fetches for `/status`, over the items the store
/// keeps state for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FullTextCount {
    /// The source.
    pub source_id: String,
    /// Items whose article was fetched.
    pub fetched: u64,
    /// Items whose article fetches were given up.
    pub failed: u64,
    /// Items whose article fetch failed and is tried again.
    pub retrying: u64,
}

/// What [`Store::record_poll`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollRecorded {
    /// What became of the poll's items.
    pub applied: ApplyOutcome,
    /// Failures in a row now, this poll included; 0 after a success.
    pub consecutive_failures: u32,
    /// When the current run of failures began; `None` after a success.
    pub failing_since: Option<DateTime<Utc>>,
}

/// What [`Store::apply_items`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyOutcome {
    /// Items never seen before; each got an `item.new` outbox message.
    pub new: usize,
    /// Stored items whose content hash changed; each got a new revision and an `item.updated` message.
    pub updated: usize,
    /// Stored items that are unchanged, and items retention already retired.
    pub unchanged: usize,
    /// Items never seen before that were already older than `store.max_age`
    /// and not among the source's newest `store.min_items_per_source`: not
    /// stored, not published, their ids retired so they never come as new.
    pub retired: usize,
}

/// What retention keeps of each source's items: the settings
/// `store.max_age`, `store.min_items_per_source` and
/// `store.max_items_per_source`, as [`Store::record_poll`] and
/// [`Store::prune`] apply them.
///
/// A source's newest `min_per_source` items (the merged feed's order) stay
/// whatever their age; any other item older than `max_age` goes, and is
/// never stored when it is that old the first time it is seen; beyond the
/// newest `max_per_source`, items go whatever their age. The default keeps
/// everything.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    /// Items published longer ago than this are old. Zero: none is.
    pub max_age: Duration,
    /// The newest this many items of each source are kept whatever their age.
    pub min_per_source: usize,
    /// At most this many items of each source are kept, the newest. Zero: no limit.
    pub max_per_source: usize,
}

impl Retention {
    /// The retention `[store]` sets.
    pub fn of(store: &StoreSettings) -> Retention {
        Retention {
            max_age: store.max_age,
            min_per_source: store.min_items_per_source,
            max_per_source: store.max_items_per_source,
        }
    }
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

/// A feed's items as read for rendering, with when the newest of their
/// versions was stored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeedItems {
    /// The items, newest first.
    pub items: Vec<Item>,
    /// When the most recently stored of these versions was stored: what
    /// the feed's `Last-Modified` says. It comes from the data, so every
    /// replica that renders the same items says the same. `None` for no items.
    pub stored_at: Option<DateTime<Utc>>,
    /// For each of these items that other sources' items duplicate, those
    /// duplicates (the merged feeds name their sources), first stored first.
    pub also_in: BTreeMap<ItemId, Vec<AlsoIn>>,
}

/// How long the store keeps each poll's outcome ([`Store::fetch_outcomes`]):
/// `/status.html` charts the last day, and a little more is kept so that a
/// late look still sees a whole day. Older outcomes are pruned by the poll
/// write of their source.
pub const FETCH_OUTCOMES_KEPT: TimeDelta = TimeDelta::days(2);

/// How one poll went, in one word, as the fetch-outcome history keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollResult {
    /// The poll worked (new items or not, a 304 included).
    Ok,
    /// It failed.
    Failed,
}

impl PollResult {
    /// The word stored for it.
    fn as_str(self) -> &'static str {
        match self {
            PollResult::Ok => "ok",
            PollResult::Failed => "failed",
        }
    }

    /// How a poll's outcome is kept.
    fn of(outcome: &PollOutcome) -> PollResult {
        match outcome {
            PollOutcome::Success { .. } => PollResult::Ok,
            PollOutcome::Failure { .. } => PollResult::Failed,
        }
    }
}

/// One source's polls within one hour, for `/status.html`'s chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourOutcomes {
    /// The source.
    pub source_id: String,
    /// The start of the hour (UTC).
    pub hour: DateTime<Utc>,
    /// Polls that worked.
    pub ok: u64,
    /// Polls that failed.
    pub failed: u64,
}

/// How many stored items are dated on one day (UTC), for `/status.html`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayCount {
    /// The day.
    pub day: chrono::NaiveDate,
    /// Items dated that day.
    pub items: u64,
}

/// What one item duplicates and what duplicates it, for `GET /items/<id>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Duplication {
    /// The first item of the story when this one is a duplicate, and why.
    pub duplicate_of: Option<Verdict>,
    /// The items of other sources judged duplicates of this one, first
    /// stored first.
    pub duplicates: Vec<AlsoIn>,
}

/// How many items of one source were judged duplicates of another's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateCount {
    /// The source of the duplicates.
    pub source_id: String,
    /// The source of the originals.
    pub of_source: String,
    /// How many.
    pub count: u64,
}

/// The store. Cheap to clone; all clones share one database.
///
/// Every method is async and never blocks the runtime: the SQLite backend
/// runs its synchronous work on tokio's blocking pool, PostgreSQL's client
/// is async.
#[derive(Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend.describe())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the store `location` names: the SQLite file, or the
    /// PostgreSQL database (connected, migrated, listening for the other
    /// replicas' changes). Errors name `store.path` or `store.url`.
    pub async fn open_location(location: &StoreLocation) -> Result<Store, StoreError> {
        match location {
            StoreLocation::Sqlite(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || Store::open(&path))
                    .await
                    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
            }
            StoreLocation::Postgres(url) => Store::connect(url).await,
        }
    }

    /// Connects to the PostgreSQL store at `url`, creating or migrating its
    /// schema. The errors show the URL without its password.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Ok(Store {
            backend: Arc::new(postgres::Postgres::connect(url).await?),
        })
    }

    /// Whether several replicas may share this store (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        self.backend.is_shared()
    }

    /// Claims `source_id` for `holder` for `lease`, by the database's clock,
    /// when it is due (its stored next poll has come) and no other replica
    /// holds it. Otherwise says how long until it may be asked again. On
    /// SQLite the lease is always held: one daemon owns the file.
    ///
    /// A claim on a shared store also sets the source's next poll
    /// `interval` on (the database's clock), so that a poll which writes
    /// nothing (its lease ran out after its request, its replica died)
    /// leaves the source not due before its interval; the poll's write sets
    /// the next poll it chose instead.
    ///
    /// `brought_forward`, after a reload shortened the source's interval,
    /// makes it due earlier than the stored next poll, until a poll
    /// replaces that (see [`BroughtForward`]).
    pub async fn claim_source(
        &self,
        source_id: &str,
        url: &str,
        holder: &str,
        lease: Duration,
        interval: Duration,
        brought_forward: Option<BroughtForward>,
    ) -> Result<Claim, StoreError> {
        self.backend
            .claim_source(
                source_id.to_owned(),
                url.to_owned(),
                holder.to_owned(),
                lease,
                interval,
                brought_forward,
            )
            .await
    }

    /// Extends a held source lease by `lease` from now; `false` when it is
    /// no longer held (expired, or taken over).
    pub async fn renew_source(
        &self,
        source_id: &str,
        held: &Lease,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        self.backend
            .renew_source(source_id.to_owned(), held.clone(), lease)
            .await
    }

    /// Gives a held source lease back at once, for a poll that was stopped
    /// before it wrote (shutdown, or a reload restarting the source): the
    /// next claim, by any replica, need not wait for it to expire. A lease
    /// no longer held is left alone.
    pub async fn release_source(&self, source_id: &str, held: &Lease) -> Result<(), StoreError> {
        self.backend
            .release_source(source_id.to_owned(), held.clone())
            .await
    }

    /// Claims (or renews) the publisher lease for `holder`: one replica at a
    /// time drains the outbox. While this store holds it,
    /// [`Store::outbox_confirmed`] deletes only under it.
    pub async fn claim_publisher(
        &self,
        holder: &str,
        lease: Duration,
    ) -> Result<Claim, StoreError> {
        self.backend.claim_publisher(holder.to_owned(), lease).await
    }

    /// Gives the publisher lease up at once (a clean stop), so another
    /// replica takes over without waiting for it to expire.
    pub async fn release_publisher(&self, held: &Lease) -> Result<(), StoreError> {
        self.backend.release_publisher(held.clone()).await
    }

    /// Which replica holds the publisher lease, and until when.
    pub async fn publisher_lease(&self) -> Result<Option<LeaseView>, StoreError> {
        self.backend.publisher_lease().await
    }

    /// Opens the SQLite store at `path`, creating the file, its folder and
    /// the schema if needed. Blocks: async code runs it on the blocking
    /// pool. Refused with [`StoreError::Locked`] while another process has
    /// the file open.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Ok(Store {
            backend: Arc::new(sqlite::SqliteBackend::open(path)?),
        })
    }

    /// The store, in words for logs and errors: the SQLite file, or the
    /// PostgreSQL database without its password.
    pub fn describe(&self) -> String {
        self.backend.describe()
    }

    /// Checks that the store answers: one cheap read, as the server reads.
    /// For `/readyz`. A read that finds the database corrupt is one of
    /// [`Store::problems`].
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.backend.ping().await
    }

    /// What is wrong with the store now: failing writes, corruption, an
    /// SQLite file deleted or replaced under the daemon. Empty when all is
    /// well. Cheap, for `/readyz`, `/status` and `/metrics`.
    pub fn problems(&self) -> Vec<Problem> {
        self.backend.problems()
    }

    /// Notified with a new value whenever items are added, revised or pruned.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.backend.changes().subscribe()
    }

    /// Stores one finished poll of `record.source` in one transaction.
    ///
    /// - A success stores its items as [`Store::apply_items`] does, except
    ///   that a new item published before `record.retention`'s `max_age`
    ///   that is not among the source's newest `min_per_source` (counting
    ///   the stored items and this poll's, by the date each would be stored
    ///   with, as the merged feed orders them) is not stored and gets no
    ///   message: its id is remembered as retired, as a pruned one is, so it
    ///   never comes as new ([`ApplyOutcome::retired`]). It then records
    ///   the page yield when there is one, and then the new fetch state and
    ///   the next poll, clearing the last error and the failure count.
    /// - A failure counts one more failure with its reason and the next
    ///   poll, and leaves the fetch state alone; a gone source (HTTP 410)
    ///   is marked so and has no next poll.
    ///
    /// A new item is judged under `record.dedup` (see `src/dedup.rs`): when
    /// it is the same story as a stored item of another source, it is
    /// stored as that story's duplicate (`duplicate_of`, the first item, and
    /// why), and its `item.new` message says so. A new revision of a
    /// duplicate that no longer matches its original ends the link. Items
    /// are judged only when first stored, never again.
    ///
    /// Subscribers are told after the commit when items changed.
    pub async fn record_poll(&self, record: PollRecord) -> Result<PollRecorded, StoreError> {
        self.backend.record_poll(record).await
    }

    /// Stores one poll's items of `source` in one transaction, with their outbox messages.
    ///
    /// - An item never seen gets revision 1 and an `item.new` message.
    /// - A stored item whose content hash changed gets the next revision and an
    ///   `item.updated` message.
    /// - A stored item with the same hash is unchanged: only its last-seen
    ///   time moves, and no message is written, so a restart publishes nothing
    ///   again. An item that retention already deleted counts as unchanged too.
    ///
    /// The content hash is the item's `content_hash`, or computed with
    /// [`Item::compute_content_hash`] when that is empty. An undated item
    /// (`published_from_source == false`) keeps the `published` time it was
    /// first stored with. The stored item's source is `source`, and each
    /// message carries the item exactly as stored. When the poll lists one id
    /// twice, the first one counts and the others are skipped.
    pub async fn apply_items(
        &self,
        source: &SourceRef,
        items: &[Item],
        now: DateTime<Utc>,
    ) -> Result<ApplyOutcome, StoreError> {
        self.backend
            .apply_items(source.clone(), items.to_vec(), now)
            .await
    }

    /// Applies `retention` at `now`: deletes each source's items older
    /// than `max_age` except its newest `min_per_source`, and all but its
    /// newest `max_per_source`. Returns how many went.
    ///
    /// Age is measured by `published`; "newest" is the merged feed's order.
    /// The items' revisions go with them. Outbox messages stay: they carry
    /// their whole item and must still be published. The ids that went are
    /// remembered for a year after the source last listed them, so a source
    /// that still lists them does not bring them back as new items.
    ///
    /// On a shared store, while this store holds the publisher lease, the
    /// delete commits only while the lease is still held (see
    /// [`Store::runs_retention`]).
    pub async fn prune(
        &self,
        retention: &Retention,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        self.backend.prune(*retention, now).await
    }

    /// Whether this replica is the one to run retention: always on SQLite
    /// (one daemon); on PostgreSQL, while it holds the publisher lease, so
    /// that of many replicas one deletes and the others only read.
    pub fn runs_retention(&self) -> bool {
        self.backend.holds_publisher_lease()
    }

    /// Sets when a source is due, without touching the rest of its state.
    ///
    /// A source never seen before gets a row with an empty URL, which its
    /// first poll fills in.
    pub async fn set_next_poll(
        &self,
        source_id: &str,
        next_poll: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.backend
            .set_next_poll(source_id.to_owned(), next_poll)
            .await
    }

    /// The fetch state of `source_id`; the default when it was never fetched.
    pub async fn fetch_state(&self, source_id: &str) -> Result<FetchState, StoreError> {
        self.backend.fetch_state(source_id.to_owned()).await
    }

    /// The item count a page source's polls are compared with; None before
    /// its first poll with a body.
    pub async fn page_baseline(&self, source_id: &str) -> Result<Option<u64>, StoreError> {
        self.backend.page_baseline(source_id.to_owned()).await
    }

    /// What the store keeps of the article fetches of those of `ids` it
    /// has any for (`full_text = true` sources).
    pub async fn full_text_states(
        &self,
        ids: &[ItemId],
    ) -> Result<HashMap<ItemId, FullTextState>, StoreError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        self.backend.full_text_states(ids.to_vec()).await
    }

    /// Every source's article fetch counts, by source id: `/status`.
    pub async fn full_text_counts(&self) -> Result<Vec<FullTextCount>, StoreError> {
        self.backend.full_text_counts().await
    }

    /// The state of every source the store knows, by id.
    pub async fn source_statuses(&self) -> Result<Vec<SourceStatus>, StoreError> {
        self.backend.source_statuses().await
    }

    /// The state of one source.
    pub async fn source_status(&self, source_id: &str) -> Result<Option<SourceStatus>, StoreError> {
        self.backend.source_status(source_id.to_owned()).await
    }

    /// The newest `limit` items over all sources, newest first.
    ///
    /// Items published at the same time come in descending id order, so the
    /// order is the same on every call.
    pub async fn newest_items(&self, limit: usize) -> Result<Vec<Item>, StoreError> {
        Ok(self.feed(&ItemFilter::default(), limit).await?.items)
    }

    /// The newest `limit` items that pass `filter`, newest first, in the same
    /// order as [`Store::newest_items`]. A non-empty filter is stopped with
    /// [`StoreError::TimeBudget`] after [`FILTER_BUDGET`].
    pub async fn filtered_items(
        &self,
        filter: &ItemFilter,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        Ok(self.feed(filter, limit).await?.items)
    }

    /// A feed's items, as [`Store::filtered_items`] reads them, with when
    /// the newest of their versions was stored: what the feeds render.
    pub async fn feed(&self, filter: &ItemFilter, limit: usize) -> Result<FeedItems, StoreError> {
        self.backend.feed(filter.clone(), limit).await
    }

    /// One item by id.
    pub async fn item(&self, id: &str) -> Result<Option<Item>, StoreError> {
        self.backend.item(id.to_owned()).await
    }

    /// Which of `ids` the store already knows: stored, or retired by
    /// retention (which `apply_items` would not store again either). A page
    /// source fetches the own page of the others only.
    pub async fn known_ids(&self, ids: &[ItemId]) -> Result<HashSet<ItemId>, StoreError> {
        self.backend.known_ids(ids.to_vec()).await
    }

    /// What item `id` duplicates and what duplicates it; the default for an
    /// item the store does not hold.
    pub async fn duplication(&self, id: &str) -> Result<Duplication, StoreError> {
        self.backend.duplication(id.to_owned()).await
    }

    /// For each source, how many of its items were judged duplicates of
    /// each other source's, by source then other source.
    pub async fn duplicate_counts(&self) -> Result<Vec<DuplicateCount>, StoreError> {
        self.backend.duplicate_counts().await
    }

    /// How many stored items are dated on each day (UTC) from `since` on,
    /// oldest first; days without items are left out. One grouped read of
    /// the date index.
    pub async fn items_per_day(&self, since: DateTime<Utc>) -> Result<Vec<DayCount>, StoreError> {
        self.backend.items_per_day(since).await
    }

    /// Every source's polls from `since` on, by hour: how many worked and
    /// how many failed. The store keeps [`FETCH_OUTCOMES_KEPT`] of them.
    pub async fn fetch_outcomes(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<HourOutcomes>, StoreError> {
        self.backend.fetch_outcomes(since).await
    }

    /// Every revision of one item, oldest first.
    pub async fn revisions(&self, id: &str) -> Result<Vec<Revision>, StoreError> {
        self.backend.revisions(id.to_owned()).await
    }

    /// Whether the store knows source `id`: it has polled it, or holds items of it.
    pub async fn has_source(&self, id: &str) -> Result<bool, StoreError> {
        self.backend.has_source(id.to_owned()).await
    }

    /// Up to `limit` outbox messages with `seq > after_seq`, in order.
    pub async fn outbox_pending(
        &self,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        self.backend.outbox_pending(after_seq, limit).await
    }

    /// Removes confirmed messages from the outbox.
    ///
    /// A seq that is not (or no longer) in the outbox is ignored, so
    /// confirming twice is harmless.
    pub async fn outbox_confirmed(&self, seqs: &[i64]) -> Result<(), StoreError> {
        self.backend.outbox_confirmed(seqs.to_vec()).await
    }

    /// How many messages wait, and when the oldest was written.
    pub async fn outbox_depth(&self) -> Result<(u64, Option<DateTime<Utc>>), StoreError> {
        self.backend.outbox_depth().await
    }
}

/// A time as stored: unix microseconds.
fn to_stored(time: DateTime<Utc>) -> i64 {
    time.timestamp_micros()
}

/// `time` cut to what the store keeps, whole microseconds.
fn truncate(time: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(time.timestamp_micros()).unwrap_or(time)
}

/// Reads a stored time back; `key` and `column` name it in the error.
fn from_stored(
    micros: i64,
    table: &'static str,
    key: &str,
    column: &'static str,
) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(micros).ok_or_else(|| StoreError::BadValue {
        table,
        key: key.to_owned(),
        column,
        reason: format!("{micros} is not a representable time"),
    })
}

/// Reads an optional stored time back.
fn from_stored_opt(
    micros: Option<i64>,
    table: &'static str,
    key: &str,
    column: &'static str,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    micros
        .map(|m| from_stored(m, table, key, column))
        .transpose()
}

/// Reads a stored non-negative integer back into a narrower type.
fn narrow<T: TryFrom<i64>>(
    value: i64,
    table: &'static str,
    key: &str,
    column: &'static str,
) -> Result<T, StoreError> {
    T::try_from(value).map_err(|_| StoreError::BadValue {
        table,
        key: key.to_owned(),
        column,
        reason: format!("{value} is out of range"),
    })
}

/// A `LIMIT` value: both databases take an i64, and anything larger means "all".
fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// Whether `id` is listed twice in a poll, warning once when it is; the
/// first listing counts. Both backends' item writes skip repeats alike.
fn is_repeat<'a>(seen: &mut HashSet<&'a str>, source: &SourceRef, item: &'a Item) -> bool {
    if seen.insert(item.id.as_str()) {
        return false;
    }
    tracing::warn!(
        source = %source.id,
        item = %item.id,
        "the source lists one item twice; keeping the first"
    );
    true
}
