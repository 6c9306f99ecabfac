//! The embedded backend: one SQLite file through rusqlite (bundled SQLite,
//! WAL). The default, for one daemon.
//!
//! Its code is synchronous: [`Sqlite`] holds the connections, and each
//! file here adds the methods of one table family (`sources`, `items`,
//! `outbox`), `polls` the one write of a finished poll over them, `query`
//! the feeds' filtered reads, `schema` the migrations. The [`Backend`]
//! impl at the bottom runs every method on tokio's blocking pool.
//!
//! A file serves one process: [`Sqlite::open`] takes an exclusive lock on a
//! lock file beside it, so a second daemon on the same file is refused at
//! start instead of polling every source a second time.

mod dedup;
mod export;
mod full_text;
mod history;
mod items;
mod outbox;
mod polls;
mod query;
mod schema;
mod search_index;
mod sources;
#[cfg(test)]
mod tests;

use super::backend::Backend;
use super::health::Health;
use super::{
    ApplyOutcome, BroughtForward, Claim, DayCount, DuplicateCount, Duplication, FeedItems,
    FullTextCount, FullTextState, HourOutcomes, ItemFilter, Lease, LeaseView, OutboxMessage,
    PollRecord, PollRecorded, Problem, Retention, Revision, SourceStatus, StoreError,
};
use crate::fetch::FetchState;
use crate::item::{Item, ItemId, SourceRef};
use chrono::{DateTime, Utc};
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// How long a connection waits for another one's lock before it gives up with
/// `SQLITE_BUSY`. In WAL mode that is only the writer waiting for another
/// connection's writer, or any connection waiting through a checkpoint or
/// recovery, so a few seconds is generous.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How many reader connections the store keeps. In WAL mode readers run
/// side by side and beside the writer, so a slow read (a filtered feed) no
/// longer holds up `/readyz`, `/status`, the renderer or the publisher: the
/// server lets at most two filtered reads run at once (`serve::cache`),
/// which leaves two for everything else.
const READERS: u32 = 4;

/// The SQLite store. Cheap to clone; all clones share the connections.
#[derive(Clone)]
pub(super) struct Sqlite {
    inner: Arc<Shared>,
}

/// What every clone of a [`Sqlite`] shares.
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
    health: Health,
    /// Finished polls waiting for the writer, committed together
    /// (`polls.rs`).
    polls: polls::PollQueue,
    /// The lock file, locked for as long as the store is open. Declared
    /// last, so it is released only after the connections are closed.
    _lock: File,
}

/// The backend, as [`Store`](super::Store) holds it.
pub(super) type SqliteBackend = Sqlite;

impl Sqlite {
    /// Opens the store at `path`, creating the file, its folder and the
    /// schema if needed, and locking it for this process.
    pub(super) fn open(path: &Path) -> Result<Sqlite, StoreError> {
        let shown = path.display().to_string();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|source| folder_error(parent, parent.display().to_string(), source))?;
        }
        // Locked before SQLite touches the file, so that two daemons started
        // at once never both run its migrations.
        let lock = lock(path)?;
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
        stable_plans(&writer).map_err(open_error)?;
        // The writer's page cache: 8 MiB instead of SQLite's 2 MiB, so a
        // batch of polls (64 polls of items with their revisions, outbox
        // messages and index pages) neither spills pages to the WAL before
        // its commit nor reads back the index pages it just wrote; and the
        // statement journals (a savepoint per INSERT with triggers) kept in
        // memory instead of temporary files.
        writer
            .pragma_update(None, "cache_size", -8 * 1024)
            .map_err(open_error)?;
        writer
            .pragma_update(None, "temp_store", "MEMORY")
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
        Ok(Sqlite {
            inner: Arc::new(Shared {
                path: path.to_path_buf(),
                writer: Mutex::new(writer),
                readers,
                changes,
                health: Health::of_file(path),
                polls: polls::PollQueue::default(),
                _lock: lock,
            }),
        })
    }

    /// Runs `work` on this store on tokio's blocking pool: the methods block
    /// on SQLite, and an async worker must not wait on a lock or a disk.
    ///
    /// A panic in `work` is raised again here rather than turned into an
    /// error value that would hide the bug; the store's own code does not
    /// panic on data.
    async fn blocking<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Sqlite) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let store = self.clone();
        match tokio::task::spawn_blocking(move || work(&store)).await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("a store task was cancelled: {e}"),
        }
    }

    /// Checks that the store answers: one read of the schema on a reader
    /// connection, as the server reads.
    fn ping(&self) -> Result<(), StoreError> {
        let pinged = self.reader().and_then(|conn| {
            conn.prepare_cached("SELECT COUNT(*) FROM sqlite_schema")?
                .query_row([], |row| row.get::<_, i64>(0))?;
            Ok(())
        });
        self.inner.health.note_read(&pinged);
        pinged
    }

    /// Runs `write`, records its outcome for the store's health, and passes
    /// it on. Whether it wrote is told by the writer's change count.
    fn noted<T>(&self, write: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
        let before = self.writer().total_changes();
        let result = write();
        let wrote = self.writer().total_changes() > before;
        self.inner.health.note_write(&result, wrote);
        result
    }

    /// [`Sqlite::noted`] for a caller that holds the writer already.
    fn noted_on<T>(
        &self,
        conn: &mut Connection,
        write: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let before = conn.total_changes();
        let result = write(conn);
        let wrote = conn.total_changes() > before;
        self.inner.health.note_write(&result, wrote);
        result
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

/// Takes the lock of the store at `path`: an exclusive `flock` on
/// `<path>.lock`, held by the returned file and released when it closes
/// (also when the process dies). A lock file of its own rather than the
/// database file, because closing any descriptor of the database file would
/// drop SQLite's own POSIX locks on it.
fn lock(path: &Path) -> Result<File, StoreError> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let lock_path = PathBuf::from(name);
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let io_error = |source| folder_error(folder, lock_path.display().to_string(), source);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io_error)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Locked {
            path: path.display().to_string(),
            lock: lock_path.display().to_string(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(io_error(e)),
    }
}

/// The error for `source`, met creating `path` in the store's `folder`: a
/// read-only or unwritable folder says so, naming it; anything else is
/// [`StoreError::Io`].
fn folder_error(folder: &Path, path: String, source: std::io::Error) -> StoreError {
    use std::io::ErrorKind;
    match source.kind() {
        ErrorKind::ReadOnlyFilesystem | ErrorKind::PermissionDenied => {
            // The nearest folder that exists is the one refusing.
            let refusing = folder.ancestors().find(|p| p.exists()).unwrap_or(folder);
            StoreError::NotWritable {
                folder: refusing.display().to_string(),
                source,
            }
        }
        _ => StoreError::Io { path, source },
    }
}

/// Opens the store's reader connections for r2d2.
#[derive(Debug)]
struct Readers {
    path: PathBuf,
}

/// Turns on SQLite's query planner stability guarantee on `conn`: each
/// statement keeps the plan it was compiled with, whatever values are bound
/// to it later.
///
/// Without it SQLite compiles a cached statement again at its first step
/// after a new binding of a parameter whose value may change the plan: a
/// `LIMIT ?` (SQLite plans for the bound number), a `LIKE ?`,
/// or a comparison with an indexed column once `ANALYZE` has run (STAT4).
/// The duplicate lookups of every new item (`dedup.rs`, `LIMIT ?`), the
/// outbox's reads and the feed's query were compiled anew at every run.
/// Every plan of this module is chosen for any value and checked in its
/// tests.
fn stable_plans(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    Ok(())
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
        stable_plans(&reader)?;
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

#[async_trait::async_trait]
impl Backend for Sqlite {
    fn describe(&self) -> String {
        format!("SQLite file {}", self.inner.path.display())
    }

    fn changes(&self) -> &tokio::sync::watch::Sender<u64> {
        &self.inner.changes
    }

    fn problems(&self) -> Vec<Problem> {
        self.inner.health.problems()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.blocking(Sqlite::ping).await
    }

    fn is_shared(&self) -> bool {
        false
    }

    // One daemon owns an SQLite file (the lock file sees to it), so every
    // lease is its own for good: epoch 0, never lost. The schedule itself
    // is the source task's, as it always was: no other replica can take a
    // source whose poll wrote nothing, so the claim need not move the next
    // poll as PostgreSQL's does.
    async fn claim_source(
        &self,
        _source_id: String,
        _url: String,
        holder: String,
        _lease: Duration,
        _interval: Duration,
        _brought_forward: Option<BroughtForward>,
    ) -> Result<Claim, StoreError> {
        Ok(Claim::Held(Lease { holder, epoch: 0 }))
    }

    async fn renew_source(
        &self,
        _source_id: String,
        _held: Lease,
        _lease: Duration,
    ) -> Result<bool, StoreError> {
        Ok(true)
    }

    async fn release_source(&self, _source_id: String, _held: Lease) -> Result<(), StoreError> {
        Ok(())
    }

    async fn claim_publisher(&self, holder: String, _lease: Duration) -> Result<Claim, StoreError> {
        Ok(Claim::Held(Lease { holder, epoch: 0 }))
    }

    async fn release_publisher(&self, _held: Lease) -> Result<(), StoreError> {
        Ok(())
    }

    async fn publisher_lease(&self) -> Result<Option<LeaseView>, StoreError> {
        Ok(None)
    }

    fn holds_publisher_lease(&self) -> bool {
        true
    }

    async fn record_poll(&self, record: PollRecord) -> Result<PollRecorded, StoreError> {
        let queue = |db: &Sqlite, record, fingerprints| {
            let outcome = db.inner.polls.push(record, fingerprints);
            if db.inner.polls.start_writing() {
                // A thread of its own, so that this poll's caller does not
                // wait on the writing of later polls.
                let writer = db.clone();
                tokio::task::spawn_blocking(move || writer.write_waiting_polls());
            }
            outcome
        };
        // A poll with nothing to fingerprint (a 304, a failure) reads
        // nothing before it queues, so it needs no blocking thread: the
        // queue's lock is held for a push.
        let outcome = if polls::fingerprints_needed(&record) {
            self.blocking(move |db| {
                let fingerprints = db.fingerprints_of(&record);
                Ok(queue(db, record, fingerprints))
            })
            .await?
        } else {
            queue(self, record, polls::Fingerprints::new())
        };
        // Written by the poll writer, which sends the outcome after its
        // commit. A sender dropped unsent means the writer panicked.
        outcome
            .await
            .unwrap_or_else(|_| panic!("the store's writer panicked while writing this poll"))
    }

    async fn apply_items(
        &self,
        source: SourceRef,
        items: Vec<Item>,
        now: DateTime<Utc>,
    ) -> Result<ApplyOutcome, StoreError> {
        self.blocking(move |db| db.noted(|| db.write_items(&source, &items, now)))
            .await
    }

    async fn prune(&self, retention: Retention, now: DateTime<Utc>) -> Result<usize, StoreError> {
        self.blocking(move |db| db.noted(|| db.write_prune(&retention, now)))
            .await
    }

    async fn set_next_poll(
        &self,
        source_id: String,
        next_poll: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.blocking(move |db| db.noted(|| db.write_next_poll(&source_id, next_poll)))
            .await
    }

    async fn fetch_state(&self, source_id: String) -> Result<FetchState, StoreError> {
        self.blocking(move |db| db.read_fetch_state(&source_id))
            .await
    }

    async fn page_baseline(&self, source_id: String) -> Result<Option<u64>, StoreError> {
        self.blocking(move |db| db.read_page_baseline(&source_id))
            .await
    }

    async fn source_statuses(&self) -> Result<Vec<SourceStatus>, StoreError> {
        self.blocking(Sqlite::read_source_statuses).await
    }

    async fn source_status(&self, source_id: String) -> Result<Option<SourceStatus>, StoreError> {
        self.blocking(move |db| db.read_source_status(&source_id))
            .await
    }

    async fn feed(&self, filter: ItemFilter, limit: usize) -> Result<FeedItems, StoreError> {
        self.blocking(move |db| db.read_feed(&filter, limit)).await
    }

    async fn item(&self, id: String) -> Result<Option<Item>, StoreError> {
        self.blocking(move |db| db.read_item(&id)).await
    }

    async fn known_ids(&self, ids: Vec<ItemId>) -> Result<HashSet<ItemId>, StoreError> {
        self.blocking(move |db| db.read_known_ids(&ids)).await
    }

    async fn items_per_day(&self, since: DateTime<Utc>) -> Result<Vec<DayCount>, StoreError> {
        self.blocking(move |db| db.read_items_per_day(since)).await
    }

    async fn fetch_outcomes(&self, since: DateTime<Utc>) -> Result<Vec<HourOutcomes>, StoreError> {
        self.blocking(move |db| db.read_fetch_outcomes(since)).await
    }

    async fn revisions(&self, id: String) -> Result<Vec<Revision>, StoreError> {
        self.blocking(move |db| db.read_revisions(&id)).await
    }

    async fn duplication(&self, id: String) -> Result<Duplication, StoreError> {
        self.blocking(move |db| db.read_duplication(&id)).await
    }

    async fn duplicate_counts(&self) -> Result<Vec<DuplicateCount>, StoreError> {
        self.blocking(|db| db.read_duplicate_counts()).await
    }

    async fn full_text_states(
        &self,
        ids: Vec<ItemId>,
    ) -> Result<HashMap<ItemId, FullTextState>, StoreError> {
        self.blocking(move |db| db.read_full_text_states(&ids))
            .await
    }

    async fn full_text_counts(&self) -> Result<Vec<FullTextCount>, StoreError> {
        self.blocking(|db| db.read_full_text_counts()).await
    }

    async fn has_source(&self, id: String) -> Result<bool, StoreError> {
        self.blocking(move |db| db.read_has_source(&id)).await
    }

    async fn outbox_pending(
        &self,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        self.blocking(move |db| db.read_outbox(after_seq, limit))
            .await
    }

    async fn outbox_confirmed(&self, seqs: Vec<i64>) -> Result<(), StoreError> {
        self.blocking(move |db| db.noted(|| db.delete_confirmed(&seqs)))
            .await
    }

    async fn outbox_depth(&self) -> Result<(u64, Option<DateTime<Utc>>), StoreError> {
        self.blocking(Sqlite::read_outbox_depth).await
    }
}
