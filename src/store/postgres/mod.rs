//! The shared backend: one PostgreSQL database for any number of replicas,
//! through tokio-postgres and a deadpool-postgres pool.
//!
//! The files mirror `sqlite/`: `sources`, `items` and `outbox` hold the
//! SQL of one table family each, `polls` the one write of a finished poll,
//! `query` the feeds' filtered reads, `schema` the migrations, and `leases`
//! what lets replicas share the work: source and publisher leases with
//! fencing, on the database's clock. `notify` is how a replica hears of
//! the others' items (`LISTEN/NOTIFY`, with a slow periodic check).
//!
//! Times are unix microseconds in `BIGINT` columns, as in SQLite, and text
//! keys use the "C" collation, so ids sort as SQLite sorts them (by code
//! point) and both backends give the same feed in the same order.

mod dedup;
mod full_text;
mod history;
mod import;
mod items;
mod leases;
mod notify;
mod outbox;
mod polls;
mod query;
mod schema;
mod sources;
#[cfg(test)]
mod tests;
mod tls;

use super::backend::Backend;
use super::health::Health;
use super::{
    ApplyOutcome, BroughtForward, Claim, DayCount, DuplicateCount, Duplication, FeedItems,
    FullTextCount, FullTextState, HourOutcomes, ItemFilter, Lease, LeaseView, OutboxMessage,
    PollRecord, PollRecorded, Problem, Retention, Revision, SourceStatus, StoreError,
};
use crate::config::redact_url;
use crate::fetch::FetchState;
use crate::item::{Item, ItemId, SourceRef};
use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio_util::sync::{CancellationToken, DropGuard};

/// How many connections one replica keeps: the pollers' writes, the
/// server's reads and the publisher share them.
const POOL_SIZE: usize = 8;

/// Connections kept apart for renewing leases (a source's while its poll
/// runs, and the publisher's): a renewal never waits behind the polls'
/// writes for a connection of the main pool, so a busy replica does not lose
/// the leases of polls it is still doing.
const LEASE_POOL_SIZE: usize = 2;

/// How long a caller waits for a free connection, or for a new one to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The PostgreSQL store. Cheap to clone; all clones share the pool.
#[derive(Clone)]
pub(super) struct Postgres {
    inner: Arc<Shared>,
}

struct Shared {
    /// `store.url` without its password.
    shown: String,
    pool: Pool,
    /// The renewals' own connections, see [`LEASE_POOL_SIZE`].
    renewals: Pool,
    /// Bumped after this replica's commits that changed items, and when
    /// another replica's are heard of (see `notify`).
    changes: Arc<tokio::sync::watch::Sender<u64>>,
    health: Health,
    /// This store's own mark in the notifications it sends, so that it
    /// does not count its own commits twice.
    instance: String,
    /// The publisher lease this store holds, if any: the outbox deletes
    /// only under it. A std mutex, held only to copy the value.
    publisher: Mutex<Option<Lease>>,
    /// Stops the listener task when the last clone goes.
    _stop: DropGuard,
}

impl Postgres {
    /// Connects to `url`, migrates the schema and starts listening for the
    /// other replicas' changes.
    pub(super) async fn connect(url: &str) -> Result<Postgres, StoreError> {
        let shown = redact_url(url);
        let bad_url = |reason: &str| StoreError::BadUrl {
            reason: format!("not a PostgreSQL URL ({shown}): {}", scrub(reason, url)),
        };
        let (tls, driver_url) = tls::TlsSettings::split(url).map_err(|e| bad_url(&e))?;
        let config =
            tokio_postgres::Config::from_str(&driver_url).map_err(|e| bad_url(&e.to_string()))?;
        let tls = tls.connector().map_err(|e| StoreError::BadUrl {
            reason: format!("{shown}: {}", scrub(&e, url)),
        })?;
        let connect_error = |e: &dyn std::fmt::Display| StoreError::Connect {
            shown: shown.clone(),
            reason: scrub(&e.to_string(), url),
        };
        let build = |size| {
            let manager = Manager::from_config(
                config.clone(),
                tls.clone(),
                ManagerConfig {
                    recycling_method: RecyclingMethod::Fast,
                },
            );
            Pool::builder(manager)
                .max_size(size)
                .runtime(Runtime::Tokio1)
                .wait_timeout(Some(CONNECT_TIMEOUT))
                .create_timeout(Some(CONNECT_TIMEOUT))
                .recycle_timeout(Some(CONNECT_TIMEOUT))
                .build()
                .map_err(|e| connect_error(&e))
        };
        let pool = build(POOL_SIZE)?;
        let renewals = build(LEASE_POOL_SIZE)?;
        {
            let mut conn = pool
                .get()
                .await
                .map_err(|e| connect_error(&crate::error::error_chain(&e)))?;
            schema::migrate(&mut conn)
                .await
                .map_err(|e| connect_error(&crate::error::error_chain(&e)))?;
        }
        let (changes, _) = tokio::sync::watch::channel(0);
        let changes = Arc::new(changes);
        let instance = format!("{:016x}", rand::random::<u64>());
        let stop = CancellationToken::new();
        notify::spawn_listener(
            config,
            tls,
            pool.clone(),
            changes.clone(),
            instance.clone(),
            shown.clone(),
            stop.clone(),
        );
        Ok(Postgres {
            inner: Arc::new(Shared {
                health: Health::of_server(shown.clone()),
                shown,
                pool,
                renewals,
                changes,
                instance,
                publisher: Mutex::new(None),
                _stop: stop.drop_guard(),
            }),
        })
    }

    /// A connection from the pool.
    async fn conn(&self) -> Result<Object, StoreError> {
        Ok(self.inner.pool.get().await?)
    }

    /// A connection for renewing a lease, from the renewals' own pool.
    async fn renewal_conn(&self) -> Result<Object, StoreError> {
        Ok(self.inner.renewals.get().await?)
    }

    /// Records a write's outcome for the store's health.
    fn noted<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        self.inner.health.note_write(&result, result.is_ok());
        result
    }

    /// Tells this replica's subscribers that the set of items changed (the
    /// other replicas hear of it through the commit's notification).
    fn notify_changed(&self) {
        self.inner
            .changes
            .send_modify(|value| *value = value.wrapping_add(1));
    }

    fn publisher_held(&self) -> Option<Lease> {
        self.inner
            .publisher
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_publisher_held(&self, lease: Option<Lease>) {
        *self
            .inner
            .publisher
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = lease;
    }
}

/// `text` with every appearance of the password of `url` masked, for
/// errors a driver might build from the URL.
fn scrub(text: &str, url: &str) -> String {
    match url::Url::parse(url)
        .ok()
        .and_then(|u| u.password().map(str::to_owned))
    {
        Some(password) if !password.is_empty() => text.replace(&password, "***"),
        _ => text.to_owned(),
    }
}

/// One column of a row, with a type error as a store error instead of a panic.
fn col<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a tokio_postgres::Row,
    index: usize,
) -> Result<T, StoreError> {
    Ok(row.try_get(index)?)
}

/// The database's clock in unix microseconds, as SQL: every lease is
/// measured on it, never on a replica's clock.
const DB_NOW: &str = "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint";

#[async_trait::async_trait]
impl Backend for Postgres {
    fn describe(&self) -> String {
        format!("PostgreSQL database {}", self.inner.shown)
    }

    fn changes(&self) -> &tokio::sync::watch::Sender<u64> {
        &self.inner.changes
    }

    fn problems(&self) -> Vec<Problem> {
        self.inner.health.problems()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let conn = self.conn().await?;
        conn.query_one("SELECT 1", &[]).await?;
        Ok(())
    }

    fn is_shared(&self) -> bool {
        true
    }

    async fn claim_source(
        &self,
        source_id: String,
        url: String,
        holder: String,
        lease: Duration,
        interval: Duration,
        brought_forward: Option<BroughtForward>,
    ) -> Result<Claim, StoreError> {
        self.claim_source_lease(&source_id, &url, &holder, lease, interval, brought_forward)
            .await
    }

    async fn renew_source(
        &self,
        source_id: String,
        held: Lease,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        self.renew_source_lease(&source_id, &held, lease).await
    }

    async fn release_source(&self, source_id: String, held: Lease) -> Result<(), StoreError> {
        self.release_source_lease(&source_id, &held).await
    }

    async fn claim_publisher(&self, holder: String, lease: Duration) -> Result<Claim, StoreError> {
        let claim = self.claim_publisher_lease(&holder, lease).await;
        match &claim {
            Ok(Claim::Held(held)) => self.set_publisher_held(Some(held.clone())),
            Ok(Claim::Busy { .. }) => self.set_publisher_held(None),
            Err(_) => {}
        }
        claim
    }

    async fn release_publisher(&self, held: Lease) -> Result<(), StoreError> {
        self.set_publisher_held(None);
        self.release_publisher_lease(&held).await
    }

    async fn publisher_lease(&self) -> Result<Option<LeaseView>, StoreError> {
        self.read_publisher_lease().await
    }

    fn holds_publisher_lease(&self) -> bool {
        self.publisher_held().is_some()
    }

    async fn record_poll(&self, record: PollRecord) -> Result<PollRecorded, StoreError> {
        let result = self.write_poll(&record).await;
        self.noted(result)
    }

    async fn apply_items(
        &self,
        source: SourceRef,
        items: Vec<Item>,
        now: DateTime<Utc>,
    ) -> Result<ApplyOutcome, StoreError> {
        let result = self.write_items(&source, &items, now).await;
        self.noted(result)
    }

    async fn prune(&self, retention: Retention, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let result = self.write_prune(&retention, now).await;
        self.noted(result)
    }

    async fn set_next_poll(
        &self,
        source_id: String,
        next_poll: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let result = self.write_next_poll(&source_id, next_poll).await;
        self.noted(result)
    }

    async fn fetch_state(&self, source_id: String) -> Result<FetchState, StoreError> {
        self.read_fetch_state(&source_id).await
    }

    async fn page_baseline(&self, source_id: String) -> Result<Option<u64>, StoreError> {
        self.read_page_baseline(&source_id).await
    }

    async fn source_statuses(&self) -> Result<Vec<SourceStatus>, StoreError> {
        self.read_source_statuses().await
    }

    async fn source_status(&self, source_id: String) -> Result<Option<SourceStatus>, StoreError> {
        self.read_source_status(&source_id).await
    }

    async fn feed(&self, filter: ItemFilter, limit: usize) -> Result<FeedItems, StoreError> {
        self.read_feed(&filter, limit).await
    }

    async fn item(&self, id: String) -> Result<Option<Item>, StoreError> {
        self.read_item(&id).await
    }

    async fn known_ids(&self, ids: Vec<ItemId>) -> Result<HashSet<ItemId>, StoreError> {
        self.read_known_ids(&ids).await
    }

    async fn items_per_day(&self, since: DateTime<Utc>) -> Result<Vec<DayCount>, StoreError> {
        self.read_items_per_day(since).await
    }

    async fn fetch_outcomes(&self, since: DateTime<Utc>) -> Result<Vec<HourOutcomes>, StoreError> {
        self.read_fetch_outcomes(since).await
    }

    async fn revisions(&self, id: String) -> Result<Vec<Revision>, StoreError> {
        self.read_revisions(&id).await
    }

    async fn duplication(&self, id: String) -> Result<Duplication, StoreError> {
        self.read_duplication(&id).await
    }

    async fn duplicate_counts(&self) -> Result<Vec<DuplicateCount>, StoreError> {
        self.read_duplicate_counts().await
    }

    async fn full_text_states(
        &self,
        ids: Vec<ItemId>,
    ) -> Result<HashMap<ItemId, FullTextState>, StoreError> {
        self.read_full_text_states(&ids).await
    }

    async fn full_text_counts(&self) -> Result<Vec<FullTextCount>, StoreError> {
        self.read_full_text_counts().await
    }

    async fn has_source(&self, id: String) -> Result<bool, StoreError> {
        self.read_has_source(&id).await
    }

    async fn outbox_pending(
        &self,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        self.read_outbox(after_seq, limit).await
    }

    async fn outbox_confirmed(&self, seqs: Vec<i64>) -> Result<(), StoreError> {
        let result = self.delete_confirmed(&seqs).await;
        self.noted(result)
    }

    async fn outbox_depth(&self) -> Result<(u64, Option<DateTime<Utc>>), StoreError> {
        self.read_outbox_depth().await
    }
}
