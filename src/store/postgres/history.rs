//! What `/status.html` charts: each poll's outcome, kept for
//! [`FETCH_OUTCOMES_KEPT`] (migration step 5), and the items per day, one
//! grouped read along `items_by_published`.

use super::{Postgres, col};
use crate::store::{
    DayCount, FETCH_OUTCOMES_KEPT, HourOutcomes, PollResult, StoreError, from_stored, narrow,
    to_stored,
};
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;

/// A day and an hour in the stored unit, microseconds.
const DAY_MICROS: i64 = 86_400_000_000;
const HOUR_MICROS: i64 = 3_600_000_000;

/// Keeps one poll's outcome and drops the source's outcomes older than
/// [`FETCH_OUTCOMES_KEPT`], in the poll's transaction. The table has no
/// foreign key and its rows are the source's own, so this locks nothing
/// another replica's poll waits on.
pub(super) async fn record_outcome(
    conn: &impl GenericClient,
    source_id: &str,
    at: DateTime<Utc>,
    result: PollResult,
) -> Result<(), StoreError> {
    let insert = conn
        .prepare_cached("INSERT INTO fetch_outcomes (at, source_id, outcome) VALUES ($1, $2, $3)")
        .await?;
    let prune = conn
        .prepare_cached("DELETE FROM fetch_outcomes WHERE source_id = $1 AND at < $2")
        .await?;
    // The prune never reaches the new row: both in one round trip.
    let (at, before) = (to_stored(at), to_stored(at - FETCH_OUTCOMES_KEPT));
    let row: [&(dyn ToSql + Sync); 3] = [&at, &source_id, &result.as_str()];
    let older: [&(dyn ToSql + Sync); 2] = [&source_id, &before];
    tokio::try_join!(conn.execute(&insert, &row), conn.execute(&prune, &older))?;
    Ok(())
}

impl Postgres {
    pub(super) async fn read_items_per_day(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<DayCount>, StoreError> {
        let conn = self.conn().await?;
        let stmt = conn
            .prepare_cached(
                "SELECT published / $2 AS day, COUNT(*) FROM items
                 WHERE published >= $1 GROUP BY day ORDER BY day",
            )
            .await?;
        let mut days = Vec::new();
        for row in conn.query(&stmt, &[&to_stored(since), &DAY_MICROS]).await? {
            let day: i64 = col(&row, 0)?;
            let count: i64 = col(&row, 1)?;
            days.push(DayCount {
                day: from_stored(day * DAY_MICROS, "items", "", "published")?.date_naive(),
                items: narrow(count, "items", "", "published")?,
            });
        }
        Ok(days)
    }

    pub(super) async fn read_fetch_outcomes(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<HourOutcomes>, StoreError> {
        let conn = self.conn().await?;
        let stmt = conn
            .prepare_cached(
                "SELECT source_id, at / $2 AS hour,
                        COUNT(*) FILTER (WHERE outcome = 'ok'),
                        COUNT(*) FILTER (WHERE outcome <> 'ok')
                 FROM fetch_outcomes WHERE at >= $1
                 GROUP BY source_id, hour ORDER BY source_id, hour",
            )
            .await?;
        let mut hours = Vec::new();
        for row in conn
            .query(&stmt, &[&to_stored(since), &HOUR_MICROS])
            .await?
        {
            let source_id: String = col(&row, 0)?;
            let hour: i64 = col(&row, 1)?;
            let (ok, failed): (i64, i64) = (col(&row, 2)?, col(&row, 3)?);
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
