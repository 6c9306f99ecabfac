//! `migrate-store`: the SQLite store copied whole into an empty PostgreSQL
//! database, so that a single daemon can move up to replicas.
//!
//! The rows travel as they are stored (times in unix microseconds, lists as
//! JSON text), not through [`Item`](crate::item::Item), so that nothing is
//! recomputed on the way: ids, revisions, content hashes, first-seen times,
//! fetch state, schedules, retired ids, article states, outbox rows and the
//! recent poll outcomes (with their seqs
//! and `message_id`s) arrive as they left. The new replicas then publish
//! what was still pending once, and nothing else again.
//!
//! SQLite's side (`sqlite/export.rs`) reads one snapshot on the blocking
//! pool and hands it over in batches; PostgreSQL's (`postgres/import.rs`)
//! writes them in one transaction, which first checks that the target is
//! empty: a half-done copy never stays behind.

use super::StoreError;
use super::postgres::Postgres;
use super::sqlite::SqliteBackend;
use std::path::Path;

/// How many rows go over in one batch.
pub(super) const BATCH: usize = 1000;

/// One `sources` row: fetch state, schedule and health.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct SourceRow {
    pub id: String,
    pub url: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub permanent_url: Option<String>,
    pub last_attempt: Option<i64>,
    pub last_success: Option<i64>,
    pub last_error: Option<String>,
    pub consecutive_failures: i64,
    pub failing_since: Option<i64>,
    pub gone: bool,
    pub next_poll: Option<i64>,
    pub page_baseline: Option<i64>,
    pub warning: Option<String>,
    /// The `not_followed` lines of a page source's last following poll,
    /// as stored.
    pub not_followed: Option<String>,
}

/// One `items` row. `authors` and `categories` are JSON lists.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ItemRow {
    pub id: String,
    pub source_id: String,
    pub source_name: String,
    pub source_url: String,
    pub guid: String,
    pub url: Option<String>,
    pub title: String,
    pub summary: String,
    pub content_html: Option<String>,
    pub authors: String,
    pub categories: String,
    pub language: Option<String>,
    pub published: i64,
    pub published_from_source: bool,
    pub updated: Option<i64>,
    pub first_seen: i64,
    pub last_seen: i64,
    pub revision: i64,
    pub content_hash: String,
    /// The duplicates' keys and verdict (`store/dedup.rs`), as stored.
    pub dedup: DedupColumns,
}

/// An item's duplicate columns: its keys, and what it duplicates.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct DedupColumns {
    pub link: Option<String>,
    pub guid: Option<String>,
    pub title: Option<String>,
    pub signature: Option<Vec<u8>>,
    pub duplicate_of: Option<String>,
    pub duplicate_source: Option<String>,
    pub duplicate_reason: Option<String>,
}

/// One `item_revisions` row.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct RevisionRow {
    pub item_id: String,
    pub revision: i64,
    pub content_hash: String,
    pub title: String,
    pub url: Option<String>,
    pub content_html: Option<String>,
    pub recorded_at: i64,
}

/// One `retired_items` row: an id retention deleted, kept so that the
/// source listing it again does not bring it back as new.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct RetiredRow {
    pub id: String,
    pub source_id: String,
    pub retired_at: i64,
    pub last_seen: i64,
}

/// One `full_text` row: a `full_text = true` source's article state for
/// one item.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct FullTextRow {
    pub item_id: String,
    pub source_id: String,
    pub state: String,
    pub failures: i64,
    pub last_error: Option<String>,
    pub content_html: Option<String>,
    pub updated_at: i64,
}

/// One `outbox` row, with its seq.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct OutboxRow {
    pub seq: i64,
    pub event_id: String,
    pub routing_key: String,
    pub body: Vec<u8>,
    pub created_at: i64,
}

/// One `fetch_outcomes` row: a poll's outcome for `/status.html`'s chart.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct OutcomeRow {
    pub at: i64,
    pub source_id: String,
    pub outcome: String,
}

/// A part of the snapshot, in the order the import needs (sources before
/// the items that refer to them, items before their revisions).
#[derive(Debug)]
pub(super) enum Batch {
    Sources(Vec<SourceRow>),
    Items(Vec<ItemRow>),
    Revisions(Vec<RevisionRow>),
    Retired(Vec<RetiredRow>),
    FullText(Vec<FullTextRow>),
    Outbox(Vec<OutboxRow>),
    FetchOutcomes(Vec<OutcomeRow>),
    /// The highest outbox seq SQLite ever handed out: new rows on the
    /// target come after it, drained or not.
    OutboxHighest(i64),
}

/// What `migrate-store` copied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Copied {
    /// Sources, with their fetch state and schedule.
    pub sources: u64,
    /// Items.
    pub items: u64,
    /// Item revisions.
    pub revisions: u64,
    /// Retired item ids.
    pub retired: u64,
    /// Items' article states (`full_text = true` sources).
    pub full_text: u64,
    /// Outbox messages still to be published.
    pub outbox: u64,
    /// Poll outcomes of the last two days (`/status.html`'s chart).
    pub fetch_outcomes: u64,
}

/// Copies the SQLite store at `path` into the PostgreSQL database at `url`,
/// which must hold no data ([`StoreError::TargetNotEmpty`] otherwise; its
/// schema is created when missing). The SQLite file is locked meanwhile, so
/// a daemon still running on it is refused ([`StoreError::Locked`]), and it
/// is left as it was. Errors show `url` without its password.
pub async fn migrate_store(path: &Path, url: &str) -> Result<Copied, StoreError> {
    let owned = path.to_path_buf();
    let sqlite = tokio::task::spawn_blocking(move || SqliteBackend::open(&owned))
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
    let target = Postgres::connect(url).await?;
    let (batches, received) = tokio::sync::mpsc::channel(2);
    let export = tokio::task::spawn_blocking(move || sqlite.export(&batches));
    let imported = target.import(received).await;
    let exported = export
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    // An import that stopped early drops its receiver, and the export then
    // fails for that reason only: the import's error is the one to tell.
    let copied = imported?;
    exported?;
    Ok(copied)
}
