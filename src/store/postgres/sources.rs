//! Sources: fetch state between polls, and the status `/status` and the
//! scheduler read. The SQL of `sqlite/sources.rs`, in PostgreSQL's dialect.

use super::{DB_NOW, Postgres, col};
use crate::fetch::FetchState;
use crate::store::{
    LeaseView, PageYield, SourceStatus, StoreError, from_stored, from_stored_opt, narrow,
    not_followed_from_stored, to_stored,
};
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

/// The columns [`status_from_row`] reads, in order: the lease only while
/// it is held, by the database's clock.
fn status_columns() -> String {
    format!(
        "s.id, s.url, s.last_attempt, s.last_success, s.last_error, \
         s.consecutive_failures, s.next_poll, s.failing_since, s.gone, \
         (SELECT COUNT(*) FROM items AS i WHERE i.source_id = s.id), s.warning, \
         CASE WHEN s.lease_until > {DB_NOW} THEN s.lease_holder END, \
         CASE WHEN s.lease_until > {DB_NOW} THEN s.lease_until END, s.not_followed"
    )
}

impl Postgres {
    pub(super) async fn read_fetch_state(&self, source_id: &str) -> Result<FetchState, StoreError> {
        let conn = self.conn().await?;
        let stmt = conn
            .prepare_cached("SELECT etag, last_modified, permanent_url FROM sources WHERE id = $1")
            .await?;
        match conn.query_opt(&stmt, &[&source_id]).await? {
            Some(row) => Ok(FetchState {
                etag: col(&row, 0)?,
                last_modified: col(&row, 1)?,
                permanent_url: col(&row, 2)?,
            }),
            None => Ok(FetchState::default()),
        }
    }

    pub(super) async fn write_next_poll(
        &self,
        source_id: &str,
        next_poll: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let conn = self.conn().await?;
        let stmt = conn
            .prepare_cached(
                "INSERT INTO sources (id, url, next_poll) VALUES ($1, '', $2)
                 ON CONFLICT (id) DO UPDATE SET next_poll = excluded.next_poll",
            )
            .await?;
        conn.execute(&stmt, &[&source_id, &to_stored(next_poll)])
            .await?;
        Ok(())
    }

    pub(super) async fn read_page_baseline(
        &self,
        source_id: &str,
    ) -> Result<Option<u64>, StoreError> {
        let conn = self.conn().await?;
        let stmt = conn
            .prepare_cached("SELECT page_baseline FROM sources WHERE id = $1")
            .await?;
        let baseline: Option<i64> = match conn.query_opt(&stmt, &[&source_id]).await? {
            Some(row) => col(&row, 0)?,
            None => None,
        };
        baseline
            .map(|b| narrow(b, "sources", source_id, "page_baseline"))
            .transpose()
    }

    pub(super) async fn read_source_statuses(&self) -> Result<Vec<SourceStatus>, StoreError> {
        let conn = self.conn().await?;
        let stmt = conn
            .prepare_cached(&format!(
                "SELECT {} FROM sources AS s ORDER BY s.id",
                status_columns()
            ))
            .await?;
        conn.query(&stmt, &[])
            .await?
            .iter()
            .map(status_from_row)
            .collect()
    }

    pub(super) async fn read_source_status(
        &self,
        source_id: &str,
    ) -> Result<Option<SourceStatus>, StoreError> {
        let conn = self.conn().await?;
        let stmt = conn
            .prepare_cached(&format!(
                "SELECT {} FROM sources AS s WHERE s.id = $1",
                status_columns()
            ))
            .await?;
        conn.query_opt(&stmt, &[&source_id])
            .await?
            .as_ref()
            .map(status_from_row)
            .transpose()
    }
}

/// Records a successful poll: new fetch state, the time, and when it is due next.
pub(super) async fn record_success(
    conn: &impl GenericClient,
    source_id: &str,
    url: &str,
    state: &FetchState,
    next_poll: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let stmt = conn
        .prepare_cached(
            "INSERT INTO sources (id, url, etag, last_modified, permanent_url,
                                  last_attempt, last_success, last_error,
                                  consecutive_failures, next_poll)
             VALUES ($1, $2, $3, $4, $5, $6, $6, NULL, 0, $7)
             ON CONFLICT (id) DO UPDATE SET
                 url = excluded.url,
                 etag = excluded.etag,
                 last_modified = excluded.last_modified,
                 permanent_url = excluded.permanent_url,
                 last_attempt = excluded.last_attempt,
                 last_success = excluded.last_success,
                 last_error = NULL,
                 consecutive_failures = 0,
                 failing_since = NULL,
                 gone = FALSE,
                 next_poll = excluded.next_poll",
        )
        .await?;
    conn.execute(
        &stmt,
        &[
            &source_id,
            &url,
            &state.etag,
            &state.last_modified,
            &state.permanent_url,
            &to_stored(now),
            &to_stored(next_poll),
        ],
    )
    .await?;
    Ok(())
}

/// Records a failed poll. Returns the consecutive failure count, this one
/// included, and when that run of failures began.
pub(super) async fn record_failure(
    conn: &impl GenericClient,
    source_id: &str,
    url: &str,
    error: &str,
    next_poll: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(u32, DateTime<Utc>), StoreError> {
    let stmt = conn
        .prepare_cached(
            "INSERT INTO sources (id, url, last_attempt, last_error,
                                  consecutive_failures, failing_since, next_poll)
             VALUES ($1, $2, $3, $4, 1, $3, $5)
             ON CONFLICT (id) DO UPDATE SET
                 url = excluded.url,
                 last_attempt = excluded.last_attempt,
                 last_error = excluded.last_error,
                 consecutive_failures = sources.consecutive_failures + 1,
                 failing_since = COALESCE(sources.failing_since, excluded.last_attempt),
                 next_poll = excluded.next_poll
             RETURNING consecutive_failures, failing_since",
        )
        .await?;
    let row = conn
        .query_one(
            &stmt,
            &[
                &source_id,
                &url,
                &to_stored(now),
                &error,
                &to_stored(next_poll),
            ],
        )
        .await?;
    Ok((
        narrow(col(&row, 0)?, "sources", source_id, "consecutive_failures")?,
        from_stored(col(&row, 1)?, "sources", source_id, "failing_since")?,
    ))
}

/// Marks a source gone (it answered 410): no next poll.
pub(super) async fn mark_gone(
    conn: &impl GenericClient,
    source_id: &str,
) -> Result<(), StoreError> {
    let stmt = conn
        .prepare_cached("UPDATE sources SET gone = TRUE, next_poll = NULL WHERE id = $1")
        .await?;
    conn.execute(&stmt, &[&source_id]).await?;
    Ok(())
}

/// Records what a page poll yielded.
pub(super) async fn record_page_yield(
    conn: &impl GenericClient,
    source_id: &str,
    url: &str,
    page_yield: &PageYield,
) -> Result<(), StoreError> {
    let baseline = page_yield
        .baseline
        .map(|b| i64::try_from(b).unwrap_or(i64::MAX));
    let (warning, not_followed) = (
        page_yield.warning.as_deref(),
        page_yield.not_followed_stored(),
    );
    let stmt = conn
        .prepare_cached(
            "INSERT INTO sources (id, url, page_baseline, warning, not_followed)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (id) DO UPDATE SET
                 page_baseline = excluded.page_baseline,
                 warning = excluded.warning,
                 not_followed = COALESCE(excluded.not_followed, sources.not_followed)",
        )
        .await?;
    conn.execute(
        &stmt,
        &[&source_id, &url, &baseline, &warning, &not_followed],
    )
    .await?;
    Ok(())
}

/// Creates the row of `source_id` if there is none yet.
pub(super) async fn ensure_source(
    conn: &impl GenericClient,
    source_id: &str,
    url: &str,
) -> Result<(), StoreError> {
    let stmt = conn
        .prepare_cached("INSERT INTO sources (id, url) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING")
        .await?;
    conn.execute(&stmt, &[&source_id, &url]).await?;
    Ok(())
}

/// Reads one row selected with [`status_columns`].
fn status_from_row(row: &Row) -> Result<SourceStatus, StoreError> {
    let id: String = col(row, 0)?;
    let key = id.as_str();
    let holder: Option<String> = col(row, 11)?;
    let until = from_stored_opt(col(row, 12)?, "sources", key, "lease_until")?;
    Ok(SourceStatus {
        url: col(row, 1)?,
        last_attempt: from_stored_opt(col(row, 2)?, "sources", key, "last_attempt")?,
        last_success: from_stored_opt(col(row, 3)?, "sources", key, "last_success")?,
        last_error: col(row, 4)?,
        consecutive_failures: narrow(col(row, 5)?, "sources", key, "consecutive_failures")?,
        next_poll: from_stored_opt(col(row, 6)?, "sources", key, "next_poll")?,
        failing_since: from_stored_opt(col(row, 7)?, "sources", key, "failing_since")?,
        gone: col(row, 8)?,
        item_count: narrow(col(row, 9)?, "sources", key, "item_count")?,
        warning: col(row, 10)?,
        not_followed: not_followed_from_stored(col(row, 13)?),
        lease: holder
            .zip(until)
            .map(|(holder, until)| LeaseView { holder, until }),
        id,
    })
}
