//! `migrate-store`'s writing side: the batches of a SQLite snapshot (see
//! `store/transfer.rs`) into this database, in one transaction that first
//! makes sure the database holds no data.

use super::{Postgres, col};
use crate::store::transfer::{Batch, Copied};
use crate::store::{ItemFilter, StoreError};
use deadpool_postgres::GenericClient;
use tokio::sync::mpsc::Receiver;

/// The tables that must be empty, in the words of the refusal.
const HOLDERS: &[(&str, &str)] = &[
    ("sources", "sources"),
    ("items", "items"),
    ("item_revisions", "item revisions"),
    ("retired_items", "retired item ids"),
    ("full_text", "article states"),
    ("outbox", "outbox messages"),
    ("fetch_outcomes", "poll outcomes"),
];

impl Postgres {
    /// Writes every batch from `batches` until the sender is done, then
    /// commits. Refused with [`StoreError::TargetNotEmpty`], before anything
    /// is written, when any table already holds a row.
    pub(in crate::store) async fn import(
        &self,
        mut batches: Receiver<Batch>,
    ) -> Result<Copied, StoreError> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        // Nobody writes beside the copy: a replica started meanwhile waits.
        tx.batch_execute(
            "LOCK TABLE sources, items, item_revisions, retired_items, full_text, outbox,
                        fetch_outcomes, publisher_lease IN EXCLUSIVE MODE",
        )
        .await?;
        let mut held = Vec::new();
        for (table, words) in HOLDERS {
            let row = tx
                .query_one(&format!("SELECT COUNT(*) FROM {table}"), &[])
                .await?;
            let count: i64 = col(&row, 0)?;
            if count > 0 {
                held.push(format!("{count} {words}"));
            }
        }
        if !held.is_empty() {
            return Err(StoreError::TargetNotEmpty {
                shown: self.inner.shown.clone(),
                holds: held.join(", "),
            });
        }
        let mut copied = Copied::default();
        while let Some(batch) = batches.recv().await {
            match batch {
                Batch::Sources(rows) => {
                    let stmt = tx
                        .prepare_cached(
                            "INSERT INTO sources (id, url, etag, last_modified, permanent_url,
                                 last_attempt, last_success, last_error, consecutive_failures,
                                 failing_since, gone, next_poll, page_baseline, warning,
                                 not_followed)
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
                                 $15)",
                        )
                        .await?;
                    for r in &rows {
                        tx.execute(
                            &stmt,
                            &[
                                &r.id,
                                &r.url,
                                &r.etag,
                                &r.last_modified,
                                &r.permanent_url,
                                &r.last_attempt,
                                &r.last_success,
                                &r.last_error,
                                &r.consecutive_failures,
                                &r.failing_since,
                                &r.gone,
                                &r.next_poll,
                                &r.page_baseline,
                                &r.warning,
                                &r.not_followed,
                            ],
                        )
                        .await?;
                    }
                    copied.sources += rows.len() as u64;
                }
                Batch::Items(rows) => {
                    let stmt = tx
                        .prepare_cached(
                            "INSERT INTO items (id, source_id, source_name, source_url, guid, url,
                                 title, summary, content_html, authors, categories, language,
                                 published, published_from_source, updated, first_seen,
                                 last_seen, revision, content_hash, title_folded,
                                 summary_folded, categories_folded, dedup_link, dedup_guid,
                                 dedup_title, dedup_signature, duplicate_of, duplicate_source,
                                 duplicate_reason)
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
                                     $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26,
                                     $27, $28, $29)",
                        )
                        .await?;
                    for r in &rows {
                        let categories: Vec<String> =
                            serde_json::from_str(&r.categories).map_err(|e| {
                                StoreError::BadValue {
                                    table: "items",
                                    key: r.id.clone(),
                                    column: "categories",
                                    reason: format!("not a JSON list of strings: {e}"),
                                }
                            })?;
                        let folded: Vec<String> =
                            categories.iter().map(|c| ItemFilter::fold(c)).collect();
                        tx.execute(
                            &stmt,
                            &[
                                &r.id,
                                &r.source_id,
                                &r.source_name,
                                &r.source_url,
                                &r.guid,
                                &r.url,
                                &r.title,
                                &r.summary,
                                &r.content_html,
                                &r.authors,
                                &r.categories,
                                &r.language,
                                &r.published,
                                &r.published_from_source,
                                &r.updated,
                                &r.first_seen,
                                &r.last_seen,
                                &r.revision,
                                &r.content_hash,
                                &ItemFilter::fold(&r.title),
                                &ItemFilter::fold(&r.summary),
                                &folded,
                                &r.dedup.link,
                                &r.dedup.guid,
                                &r.dedup.title,
                                &r.dedup.signature,
                                &r.dedup.duplicate_of,
                                &r.dedup.duplicate_source,
                                &r.dedup.duplicate_reason,
                            ],
                        )
                        .await?;
                    }
                    copied.items += rows.len() as u64;
                }
                Batch::Revisions(rows) => {
                    let stmt = tx
                        .prepare_cached(
                            "INSERT INTO item_revisions (item_id, revision, content_hash, title,
                                 url, content_html, recorded_at)
                             VALUES ($1, $2, $3, $4, $5, $6, $7)",
                        )
                        .await?;
                    for r in &rows {
                        tx.execute(
                            &stmt,
                            &[
                                &r.item_id,
                                &r.revision,
                                &r.content_hash,
                                &r.title,
                                &r.url,
                                &r.content_html,
                                &r.recorded_at,
                            ],
                        )
                        .await?;
                    }
                    copied.revisions += rows.len() as u64;
                }
                Batch::Retired(rows) => {
                    let stmt = tx
                        .prepare_cached(
                            "INSERT INTO retired_items (id, source_id, retired_at, last_seen)
                             VALUES ($1, $2, $3, $4)",
                        )
                        .await?;
                    for r in &rows {
                        tx.execute(&stmt, &[&r.id, &r.source_id, &r.retired_at, &r.last_seen])
                            .await?;
                    }
                    copied.retired += rows.len() as u64;
                }
                Batch::FullText(rows) => {
                    let stmt = tx
                        .prepare_cached(
                            "INSERT INTO full_text (item_id, source_id, state, failures,
                                 last_error, content_html, updated_at)
                             VALUES ($1, $2, $3, $4, $5, $6, $7)",
                        )
                        .await?;
                    for r in &rows {
                        tx.execute(
                            &stmt,
                            &[
                                &r.item_id,
                                &r.source_id,
                                &r.state,
                                &r.failures,
                                &r.last_error,
                                &r.content_html,
                                &r.updated_at,
                            ],
                        )
                        .await?;
                    }
                    copied.full_text += rows.len() as u64;
                }
                Batch::Outbox(rows) => {
                    // The seqs are kept: they are the publishing order.
                    let stmt = tx
                        .prepare_cached(
                            "INSERT INTO outbox (seq, event_id, routing_key, body, created_at)
                             OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5)",
                        )
                        .await?;
                    for r in &rows {
                        tx.execute(
                            &stmt,
                            &[&r.seq, &r.event_id, &r.routing_key, &r.body, &r.created_at],
                        )
                        .await?;
                    }
                    copied.outbox += rows.len() as u64;
                }
                Batch::FetchOutcomes(rows) => {
                    let stmt = tx
                        .prepare_cached(
                            "INSERT INTO fetch_outcomes (at, source_id, outcome) VALUES ($1, $2, $3)",
                        )
                        .await?;
                    for r in &rows {
                        tx.execute(&stmt, &[&r.at, &r.source_id, &r.outcome])
                            .await?;
                    }
                    copied.fetch_outcomes += rows.len() as u64;
                }
                Batch::OutboxHighest(highest) => {
                    restart_outbox_after(&tx, highest).await?;
                }
            }
        }
        tx.commit().await?;
        self.notify_changed();
        Ok(copied)
    }
}

/// Makes the next outbox seq come after `highest` and after every row
/// copied, so that a seq is never handed out twice.
async fn restart_outbox_after(tx: &impl GenericClient, highest: i64) -> Result<(), StoreError> {
    let row = tx
        .query_one("SELECT COALESCE(MAX(seq), 0) FROM outbox", &[])
        .await?;
    let copied: i64 = col(&row, 0)?;
    let last = highest.max(copied);
    if last > 0 {
        tx.execute(
            "SELECT setval(pg_get_serial_sequence('outbox', 'seq'), $1)",
            &[&last],
        )
        .await?;
    }
    Ok(())
}
