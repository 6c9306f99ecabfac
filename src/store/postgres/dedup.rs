//! Cross-source duplicates on PostgreSQL: as SQLite's `dedup.rs`, the
//! indexed lookups of a new item's write (migration step 3's indexes), the
//! write of its keys and verdict, and the reads.

use super::{Postgres, col};
use crate::dedup::{AlsoIn, DedupRule, Fingerprint, Verdict, judge};
use crate::item::{Item, ItemId, SourceRef};
use crate::store::dedup::{CandidateRow, MAX_CANDIDATES, after_edit, candidates, verdict_from};
use crate::store::{DuplicateCount, Duplication, StoreError, narrow, to_stored};
use deadpool_postgres::GenericClient;
use std::collections::BTreeMap;
use tokio_postgres::Row;

/// The columns a candidate lookup reads, as [`CandidateRow`].
const CANDIDATE: &str =
    "SELECT id, source_id, duplicate_of, duplicate_source, dedup_signature, first_seen FROM items";

/// The fingerprint a new `item` is stored with under `rule`: none for a
/// source out of dedup. Made once, before [`lock_stories`] and
/// [`judge_new`], which both read it.
pub(super) fn fingerprint_new(item: &Item, rule: &DedupRule) -> Option<Fingerprint> {
    rule.fingerprint.then(|| Fingerprint::of(item))
}

/// The class of the stories' advisory locks ("lwdd" in ASCII): the first
/// key of PostgreSQL's two-int form, whose key space never overlaps the
/// one-bigint form that the outbox's and the migrations' locks use.
const STORY_LOCK_CLASS: i32 = 0x6c77_6464;

/// Takes, inside the caller's transaction and until it ends, one advisory
/// lock per duplicate key of the new items about to be judged (`new`: their
/// fingerprints), before any of them is judged.
///
/// Without it two replicas storing one story at the same moment (the same
/// link, or the same title and text from two sources) each judge it before
/// the other's row is visible, and both keep it as an original. Under the
/// lock the second waits for the first's commit, and its lookups, each a
/// statement of its own under READ COMMITTED, then see the first's row.
///
/// The keys are the link keys (link and guid link, which are looked up in
/// both columns) and the title key. A text match needs the same title key
/// (see `judge_new`), so the title key is the coarser key that covers every
/// text match: two texts can only be judged the same story if their writers
/// took the same title lock. The keys are hashed with `hashtext` (a
/// collision only makes two unrelated writes wait for each other) and taken
/// in the hashes' order, each once, in one statement: every writer takes
/// its locks in one ascending order, so two writers never wait on each
/// other in a cycle. Writes that judge nothing take none: storing an item
/// unjudged while another is judged is the same as storing it after.
pub(super) async fn lock_stories<'a>(
    tx: &impl GenericClient,
    new: impl Iterator<Item = &'a Fingerprint>,
) -> Result<(), StoreError> {
    let mut keys: Vec<&str> = new
        .flat_map(|f| f.links().chain(f.title.as_deref()))
        .collect();
    if keys.is_empty() {
        return Ok(());
    }
    keys.sort_unstable();
    keys.dedup();
    // The subquery's ORDER BY and DISTINCT keep it from being flattened,
    // so the locks are taken in its order.
    let stmt = tx
        .prepare_cached(
            "SELECT pg_advisory_xact_lock($1, h) FROM (
                 SELECT DISTINCT hashtext(k) AS h FROM unnest($2::text[]) AS k ORDER BY h
             ) AS hashed",
        )
        .await?;
    tx.execute(&stmt, &[&STORY_LOCK_CLASS, &keys]).await?;
    Ok(())
}

/// Judges the new `item` of `source`, whose `fingerprint` is
/// [`fingerprint_new`]'s, under `rule`, inside a transaction that took
/// [`lock_stories`].
pub(super) async fn judge_new(
    tx: &impl GenericClient,
    source: &SourceRef,
    item: &Item,
    fingerprint: Option<&Fingerprint>,
    rule: &DedupRule,
) -> Result<Option<Verdict>, StoreError> {
    let Some(fingerprint) = fingerprint.filter(|_| rule.judge) else {
        return Ok(None);
    };
    let mut by_link = Vec::new();
    for key in fingerprint.links() {
        for column in ["dedup_link", "dedup_guid"] {
            let stmt = tx
                .prepare_cached(&format!(
                    "{CANDIDATE} WHERE {column} = $1 AND source_id <> $2 \
                     ORDER BY first_seen, id LIMIT $3"
                ))
                .await?;
            for row in tx
                .query(&stmt, &[&key, &source.id, &MAX_CANDIDATES])
                .await?
            {
                by_link.push(candidate_row(&row)?);
            }
        }
    }
    let mut by_title = Vec::new();
    if let (Some(title), true) = (&fingerprint.title, fingerprint.signature.is_some()) {
        let window = i64::try_from(rule.window.as_micros()).unwrap_or(i64::MAX);
        let published = to_stored(item.published);
        let stmt = tx
            .prepare_cached(&format!(
                "{CANDIDATE} WHERE dedup_title = $1 AND published BETWEEN $2 AND $3 \
                 AND source_id <> $4 ORDER BY first_seen, id LIMIT $5"
            ))
            .await?;
        let rows = tx
            .query(
                &stmt,
                &[
                    title,
                    &published.saturating_sub(window),
                    &published.saturating_add(window),
                    &source.id,
                    &MAX_CANDIDATES,
                ],
            )
            .await?;
        for row in rows {
            by_title.push(candidate_row(&row)?);
        }
    }
    let verdict = judge(
        &source.id,
        fingerprint,
        &candidates(by_link),
        &candidates(by_title),
        rule,
    );
    Ok(verdict)
}

/// What an edit of the stored `item` leaves of its duplicate link.
pub(super) async fn judge_edit(
    tx: &impl GenericClient,
    item: &Item,
    rule: &DedupRule,
) -> Result<(Option<Fingerprint>, Option<Verdict>), StoreError> {
    let fingerprint = rule.fingerprint.then(|| Fingerprint::of(item));
    let current = current_verdict(tx, item.id.as_str()).await?;
    let original = match &current {
        Some(verdict) => stored_fingerprint(tx, verdict.of.as_str()).await?,
        None => None,
    };
    let verdict = after_edit(current, fingerprint.as_ref(), original, rule);
    Ok((fingerprint, verdict))
}

async fn current_verdict(
    client: &impl GenericClient,
    id: &str,
) -> Result<Option<Verdict>, StoreError> {
    let stmt = client
        .prepare_cached(
            "SELECT duplicate_of, duplicate_source, duplicate_reason FROM items WHERE id = $1",
        )
        .await?;
    match client.query_opt(&stmt, &[&id]).await? {
        Some(row) => Ok(verdict_from(col(&row, 0)?, col(&row, 1)?, col(&row, 2)?)),
        None => Ok(None),
    }
}

async fn stored_fingerprint(
    tx: &impl GenericClient,
    id: &str,
) -> Result<Option<Fingerprint>, StoreError> {
    let stmt = tx
        .prepare_cached(
            "SELECT dedup_link, dedup_guid, dedup_title, dedup_signature FROM items WHERE id = $1",
        )
        .await?;
    tx.query_opt(&stmt, &[&id])
        .await?
        .map(|row| {
            Ok(Fingerprint {
                link: col(&row, 0)?,
                guid_link: col(&row, 1)?,
                title: col(&row, 2)?,
                signature: col(&row, 3)?,
            })
        })
        .transpose()
}

fn candidate_row(row: &Row) -> Result<CandidateRow, StoreError> {
    Ok((
        col(row, 0)?,
        col(row, 1)?,
        col(row, 2)?,
        col(row, 3)?,
        col(row, 4)?,
        col(row, 5)?,
    ))
}

/// The duplicates of each of `ids`, first stored first, in one read
/// through `items_by_duplicate_of`.
pub(super) async fn also_in(
    client: &impl GenericClient,
    ids: &[&str],
) -> Result<BTreeMap<ItemId, Vec<AlsoIn>>, StoreError> {
    let mut map: BTreeMap<ItemId, Vec<AlsoIn>> = BTreeMap::new();
    if ids.is_empty() {
        return Ok(map);
    }
    let stmt = client
        .prepare_cached(
            "SELECT duplicate_of, id, source_id, source_name, source_url, duplicate_reason
             FROM items WHERE duplicate_of = ANY($1) ORDER BY first_seen, id",
        )
        .await?;
    for row in client.query(&stmt, &[&ids]).await? {
        let of: String = col(&row, 0)?;
        map.entry(ItemId::from_stored(of))
            .or_default()
            .push(AlsoIn {
                id: ItemId::from_stored(col(&row, 1)?),
                source: SourceRef {
                    id: col(&row, 2)?,
                    name: col(&row, 3)?,
                    url: col(&row, 4)?,
                },
                reason: col::<Option<String>>(&row, 5)?.unwrap_or_default(),
            });
    }
    Ok(map)
}

impl Postgres {
    pub(super) async fn read_duplication(&self, id: &str) -> Result<Duplication, StoreError> {
        let conn = self.conn().await?;
        let duplicate_of = current_verdict(&conn, id).await?;
        let duplicates = also_in(&conn, &[id])
            .await?
            .into_values()
            .next()
            .unwrap_or_default();
        Ok(Duplication {
            duplicate_of,
            duplicates,
        })
    }

    pub(super) async fn read_duplicate_counts(&self) -> Result<Vec<DuplicateCount>, StoreError> {
        let conn = self.conn().await?;
        let stmt = conn
            .prepare_cached(
                "SELECT source_id, duplicate_source, COUNT(*) FROM items
                 WHERE duplicate_of IS NOT NULL
                 GROUP BY source_id, duplicate_source ORDER BY source_id, duplicate_source",
            )
            .await?;
        conn.query(&stmt, &[])
            .await?
            .iter()
            .map(|row| {
                let source_id: String = col(row, 0)?;
                let count: i64 = col(row, 2)?;
                Ok(DuplicateCount {
                    count: narrow(count, "items", &source_id, "duplicate_of")?,
                    of_source: col::<Option<String>>(row, 1)?.unwrap_or_default(),
                    source_id,
                })
            })
            .collect()
    }
}
