//! The item rules both backends follow when they store a poll's items:
//! what becomes of one item given what is stored of it. Pure; each backend
//! reads the stored version, asks [`decide`], and writes what it says.

use super::{Retention, StoreError, from_stored, narrow, truncate};
use crate::item::{Item, SourceRef};
use chrono::{DateTime, TimeDelta, Utc};
use std::collections::{HashMap, HashSet};

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
    let content_hash = content_hash(item).into_owned();
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
/// are old (`None`: no age limit), and retired ids last listed before the
/// second are forgotten.
pub(super) fn prune_cutoffs(
    max_age: std::time::Duration,
    now: DateTime<Utc>,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    (
        age_cutoff(max_age, now),
        now.checked_sub_signed(RETIRED_TTL),
    )
}

/// Items published before this are older than `max_age` at `now`; `None`
/// when nothing is too old (`max_age` zero, or beyond chrono's range).
pub(super) fn age_cutoff(
    max_age: std::time::Duration,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    TimeDelta::from_std(max_age)
        .ok()
        .and_then(|age| now.checked_sub_signed(age))
        .filter(|_| !max_age.is_zero())
}

/// Which of a poll's new items retention turns away when it first sees
/// them: those published before the age cutoff that are not among the
/// source's newest `min_per_source` (the floor, kept whatever its age).
///
/// "Newest" is the merged feed's order (`published`, then id, both
/// descending), over what the source would hold after the poll: its stored
/// `newest` (at most `min_per_source` of them, as stored) and the poll's
/// items (`poll`, with the dates they would be stored with), an id in both
/// counting once, with the poll's date. An item retention remembers as
/// retired is not in `poll`: it holds no place.
#[derive(Debug)]
pub(super) struct FirstSeen {
    cutoff: Option<i64>,
    floor: HashSet<String>,
}

impl FirstSeen {
    /// Whether `retention` may turn away any of `poll`'s items at `now`:
    /// one is older than the cutoff. Only then does the floor need the
    /// source's newest stored items.
    pub(super) fn applies<'a>(
        retention: &Retention,
        now: DateTime<Utc>,
        mut poll: impl Iterator<Item = (i64, &'a str)>,
    ) -> bool {
        age_cutoff(retention.max_age, now)
            .map(super::to_stored)
            .is_some_and(|cutoff| poll.any(|(published, _)| published < cutoff))
    }

    /// The rule for one poll of one source at `now`: `poll` as
    /// `(published, id)`, and `stored_newest`, the source's newest
    /// `min_per_source` stored items (read when [`FirstSeen::applies`]).
    pub(super) fn new<'a>(
        retention: &Retention,
        now: DateTime<Utc>,
        poll: impl Iterator<Item = (i64, &'a str)>,
        stored_newest: Vec<(i64, String)>,
    ) -> FirstSeen {
        let cutoff = age_cutoff(retention.max_age, now).map(super::to_stored);
        let n = retention.min_per_source;
        let floor = if cutoff.is_none() || n == 0 {
            HashSet::new()
        } else {
            let mut dates: HashMap<String, i64> = stored_newest
                .into_iter()
                .map(|(published, id)| (id, published))
                .collect();
            for (published, id) in poll {
                dates.insert(id.to_owned(), published);
            }
            let mut ranked: Vec<(i64, String)> = dates
                .into_iter()
                .map(|(id, published)| (published, id))
                .collect();
            // Newest first, the id breaking ties downwards: the merged feed's order.
            ranked.sort_unstable_by(|a, b| b.cmp(a));
            ranked.into_iter().take(n).map(|(_, id)| id).collect()
        };
        FirstSeen { cutoff, floor }
    }

    /// Whether a new item `id`, to be stored as published at `published`,
    /// is turned away: too old, and below the floor.
    pub(super) fn turns_away(&self, id: &str, published: i64) -> bool {
        self.cutoff
            .is_some_and(|cutoff| published < cutoff && !self.floor.contains(id))
    }
}

/// The date an item of a poll is stored with, as [`decide`] has it: a
/// new item's own; a stored one's own when it changed and the source dated
/// it, else the one stored before. Unix microseconds.
pub(super) fn stored_date(item: &Item, stored: Option<&StoredVersion>) -> i64 {
    match stored {
        Some(old) if !item.published_from_source || content_hash(item) == old.content_hash => {
            old.published
        }
        _ => super::to_stored(truncate(item.published)),
    }
}

/// The item's content hash: its own, or computed when it has none.
pub(super) fn content_hash(item: &Item) -> std::borrow::Cow<'_, str> {
    if item.content_hash.is_empty() {
        std::borrow::Cow::Owned(item.compute_content_hash())
    } else {
        std::borrow::Cow::Borrowed(&item.content_hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const DAY: i64 = 86_400_000_000;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp_micros(100 * DAY).unwrap()
    }

    fn ten_days(min: usize) -> Retention {
        Retention {
            max_age: Duration::from_secs(10 * 86_400),
            min_per_source: min,
            max_per_source: 0,
        }
    }

    fn rule(min: usize, poll: &[(i64, &str)], stored: &[(i64, &str)]) -> FirstSeen {
        let stored = stored
            .iter()
            .take(min)
            .map(|(p, id)| (*p, (*id).to_owned()))
            .collect();
        FirstSeen::new(&ten_days(min), now(), poll.iter().copied(), stored)
    }

    #[test]
    fn old_new_items_below_the_newest_n_are_turned_away() {
        let poll = [
            (95 * DAY, "fresh"),
            (50 * DAY, "b"),
            (40 * DAY, "c"),
            (30 * DAY, "d"),
        ];
        assert!(FirstSeen::applies(
            &ten_days(2),
            now(),
            poll.iter().copied()
        ));
        let r = rule(2, &poll, &[]);
        assert!(!r.turns_away("fresh", 95 * DAY), "within max_age");
        assert!(!r.turns_away("b", 50 * DAY), "second newest: the floor");
        assert!(r.turns_away("c", 40 * DAY));
        assert!(r.turns_away("d", 30 * DAY));
    }

    #[test]
    fn stored_items_take_their_places_in_the_floor() {
        let poll = [(50 * DAY, "b"), (40 * DAY, "c")];
        let r = rule(2, &poll, &[(60 * DAY, "x"), (55 * DAY, "y")]);
        assert!(r.turns_away("b", 50 * DAY), "two stored ones are newer");
        let r = rule(2, &poll, &[(45 * DAY, "x")]);
        assert!(!r.turns_away("b", 50 * DAY));
        assert!(r.turns_away("c", 40 * DAY), "x is newer");
        // A stored item listed again counts once, with the poll's date.
        let r = rule(
            2,
            &[(50 * DAY, "b"), (40 * DAY, "c"), (30 * DAY, "x")],
            &[(60 * DAY, "x")],
        );
        assert!(!r.turns_away("c", 40 * DAY));
    }

    #[test]
    fn a_tie_breaks_by_id_as_the_feed_orders() {
        let poll = [(50 * DAY, "a"), (50 * DAY, "b")];
        let r = rule(1, &poll, &[]);
        assert!(!r.turns_away("b", 50 * DAY));
        assert!(r.turns_away("a", 50 * DAY));
    }

    #[test]
    fn no_floor_turns_every_old_one_away_and_no_age_limit_none() {
        let poll = [(50 * DAY, "b")];
        assert!(rule(0, &poll, &[]).turns_away("b", 50 * DAY));
        let fresh = [(95 * DAY, "f")];
        assert!(!FirstSeen::applies(
            &ten_days(2),
            now(),
            fresh.iter().copied()
        ));
        let keep_all = Retention::default();
        assert!(!FirstSeen::applies(&keep_all, now(), poll.iter().copied()));
        let r = FirstSeen::new(&keep_all, now(), poll.iter().copied(), Vec::new());
        assert!(!r.turns_away("b", 0));
    }
}
