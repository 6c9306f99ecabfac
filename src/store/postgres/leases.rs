//! Leases on the database's clock: which replica polls a source, and which
//! one drains the outbox.
//!
//! A claim is one statement that takes the lease only when the work is
//! free (no lease, or an expired one) and, for a source, due (its stored
//! next poll has come), adding one to the epoch; a source's claim also sets
//! its next poll an interval on, so that a poll that writes nothing leaves
//! it not due before its interval. Writes made under a lease
//! lock its row and check holder, epoch and expiry in their own
//! transaction (the fencing), so a replica that was paused past its lease
//! and wakes up writes nothing: by then the epoch moved on, or the lease
//! ran out.

use super::{DB_NOW, Postgres, col};
use crate::store::{BroughtForward, Claim, Lease, LeaseView, StoreError, from_stored, to_stored};
use deadpool_postgres::GenericClient;
use std::time::Duration;

/// A lease length as the database adds it: microseconds.
fn micros(lease: Duration) -> i64 {
    i64::try_from(lease.as_micros()).unwrap_or(i64::MAX)
}

/// How long to wait, from a number of microseconds the database computed.
fn wait_of(micros: i64) -> Duration {
    Duration::from_micros(u64::try_from(micros).unwrap_or(0))
}

impl Postgres {
    pub(super) async fn claim_source_lease(
        &self,
        source_id: &str,
        url: &str,
        holder: &str,
        lease: Duration,
        interval: Duration,
        brought_forward: Option<BroughtForward>,
    ) -> Result<Claim, StoreError> {
        let conn = self.conn().await?;
        // NULL when not brought forward: the comparisons are then never true.
        let (stored, due) = match brought_forward {
            Some(b) => (Some(to_stored(b.stored)), Some(to_stored(b.due))),
            None => (None, None),
        };
        let held = |row: tokio_postgres::Row| {
            Ok(Claim::Held(Lease {
                holder: holder.to_owned(),
                epoch: col(&row, 0)?,
            }))
        };
        // `now` is read once, so the due test and the expiry agree. A source
        // brought forward is due from `due` while its stored next poll is
        // still the one the reload saw.
        //
        // The claim sets the next poll an interval on itself: a poll that
        // fetched and then wrote nothing (its lease ran out, its write was
        // fenced off, its replica died) leaves the source not due, for any
        // replica, before its interval. The poll's own write then sets the
        // next poll it chose (backoff, `Retry-After`, a first retry).
        //
        // The claim commits without waiting for its WAL flush
        // (`synchronous_commit` off for its own transaction: `set_config`'s
        // local form in the CTE, which its volatile functions keep from
        // being inlined away). A crash of the database server within a
        // moment of it can lose the claim, and that is harmless: the lease
        // is back where it was, so another replica may claim the source
        // again and poll it once more, but the claimant's write is still
        // fenced by holder and epoch: the row then names another holder, or
        // none. (Only two processes running with one configured
        // `replica_id` could then both hold the same holder and epoch.)
        // Every poll waits for no disk flush in its claim, as in a write
        // without items (`polls::commit_quietly`).
        //
        // A plain UPDATE, whose conditions are read from its snapshot first:
        // a row that is not free there (another replica polls the source,
        // its write may hold the row locked until it commits) is passed
        // over at once, not waited for. An upsert would lock the row before
        // testing it, so every claim of a busy source would queue behind
        // that poll's write, holding a pooled connection meanwhile.
        let claim = conn
            .prepare_cached(&format!(
                "WITH clock AS (SELECT {DB_NOW} AS now,
                                       set_config('synchronous_commit', 'off', true) AS quiet)
                 UPDATE sources SET
                     lease_holder = $2,
                     lease_until = clock.now + $3,
                     lease_epoch = sources.lease_epoch + 1,
                     next_poll = clock.now + $6
                 FROM clock
                 WHERE sources.id = $1
                   AND (sources.next_poll IS NULL OR sources.next_poll <= clock.now
                        OR (sources.next_poll = $4 AND $5 <= clock.now))
                   AND (sources.lease_until IS NULL OR sources.lease_until <= clock.now)
                 RETURNING sources.lease_epoch"
            ))
            .await?;
        if let Some(row) = conn
            .query_opt(
                &claim,
                &[
                    &source_id,
                    &holder,
                    &micros(lease),
                    &stored,
                    &due,
                    &micros(interval),
                ],
            )
            .await?
        {
            return held(row);
        }
        let busy = conn
            .prepare_cached(&format!(
                "SELECT GREATEST(
                     COALESCE(CASE WHEN next_poll = $2 THEN LEAST(next_poll, $3) ELSE next_poll END, 0),
                     COALESCE(lease_until, 0)) - {DB_NOW}
                 FROM sources WHERE id = $1"
            ))
            .await?;
        let wait = match conn.query_opt(&busy, &[&source_id, &stored, &due]).await? {
            Some(row) => col(&row, 0)?,
            None => {
                // A source no replica has seen yet: the first to insert
                // its row holds it.
                let first = conn
                    .prepare_cached(&format!(
                        "INSERT INTO sources (id, url, lease_holder, lease_until, lease_epoch, next_poll)
                         VALUES ($1, $2, $3, {DB_NOW} + $4, 1, {DB_NOW} + $5)
                         ON CONFLICT (id) DO NOTHING
                         RETURNING lease_epoch"
                    ))
                    .await?;
                match conn
                    .query_opt(
                        &first,
                        &[&source_id, &url, &holder, &micros(lease), &micros(interval)],
                    )
                    .await?
                {
                    Some(row) => return held(row),
                    None => 0,
                }
            }
        };
        Ok(Claim::Busy {
            wait: wait_of(wait),
        })
    }

    pub(super) async fn renew_source_lease(
        &self,
        source_id: &str,
        held: &Lease,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let conn = self.renewal_conn().await?;
        let stmt = conn
            .prepare_cached(&format!(
                "UPDATE sources SET lease_until = {DB_NOW} + $4
                 WHERE id = $1 AND lease_holder = $2 AND lease_epoch = $3
                   AND lease_until > {DB_NOW}"
            ))
            .await?;
        Ok(conn
            .execute(
                &stmt,
                &[&source_id, &held.holder, &held.epoch, &micros(lease)],
            )
            .await?
            > 0)
    }

    pub(super) async fn release_source_lease(
        &self,
        source_id: &str,
        held: &Lease,
    ) -> Result<(), StoreError> {
        let conn = self.renewal_conn().await?;
        let stmt = conn
            .prepare_cached(&format!(
                "UPDATE sources SET lease_until = {DB_NOW}
                 WHERE id = $1 AND lease_holder = $2 AND lease_epoch = $3
                   AND lease_until > {DB_NOW}"
            ))
            .await?;
        conn.execute(&stmt, &[&source_id, &held.holder, &held.epoch])
            .await?;
        Ok(())
    }

    pub(super) async fn claim_publisher_lease(
        &self,
        holder: &str,
        lease: Duration,
    ) -> Result<Claim, StoreError> {
        // The renewals' connection: the publisher renews by claiming.
        let conn = self.renewal_conn().await?;
        // The holder renews by claiming again: its epoch stays, so what it
        // deletes under the lease it already holds is still fenced right.
        let stmt = conn
            .prepare_cached(&format!(
                "WITH clock AS (SELECT {DB_NOW} AS now)
                 UPDATE publisher_lease SET
                     epoch = CASE WHEN holder = $1 AND until > clock.now THEN epoch ELSE epoch + 1 END,
                     holder = $1,
                     until = clock.now + $2
                 FROM clock
                 WHERE holder IS NULL OR (holder = $1 AND until > clock.now) OR until <= clock.now
                 RETURNING epoch"
            ))
            .await?;
        if let Some(row) = conn.query_opt(&stmt, &[&holder, &micros(lease)]).await? {
            return Ok(Claim::Held(Lease {
                holder: holder.to_owned(),
                epoch: col(&row, 0)?,
            }));
        }
        let stmt = conn
            .prepare_cached(&format!(
                "SELECT COALESCE(until, 0) - {DB_NOW} FROM publisher_lease"
            ))
            .await?;
        let row = conn.query_one(&stmt, &[]).await?;
        Ok(Claim::Busy {
            wait: wait_of(col(&row, 0)?),
        })
    }

    pub(super) async fn release_publisher_lease(&self, held: &Lease) -> Result<(), StoreError> {
        let conn = self.conn().await?;
        let stmt = conn
            .prepare_cached(&format!(
                "UPDATE publisher_lease SET until = {DB_NOW} WHERE holder = $1 AND epoch = $2"
            ))
            .await?;
        conn.execute(&stmt, &[&held.holder, &held.epoch]).await?;
        Ok(())
    }

    pub(super) async fn read_publisher_lease(&self) -> Result<Option<LeaseView>, StoreError> {
        let conn = self.conn().await?;
        let stmt = conn
            .prepare_cached(&format!(
                "SELECT holder, until FROM publisher_lease WHERE until > {DB_NOW}"
            ))
            .await?;
        match conn.query_opt(&stmt, &[]).await? {
            Some(row) => Ok(Some(LeaseView {
                holder: col(&row, 0)?,
                until: from_stored(col(&row, 1)?, "publisher_lease", "holder", "until")?,
            })),
            None => Ok(None),
        }
    }
}

/// Checks, inside a poll's write transaction, that `lease` still holds
/// `source_id`, and gives it back in the same statement, which locks the
/// row until the commit so that no claim or renewal slips in between. The
/// next poll is due at the stored time, and any replica may claim it then;
/// the holder stays, for `/status`'s history of who polled last.
pub(super) async fn fence_and_release_source(
    tx: &impl GenericClient,
    source_id: &str,
    lease: &Lease,
) -> Result<(), StoreError> {
    let stmt = tx
        .prepare_cached(&format!(
            "UPDATE sources SET lease_until = {DB_NOW}
             WHERE id = $1 AND lease_holder = $2 AND lease_epoch = $3 AND lease_until > {DB_NOW}"
        ))
        .await?;
    match tx
        .execute(&stmt, &[&source_id, &lease.holder, &lease.epoch])
        .await?
    {
        0 => Err(source_lease_lost(source_id, lease)),
        _ => Ok(()),
    }
}

/// The refusal of a write to `source_id` under `lease`, which another
/// claim took or which ran out.
pub(super) fn source_lease_lost(source_id: &str, lease: &Lease) -> StoreError {
    StoreError::LeaseLost {
        what: format!("source {source_id}"),
        holder: lease.holder.clone(),
        epoch: lease.epoch,
    }
}

/// Checks, inside the caller's transaction, that `held` still holds the
/// publisher lease, and locks its row until the commit; `what` names the
/// work in the error.
pub(super) async fn fence_publisher(
    tx: &impl GenericClient,
    held: &Lease,
    what: &str,
) -> Result<(), StoreError> {
    let stmt = tx
        .prepare_cached(&format!(
            "SELECT 1 FROM publisher_lease
             WHERE holder = $1 AND epoch = $2 AND until > {DB_NOW} FOR UPDATE"
        ))
        .await?;
    match tx.query_opt(&stmt, &[&held.holder, &held.epoch]).await? {
        Some(_) => Ok(()),
        None => Err(StoreError::LeaseLost {
            what: what.to_owned(),
            holder: held.holder.clone(),
            epoch: held.epoch,
        }),
    }
}
