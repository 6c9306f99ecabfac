//! Moving the queued changes of the full-text index (`items_fts_pending`,
//! filled by the triggers on `items`) into `items_fts`, inside the writer's
//! transaction, just before it commits (schema step 8 says why).
//!
//! Every transaction that writes items calls [`index_pending`] before its
//! commit, so a committed item is in the index, as a reader of `?q=` sees
//! it. A queue left behind all the same (a future write path that forgot)
//! is moved by the next writer's call.

use crate::store::StoreError;
use rusqlite::Connection;

/// Applies the queued changes to `items_fts` in their order, in one
/// statement (one segment of the index), and empties the queue.
pub(super) fn index_pending(conn: &Connection) -> Result<(), StoreError> {
    let queued = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM items_fts_pending)")?
        .query_row([], |row| row.get::<_, bool>(0))?;
    if !queued {
        return Ok(());
    }
    // `op` is NULL for an insert and 'delete' for a delete, which is what
    // FTS5's hidden column of the table's own name takes.
    conn.prepare_cached(
        "INSERT INTO items_fts (items_fts, rowid, title, summary)
         SELECT op, item_rowid, title, summary FROM items_fts_pending ORDER BY seq",
    )?
    .execute([])?;
    conn.prepare_cached("DELETE FROM items_fts_pending")?
        .execute([])?;
    Ok(())
}
