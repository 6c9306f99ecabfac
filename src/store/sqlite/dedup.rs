//! Cross-source duplicates on SQLite: the indexed lookups a new item's
//! write makes (`items_by_dedup_link`, `items_by_dedup_guid`,
//! `items_by_dedup_title`; migration step 5), and the reads of the feeds,
//! `/items/<id>` and `/status`. Its keys and verdict are written with the
//! item's row (`items::write_item`).

use super::Sqlite;
use crate::dedup::{AlsoIn, DedupRule, Fingerprint, Verdict, judge};
use crate::item::{Item, ItemId, SourceRef};
use crate::store::dedup::{CandidateRow, MAX_CANDIDATES, after_edit, candidates, verdict_from};
use crate::store::{DuplicateCount, Duplication, StoreError, narrow, to_stored};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::BTreeMap;

/// The columns a candidate lookup reads, as [`CandidateRow`].
const CANDIDATE: &str =
    "SELECT id, source_id, duplicate_of, duplicate_source, dedup_signature, first_seen FROM items";

/// The same-title lookup of [`judge_new`]: `?1` the title key, `?2`..`?3`
/// the window of publication dates, `?4` the new item's source, `?5` the
/// limit. Answered from `items_by_dedup_title` alone (schema step 9).
pub(super) fn title_candidates_sql() -> String {
    format!(
        "{CANDIDATE} WHERE dedup_title = ?1 AND published BETWEEN ?2 AND ?3 \
         AND source_id <> ?4 ORDER BY first_seen, id LIMIT ?5"
    )
}

/// Judges the new `item` of `source` under `rule`: its fingerprint (none
/// for a source out of dedup) and, when judged, its verdict.
/// `known` is its fingerprint when the caller made it already.
pub(super) fn judge_new(
    conn: &Connection,
    source: &SourceRef,
    item: &Item,
    rule: &DedupRule,
    known: Option<Fingerprint>,
) -> Result<(Option<Fingerprint>, Option<Verdict>), StoreError> {
    if !rule.fingerprint {
        return Ok((None, None));
    }
    let fingerprint = known.unwrap_or_else(|| Fingerprint::of(item));
    if !rule.judge {
        return Ok((Some(fingerprint), None));
    }
    let mut by_link = Vec::new();
    for key in fingerprint.links() {
        for column in ["dedup_link", "dedup_guid"] {
            let mut stmt = conn.prepare_cached(&format!(
                "{CANDIDATE} WHERE {column} = ?1 AND source_id <> ?2 \
                 ORDER BY first_seen, id LIMIT ?3"
            ))?;
            by_link.extend(
                stmt.query_map(params![key, source.id, MAX_CANDIDATES], candidate_row)?
                    .collect::<Result<Vec<_>, _>>()?,
            );
        }
    }
    let mut by_title = Vec::new();
    if let (Some(title), true) = (&fingerprint.title, fingerprint.signature.is_some()) {
        let window = i64::try_from(rule.window.as_micros()).unwrap_or(i64::MAX);
        let published = to_stored(item.published);
        let mut stmt = conn.prepare_cached(&title_candidates_sql())?;
        by_title = stmt
            .query_map(
                params![
                    title,
                    published.saturating_sub(window),
                    published.saturating_add(window),
                    source.id,
                    MAX_CANDIDATES
                ],
                candidate_row,
            )?
            .collect::<Result<Vec<_>, _>>()?;
    }
    let verdict = judge(
        &source.id,
        &fingerprint,
        &candidates(by_link),
        &candidates(by_title),
        rule,
    );
    Ok((Some(fingerprint), verdict))
}

/// What an edit of the stored `item` leaves of its duplicate link; `known`
/// is its fingerprint when the caller made it already.
pub(super) fn judge_edit(
    conn: &Connection,
    item: &Item,
    rule: &DedupRule,
    known: Option<Fingerprint>,
) -> Result<(Option<Fingerprint>, Option<Verdict>), StoreError> {
    let fingerprint = rule
        .fingerprint
        .then(|| known.unwrap_or_else(|| Fingerprint::of(item)));
    let current = conn
        .prepare_cached(
            "SELECT duplicate_of, duplicate_source, duplicate_reason FROM items WHERE id = ?1",
        )?
        .query_row([item.id.as_str()], |row| {
            Ok(verdict_from(row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .optional()?
        .flatten();
    let original = match &current {
        Some(verdict) => stored_fingerprint(conn, verdict.of.as_str())?,
        None => None,
    };
    let verdict = after_edit(current, fingerprint.as_ref(), original, rule);
    Ok((fingerprint, verdict))
}

/// The stored keys of item `id`, if it is stored.
fn stored_fingerprint(conn: &Connection, id: &str) -> Result<Option<Fingerprint>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT dedup_link, dedup_guid, dedup_title, dedup_signature FROM items WHERE id = ?1",
        )?
        .query_row([id], |row| {
            Ok(Fingerprint {
                link: row.get(0)?,
                guid_link: row.get(1)?,
                title: row.get(2)?,
                signature: row.get(3)?,
            })
        })
        .optional()?)
}

fn candidate_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<CandidateRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
    ))
}

/// The duplicates of each of `ids`, first stored first, through
/// `items_by_duplicate_of`.
pub(super) fn also_in(
    conn: &Connection,
    ids: impl Iterator<Item = ItemId>,
) -> Result<BTreeMap<ItemId, Vec<AlsoIn>>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, source_id, source_name, source_url, duplicate_reason FROM items
         WHERE duplicate_of = ?1 ORDER BY first_seen, id",
    )?;
    let mut map = BTreeMap::new();
    for id in ids {
        let found: Vec<AlsoIn> = stmt
            .query_map([id.as_str()], also_in_row)?
            .collect::<Result<_, _>>()?;
        if !found.is_empty() {
            map.insert(id, found);
        }
    }
    Ok(map)
}

fn also_in_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<AlsoIn> {
    Ok(AlsoIn {
        id: ItemId::from_stored(row.get(0)?),
        source: SourceRef {
            id: row.get(1)?,
            name: row.get(2)?,
            url: row.get(3)?,
        },
        reason: row.get::<_, Option<String>>(4)?.unwrap_or_default(),
    })
}

impl Sqlite {
    pub(super) fn read_duplication(&self, id: &str) -> Result<Duplication, StoreError> {
        let conn = self.reader()?;
        let duplicate_of = conn
            .prepare_cached(
                "SELECT duplicate_of, duplicate_source, duplicate_reason FROM items WHERE id = ?1",
            )?
            .query_row([id], |row| {
                Ok(verdict_from(row.get(0)?, row.get(1)?, row.get(2)?))
            })
            .optional()?
            .flatten();
        let duplicates = also_in(&conn, std::iter::once(ItemId::from_stored(id.to_owned())))?
            .into_values()
            .next()
            .unwrap_or_default();
        Ok(Duplication {
            duplicate_of,
            duplicates,
        })
    }

    pub(super) fn read_duplicate_counts(&self) -> Result<Vec<DuplicateCount>, StoreError> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(
            "SELECT source_id, duplicate_source, COUNT(*) FROM items
             WHERE duplicate_of IS NOT NULL
             GROUP BY source_id, duplicate_source ORDER BY source_id, duplicate_source",
        )?;
        let rows = stmt.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, Option<String>>(1)?,
                row.get::<_, i64>(2)?,
            ))
        })?;
        let mut counts = Vec::new();
        for row in rows {
            let (source_id, of_source, count) = row?;
            counts.push(DuplicateCount {
                count: narrow(count, "items", &source_id, "duplicate_of")?,
                source_id,
                of_source: of_source.unwrap_or_default(),
            });
        }
        Ok(counts)
    }
}
