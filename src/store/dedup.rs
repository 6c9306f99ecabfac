//! The duplicate rules as both backends apply them inside an item's write
//! (the rules themselves are `src/dedup.rs`'s): what a new item is judged,
//! and what an edit leaves of a duplicate's link. Each backend's
//! `dedup.rs` has the indexed lookups and the writes.

use crate::dedup::{Candidate, DedupRule, Fingerprint, Verdict, still_same};
use crate::item::ItemId;

/// At most this many stored items sharing a key are read for one new
/// item: a story is rarely carried by more sources, and a key shared by
/// more (a generic link) need not cost more.
pub(super) const MAX_CANDIDATES: i64 = 50;

/// One row of a candidate lookup: `(id, source_id, duplicate_of,
/// duplicate_source, dedup_signature, first_seen)`.
pub(super) type CandidateRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<Vec<u8>>,
    i64,
);

/// The rows of one or more lookups as candidates, first stored first (the
/// id breaking ties), each once.
pub(super) fn candidates(mut rows: Vec<CandidateRow>) -> Vec<Candidate> {
    rows.sort_by(|a, b| (a.5, &a.0).cmp(&(b.5, &b.0)));
    rows.dedup_by(|a, b| a.0 == b.0);
    rows.into_iter()
        .map(|(id, source_id, of, of_source, signature, _)| Candidate {
            id: ItemId::from_stored(id),
            source_id,
            original: of
                .zip(of_source)
                .map(|(of, s)| (ItemId::from_stored(of), s)),
            signature,
        })
        .collect()
}

/// What stays of a stored item's duplicate link (`current`) after an edit
/// whose fingerprint is `edited`: the link while the edit still matches
/// the original (`original`, its stored fingerprint; `None` when retention
/// removed it, which leaves the link as it was), else nothing. A source
/// that left dedup (`edited` is `None`) keeps no link.
pub(super) fn after_edit(
    current: Option<Verdict>,
    edited: Option<&Fingerprint>,
    original: Option<Fingerprint>,
    rule: &DedupRule,
) -> Option<Verdict> {
    let current = current?;
    let edited = edited?;
    match original {
        Some(original) if !still_same(edited, &original, rule) => None,
        _ => Some(current),
    }
}

/// A verdict read back from its three columns; `None` unless all are set.
pub(super) fn verdict_from(
    of: Option<String>,
    of_source: Option<String>,
    reason: Option<String>,
) -> Option<Verdict> {
    Some(Verdict {
        of: ItemId::from_stored(of?),
        of_source: of_source?,
        reason: reason?,
    })
}
