//! The embedded store: SQLite through rusqlite. The only module that knows SQL.
//!
//! It keeps the sources' fetch state, the items, their revisions, and the
//! outbox of messages still to be published. An item's insert or revision and
//! its outbox message are written in one transaction.
//!
//! Layout: this file holds the public types and the connections; `schema`
//! the migrations; `sources`, `items` and `outbox` one table family each;
//! `polls` the one write of a finished poll, over sources and items;
//! `health` what `/readyz` asks of the store (failing writes, corruption,
//! the file's identity), which every write method reports to.
//!
//! Times are stored as INTEGER unix microseconds: they sort and compare as
//! numbers, and every time is cut to whole microseconds before it is stored
//! *and* before it goes into an event, so an event carries the item exactly as
//! it reads back.

mod health;
mod items;
mod outbox;
mod polls;
mod query;
mod schema;
mod sources;
#[cfg(test)]
mod tests;

pub use health::{Problem, ProblemKind};
pub use query::ItemFilter;

use crate::fetch::FetchState;
use crate::item::{Item, SourceRef};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// How long a connection waits for another one's lock before it gives up with
/// `SQLITE_BUSY`. In WAL mode that is only the writer waiting for another
/// process's writer, or any connection waiting through a checkpoint or
/// recovery, so a few seconds is generous.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How many reader connections the store keeps. In WAL mode readers run
/// side by side and beside the writer, so a slow read (a filtered feed) no
/// longer holds up `/readyz`, `/status`, the renderer or the publisher: the
/// server lets at most two filtered reads run at once (`serve::cache`),
/// which leaves two for everything else.
const READERS: u32 = 4;

/// How long a filtered read (`filtered_items`) may run before it is
/// stopped with [`StoreError::TimeBudget`]. An index lookup takes
/// milliseconds; only a pathological filter on a large store comes near it,
/// and it must not hold a reader for longer.
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
    /// No reader connection came free (or could be opened) in time.
    #[error("store: no reader connection: {0}")]
    Readers(#[from] r2d2::Error),
    /// A read ran past its time budget and was stopped, to keep a reader
    /// free for others.
    #[error("store: the read took longer than its {budget:?} budget and was stopped")]
    TimeBudget {
        /// The budget it ran past.
        budget: Duration,
    },
    /// The file was written by a newer build with a schema this one does not know.
    #[error(
        "store {path}: schema version {found} is newer than this build knows ({known}); \
         run a newer librarywire or point store.path elsewhere"
    )]
    SchemaTooNew {
        /// The database file.
        path: String,
        /// The file's `user_version`.
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
    /// be stale; set and cleared by [`Store::record_page_yield`].
    pub warning: Option<String>,
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
///
/// It is `Send + Sync` and its methods block on SQLite: async callers run
/// them in `tokio::task::spawn_blocking`.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Shared>,
}

/// What every clone of a [`Store`] shares.
///
/// One writer connection behind a mutex, and a pool of [`READERS`] reader
/// connections. SQLite allows one writer at a time anyway, so a single
/// writer connection loses nothing, and its mutex queues our own writers
/// in-process instead of having them spin on `SQLITE_BUSY`. The readers are
/// connections of their own because in WAL mode a reader sees the last
/// committed state without waiting for the writer: the HTTP server and the
/// publisher's outbox reads are never held up by a poll's long transaction;
/// and several, so that one slow read does not hold up the others. The mutex
/// is `std`, not tokio's, because every method is synchronous and never holds
/// a lock across an `.await`; r2d2's pool is synchronous for the same reason.
struct Shared {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: r2d2::Pool<Readers>,
    /// Bumped after every commit that added, revised or removed items.
    changes: tokio::sync::watch::Sender<u64>,
    /// Whether writes work and the file is the one opened.
    health: health::Health,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the store at `path`, creating the file, its folder and the schema if needed.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let shown = path.display().to_string();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::Io {
                path: parent.display().to_string(),
                source,
            })?;
        }
        let open_error = |source| StoreError::Open {
            path: shown.clone(),
            source,
        };

        let mut writer = Connection::open(path).map_err(open_error)?;
        writer.busy_timeout(BUSY_TIMEOUT).map_err(open_error)?;
        let mode: String = writer
            .pragma_update_and_check(None, "journal_mode", "wal", |row| row.get(0))
            .map_err(open_error)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::NotWal { path: shown, mode });
        }
        // NORMAL is safe in WAL mode: a power cut can lose the last commits
        // but never corrupts the file, and each commit skips an fsync.
        writer
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_error)?;
        // Checkpoint every 10,000 WAL pages (~40 MB) instead of SQLite's
        // 1,000: the checkpoint runs inside the commit that crosses the
        // mark, holding the writer, and a longer WAL lets it write each hot
        // index page once instead of many times. Measured in BENCHMARKS.md,
        // section 4: a 2,000-source first cycle went from 8.9 s to 6.1 s.
        writer
            .pragma_update(None, "wal_autocheckpoint", 10000)
            .map_err(open_error)?;
        writer
            .pragma_update(None, "foreign_keys", true)
            .map_err(open_error)?;
        schema::migrate(&mut writer, &shown)?;

        // Opened only after the migration, so they never see a half-built
        // schema. The first one is opened here, so that a reader that cannot
        // be opened is this call's error with SQLite's own reason.
        let manager = Readers {
            path: path.to_path_buf(),
        };
        let first = r2d2::ManageConnection::connect(&manager).map_err(open_error)?;
        drop(first);
        let readers = r2d2::Pool::builder()
            .max_size(READERS)
            .min_idle(Some(1))
            .connection_timeout(BUSY_TIMEOUT)
            // The errors come back from `get`, with the last one's reason;
            // r2d2's default handler would log them through `log`, which
            // this daemon does not listen to.
            .error_handler(Box::new(r2d2::NopErrorHandler))
            .build(manager)?;

        let (changes, _) = tokio::sync::watch::channel(0);
        Ok(Store {
            inner: Arc::new(Shared {
                path: path.to_path_buf(),
                writer: Mutex::new(writer),
                readers,
                changes,
                health: health::Health::new(path),
            }),
        })
    }

    /// Runs `work` on this store on tokio's blocking pool, the way async code
    /// calls the store: its methods block on SQLite, and an async worker
    /// must not wait on a lock or a disk.
    ///
    /// A panic in `work` is raised again here rather than turned into an
    /// error value that would hide the bug; the store's own code does not
    /// panic on data.
    pub async fn call<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let store = self.clone();
        match tokio::task::spawn_blocking(move || work(&store)).await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("a store task was cancelled: {e}"),
        }
    }

    /// The database file this store was opened on.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Checks that the store answers: one read of the schema on a reader
    /// connection, as the server reads. For `/readyz`.
    /// A read that finds the file corrupt is one of [`Store::problems`].
    pub fn ping(&self) -> Result<(), StoreError> {
        let pinged = self.reader().and_then(|conn| {
            conn.prepare_cached("SELECT COUNT(*) FROM sqlite_schema")?
                .query_row([], |row| row.get::<_, i64>(0))?;
            Ok(())
        });
        self.inner.health.note_read(&pinged);
        pinged
    }

    /// Notified with a new value whenever items are added, revised or pruned.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }

    /// The writer connection. A panic while it was held leaves the mutex
    /// poisoned, but the connection itself is sound: an open transaction is
    /// rolled back when its guard drops during the unwind. So the lock is
    /// taken back instead of turning every later call into a panic.
    fn writer(&self) -> MutexGuard<'_, Connection> {
        self.inner
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// A reader connection from the pool, waiting up to `BUSY_TIMEOUT` for
    /// one to come free.
    fn reader(&self) -> Result<r2d2::PooledConnection<Readers>, StoreError> {
        Ok(self.inner.readers.get()?)
    }

    /// Tells subscribers that the set of items changed.
    fn notify_changed(&self) {
        // `send_modify` updates the value even when no one subscribes yet, so
        // a later subscriber still starts from the current count.
        self.inner
            .changes
            .send_modify(|value| *value = value.wrapping_add(1));
    }
}

/// Opens the store's reader connections for r2d2.
#[derive(Debug)]
struct Readers {
    path: PathBuf,
}

impl r2d2::ManageConnection for Readers {
    type Connection = Connection;
    type Error = rusqlite::Error;

    fn connect(&self) -> Result<Connection, rusqlite::Error> {
        // NO_MUTEX: the pool hands a connection to one thread at a time.
        let reader = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        reader.busy_timeout(BUSY_TIMEOUT)?;
        // Read-write at the file level (WAL readers need to touch the -shm
        // file), but refusing writes, so a slip in this module shows up as an
        // error instead of a second writer.
        reader.pragma_update(None, "query_only", true)?;
        query::register_functions(&reader)?;
        Ok(reader)
    }

    fn is_valid(&self, conn: &mut Connection) -> Result<(), rusqlite::Error> {
        conn.execute_batch("")
    }

    fn has_broken(&self, _: &mut Connection) -> bool {
        false
    }
}

/// Runs `read` on `conn`, stopped with [`StoreError::TimeBudget`] once it has
/// run for `budget`: SQLite's progress handler asks every few thousand
/// virtual machine steps whether the deadline has passed.
fn within_budget<T>(
    conn: &mut Connection,
    budget: Duration,
    read: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let deadline = std::time::Instant::now() + budget;
    conn.progress_handler(4000, Some(move || std::time::Instant::now() > deadline))?;
    let result = read(conn);
    conn.progress_handler(0, None::<fn() -> bool>)?;
    match result {
        Err(StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)))
            if e.code == rusqlite::ErrorCode::OperationInterrupted =>
        {
            Err(StoreError::TimeBudget { budget })
        }
        other => other,
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

/// A `LIMIT` value: SQLite takes an i64, and anything larger means "all".
fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}
