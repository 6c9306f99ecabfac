//! Store tests, each on a fresh file in its own temporary folder.

use super::*;
use crate::fetch::FetchState;
use crate::item::{Item, ItemId, SourceRef};
use chrono::TimeZone;
use std::sync::atomic::{AtomicBool, Ordering};

fn ifla() -> SourceRef {
    SourceRef {
        id: "ifla-news".into(),
        name: "IFLA News".into(),
        url: "https://www.ifla.org/news/feed/".into(),
    }
}

fn other() -> SourceRef {
    SourceRef {
        id: "nlc-news".into(),
        name: "NLC News".into(),
        url: "https://www.nlc.cn/news/".into(),
    }
}

/// 2024-01-01 plus `days` days and `secs` seconds.
fn at(days: i64, secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()
        + TimeDelta::days(days)
        + TimeDelta::seconds(secs)
}

use chrono::TimeDelta;

/// A dated item of `source` with every field filled.
fn item(source: &SourceRef, key: &str, title: &str, published: DateTime<Utc>) -> Item {
    let mut item = Item {
        id: ItemId::derive(&source.id, key),
        source: source.clone(),
        guid: key.into(),
        url: Some(format!("https://example.org/news/{key}")),
        title: title.into(),
        summary: format!("Summary of {title}"),
        content_html: Some(format!("<p>{title}</p>")),
        authors: vec!["IFLA Secretariat".into()],
        categories: vec!["Libraries".into(), "Events".into()],
        language: Some("en".into()),
        published,
        updated: Some(published + TimeDelta::hours(1)),
        revision: 1,
        published_from_source: true,
        content_hash: String::new(),
    };
    item.content_hash = item.compute_content_hash();
    item
}

/// An item without a date of its own: normalize stamps it with `seen`.
fn undated(source: &SourceRef, key: &str, title: &str, seen: DateTime<Utc>) -> Item {
    let mut item = item(source, key, title, seen);
    item.published_from_source = false;
    item.updated = None;
    item
}

fn retitled(mut item: Item, title: &str) -> Item {
    item.title = title.into();
    item.content_hash = item.compute_content_hash();
    item
}

/// The steps of [`Store::record_poll`] one at a time, on the writer, for
/// the tests of each step's rule.
impl Store {
    fn record_success(
        &self,
        source_id: &str,
        url: &str,
        state: &FetchState,
        next_poll: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sources::record_success(&self.writer(), source_id, url, state, next_poll, now)
    }

    fn record_failure(
        &self,
        source_id: &str,
        url: &str,
        error: &str,
        next_poll: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u32, StoreError> {
        sources::record_failure(&self.writer(), source_id, url, error, next_poll, now)
            .map(|(failures, _)| failures)
    }

    fn mark_gone(&self, source_id: &str) -> Result<(), StoreError> {
        sources::mark_gone(&self.writer(), source_id)
    }

    fn record_page_yield(
        &self,
        source_id: &str,
        url: &str,
        baseline: Option<u64>,
        warning: Option<&str>,
    ) -> Result<(), StoreError> {
        sources::record_page_yield(&self.writer(), source_id, url, baseline, warning)
    }
}

fn open_temp() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store.db")).unwrap();
    (dir, store)
}

fn body_json(message: &OutboxMessage) -> serde_json::Value {
    serde_json::from_slice(&message.body).expect("outbox body is JSON")
}

fn all_pending(store: &Store) -> Vec<OutboxMessage> {
    store.outbox_pending(0, 10_000).unwrap()
}

#[test]
fn store_is_send_sync_and_clone() {
    fn assert_traits<T: Send + Sync + Clone + 'static>() {}
    assert_traits::<Store>();
}

#[test]
fn open_creates_folders_and_sets_up_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a").join("b").join("store.db");
    let store = Store::open(&path).unwrap();
    assert!(path.is_file());
    assert_eq!(store.path(), path);

    let conn = store.writer();
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let fk: bool = conn
        .pragma_query_value(None, "foreign_keys", |r| r.get(0))
        .unwrap();
    assert!(fk);
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, schema::current_version());
}

#[test]
fn open_refuses_a_schema_from_the_future() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    drop(Store::open(&path).unwrap());
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();

    let err = Store::open(&path).unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaTooNew { found: 99, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("store.db"), "{err}");
}

#[test]
fn open_names_the_file_that_is_not_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.db");
    std::fs::write(&path, vec![b'x'; 4096]).unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    assert!(err.to_string().contains("notes.db"), "{err}");
}

#[test]
fn first_apply_stores_items_and_queues_one_new_message_each() {
    let (_dir, store) = open_temp();
    let now = at(10, 0);
    let items = vec![
        item(&ifla(), "a", "WLIC 2024", at(1, 0)),
        item(&ifla(), "b", "New section chairs", at(2, 0)),
        item(&ifla(), "c", "Annual report", at(3, 0)),
    ];

    let outcome = store.apply_items(&ifla(), &items, now).unwrap();
    assert_eq!(
        outcome,
        ApplyOutcome {
            new: 3,
            updated: 0,
            unchanged: 0
        }
    );

    let pending = all_pending(&store);
    assert_eq!(pending.len(), 3);
    for (message, item) in pending.iter().zip(&items) {
        assert_eq!(message.routing_key, "item.new.ifla-news");
        assert_eq!(message.event_id, item.id.as_str());
        assert_eq!(message.created_at, now);
        let body = body_json(message);
        assert_eq!(body["id"], item.id.as_str());
        assert_eq!(body["type"], "org.librarywire.item.new");
        assert_eq!(body["data"]["revision"], 1);
        assert_eq!(body["data"]["title"], item.title.as_str());

        // The event carries the item exactly as stored.
        let stored = store.item(item.id.as_str()).unwrap().expect("stored");
        let mut carried: Item = serde_json::from_value(body["data"].clone()).unwrap();
        carried.published_from_source = stored.published_from_source;
        carried.content_hash = stored.content_hash.clone();
        assert_eq!(carried, stored);
        // And what is stored is what was given, with revision 1.
        assert_eq!(&stored, item);
    }
}

#[test]
fn the_same_items_again_are_unchanged_and_queue_nothing() {
    let (_dir, store) = open_temp();
    let items = vec![
        item(&ifla(), "a", "One", at(1, 0)),
        item(&ifla(), "b", "Two", at(2, 0)),
    ];
    store.apply_items(&ifla(), &items, at(10, 0)).unwrap();

    let outcome = store.apply_items(&ifla(), &items, at(11, 0)).unwrap();
    assert_eq!(
        outcome,
        ApplyOutcome {
            new: 0,
            updated: 0,
            unchanged: 2
        }
    );
    assert_eq!(all_pending(&store).len(), 2);
    assert_eq!(store.revisions(items[0].id.as_str()).unwrap().len(), 1);
}

#[test]
fn an_edited_title_makes_revision_two_and_one_updated_message() {
    let (_dir, store) = open_temp();
    let first = item(&ifla(), "a", "WLIC 2024", at(1, 0));
    let untouched = item(&ifla(), "b", "Other", at(2, 0));
    store
        .apply_items(&ifla(), &[first.clone(), untouched.clone()], at(10, 0))
        .unwrap();
    let before = all_pending(&store);

    let edited = retitled(first.clone(), "WLIC 2024 in Dubai");
    let outcome = store
        .apply_items(&ifla(), &[edited.clone(), untouched], at(11, 0))
        .unwrap();
    assert_eq!(
        outcome,
        ApplyOutcome {
            new: 0,
            updated: 1,
            unchanged: 1
        }
    );

    let pending = all_pending(&store);
    assert_eq!(pending.len(), before.len() + 1);
    let message = pending.last().unwrap();
    assert_eq!(message.routing_key, "item.updated.ifla-news");
    assert_eq!(message.event_id, format!("{}-r2", first.id));
    let body = body_json(message);
    assert_eq!(body["type"], "org.librarywire.item.updated");
    assert_eq!(body["data"]["revision"], 2);
    assert_eq!(body["data"]["title"], "WLIC 2024 in Dubai");

    let stored = store.item(first.id.as_str()).unwrap().unwrap();
    assert_eq!(stored.revision, 2);
    assert_eq!(stored.title, "WLIC 2024 in Dubai");
    assert_eq!(stored.content_hash, edited.content_hash);

    let revisions = store.revisions(first.id.as_str()).unwrap();
    assert_eq!(
        revisions,
        vec![
            Revision {
                revision: 1,
                content_hash: first.content_hash.clone(),
                recorded_at: at(10, 0),
            },
            Revision {
                revision: 2,
                content_hash: edited.content_hash.clone(),
                recorded_at: at(11, 0),
            },
        ]
    );
}

#[test]
fn an_undated_item_keeps_its_first_seen_time() {
    let (_dir, store) = open_temp();
    // Sub-microsecond precision is cut before storing, so the event and the
    // read-back agree.
    let first_seen = at(10, 0) + TimeDelta::nanoseconds(123_456_789);
    let kept = truncate(first_seen);
    store
        .apply_items(
            &ifla(),
            &[undated(&ifla(), "u", "Notice", first_seen)],
            first_seen,
        )
        .unwrap();

    // Seen again a day later: normalize stamps it with the later time.
    let later = at(11, 0);
    let outcome = store
        .apply_items(&ifla(), &[undated(&ifla(), "u", "Notice", later)], later)
        .unwrap();
    assert_eq!(outcome.unchanged, 1);
    let stored = store
        .item(ItemId::derive("ifla-news", "u").as_str())
        .unwrap()
        .unwrap();
    assert_eq!(stored.published, kept);
    assert!(!stored.published_from_source);

    // Edited a day after that: still the first-seen time, in storage and event.
    let latest = at(12, 0);
    let edited = retitled(undated(&ifla(), "u", "Notice", latest), "Notice, corrected");
    let outcome = store.apply_items(&ifla(), &[edited], latest).unwrap();
    assert_eq!(outcome.updated, 1);
    let stored = store
        .item(ItemId::derive("ifla-news", "u").as_str())
        .unwrap()
        .unwrap();
    assert_eq!(stored.published, kept);
    assert_eq!(stored.revision, 2);
    let event = body_json(all_pending(&store).last().unwrap());
    assert_eq!(
        event["data"]["published"],
        serde_json::to_value(kept).unwrap()
    );
    assert_eq!(event["data"]["revision"], 2);
}

#[test]
fn a_dated_edit_moves_the_date() {
    let (_dir, store) = open_temp();
    let first = item(&ifla(), "a", "One", at(1, 0));
    store
        .apply_items(&ifla(), std::slice::from_ref(&first), at(10, 0))
        .unwrap();
    let mut edited = retitled(first.clone(), "One, revised");
    edited.published = at(2, 0);
    store.apply_items(&ifla(), &[edited], at(11, 0)).unwrap();
    let stored = store.item(first.id.as_str()).unwrap().unwrap();
    assert_eq!(stored.published, at(2, 0));
    assert!(stored.published_from_source);
}

#[test]
fn the_source_argument_is_the_stored_source_and_a_missing_hash_is_computed() {
    let (_dir, store) = open_temp();
    let mut given = item(&ifla(), "a", "One", at(1, 0));
    given.source.name = "stale name".into();
    given.content_hash = String::new();
    given.revision = 7;
    store
        .apply_items(&ifla(), &[given.clone()], at(10, 0))
        .unwrap();

    let stored = store.item(given.id.as_str()).unwrap().unwrap();
    assert_eq!(stored.source, ifla());
    assert_eq!(stored.revision, 1);
    assert_eq!(stored.content_hash, given.compute_content_hash());
    let event = body_json(&all_pending(&store)[0]);
    assert_eq!(event["data"]["source"]["name"], "IFLA News");
}

#[test]
fn an_id_listed_twice_in_one_poll_counts_once() {
    let (_dir, store) = open_temp();
    let a = item(&ifla(), "a", "First copy", at(1, 0));
    let a_again = retitled(a.clone(), "Second copy");
    let poll = [a.clone(), a_again];

    let outcome = store.apply_items(&ifla(), &poll, at(10, 0)).unwrap();
    assert_eq!(outcome.new, 1);
    assert_eq!(outcome.updated, 0);
    // The next identical poll must not flip between the two copies.
    let outcome = store.apply_items(&ifla(), &poll, at(11, 0)).unwrap();
    assert_eq!(outcome.unchanged, 1);
    assert_eq!(outcome.updated, 0);
    assert_eq!(all_pending(&store).len(), 1);
    assert_eq!(
        store.item(a.id.as_str()).unwrap().unwrap().title,
        "First copy"
    );
}

#[test]
fn a_reopened_store_has_the_same_items_and_publishes_nothing_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let items = [
        item(&ifla(), "a", "One", at(1, 0)),
        item(&ifla(), "b", "Two", at(3, 0)),
        undated(&other(), "c", "Three", at(2, 0)),
    ];
    let before = {
        let store = Store::open(&path).unwrap();
        store.apply_items(&ifla(), &items[..2], at(10, 0)).unwrap();
        store.apply_items(&other(), &items[2..], at(2, 0)).unwrap();
        store.newest_items(10).unwrap()
    };

    let store = Store::open(&path).unwrap();
    let after = store.newest_items(10).unwrap();
    assert_eq!(after, before);
    assert_eq!(after.len(), 3);
    assert_eq!(all_pending(&store).len(), 3);

    let a = store.apply_items(&ifla(), &items[..2], at(20, 0)).unwrap();
    let b = store.apply_items(&other(), &items[2..], at(20, 0)).unwrap();
    assert_eq!(a.new + a.updated + b.new + b.updated, 0);
    assert_eq!(all_pending(&store).len(), 3);
}

#[test]
fn newest_items_are_newest_first_with_a_stable_tie_break_and_a_limit() {
    let (_dir, store) = open_temp();
    let tie_1 = item(&ifla(), "t1", "Tie one", at(5, 0));
    let tie_2 = item(&other(), "t2", "Tie two", at(5, 0));
    store
        .apply_items(
            &ifla(),
            &[
                item(&ifla(), "old", "Old", at(1, 0)),
                tie_1.clone(),
                item(&ifla(), "new", "New", at(9, 0)),
            ],
            at(10, 0),
        )
        .unwrap();
    store
        .apply_items(
            &other(),
            &[item(&other(), "mid", "Mid", at(3, 0)), tie_2.clone()],
            at(10, 0),
        )
        .unwrap();

    let titles: Vec<String> = store
        .newest_items(10)
        .unwrap()
        .into_iter()
        .map(|i| i.title)
        .collect();
    let (first_tie, second_tie) = if tie_1.id > tie_2.id {
        ("Tie one", "Tie two")
    } else {
        ("Tie two", "Tie one")
    };
    assert_eq!(titles, ["New", first_tie, second_tie, "Mid", "Old"]);

    let top: Vec<String> = store
        .newest_items(2)
        .unwrap()
        .into_iter()
        .map(|i| i.title)
        .collect();
    assert_eq!(top, ["New", first_tie]);
    assert!(store.newest_items(0).unwrap().is_empty());
}

#[test]
fn newest_items_reads_an_index_instead_of_sorting() {
    let (_dir, store) = open_temp();
    let conn = store.reader().unwrap();
    let mut stmt = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {}", items::newest_items_sql()))
        .unwrap();
    let plan: Vec<String> = stmt
        .query_map([10], |row| row.get::<_, String>(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let plan = plan.join("\n");
    assert!(plan.contains("items_by_published"), "{plan}");
    assert!(!plan.contains("TEMP B-TREE"), "{plan}");
}

#[test]
fn prune_by_age_removes_old_items_and_their_revisions_but_not_messages() {
    let (_dir, store) = open_temp();
    let now = at(500, 0);
    let fresh = item(&ifla(), "fresh", "Fresh", at(490, 0));
    let old = item(&ifla(), "old", "Old", at(100, 0));
    store
        .apply_items(&ifla(), &[fresh.clone(), old.clone()], now)
        .unwrap();
    store
        .apply_items(&ifla(), &[retitled(old.clone(), "Old, edited")], now)
        .unwrap();
    assert_eq!(all_pending(&store).len(), 3);
    let mut changes = store.subscribe();
    changes.mark_unchanged();

    let removed = store
        .prune(Duration::from_secs(365 * 24 * 3600), 0, now)
        .unwrap();
    assert_eq!(removed, 1);
    assert!(store.item(old.id.as_str()).unwrap().is_none());
    assert!(store.revisions(old.id.as_str()).unwrap().is_empty());
    assert!(store.item(fresh.id.as_str()).unwrap().is_some());
    assert_eq!(all_pending(&store).len(), 3, "outbox rows survive prune");
    assert!(changes.has_changed().unwrap());

    changes.mark_unchanged();
    assert_eq!(
        store
            .prune(Duration::from_secs(365 * 24 * 3600), 0, now)
            .unwrap(),
        0
    );
    assert!(!changes.has_changed().unwrap());
    // Zero keeps everything, however old.
    assert_eq!(store.prune(Duration::ZERO, 0, at(100_000, 0)).unwrap(), 0);
    assert_eq!(store.newest_items(10).unwrap().len(), 1);
}

#[test]
fn prune_by_count_keeps_the_newest_of_each_source() {
    let (_dir, store) = open_temp();
    let ifla_items: Vec<Item> = (0..5)
        .map(|n| item(&ifla(), &format!("i{n}"), &format!("IFLA {n}"), at(n, 0)))
        .collect();
    let other_items: Vec<Item> = (0..2)
        .map(|n| item(&other(), &format!("o{n}"), &format!("NLC {n}"), at(n, 0)))
        .collect();
    store.apply_items(&ifla(), &ifla_items, at(10, 0)).unwrap();
    store
        .apply_items(&other(), &other_items, at(10, 0))
        .unwrap();

    assert_eq!(store.prune(Duration::ZERO, 3, at(10, 0)).unwrap(), 2);
    let left: Vec<String> = store
        .newest_items(100)
        .unwrap()
        .into_iter()
        .map(|i| i.title)
        .collect();
    assert_eq!(left, ["IFLA 4", "IFLA 3", "IFLA 2", "NLC 1", "NLC 0"]);
    assert_eq!(
        store
            .source_status("ifla-news")
            .unwrap()
            .unwrap()
            .item_count,
        3
    );
    assert_eq!(
        store.source_status("nlc-news").unwrap().unwrap().item_count,
        2
    );
    assert_eq!(all_pending(&store).len(), 7);
}

#[test]
fn a_pruned_item_still_in_the_feed_is_not_new_again() {
    let (_dir, store) = open_temp();
    let now = at(500, 0);
    let poll = vec![
        item(&ifla(), "fresh", "Fresh", at(490, 0)),
        item(&ifla(), "ancient", "Ancient", at(1, 0)),
    ];
    store.apply_items(&ifla(), &poll, now).unwrap();
    assert_eq!(
        store
            .prune(Duration::from_secs(30 * 24 * 3600), 0, now)
            .unwrap(),
        1
    );

    let outcome = store.apply_items(&ifla(), &poll, at(501, 0)).unwrap();
    assert_eq!(
        outcome,
        ApplyOutcome {
            new: 0,
            updated: 0,
            unchanged: 2
        }
    );
    assert_eq!(all_pending(&store).len(), 2);
    assert_eq!(store.newest_items(10).unwrap().len(), 1);
}

/// The memory of a retired id lasts a year after the source last listed
/// it, not after it was retired: a feed that keeps listing an old item
/// keeps it remembered, so it never comes back as new.
#[test]
fn a_retired_id_still_listed_is_remembered_past_a_year() {
    let (_dir, store) = open_temp();
    let max_age = Duration::from_secs(30 * 24 * 3600);
    let ancient = vec![item(&ifla(), "ancient", "Ancient", at(1, 0))];
    let new_ones = |outcome: ApplyOutcome| outcome.new;

    store.apply_items(&ifla(), &ancient, at(10, 0)).unwrap();
    assert_eq!(store.prune(max_age, 0, at(50, 0)).unwrap(), 1);
    // Still listed, every few months, for well over a year after it was
    // retired on day 50 (its last listing before that was day 10).
    for day in [200, 350, 500, 700] {
        let outcome = store.apply_items(&ifla(), &ancient, at(day, 0)).unwrap();
        assert_eq!(new_ones(outcome), 0, "day {day}: still remembered");
        store.prune(max_age, 0, at(day, 60)).unwrap();
    }
    assert_eq!(all_pending(&store).len(), 1, "only the first time was news");
    assert!(store.newest_items(10).unwrap().is_empty());

    // Not listed for over a year: forgotten, so it is news once more.
    store.prune(max_age, 0, at(1100, 0)).unwrap();
    let outcome = store.apply_items(&ifla(), &ancient, at(1101, 0)).unwrap();
    assert_eq!(
        new_ones(outcome),
        1,
        "forgotten a year after it was last listed"
    );
}

/// A finished poll goes to the store in one call: items, their messages,
/// the page yield and the source's new state together.
#[test]
fn record_poll_stores_a_whole_success_or_failure() {
    let (_dir, store) = open_temp();
    let state = FetchState {
        etag: Some("\"v1\"".into()),
        ..FetchState::default()
    };
    let success = PollRecord {
        source: ifla(),
        url: "https://www.ifla.org/feed/".into(),
        started: at(1, 0),
        finished: at(1, 2),
        next_poll: at(1, 600),
        outcome: PollOutcome::Success {
            state: state.clone(),
            items: vec![
                item(&ifla(), "a", "First", at(0, 0)),
                item(&ifla(), "b", "Second", at(0, 60)),
            ],
            page_yield: Some(PageYield {
                baseline: Some(2),
                warning: Some("selectors may be stale: x".into()),
            }),
        },
    };
    let mut changes = store.subscribe();
    let recorded = store.record_poll(&success).unwrap();
    assert_eq!(recorded.applied.new, 2);
    assert_eq!(
        (recorded.consecutive_failures, recorded.failing_since),
        (0, None)
    );
    assert!(
        changes.has_changed().unwrap(),
        "subscribers hear of new items"
    );
    changes.borrow_and_update();
    assert_eq!(all_pending(&store).len(), 2);
    assert_eq!(store.fetch_state("ifla-news").unwrap(), state);
    assert_eq!(store.page_baseline("ifla-news").unwrap(), Some(2));
    let status = store.source_status("ifla-news").unwrap().unwrap();
    assert_eq!(status.url, "https://www.ifla.org/feed/");
    assert_eq!(status.last_attempt, Some(at(1, 2)));
    assert_eq!(status.last_success, Some(at(1, 2)));
    assert_eq!(status.next_poll, Some(at(1, 600)));
    assert_eq!(status.item_count, 2);
    assert_eq!(status.warning.as_deref(), Some("selectors may be stale: x"));
    let first = store
        .item(ItemId::derive("ifla-news", "a").as_str())
        .unwrap()
        .unwrap();
    assert_eq!(
        first.source.url,
        ifla().url,
        "items carry the configured URL"
    );

    // The same poll again: nothing new, nothing to tell.
    store.record_poll(&success).unwrap();
    assert!(!changes.has_changed().unwrap());

    let failure = |reason: &str, gone: bool, day: i64| PollRecord {
        source: ifla(),
        url: ifla().url,
        started: at(day, 0),
        finished: at(day, 1),
        next_poll: at(day, 60),
        outcome: PollOutcome::Failure {
            reason: reason.into(),
            gone,
        },
    };
    let recorded = store.record_poll(&failure("HTTP 503", false, 2)).unwrap();
    assert_eq!(
        (recorded.consecutive_failures, recorded.failing_since),
        (1, Some(at(2, 1)))
    );
    let recorded = store.record_poll(&failure("HTTP 410", true, 3)).unwrap();
    assert_eq!(
        (recorded.consecutive_failures, recorded.failing_since),
        (2, Some(at(2, 1))),
        "the run began with its first failure"
    );
    let status = store.source_status("ifla-news").unwrap().unwrap();
    assert!(status.gone);
    assert_eq!(status.next_poll, None, "a gone source has no next poll");
    assert_eq!(status.last_error.as_deref(), Some("HTTP 410"));
    assert_eq!(status.last_success, Some(at(1, 2)));
    assert_eq!(status.item_count, 2, "a failure keeps the items");
    assert_eq!(
        store.fetch_state("ifla-news").unwrap(),
        state,
        "and the fetch state"
    );
    assert_eq!(all_pending(&store).len(), 2);
}

#[test]
fn fetch_state_round_trips_and_defaults() {
    let (_dir, store) = open_temp();
    assert_eq!(
        store.fetch_state("ifla-news").unwrap(),
        FetchState::default()
    );
    assert!(store.source_status("ifla-news").unwrap().is_none());

    let state = FetchState {
        etag: Some("\"abc\"".into()),
        last_modified: Some("Wed, 21 Oct 2015 07:28:00 GMT".into()),
        permanent_url: Some("https://www.ifla.org/feed/".into()),
    };
    store
        .record_success(
            "ifla-news",
            "https://www.ifla.org/news/feed/",
            &state,
            at(1, 600),
            at(1, 0),
        )
        .unwrap();
    assert_eq!(store.fetch_state("ifla-news").unwrap(), state);
    assert_eq!(
        store.source_status("ifla-news").unwrap().unwrap(),
        SourceStatus {
            id: "ifla-news".into(),
            url: "https://www.ifla.org/news/feed/".into(),
            last_attempt: Some(at(1, 0)),
            last_success: Some(at(1, 0)),
            last_error: None,
            consecutive_failures: 0,
            failing_since: None,
            gone: false,
            next_poll: Some(at(1, 600)),
            item_count: 0,
            warning: None,
        }
    );

    // A 200 without validators clears the old ones.
    store
        .record_success(
            "ifla-news",
            "https://www.ifla.org/feed/",
            &FetchState::default(),
            at(2, 600),
            at(2, 0),
        )
        .unwrap();
    assert_eq!(
        store.fetch_state("ifla-news").unwrap(),
        FetchState::default()
    );
}

#[test]
fn failures_count_up_keep_the_fetch_state_and_reset_on_success() {
    let (_dir, store) = open_temp();
    let url = "https://www.ifla.org/news/feed/";
    let state = FetchState {
        etag: Some("\"v1\"".into()),
        ..FetchState::default()
    };
    store
        .record_success("ifla-news", url, &state, at(1, 600), at(1, 0))
        .unwrap();

    assert_eq!(
        store
            .record_failure("ifla-news", url, "HTTP 503", at(2, 60), at(2, 0))
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .record_failure("ifla-news", url, "timed out", at(3, 120), at(3, 0))
            .unwrap(),
        2
    );
    let status = store.source_status("ifla-news").unwrap().unwrap();
    assert_eq!(status.consecutive_failures, 2);
    assert_eq!(status.last_error.as_deref(), Some("timed out"));
    assert_eq!(status.last_attempt, Some(at(3, 0)));
    assert_eq!(status.last_success, Some(at(1, 0)));
    assert_eq!(status.next_poll, Some(at(3, 120)));
    assert_eq!(
        status.failing_since,
        Some(at(2, 0)),
        "the run began with the first failure"
    );
    assert_eq!(store.fetch_state("ifla-news").unwrap(), state);

    store
        .record_success("ifla-news", url, &state, at(4, 600), at(4, 0))
        .unwrap();
    let status = store.source_status("ifla-news").unwrap().unwrap();
    assert_eq!(status.consecutive_failures, 0);
    assert_eq!(status.last_error, None);
    assert_eq!(status.failing_since, None);
    assert_eq!(
        store
            .record_failure("ifla-news", url, "HTTP 500", at(5, 60), at(5, 0))
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .source_status("ifla-news")
            .unwrap()
            .unwrap()
            .failing_since,
        Some(at(5, 0))
    );

    // 410: gone, with no next poll, until a success.
    store.mark_gone("ifla-news").unwrap();
    let status = store.source_status("ifla-news").unwrap().unwrap();
    assert!(status.gone);
    assert_eq!(status.next_poll, None);
    assert_eq!(status.last_error.as_deref(), Some("HTTP 500"));
    store
        .record_success("ifla-news", url, &state, at(6, 600), at(6, 0))
        .unwrap();
    assert!(!store.source_status("ifla-news").unwrap().unwrap().gone);

    // A source whose very first poll fails.
    assert_eq!(
        store
            .record_failure(
                "nlc-news",
                "https://www.nlc.cn/",
                "DNS",
                at(1, 60),
                at(1, 0)
            )
            .unwrap(),
        1
    );
}

#[test]
fn set_next_poll_creates_or_touches_only_the_due_time() {
    let (_dir, store) = open_temp();
    store.set_next_poll("nlc-news", at(1, 0)).unwrap();
    let fresh = store.source_status("nlc-news").unwrap().unwrap();
    assert_eq!(fresh.next_poll, Some(at(1, 0)));
    assert_eq!(fresh.last_attempt, None);

    let url = "https://www.ifla.org/news/feed/";
    store
        .record_failure("ifla-news", url, "HTTP 503", at(2, 60), at(2, 0))
        .unwrap();
    store.set_next_poll("ifla-news", at(9, 0)).unwrap();
    let status = store.source_status("ifla-news").unwrap().unwrap();
    assert_eq!(status.next_poll, Some(at(9, 0)));
    assert_eq!(status.consecutive_failures, 1);
    assert_eq!(status.url, url);

    let ids: Vec<String> = store
        .source_statuses()
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(ids, ["ifla-news", "nlc-news"]);
}

#[test]
fn apply_creates_the_source_and_counts_its_items() {
    let (_dir, store) = open_temp();
    store
        .apply_items(
            &ifla(),
            &[
                item(&ifla(), "a", "A", at(1, 0)),
                item(&ifla(), "b", "B", at(2, 0)),
            ],
            at(3, 0),
        )
        .unwrap();
    let statuses = store.source_statuses().unwrap();
    assert_eq!(statuses.len(), 1);
    assert_eq!(statuses[0].id, "ifla-news");
    assert_eq!(statuses[0].url, ifla().url);
    assert_eq!(statuses[0].item_count, 2);
}

#[test]
fn outbox_pages_in_order_confirms_and_reports_depth() {
    let (_dir, store) = open_temp();
    assert_eq!(store.outbox_depth().unwrap(), (0, None));
    store
        .apply_items(&ifla(), &[item(&ifla(), "a", "A", at(1, 0))], at(5, 0))
        .unwrap();
    store
        .apply_items(
            &ifla(),
            &[
                item(&ifla(), "b", "B", at(2, 0)),
                item(&ifla(), "c", "C", at(3, 0)),
            ],
            at(6, 0),
        )
        .unwrap();
    assert_eq!(store.outbox_depth().unwrap(), (3, Some(at(5, 0))));

    let all = all_pending(&store);
    let seqs: Vec<i64> = all.iter().map(|m| m.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");

    let first_page = store.outbox_pending(0, 2).unwrap();
    assert_eq!(first_page, all[..2]);
    let second_page = store.outbox_pending(first_page[1].seq, 2).unwrap();
    assert_eq!(second_page, all[2..]);
    assert!(store.outbox_pending(all[2].seq, 2).unwrap().is_empty());

    store.outbox_confirmed(&[all[0].seq]).unwrap();
    assert_eq!(store.outbox_depth().unwrap(), (2, Some(at(6, 0))));
    assert_eq!(all_pending(&store), all[1..]);
    // Confirming twice, or nothing, is harmless.
    store.outbox_confirmed(&[all[0].seq, all[1].seq]).unwrap();
    store.outbox_confirmed(&[]).unwrap();
    assert_eq!(all_pending(&store), all[2..]);
}

#[test]
fn outbox_seqs_are_never_reused_after_draining() {
    let (_dir, store) = open_temp();
    store
        .apply_items(&ifla(), &[item(&ifla(), "a", "A", at(1, 0))], at(5, 0))
        .unwrap();
    let drained = all_pending(&store);
    store.outbox_confirmed(&[drained[0].seq]).unwrap();

    store
        .apply_items(&ifla(), &[item(&ifla(), "b", "B", at(2, 0))], at(6, 0))
        .unwrap();
    // A publisher that remembers the last seq it sent still sees the new one.
    let next = store.outbox_pending(drained[0].seq, 10).unwrap();
    assert_eq!(next.len(), 1);
    assert!(next[0].seq > drained[0].seq);
}

#[test]
fn the_watch_channel_moves_on_changes_only() {
    let (_dir, store) = open_temp();
    let mut changes = store.subscribe();
    let a = item(&ifla(), "a", "A", at(1, 0));

    store
        .apply_items(&ifla(), std::slice::from_ref(&a), at(2, 0))
        .unwrap();
    assert!(changes.has_changed().unwrap());
    changes.mark_unchanged();

    store
        .apply_items(&ifla(), std::slice::from_ref(&a), at(3, 0))
        .unwrap();
    assert!(!changes.has_changed().unwrap());
    store.apply_items(&ifla(), &[], at(3, 0)).unwrap();
    assert!(!changes.has_changed().unwrap());

    store
        .apply_items(&ifla(), &[retitled(a, "A2")], at(4, 0))
        .unwrap();
    assert!(changes.has_changed().unwrap());
}

#[test]
fn bad_stored_json_is_an_error_naming_the_row_and_column() {
    let (_dir, store) = open_temp();
    let a = item(&ifla(), "a", "A", at(1, 0));
    store
        .apply_items(&ifla(), std::slice::from_ref(&a), at(2, 0))
        .unwrap();
    store
        .writer()
        .execute(
            "UPDATE items SET categories = '{not json' WHERE id = ?1",
            [a.id.as_str()],
        )
        .unwrap();

    let err = store.item(a.id.as_str()).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::BadValue {
                column: "categories",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains(a.id.as_str()), "{err}");
    assert!(store.newest_items(10).is_err());
}

#[test]
fn readers_run_beside_a_writer_without_busy_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = Store::open(&path).unwrap();
    // A second handle has its own connections, as another process would.
    let second = Store::open(&path).unwrap();
    let done = Arc::new(AtomicBool::new(false));

    let readers: Vec<_> = [store.clone(), store.clone(), second]
        .into_iter()
        .map(|reader| {
            let done = Arc::clone(&done);
            std::thread::spawn(move || -> Result<usize, StoreError> {
                let mut reads = 0;
                while !done.load(Ordering::Relaxed) {
                    reader.newest_items(50)?;
                    reader.outbox_pending(0, 50)?;
                    reader.source_statuses()?;
                    reader.outbox_depth()?;
                    reads += 1;
                }
                Ok(reads)
            })
        })
        .collect();

    for poll in 0..40 {
        let items: Vec<Item> = (0..50)
            .map(|n| {
                item(
                    &ifla(),
                    &format!("{poll}-{n}"),
                    &format!("Item {n}"),
                    at(poll, n),
                )
            })
            .collect();
        store.apply_items(&ifla(), &items, at(100, poll)).unwrap();
    }
    done.store(true, Ordering::Relaxed);
    for reader in readers {
        let reads = reader
            .join()
            .expect("reader thread")
            .expect("reads succeed");
        assert!(reads > 0);
    }
    assert_eq!(store.outbox_depth().unwrap().0, 2000);
}

/// Measures one `apply_items` of 1,000 new items. Run with
/// `cargo test --release --lib store::tests::apply_timing -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a check"]
fn apply_timing() {
    let (_dir, store) = open_temp();
    let items: Vec<Item> = (0..1000)
        .map(|n| {
            let mut i = item(&ifla(), &format!("k{n}"), &format!("Item {n}"), at(0, n));
            i.content_html = Some(format!("<p>{}</p>", "Library news. ".repeat(100)));
            i.content_hash = i.compute_content_hash();
            i
        })
        .collect();
    let start = std::time::Instant::now();
    let outcome = store.apply_items(&ifla(), &items, at(1, 0)).unwrap();
    let new_items = start.elapsed();
    assert_eq!(outcome.new, 1000);
    let start = std::time::Instant::now();
    store.apply_items(&ifla(), &items, at(2, 0)).unwrap();
    let unchanged = start.elapsed();
    let start = std::time::Instant::now();
    store.newest_items(100).unwrap();
    let newest = start.elapsed();
    println!(
        "apply_items, 1000 new: {new_items:?}; 1000 unchanged: {unchanged:?}; newest_items(100): {newest:?}"
    );
}

#[test]
fn a_version_1_file_gains_the_page_columns_and_keeps_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = Store::open(&path).unwrap();
    store
        .record_success(
            "ifla-news",
            "https://www.ifla.org/news/feed/",
            &FetchState::default(),
            at(1, 600),
            at(1, 0),
        )
        .unwrap();
    drop(store);
    // Turn the file back into what a build with only step 1 wrote.
    let conn = rusqlite::Connection::open(&path).unwrap();
    drop_full_text_index(&conn);
    conn.execute_batch(
        "ALTER TABLE sources DROP COLUMN warning;
         ALTER TABLE sources DROP COLUMN page_baseline;
         PRAGMA user_version = 1;",
    )
    .unwrap();
    drop(conn);

    let store = Store::open(&path).unwrap();
    let status = store.source_status("ifla-news").unwrap().unwrap();
    assert_eq!(status.last_success, Some(at(1, 0)));
    assert_eq!(status.warning, None);
    assert_eq!(store.page_baseline("ifla-news").unwrap(), None);
    store
        .record_page_yield(
            "nlc",
            "https://www.nlc.cn/enweb/",
            Some(12),
            Some("selectors may be stale: x"),
        )
        .unwrap();
    assert_eq!(store.page_baseline("nlc").unwrap(), Some(12));
    let nlc = store.source_status("nlc").unwrap().unwrap();
    assert_eq!(nlc.warning.as_deref(), Some("selectors may be stale: x"));
    // A successful poll does not clear a page's warning; only its next yield does.
    store
        .record_success(
            "nlc",
            "https://www.nlc.cn/enweb/",
            &FetchState::default(),
            at(2, 600),
            at(2, 0),
        )
        .unwrap();
    assert!(
        store
            .source_status("nlc")
            .unwrap()
            .unwrap()
            .warning
            .is_some()
    );
    store
        .record_page_yield("nlc", "https://www.nlc.cn/enweb/", Some(11), None)
        .unwrap();
    assert_eq!(store.source_status("nlc").unwrap().unwrap().warning, None);
}

/// Undoes migration step 3, the full-text index, in the file of `conn`.
fn drop_full_text_index(conn: &rusqlite::Connection) {
    conn.execute_batch(
        "DROP TRIGGER items_fts_insert;
         DROP TRIGGER items_fts_delete;
         DROP TRIGGER items_fts_update;
         DROP TABLE items_fts;",
    )
    .unwrap();
}

/// A store written before the full-text index (version 2) gains it, with
/// its items indexed, when this build opens it.
#[test]
fn a_version_2_file_gains_the_full_text_index_of_its_items() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = Store::open(&path).unwrap();
    store
        .apply_items(
            &ifla(),
            &[
                item(&ifla(), "a", "Reading room opens", at(1, 0)),
                item(&ifla(), "b", "Budget report", at(1, 60)),
            ],
            at(2, 0),
        )
        .unwrap();
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    drop_full_text_index(&conn);
    conn.execute_batch("PRAGMA user_version = 2;").unwrap();
    drop(conn);

    let store = Store::open(&path).unwrap();
    let search = |word: &str| {
        let filter = ItemFilter {
            words: vec![word.into()],
            ..ItemFilter::default()
        };
        store
            .filtered_items(&filter, 10)
            .unwrap()
            .into_iter()
            .map(|i| i.guid)
            .collect::<Vec<_>>()
    };
    assert_eq!(search("reading"), ["a"]);
    assert_eq!(search("budget"), ["b"]);
    let indexed: i64 = store
        .reader()
        .unwrap()
        .query_row(
            "SELECT COUNT(*) FROM items_fts WHERE items_fts MATCH '\"rea\"'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(indexed, 1, "the stored items are in the index");
}

#[test]
fn known_ids_are_the_stored_and_the_retired_ones() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store.db")).unwrap();
    let stored = ItemId::derive("ifla-news", "link:https://www.ifla.org/a");
    let fresh = ItemId::derive("ifla-news", "link:https://www.ifla.org/b");
    let item = Item {
        id: stored.clone(),
        source: ifla(),
        guid: String::new(),
        url: Some("https://www.ifla.org/a".into()),
        title: "A".into(),
        summary: String::new(),
        content_html: None,
        authors: vec![],
        categories: vec![],
        language: None,
        published: at(1, 0),
        published_from_source: true,
        updated: None,
        revision: 1,
        content_hash: String::new(),
    };
    store.apply_items(&ifla(), &[item], at(1, 0)).unwrap();
    let known = store.known_ids(&[stored.clone(), fresh.clone()]).unwrap();
    assert!(known.contains(&stored));
    assert!(!known.contains(&fresh));
    // Retention deletes it; it stays known, so its page is not fetched again.
    let pruned = store
        .prune(std::time::Duration::from_secs(3600), 0, at(30, 0))
        .unwrap();
    assert_eq!(pruned, 1);
    assert!(store.item(stored.as_str()).unwrap().is_none());
    let known = store.known_ids(&[stored.clone(), fresh]).unwrap();
    assert!(known.contains(&stored));
}

#[test]
fn ping_answers_on_a_sound_store_and_fails_once_the_file_is_junk() {
    let (dir, store) = open_temp();
    store.ping().unwrap();
    // Overwritten in place by something outside, WAL index included.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let len = std::fs::metadata(&path).unwrap().len().max(4096);
        std::fs::write(&path, vec![b'Z'; usize::try_from(len).unwrap()]).unwrap();
    }
    let error = store.ping().unwrap_err();
    assert!(
        error.to_string().contains("not a database"),
        "the reason is SQLite's: {error}"
    );
}
