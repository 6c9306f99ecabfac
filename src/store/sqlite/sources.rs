//! Sources: fetch state between polls, and the status `/status` and the
//! scheduler read.

use super::Sqlite;
use crate::fetch::FetchState;
use crate::store::{
    PageYield, SourceStatus, StoreError, from_stored, from_stored_opt, narrow,
    not_followed_from_stored, to_stored,
};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

/// The columns [`status_from_row`] reads, in order.
const STATUS_COLUMNS: &str = "s.id, s.url, s.last_attempt, s.last_success, s.last_error, \
     s.consecutive_failures, s.next_poll, s.failing_since, s.gone, \
     (SELECT COUNT(*) FROM items AS i WHERE i.source_id = s.id), s.warning, s.not_followed";

impl Sqlite {
    pub(super) fn read_fetch_state(&self, source_id: &str) -> Result<FetchState, StoreError> {
        let conn = self.reader()?;
        let state = conn
            .prepare_cached("SELECT etag, last_modified, permanent_url FROM sources WHERE id = ?1")?
            .query_row([source_id], |row| {
                Ok(FetchState {
                    etag: row.get(0)?,
                    last_modified: row.get(1)?,
                    permanent_url: row.get(2)?,
                })
            })
            .optional()?;
        Ok(state.unwrap_or_default())
    }

    pub(super) fn write_next_poll(
        &self,
        source_id: &str,
        next_poll: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let conn = self.writer();
        conn.prepare_cached(
            "INSERT INTO sources (id, url, next_poll) VALUES (?1, '', ?2)
             ON CONFLICT (id) DO UPDATE SET next_poll = excluded.next_poll",
        )?
        .execute(params![source_id, to_stored(next_poll)])?;
        Ok(())
    }

    pub(super) fn read_page_baseline(&self, source_id: &str) -> Result<Option<u64>, StoreError> {
        let conn = self.reader()?;
        let baseline: Option<i64> = conn
            .prepare_cached("SELECT page_baseline FROM sources WHERE id = ?1")?
            .query_row([source_id], |row| row.get(0))
            .optional()?
            .flatten();
        baseline
            .map(|b| narrow(b, "sources", source_id, "page_baseline"))
            .transpose()
    }

    pub(super) fn read_source_statuses(&self) -> Result<Vec<SourceStatus>, StoreError> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {STATUS_COLUMNS} FROM sources AS s ORDER BY s.id"
        ))?;
        let mut rows = stmt.query([])?;
        let mut statuses = Vec::new();
        while let Some(row) = rows.next()? {
            statuses.push(status_from_row(row)?);
        }
        Ok(statuses)
    }

    pub(super) fn read_source_status(
        &self,
        source_id: &str,
    ) -> Result<Option<SourceStatus>, StoreError> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {STATUS_COLUMNS} FROM sources AS s WHERE s.id = ?1"
        ))?;
        let mut rows = stmt.query([source_id])?;
        match rows.next()? {
            Some(row) => Ok(Some(status_from_row(row)?)),
            None => Ok(None),
        }
    }
}

/// Records a successful poll: new fetch state, the time, and when it is due next.
/// Clears the last error and the failure count.
pub(super) fn record_success(
    conn: &Connection,
    source_id: &str,
    url: &str,
    state: &FetchState,
    next_poll: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO sources (id, url, etag, last_modified, permanent_url,
                              last_attempt, last_success, last_error,
                              consecutive_failures, next_poll)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, NULL, 0, ?7)
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
             gone = 0,
             next_poll = excluded.next_poll",
    )?
    .execute(params![
        source_id,
        url,
        state.etag,
        state.last_modified,
        state.permanent_url,
        to_stored(now),
        to_stored(next_poll),
    ])?;
    Ok(())
}

/// Records a failed poll. Returns the consecutive failure count, this one
/// included, and when that run of failures began.
pub(super) fn record_failure(
    conn: &Connection,
    source_id: &str,
    url: &str,
    error: &str,
    next_poll: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(u32, DateTime<Utc>), StoreError> {
    // The fetch state is left alone: the last good ETag and redirect
    // still apply once the source is back.
    let (failures, since): (i64, i64) = conn
        .prepare_cached(
            "INSERT INTO sources (id, url, last_attempt, last_error,
                                  consecutive_failures, failing_since, next_poll)
             VALUES (?1, ?2, ?3, ?4, 1, ?3, ?5)
             ON CONFLICT (id) DO UPDATE SET
                 url = excluded.url,
                 last_attempt = excluded.last_attempt,
                 last_error = excluded.last_error,
                 consecutive_failures = consecutive_failures + 1,
                 failing_since = COALESCE(failing_since, excluded.last_attempt),
                 next_poll = excluded.next_poll
             RETURNING consecutive_failures, failing_since",
        )?
        .query_row(
            params![source_id, url, to_stored(now), error, to_stored(next_poll)],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
    Ok((
        narrow(failures, "sources", source_id, "consecutive_failures")?,
        from_stored(since, "sources", source_id, "failing_since")?,
    ))
}

/// Marks a source gone (it answered 410): it keeps its items and its last
/// error, and has no next poll. A later success clears the mark.
pub(super) fn mark_gone(conn: &Connection, source_id: &str) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE sources SET gone = 1, next_poll = NULL WHERE id = ?1")?
        .execute([source_id])?;
    Ok(())
}

/// Records what a page poll yielded: the baseline later polls are
/// compared with, the warning it raised (None clears it), and the articles
/// it did not follow (None keeps the stored list).
pub(super) fn record_page_yield(
    conn: &Connection,
    source_id: &str,
    url: &str,
    page_yield: &PageYield,
) -> Result<(), StoreError> {
    let baseline = page_yield
        .baseline
        .map(|b| i64::try_from(b).unwrap_or(i64::MAX));
    conn.prepare_cached(
        "INSERT INTO sources (id, url, page_baseline, warning, not_followed)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (id) DO UPDATE SET
             page_baseline = excluded.page_baseline,
             warning = excluded.warning,
             not_followed = COALESCE(excluded.not_followed, sources.not_followed)",
    )?
    .execute(params![
        source_id,
        url,
        baseline,
        page_yield.warning.as_deref(),
        page_yield.not_followed_stored()
    ])?;
    Ok(())
}

/// Creates the row of `source_id` if there is none yet, with `url` as its URL.
pub(super) fn ensure_source(
    conn: &Connection,
    source_id: &str,
    url: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO sources (id, url) VALUES (?1, ?2) ON CONFLICT (id) DO NOTHING",
    )?
    .execute(params![source_id, url])?;
    Ok(())
}

/// Reads one row selected with [`STATUS_COLUMNS`].
fn status_from_row(row: &Row<'_>) -> Result<SourceStatus, StoreError> {
    let id: String = row.get(0)?;
    let key = id.as_str();
    Ok(SourceStatus {
        url: row.get(1)?,
        last_attempt: from_stored_opt(row.get(2)?, "sources", key, "last_attempt")?,
        last_success: from_stored_opt(row.get(3)?, "sources", key, "last_success")?,
        last_error: row.get(4)?,
        consecutive_failures: narrow(row.get(5)?, "sources", key, "consecutive_failures")?,
        next_poll: from_stored_opt(row.get(6)?, "sources", key, "next_poll")?,
        failing_since: from_stored_opt(row.get(7)?, "sources", key, "failing_since")?,
        gone: row.get::<_, i64>(8)? != 0,
        item_count: narrow(row.get(9)?, "sources", key, "item_count")?,
        warning: row.get(10)?,
        not_followed: not_followed_from_stored(row.get(11)?),
        lease: None,
        id,
    })
}
