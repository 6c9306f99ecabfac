//! The item rules both backends follow when they store a poll's items:
//! what becomes of one item given what is stored of it. Pure; each backend
//! reads the stored version, asks [`decide`], and writes what it says.

use super::{StoreError, from_stored, narrow, truncate};
use crate::item::{Item, SourceRef};
use chrono::{DateTime, TimeDelta, Utc};

/// How long the id of a pruned item is remembered after the source last
/// listed it. While remembered, the item is not stored or published again;
/// an item that comes back after that is treated as new. A year covers any
/// feed that keeps old items around, and the rows are small.
pub(super) const RETIRED_TTL: TimeDelta = TimeDelta::days(365);

/// What an item write needs to know of the version already stored.
#[derive(Debug, Clone)]
pub(super) struct StoredVersion {
    pub(super) revision: i64,
    pub(super) content_hash: String,
    /// Unix microseconds, as stored.
    pub(super) published: i64,
    pub(super) published_from_source: bool,
}

/// What becomes of one item of a poll.
#[derive(Debug)]
pub(super) enum Decision {
    /// Stored and the same: only its last-seen time moves.
    Unchanged,
    /// Never seen: store it as revision 1, with an `item.new` message.
    New(Item),
    /// Stored with another content hash: store this next revision, with an
    /// `item.updated` message.
    Updated(Item),
}

/// What becomes of `item` of `source`, stored as `stored` (if at all).
///
/// The stored item's source is `source`, its times are cut to whole
/// microseconds, its hash is computed when the item has none, and an
/// undated version keeps the date stored before it.
pub(super) fn decide(
    source: &SourceRef,
    item: &Item,
    stored: Option<StoredVersion>,
) -> Result<Decision, StoreError> {
    let content_hash = if item.content_hash.is_empty() {
        item.compute_content_hash()
    } else {
        item.content_hash.clone()
    };
    let Some(old) = stored else {
        return Ok(Decision::New(Item {
            source: source.clone(),
            published: truncate(item.published),
            updated: item.updated.map(truncate),
            revision: 1,
            content_hash,
            ..item.clone()
        }));
    };
    if old.content_hash == content_hash {
        return Ok(Decision::Unchanged);
    }
    let key = item.id.as_str();
    let revision = narrow::<u32>(old.revision, "items", key, "revision")?
        .checked_add(1)
        .ok_or_else(|| StoreError::BadValue {
            table: "items",
            key: key.to_owned(),
            column: "revision",
            reason: "no revision number is left".to_owned(),
        })?;
    // A dated version sets the date; an undated one keeps whatever is
    // stored, which is either the source's own date from an earlier poll
    // or the first-seen time.
    let (published, published_from_source) = if item.published_from_source {
        (truncate(item.published), true)
    } else {
        (
            from_stored(old.published, "items", key, "published")?,
            old.published_from_source,
        )
    };
    Ok(Decision::Updated(Item {
        source: source.clone(),
        published,
        published_from_source,
        updated: item.updated.map(truncate),
        revision,
        content_hash,
        ..item.clone()
    }))
}

/// The times retention cuts at `now`: items published before the first
/// are deleted (`None`: no age limit), and retired ids last listed before
/// the second are forgotten.
pub(super) fn prune_cutoffs(
    max_age: std::time::Duration,
    now: DateTime<Utc>,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    // A max_age too large for chrono's range leaves no cutoff: nothing
    // can be that old.
    let cutoff = TimeDelta::from_std(max_age)
        .ok()
        .and_then(|age| now.checked_sub_signed(age))
        .filter(|_| !max_age.is_zero());
    (cutoff, now.checked_sub_signed(RETIRED_TTL))
}
