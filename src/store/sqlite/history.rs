//! What `/status.html` charts: each poll's outcome, kept for
//! [`FETCH_OUTCOMES_KEPT`] (migration step 7), and the items per day, one
//! grouped read along `items_by_published`.

use super::Sqlite;
use crate::store::{
    DayCount, FETCH_OUTCOMES_KEPT, HourOutcomes, PollResult, StoreError, from_stored, narrow,
    to_stored,
};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

/// A day and an hour in the stored unit, microseconds.
pub(super) const DAY_MICROS: i64 = 86_400_000_000;
const HOUR_MICROS: i64 = 3_600_000_000;

/// The items per day from `?1` on (`?2` is a day): a range of
/// `items_by_published`, which holds the date, so no item row is read.
pub(super) const ITEMS_PER_DAY: &str = "SELECT published / ?2 AS day, COUNT(*) FROM items
     WHERE published >= ?1 GROUP BY day ORDER BY day";

/// Keeps one poll's outcome and drops the source's outcomes older than
/// [`FETCH_OUTCOMES_KEPT`], in the poll's transaction: the history of a
/// source is bounded by its own polls, and needs no task of its own.
pub(super) fn record_outcome(
    conn: &Connection,
    source_id: &str,
    at: DateTime<Utc>,
    result: PollResult,
) -> Result<(), StoreError> {
    conn.prepare_cached("INSERT INTO fetch_outcomes (at, source_id, outcome) VALUES (?1, ?2, ?3)")?
        .execute(params![to_stored(at), source_id, result.as_str()])?;
    conn.prepare_cached("DELETE FROM fetch_outcomes WHERE source_id = ?1 AND at < ?2")?
        .execute(params![source_id, to_stored(at - FETCH_OUTCOMES_KEPT)])?;
    Ok(())
}

impl Sqlite {
    /// The body of [`Store::items_per_day`](crate::store::Store::items_per_day).
    pub(super) fn read_items_per_day(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<DayCount>, StoreError> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(ITEMS_PER_DAY)?;
        let mut rows = stmt.query(params![to_stored(since), DAY_MICROS])?;
        let mut days = Vec::new();
        while let Some(row) = rows.next()? {
            let day: i64 = row.get(0)?;
            let count: i64 = row.get(1)?;
            days.push(DayCount {
                day: from_stored(day * DAY_MICROS, "items", "", "published")?.date_naive(),
                items: narrow(count, "items", "", "published")?,
            });
        }
        Ok(days)
    }

    /// The body of [`Store::fetch_outcomes`](crate::store::Store::fetch_outcomes).
    pub(super) fn read_fetch_outcomes(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<HourOutcomes>, StoreError> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(
            "SELECT source_id, at / ?2 AS hour,
                    SUM(outcome = 'ok'), SUM(outcome <> 'ok')
             FROM fetch_outcomes WHERE at >= ?1
             GROUP BY source_id, hour ORDER BY source_id, hour",
        )?;
        let mut rows = stmt.query(params![to_stored(since), HOUR_MICROS])?;
        let mut hours = Vec::new();
        while let Some(row) = rows.next()? {
            let source_id: String = row.get(0)?;
            let hour: i64 = row.get(1)?;
            let (ok, failed): (i64, i64) = (row.get(2)?, row.get(3)?);
            hours.push(HourOutcomes {
                hour: from_stored(hour * HOUR_MICROS, "fetch_outcomes", &source_id, "at")?,
                ok: narrow(ok, "fetch_outcomes", &source_id, "outcome")?,
                failed: narrow(failed, "fetch_outcomes", &source_id, "outcome")?,
                source_id,
            });
        }
        Ok(hours)
    }
}
