//! The store's contract, tested once and run on each backend.
//!
//! Every test here is an `async fn(TestStore)`; [`on_each_backend!`] makes
//! one `#[tokio::test]` of it per backend, in the modules `sqlite` and
//! `postgres` (`cargo test --lib store::tests::postgres`). An SQLite test
//! gets a fresh file in a temporary folder; a PostgreSQL test a database of
//! its own on the real server, dropped when the test ends. The tests of one
//! backend's own machinery (its schema steps, its query plans) sit beside
//! that backend.

use super::*;
use crate::fetch::FetchState;
use crate::item::{Item, ItemId, SourceRef};
use chrono::{TimeDelta, TimeZone};

/// A store for one test, and what keeps its data alive: the SQLite file's
/// folder, or the PostgreSQL test database (dropped with it).
pub(super) struct TestStore {
    store: Option<Store>,
    place: Place,
}

enum Place {
    File(tempfile::TempDir),
    Database(librarywire_testkit::TestDatabase),
}

impl TestStore {
    /// A fresh SQLite store.
    pub(super) async fn sqlite() -> TestStore {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store.db")).unwrap();
        TestStore {
            store: Some(store),
            place: Place::File(dir),
        }
    }

    /// A fresh PostgreSQL store, in a database of its own.
    pub(super) async fn postgres() -> TestStore {
        let database = librarywire_testkit::TestDatabase::create().await;
        let store = Store::connect(database.url()).await.unwrap();
        TestStore {
            store: Some(store),
            place: Place::Database(database),
        }
    }

    /// The same data, the store closed and opened again, as a restart does.
    pub(super) async fn reopen(mut self) -> TestStore {
        drop(self.store.take());
        let store = match &self.place {
            Place::File(dir) => Store::open(&dir.path().join("store.db")).unwrap(),
            Place::Database(database) => Store::connect(database.url()).await.unwrap(),
        };
        self.store = Some(store);
        self
    }
}

impl std::ops::Deref for TestStore {
    type Target = Store;
    fn deref(&self) -> &Store {
        self.store.as_ref().expect("an open store")
    }
}

/// One `#[tokio::test]` per backend for each shared test named.
macro_rules! on_each_backend {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(super::TestStore::sqlite().await).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(super::TestStore::postgres().await).await
                }
            )*
        }
    };
}

on_each_backend! {
    first_apply_stores_items_and_queues_one_new_message_each,
    the_same_items_again_are_unchanged_and_queue_nothing,
    an_edited_title_makes_revision_two_and_one_updated_message,
    an_undated_item_keeps_its_first_seen_time,
    a_dated_edit_moves_the_date,
    the_source_argument_is_the_stored_source_and_a_missing_hash_is_computed,
    an_id_listed_twice_in_one_poll_counts_once,
    a_reopened_store_has_the_same_items_and_publishes_nothing_again,
    newest_items_are_newest_first_with_a_stable_tie_break_and_a_limit,
    prune_by_age_removes_old_items_and_their_revisions_but_not_messages,
    prune_by_count_keeps_the_newest_of_each_source,
    a_pruned_item_still_in_the_feed_is_not_new_again,
    a_retired_id_still_listed_is_remembered_past_a_year,
    a_slow_source_keeps_its_newest_across_prune,
    an_old_item_first_seen_below_the_floor_is_never_stored_or_published,
    the_floor_counts_stored_items_and_the_polls_by_their_dates,
    record_poll_stores_a_whole_success_or_failure,
    polls_that_finish_together_each_get_their_own_items_and_outcome,
    fetch_state_round_trips_and_defaults,
    failures_count_up_keep_the_fetch_state_and_reset_on_success,
    set_next_poll_creates_or_touches_only_the_due_time,
    apply_creates_the_source_and_counts_its_items,
    outbox_pages_in_order_confirms_and_reports_depth,
    outbox_seqs_are_never_reused_after_draining,
    the_watch_channel_moves_on_changes_only,
    known_ids_are_the_stored_and_the_retired_ones,
    a_feed_says_when_its_newest_version_was_stored,
    each_filter_keeps_exactly_the_matching_items_newest_first,
    every_way_of_searching_finds_what_testing_every_item_finds,
    the_index_follows_revisions_and_retention,
    has_source_knows_polled_sources_only,
    paging_by_cursor_visits_every_item_once_in_feed_order,
    items_per_day_counts_the_items_of_each_day_since,
    each_poll_outcome_is_kept_by_hour_and_pruned_after_two_days,
    ping_answers_and_a_sound_store_has_no_problems,
    article_fetches_are_kept_per_item_and_counted_per_source,
    an_item_stored_with_its_article_and_the_feeds_hash_is_unchanged_next_poll,
    prune_forgets_the_article_state_of_deleted_items_only,
}

#[test]
fn store_is_send_sync_and_clone() {
    fn assert_traits<T: Send + Sync + Clone + 'static>() {}
    assert_traits::<Store>();
}

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

/// Retention of `max_age`, keeping the newest `min` whatever their age and
/// at most `max` (0: no limit) per source.
pub(super) fn retention(max_age: Duration, min: usize, max: usize) -> Retention {
    Retention {
        max_age,
        min_per_source: min,
        max_per_source: max,
    }
}

/// 2024-01-01 plus `days` days and `secs` seconds.
pub(super) fn at(days: i64, secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()
        + TimeDelta::days(days)
        + TimeDelta::seconds(secs)
}

/// A dated item of `source` with every field filled.
pub(super) fn item(source: &SourceRef, key: &str, title: &str, published: DateTime<Utc>) -> Item {
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

/// A source named by its id alone, at `url`.
fn source_at(source_id: &str, url: &str) -> SourceRef {
    SourceRef {
        id: source_id.into(),
        name: source_id.into(),
        url: url.into(),
    }
}

/// Records a successful poll without items, as [`Store::record_poll`] does
/// for a 304.
async fn record_success(
    store: &Store,
    source_id: &str,
    url: &str,
    state: &FetchState,
    next_poll: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    store
        .record_poll(PollRecord {
            source: source_at(source_id, url),
            url: url.into(),
            started: now,
            finished: now,
            next_poll,
            outcome: PollOutcome::Success {
                state: state.clone(),
                items: Vec::new(),
                page_yield: None,
                full_text: Vec::new(),
            },
            retention: Retention::default(),
            dedup: crate::dedup::DedupRule::default(),
            lease: None,
        })
        .await
        .map(|_| ())
}

/// Records a failed poll; returns the failures in a row.
async fn record_failure(
    store: &Store,
    source_id: &str,
    url: &str,
    error: &str,
    next_poll: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<u32, StoreError> {
    store
        .record_poll(PollRecord {
            source: source_at(source_id, url),
            url: url.into(),
            started: now,
            finished: now,
            next_poll,
            outcome: PollOutcome::Failure {
                reason: error.into(),
                gone: false,
            },
            retention: Retention::default(),
            dedup: crate::dedup::DedupRule::default(),
            lease: None,
        })
        .await
        .map(|recorded| recorded.consecutive_failures)
}

/// Records a poll that found the source gone (HTTP 410).
async fn record_gone(
    store: &Store,
    source_id: &str,
    url: &str,
    error: &str,
    now: DateTime<Utc>,
) -> Result<u32, StoreError> {
    store
        .record_poll(PollRecord {
            source: source_at(source_id, url),
            url: url.into(),
            started: now,
            finished: now,
            next_poll: now,
            outcome: PollOutcome::Failure {
                reason: error.into(),
                gone: true,
            },
            retention: Retention::default(),
            dedup: crate::dedup::DedupRule::default(),
            lease: None,
        })
        .await
        .map(|recorded| recorded.consecutive_failures)
}

fn body_json(message: &OutboxMessage) -> serde_json::Value {
    serde_json::from_slice(&message.body).expect("outbox body is JSON")
}

async fn all_pending(store: &Store) -> Vec<OutboxMessage> {
    store.outbox_pending(0, 10_000).await.unwrap()
}

async fn first_apply_stores_items_and_queues_one_new_message_each(t: TestStore) {
    let store = &*t;
    let now = at(10, 0);
    let items = vec![
        item(&ifla(), "a", "WLIC 2024", at(1, 0)),
        item(&ifla(), "b", "New section chairs", at(2, 0)),
        item(&ifla(), "c", "Annual report", at(3, 0)),
    ];

    let outcome = store.apply_items(&ifla(), &items, now).await.unwrap();
    assert_eq!(
        outcome,
        ApplyOutcome {
            new: 3,
            updated: 0,
            unchanged: 0,
            retired: 0
        }
    );

    let pending = all_pending(store).await;
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
        let stored = store.item(item.id.as_str()).await.unwrap().expect("stored");
        let mut carried: Item = serde_json::from_value(body["data"].clone()).unwrap();
        carried.published_from_source = stored.published_from_source;
        carried.content_hash = stored.content_hash.clone();
        assert_eq!(carried, stored);
        // And what is stored is what was given, with revision 1.
        assert_eq!(&stored, item);
    }
}

async fn the_same_items_again_are_unchanged_and_queue_nothing(t: TestStore) {
    let store = &*t;
    let items = vec![
        item(&ifla(), "a", "One", at(1, 0)),
        item(&ifla(), "b", "Two", at(2, 0)),
    ];
    store.apply_items(&ifla(), &items, at(10, 0)).await.unwrap();

    let outcome = store.apply_items(&ifla(), &items, at(11, 0)).await.unwrap();
    assert_eq!(
        outcome,
        ApplyOutcome {
            new: 0,
            updated: 0,
            unchanged: 2,
            retired: 0
        }
    );
    assert_eq!(all_pending(store).await.len(), 2);
    assert_eq!(
        store.revisions(items[0].id.as_str()).await.unwrap().len(),
        1
    );
}

async fn an_edited_title_makes_revision_two_and_one_updated_message(t: TestStore) {
    let store = &*t;
    let first = item(&ifla(), "a", "WLIC 2024", at(1, 0));
    let untouched = item(&ifla(), "b", "Other", at(2, 0));
    store
        .apply_items(&ifla(), &[first.clone(), untouched.clone()], at(10, 0))
        .await
        .unwrap();
    let before = all_pending(store).await;

    let edited = retitled(first.clone(), "WLIC 2024 in Dubai");
    let outcome = store
        .apply_items(&ifla(), &[edited.clone(), untouched], at(11, 0))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        ApplyOutcome {
            new: 0,
            updated: 1,
            unchanged: 1,
            retired: 0
        }
    );

    let pending = all_pending(store).await;
    assert_eq!(pending.len(), before.len() + 1);
    let message = pending.last().unwrap();
    assert_eq!(message.routing_key, "item.updated.ifla-news");
    assert_eq!(message.event_id, format!("{}-r2", first.id));
    let body = body_json(message);
    assert_eq!(body["type"], "org.librarywire.item.updated");
    assert_eq!(body["data"]["revision"], 2);
    assert_eq!(body["data"]["title"], "WLIC 2024 in Dubai");

    let stored = store.item(first.id.as_str()).await.unwrap().unwrap();
    assert_eq!(stored.revision, 2);
    assert_eq!(stored.title, "WLIC 2024 in Dubai");
    assert_eq!(stored.content_hash, edited.content_hash);

    let revisions = store.revisions(first.id.as_str()).await.unwrap();
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

async fn an_undated_item_keeps_its_first_seen_time(t: TestStore) {
    let store = &*t;
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
        .await
        .unwrap();

    // Seen again a day later: normalize stamps it with the later time.
    let later = at(11, 0);
    let outcome = store
        .apply_items(&ifla(), &[undated(&ifla(), "u", "Notice", later)], later)
        .await
        .unwrap();
    assert_eq!(outcome.unchanged, 1);
    let stored = store
        .item(ItemId::derive("ifla-news", "u").as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.published, kept);
    assert!(!stored.published_from_source);

    // Edited a day after that: still the first-seen time, in storage and event.
    let latest = at(12, 0);
    let edited = retitled(undated(&ifla(), "u", "Notice", latest), "Notice, corrected");
    let outcome = store.apply_items(&ifla(), &[edited], latest).await.unwrap();
    assert_eq!(outcome.updated, 1);
    let stored = store
        .item(ItemId::derive("ifla-news", "u").as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.published, kept);
    assert_eq!(stored.revision, 2);
    let event = body_json(all_pending(store).await.last().unwrap());
    assert_eq!(
        event["data"]["published"],
        serde_json::to_value(kept).unwrap()
    );
    assert_eq!(event["data"]["revision"], 2);
}

async fn a_dated_edit_moves_the_date(t: TestStore) {
    let store = &*t;
    let first = item(&ifla(), "a", "One", at(1, 0));
    store
        .apply_items(&ifla(), std::slice::from_ref(&first), at(10, 0))
        .await
        .unwrap();
    let mut edited = retitled(first.clone(), "One, revised");
    edited.published = at(2, 0);
    store
        .apply_items(&ifla(), &[edited], at(11, 0))
        .await
        .unwrap();
    let stored = store.item(first.id.as_str()).await.unwrap().unwrap();
    assert_eq!(stored.published, at(2, 0));
    assert!(stored.published_from_source);
}

async fn the_source_argument_is_the_stored_source_and_a_missing_hash_is_computed(t: TestStore) {
    let store = &*t;
    let mut given = item(&ifla(), "a", "One", at(1, 0));
    given.source.name = "stale name".into();
    given.content_hash = String::new();
    given.revision = 7;
    store
        .apply_items(&ifla(), &[given.clone()], at(10, 0))
        .await
        .unwrap();

    let stored = store.item(given.id.as_str()).await.unwrap().unwrap();
    assert_eq!(stored.source, ifla());
    assert_eq!(stored.revision, 1);
    assert_eq!(stored.content_hash, given.compute_content_hash());
    let event = body_json(&all_pending(store).await[0]);
    assert_eq!(event["data"]["source"]["name"], "IFLA News");
}

async fn an_id_listed_twice_in_one_poll_counts_once(t: TestStore) {
    let store = &*t;
    let a = item(&ifla(), "a", "First copy", at(1, 0));
    let a_again = retitled(a.clone(), "Second copy");
    let poll = [a.clone(), a_again];

    let outcome = store.apply_items(&ifla(), &poll, at(10, 0)).await.unwrap();
    assert_eq!(outcome.new, 1);
    assert_eq!(outcome.updated, 0);
    // The next identical poll must not flip between the two copies.
    let outcome = store.apply_items(&ifla(), &poll, at(11, 0)).await.unwrap();
    assert_eq!(outcome.unchanged, 1);
    assert_eq!(outcome.updated, 0);
    assert_eq!(all_pending(store).await.len(), 1);
    assert_eq!(
        store.item(a.id.as_str()).await.unwrap().unwrap().title,
        "First copy"
    );
}

async fn a_reopened_store_has_the_same_items_and_publishes_nothing_again(t: TestStore) {
    let items = [
        item(&ifla(), "a", "One", at(1, 0)),
        item(&ifla(), "b", "Two", at(3, 0)),
        undated(&other(), "c", "Three", at(2, 0)),
    ];
    let before = {
        let store = &*t;
        store
            .apply_items(&ifla(), &items[..2], at(10, 0))
            .await
            .unwrap();
        store
            .apply_items(&other(), &items[2..], at(2, 0))
            .await
            .unwrap();
        store.newest_items(10).await.unwrap()
    };

    let t = t.reopen().await;
    let store = &*t;
    let after = store.newest_items(10).await.unwrap();
    assert_eq!(after, before);
    assert_eq!(after.len(), 3);
    assert_eq!(all_pending(store).await.len(), 3);

    let a = store
        .apply_items(&ifla(), &items[..2], at(20, 0))
        .await
        .unwrap();
    let b = store
        .apply_items(&other(), &items[2..], at(20, 0))
        .await
        .unwrap();
    assert_eq!(a.new + a.updated + b.new + b.updated, 0);
    assert_eq!(all_pending(store).await.len(), 3);
}

async fn newest_items_are_newest_first_with_a_stable_tie_break_and_a_limit(t: TestStore) {
    let store = &*t;
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
        .await
        .unwrap();
    store
        .apply_items(
            &other(),
            &[item(&other(), "mid", "Mid", at(3, 0)), tie_2.clone()],
            at(10, 0),
        )
        .await
        .unwrap();

    let titles: Vec<String> = store
        .newest_items(10)
        .await
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
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.title)
        .collect();
    assert_eq!(top, ["New", first_tie]);
    assert!(store.newest_items(0).await.unwrap().is_empty());
}

async fn prune_by_age_removes_old_items_and_their_revisions_but_not_messages(t: TestStore) {
    let store = &*t;
    let now = at(500, 0);
    let fresh = item(&ifla(), "fresh", "Fresh", at(490, 0));
    let old = item(&ifla(), "old", "Old", at(100, 0));
    store
        .apply_items(&ifla(), &[fresh.clone(), old.clone()], now)
        .await
        .unwrap();
    store
        .apply_items(&ifla(), &[retitled(old.clone(), "Old, edited")], now)
        .await
        .unwrap();
    assert_eq!(all_pending(store).await.len(), 3);
    let mut changes = store.subscribe();
    changes.mark_unchanged();

    let removed = store
        .prune(&retention(Duration::from_secs(365 * 24 * 3600), 0, 0), now)
        .await
        .unwrap();
    assert_eq!(removed, 1);
    assert!(store.item(old.id.as_str()).await.unwrap().is_none());
    assert!(store.revisions(old.id.as_str()).await.unwrap().is_empty());
    assert!(store.item(fresh.id.as_str()).await.unwrap().is_some());
    assert_eq!(
        all_pending(store).await.len(),
        3,
        "outbox rows survive prune"
    );
    assert!(changes.has_changed().unwrap());

    changes.mark_unchanged();
    assert_eq!(
        store
            .prune(&retention(Duration::from_secs(365 * 24 * 3600), 0, 0), now)
            .await
            .unwrap(),
        0
    );
    assert!(!changes.has_changed().unwrap());
    // Zero keeps everything, however old.
    assert_eq!(
        store
            .prune(&retention(Duration::ZERO, 0, 0), at(100_000, 0))
            .await
            .unwrap(),
        0
    );
    assert_eq!(store.newest_items(10).await.unwrap().len(), 1);
}

async fn prune_by_count_keeps_the_newest_of_each_source(t: TestStore) {
    let store = &*t;
    let ifla_items: Vec<Item> = (0..5)
        .map(|n| item(&ifla(), &format!("i{n}"), &format!("IFLA {n}"), at(n, 0)))
        .collect();
    let other_items: Vec<Item> = (0..2)
        .map(|n| item(&other(), &format!("o{n}"), &format!("NLC {n}"), at(n, 0)))
        .collect();
    store
        .apply_items(&ifla(), &ifla_items, at(10, 0))
        .await
        .unwrap();
    store
        .apply_items(&other(), &other_items, at(10, 0))
        .await
        .unwrap();

    assert_eq!(
        store
            .prune(&retention(Duration::ZERO, 0, 3), at(10, 0))
            .await
            .unwrap(),
        2
    );
    let left: Vec<String> = store
        .newest_items(100)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.title)
        .collect();
    assert_eq!(left, ["IFLA 4", "IFLA 3", "IFLA 2", "NLC 1", "NLC 0"]);
    assert_eq!(
        store
            .source_status("ifla-news")
            .await
            .unwrap()
            .unwrap()
            .item_count,
        3
    );
    assert_eq!(
        store
            .source_status("nlc-news")
            .await
            .unwrap()
            .unwrap()
            .item_count,
        2
    );
    assert_eq!(all_pending(store).await.len(), 7);
}

async fn a_pruned_item_still_in_the_feed_is_not_new_again(t: TestStore) {
    let store = &*t;
    let now = at(500, 0);
    let poll = vec![
        item(&ifla(), "fresh", "Fresh", at(490, 0)),
        item(&ifla(), "ancient", "Ancient", at(1, 0)),
    ];
    store.apply_items(&ifla(), &poll, now).await.unwrap();
    assert_eq!(
        store
            .prune(&retention(Duration::from_secs(30 * 24 * 3600), 0, 0), now)
            .await
            .unwrap(),
        1
    );

    let outcome = store.apply_items(&ifla(), &poll, at(501, 0)).await.unwrap();
    assert_eq!(
        outcome,
        ApplyOutcome {
            new: 0,
            updated: 0,
            unchanged: 2,
            retired: 0
        }
    );
    assert_eq!(all_pending(store).await.len(), 2);
    assert_eq!(store.newest_items(10).await.unwrap().len(), 1);
}

/// The memory of a retired id lasts a year after the source last listed
/// it, not after it was retired: a feed that keeps listing an old item
/// keeps it remembered, so it never comes back as new.
async fn a_retired_id_still_listed_is_remembered_past_a_year(t: TestStore) {
    let store = &*t;
    let max_age = Duration::from_secs(30 * 24 * 3600);
    let ancient = vec![item(&ifla(), "ancient", "Ancient", at(1, 0))];
    let new_ones = |outcome: ApplyOutcome| outcome.new;

    store
        .apply_items(&ifla(), &ancient, at(10, 0))
        .await
        .unwrap();
    assert_eq!(
        store
            .prune(&retention(max_age, 0, 0), at(50, 0))
            .await
            .unwrap(),
        1
    );
    // Still listed, every few months, for well over a year after it was
    // retired on day 50 (its last listing before that was day 10).
    for day in [200, 350, 500, 700] {
        let outcome = store
            .apply_items(&ifla(), &ancient, at(day, 0))
            .await
            .unwrap();
        assert_eq!(new_ones(outcome), 0, "day {day}: still remembered");
        store
            .prune(&retention(max_age, 0, 0), at(day, 60))
            .await
            .unwrap();
    }
    assert_eq!(
        all_pending(store).await.len(),
        1,
        "only the first time was news"
    );
    assert!(store.newest_items(10).await.unwrap().is_empty());

    // Not listed for over a year: forgotten, so it is news once more.
    store
        .prune(&retention(max_age, 0, 0), at(1100, 0))
        .await
        .unwrap();
    let outcome = store
        .apply_items(&ifla(), &ancient, at(1101, 0))
        .await
        .unwrap();
    assert_eq!(
        new_ones(outcome),
        1,
        "forgotten a year after it was last listed"
    );
}

const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);

/// One successful poll of `source` at `now` with `items`, under `retention`.
fn poll_of(
    source: &SourceRef,
    items: Vec<Item>,
    now: DateTime<Utc>,
    retention: Retention,
) -> PollRecord {
    PollRecord {
        source: source.clone(),
        url: source.url.clone(),
        started: now,
        finished: now,
        next_poll: now + TimeDelta::hours(1),
        outcome: PollOutcome::Success {
            state: FetchState::default(),
            items,
            page_yield: None,
            full_text: Vec::new(),
        },
        retention,
        dedup: crate::dedup::DedupRule::default(),
        lease: None,
    }
}

/// `n` items of `source`, `key0` the newest, one a day back from `newest`.
fn daily(source: &SourceRef, n: usize, newest: DateTime<Utc>) -> Vec<Item> {
    (0..n)
        .map(|k| {
            let back = TimeDelta::days(i64::try_from(k).unwrap());
            item(
                source,
                &format!("key{k}"),
                &format!("Item {k}"),
                newest - back,
            )
        })
        .collect()
}

fn titles(items: &[Item]) -> Vec<String> {
    items.iter().map(|i| i.title.clone()).collect()
}

/// A library that has posted nothing for years keeps its newest items:
/// prune takes only what lies beyond the floor, and the floor stays put
/// from one prune to the next.
async fn a_slow_source_keeps_its_newest_across_prune(t: TestStore) {
    let store = &*t;
    let now = at(2000, 0);
    // Stored without retention (as an older version stored them): 30
    // items of a source silent for three years, and one busy source.
    let slow = daily(&ifla(), 30, at(900, 0));
    store.apply_items(&ifla(), &slow, at(900, 0)).await.unwrap();
    let busy = daily(&other(), 30, at(1999, 0));
    store.apply_items(&other(), &busy, now).await.unwrap();
    let keep = retention(YEAR, 20, 1000);

    // The slow source's 10 oldest go; the busy source's items are all
    // within the year but its oldest beyond the floor of 20 stay too.
    assert_eq!(store.prune(&keep, now).await.unwrap(), 10);
    let slow_left = store
        .filtered_items(
            &ItemFilter {
                sources: vec!["ifla-news".into()],
                ..ItemFilter::default()
            },
            100,
        )
        .await
        .unwrap();
    assert_eq!(titles(&slow_left), titles(&slow[..20]));
    assert_eq!(
        store
            .source_status("nlc-news")
            .await
            .unwrap()
            .unwrap()
            .item_count,
        30
    );
    // Time passes; the floor is the same 20, however old they grow.
    assert_eq!(
        store.prune(&keep, at(4000, 0)).await.unwrap(),
        10,
        "the busy source's 10 beyond its floor aged out"
    );
    assert_eq!(
        store
            .source_status("ifla-news")
            .await
            .unwrap()
            .unwrap()
            .item_count,
        20
    );
    assert_eq!(
        store
            .source_status("nlc-news")
            .await
            .unwrap()
            .unwrap()
            .item_count,
        20
    );
    assert_eq!(store.prune(&keep, at(4000, 1)).await.unwrap(), 0);
    // The ceiling still cuts below the floor's size, whatever the age.
    assert_eq!(
        store
            .prune(&retention(YEAR, 5, 5), at(4000, 2))
            .await
            .unwrap(),
        30
    );
    assert_eq!(store.newest_items(100).await.unwrap().len(), 10);
    // No floor: age alone decides, as before the floor existed.
    assert_eq!(
        store
            .prune(&retention(YEAR, 0, 0), at(4000, 3))
            .await
            .unwrap(),
        10
    );
    assert!(store.newest_items(100).await.unwrap().is_empty());
}

/// A feed whose items are all older than max_age: the newest 20 are stored
/// and published, the rest never are, and polling it again (a restart)
/// changes nothing.
async fn an_old_item_first_seen_below_the_floor_is_never_stored_or_published(t: TestStore) {
    let store = &*t;
    let now = at(2000, 0);
    let keep = retention(YEAR, 20, 1000);
    let old = daily(&ifla(), 30, at(1000, 0));
    let recorded = store
        .record_poll(poll_of(&ifla(), old.clone(), now, keep))
        .await
        .unwrap();
    assert_eq!(
        recorded.applied,
        ApplyOutcome {
            new: 20,
            updated: 0,
            unchanged: 0,
            retired: 10
        }
    );
    let stored = store.newest_items(100).await.unwrap();
    assert_eq!(titles(&stored), titles(&old[..20]));
    let published: Vec<String> = all_pending(store)
        .await
        .into_iter()
        .map(|m| m.event_id)
        .collect();
    let expected: Vec<String> = old[..20].iter().map(|i| i.id.as_str().to_owned()).collect();
    assert_eq!(
        published, expected,
        "one item.new for each of the newest 20, none for the rest"
    );
    for turned_away in &old[20..] {
        assert!(store.item(turned_away.id.as_str()).await.unwrap().is_none());
    }
    assert_eq!(
        store.known_ids(&[old[25].id.clone()]).await.unwrap().len(),
        1,
        "a turned-away id is known: a page source does not fetch it again"
    );

    // The same feed again, then retention, then again: nothing moves.
    let again = store
        .record_poll(poll_of(&ifla(), old.clone(), at(2000, 60), keep))
        .await
        .unwrap();
    assert_eq!(
        (
            again.applied.new,
            again.applied.retired,
            again.applied.unchanged
        ),
        (0, 0, 30)
    );
    assert_eq!(store.prune(&keep, at(2000, 120)).await.unwrap(), 0);
    let again = store
        .record_poll(poll_of(&ifla(), old.clone(), at(2001, 0), keep))
        .await
        .unwrap();
    assert_eq!(again.applied.new, 0);
    assert_eq!(store.newest_items(100).await.unwrap(), stored);
    assert_eq!(all_pending(store).await.len(), 20);

    // One fresh item: it is news, and the oldest of the floor leaves at the next prune.
    let mut with_fresh = vec![item(&ifla(), "fresh", "Fresh", at(2001, 0))];
    with_fresh.extend(old.clone());
    let fresh = store
        .record_poll(poll_of(&ifla(), with_fresh, at(2001, 60), keep))
        .await
        .unwrap();
    assert_eq!((fresh.applied.new, fresh.applied.retired), (1, 0));
    assert_eq!(store.prune(&keep, at(2001, 120)).await.unwrap(), 1);
    let mut expected = vec!["Fresh".to_owned()];
    expected.extend(titles(&old[..19]));
    assert_eq!(titles(&store.newest_items(100).await.unwrap()), expected);

    // Without a floor every old item first seen is turned away; without an
    // age limit none is.
    let nlc = daily(&other(), 3, at(1000, 0));
    let none = store
        .record_poll(poll_of(&other(), nlc.clone(), now, retention(YEAR, 0, 0)))
        .await
        .unwrap();
    assert_eq!((none.applied.new, none.applied.retired), (0, 3));
    let third = source_at("third", "https://third.example/feed");
    let all = store
        .record_poll(poll_of(
            &third,
            daily(&third, 3, at(1, 0)),
            now,
            retention(Duration::ZERO, 0, 0),
        ))
        .await
        .unwrap();
    assert_eq!((all.applied.new, all.applied.retired), (3, 0));
}

/// "Newest" counts what the source already holds and what the poll brings,
/// each by the date the merged feed sorts it by; an undated item takes the
/// date it is stored with.
async fn the_floor_counts_stored_items_and_the_polls_by_their_dates(t: TestStore) {
    let store = &*t;
    let now = at(2000, 0);
    let keep = retention(YEAR, 3, 1000);
    // Two old items stored, then a poll with two older ones and one
    // between them: the floor of 3 takes the one between.
    let stored = vec![
        item(&ifla(), "s1", "Stored 1", at(1000, 0)),
        item(&ifla(), "s2", "Stored 2", at(990, 0)),
    ];
    store
        .record_poll(poll_of(&ifla(), stored.clone(), at(1000, 0), keep))
        .await
        .unwrap();
    let poll = vec![
        item(&ifla(), "between", "Between", at(995, 0)),
        item(&ifla(), "older", "Older", at(980, 0)),
        item(&ifla(), "oldest", "Oldest", at(970, 0)),
    ];
    let recorded = store
        .record_poll(poll_of(&ifla(), poll, now, keep))
        .await
        .unwrap();
    assert_eq!((recorded.applied.new, recorded.applied.retired), (1, 2));
    assert_eq!(
        titles(&store.newest_items(10).await.unwrap()),
        ["Stored 1", "Between", "Stored 2"]
    );
    // An undated new item is stored with the poll's time: it is not old.
    let recorded = store
        .record_poll(poll_of(
            &ifla(),
            vec![undated(&ifla(), "u", "Undated", now)],
            now,
            keep,
        ))
        .await
        .unwrap();
    assert_eq!(recorded.applied.new, 1);
    // A late item newer than some stored ones takes its place in the
    // floor, and prune then lets the ones below it go.
    let recorded = store
        .record_poll(poll_of(
            &ifla(),
            vec![item(&ifla(), "late", "Late", at(998, 0))],
            at(2000, 60),
            keep,
        ))
        .await
        .unwrap();
    assert_eq!((recorded.applied.new, recorded.applied.retired), (1, 0));
    assert_eq!(store.prune(&keep, at(2000, 120)).await.unwrap(), 2);
    assert_eq!(
        titles(&store.newest_items(10).await.unwrap()),
        ["Undated", "Stored 1", "Late"]
    );
}

/// Many polls finishing at once: the SQLite writer commits those that queue
/// up together, and each poll still gets its own counts and only its own
/// items, whether its items were new, known or edited.
async fn polls_that_finish_together_each_get_their_own_items_and_outcome(t: TestStore) {
    let store = &*t;
    let sources: Vec<SourceRef> = (0..48)
        .map(|n| source_at(&format!("s{n:02}"), &format!("https://example.org/{n}")))
        .collect();
    let keys = |n: usize| (0..=n % 5).map(move |k| format!("k{k}"));
    // The even sources were polled once before, with the items they list again.
    for (n, source) in sources.iter().enumerate().filter(|(n, _)| n % 2 == 0) {
        let items = keys(n).map(|k| item(source, &k, &k, at(0, 0))).collect();
        let recorded = store.record_poll(poll_of(source, items, at(0, 0), Retention::default()));
        assert_eq!(recorded.await.unwrap().applied.new, n % 5 + 1);
    }
    let before = all_pending(store).await.len();
    // Every fourth source edits its first item's title this time.
    let polls = sources.iter().enumerate().map(|(n, source)| {
        let items = keys(n)
            .map(|k| {
                let title = if n % 4 == 0 && k == "k0" {
                    "edited".to_owned()
                } else {
                    k.clone()
                };
                item(source, &k, &title, at(0, 0))
            })
            .collect();
        let record = poll_of(source, items, at(1, 0), Retention::default());
        let store = store.clone();
        tokio::spawn(async move { store.record_poll(record).await })
    });
    let outcomes = futures_util::future::join_all(polls).await;
    let mut queued = 0;
    for (n, outcome) in outcomes.into_iter().enumerate() {
        let applied = outcome.unwrap().unwrap().applied;
        let listed = n % 5 + 1;
        let expected = match (n % 2 == 0, n % 4 == 0) {
            (false, _) => (listed, 0, 0),
            (true, true) => (0, 1, listed - 1),
            (true, false) => (0, 0, listed),
        };
        assert_eq!(
            (applied.new, applied.updated, applied.unchanged),
            expected,
            "source s{n:02}"
        );
        queued += expected.0 + expected.1;
        let status = store.source_status(&sources[n].id).await.unwrap().unwrap();
        assert_eq!(status.item_count, listed as u64, "source s{n:02}");
        assert_eq!(status.last_success, Some(at(1, 0)), "source s{n:02}");
    }
    assert_eq!(all_pending(store).await.len() - before, queued);
}

/// A finished poll goes to the store in one call: items, their messages,
/// the page yield and the source's new state together.
async fn record_poll_stores_a_whole_success_or_failure(t: TestStore) {
    let store = &*t;
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
                not_followed: Some(vec![
                    "not followed: http://10.0.0.1/a resolves to 10.0.0.1".into(),
                ]),
            }),
            full_text: Vec::new(),
        },
        retention: Retention::default(),
        dedup: crate::dedup::DedupRule::default(),
        lease: None,
    };
    let mut changes = store.subscribe();
    let recorded = store.record_poll(success.clone()).await.unwrap();
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
    assert_eq!(all_pending(store).await.len(), 2);
    assert_eq!(store.fetch_state("ifla-news").await.unwrap(), state);
    assert_eq!(store.page_baseline("ifla-news").await.unwrap(), Some(2));
    let status = store.source_status("ifla-news").await.unwrap().unwrap();
    assert_eq!(status.url, "https://www.ifla.org/feed/");
    assert_eq!(status.last_attempt, Some(at(1, 2)));
    assert_eq!(status.last_success, Some(at(1, 2)));
    assert_eq!(status.next_poll, Some(at(1, 600)));
    assert_eq!(status.item_count, 2);
    assert_eq!(status.warning.as_deref(), Some("selectors may be stale: x"));
    let first = store
        .item(ItemId::derive("ifla-news", "a").as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        first.source.url,
        ifla().url,
        "items carry the configured URL"
    );

    assert_eq!(
        status.not_followed,
        vec!["not followed: http://10.0.0.1/a resolves to 10.0.0.1".to_owned()]
    );

    // The same poll again: nothing new, nothing to tell.
    store.record_poll(success.clone()).await.unwrap();
    assert!(!changes.has_changed().unwrap());

    // A page poll that followed nothing keeps the list; one that followed
    // without trouble clears it.
    let with_followed = |not_followed: Option<Vec<String>>| {
        let mut record = success.clone();
        if let PollOutcome::Success { page_yield, .. } = &mut record.outcome {
            page_yield.as_mut().unwrap().not_followed = not_followed;
        }
        record
    };
    store.record_poll(with_followed(None)).await.unwrap();
    let status = store.source_status("ifla-news").await.unwrap().unwrap();
    assert_eq!(status.not_followed.len(), 1);
    store
        .record_poll(with_followed(Some(Vec::new())))
        .await
        .unwrap();
    let status = store.source_status("ifla-news").await.unwrap().unwrap();
    assert!(status.not_followed.is_empty(), "{:?}", status.not_followed);

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
        retention: Retention::default(),
        dedup: crate::dedup::DedupRule::default(),
        lease: None,
    };
    let recorded = store
        .record_poll(failure("HTTP 503", false, 2))
        .await
        .unwrap();
    assert_eq!(
        (recorded.consecutive_failures, recorded.failing_since),
        (1, Some(at(2, 1)))
    );
    let recorded = store
        .record_poll(failure("HTTP 410", true, 3))
        .await
        .unwrap();
    assert_eq!(
        (recorded.consecutive_failures, recorded.failing_since),
        (2, Some(at(2, 1))),
        "the run began with its first failure"
    );
    let status = store.source_status("ifla-news").await.unwrap().unwrap();
    assert!(status.gone);
    assert_eq!(status.next_poll, None, "a gone source has no next poll");
    assert_eq!(status.last_error.as_deref(), Some("HTTP 410"));
    assert_eq!(status.last_success, Some(at(1, 2)));
    assert_eq!(status.item_count, 2, "a failure keeps the items");
    assert_eq!(
        store.fetch_state("ifla-news").await.unwrap(),
        state,
        "and the fetch state"
    );
    assert_eq!(all_pending(store).await.len(), 2);
}

async fn fetch_state_round_trips_and_defaults(t: TestStore) {
    let store = &*t;
    assert_eq!(
        store.fetch_state("ifla-news").await.unwrap(),
        FetchState::default()
    );
    assert!(store.source_status("ifla-news").await.unwrap().is_none());

    let state = FetchState {
        etag: Some("\"abc\"".into()),
        last_modified: Some("Wed, 21 Oct 2015 07:28:00 GMT".into()),
        permanent_url: Some("https://www.ifla.org/feed/".into()),
    };
    record_success(
        store,
        "ifla-news",
        "https://www.ifla.org/news/feed/",
        &state,
        at(1, 600),
        at(1, 0),
    )
    .await
    .unwrap();
    assert_eq!(store.fetch_state("ifla-news").await.unwrap(), state);
    assert_eq!(
        store.source_status("ifla-news").await.unwrap().unwrap(),
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
            not_followed: Vec::new(),
            lease: None,
        }
    );

    // A 200 without validators clears the old ones.
    record_success(
        store,
        "ifla-news",
        "https://www.ifla.org/feed/",
        &FetchState::default(),
        at(2, 600),
        at(2, 0),
    )
    .await
    .unwrap();
    assert_eq!(
        store.fetch_state("ifla-news").await.unwrap(),
        FetchState::default()
    );
}

async fn failures_count_up_keep_the_fetch_state_and_reset_on_success(t: TestStore) {
    let store = &*t;
    let url = "https://www.ifla.org/news/feed/";
    let state = FetchState {
        etag: Some("\"v1\"".into()),
        ..FetchState::default()
    };
    record_success(store, "ifla-news", url, &state, at(1, 600), at(1, 0))
        .await
        .unwrap();

    assert_eq!(
        record_failure(store, "ifla-news", url, "HTTP 503", at(2, 60), at(2, 0))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        record_failure(store, "ifla-news", url, "timed out", at(3, 120), at(3, 0))
            .await
            .unwrap(),
        2
    );
    let status = store.source_status("ifla-news").await.unwrap().unwrap();
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
    assert_eq!(store.fetch_state("ifla-news").await.unwrap(), state);

    record_success(store, "ifla-news", url, &state, at(4, 600), at(4, 0))
        .await
        .unwrap();
    let status = store.source_status("ifla-news").await.unwrap().unwrap();
    assert_eq!(status.consecutive_failures, 0);
    assert_eq!(status.last_error, None);
    assert_eq!(status.failing_since, None);
    assert_eq!(
        record_failure(store, "ifla-news", url, "HTTP 500", at(5, 60), at(5, 0))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .source_status("ifla-news")
            .await
            .unwrap()
            .unwrap()
            .failing_since,
        Some(at(5, 0))
    );

    // 410: gone, with no next poll, until a success.
    assert_eq!(
        record_gone(store, "ifla-news", url, "HTTP 410", at(5, 120))
            .await
            .unwrap(),
        2
    );
    let status = store.source_status("ifla-news").await.unwrap().unwrap();
    assert!(status.gone);
    assert_eq!(status.next_poll, None);
    assert_eq!(status.last_error.as_deref(), Some("HTTP 410"));
    assert_eq!(status.failing_since, Some(at(5, 0)));
    record_success(store, "ifla-news", url, &state, at(6, 600), at(6, 0))
        .await
        .unwrap();
    assert!(
        !store
            .source_status("ifla-news")
            .await
            .unwrap()
            .unwrap()
            .gone
    );

    // A source whose very first poll fails.
    assert_eq!(
        record_failure(
            store,
            "nlc-news",
            "https://www.nlc.cn/",
            "DNS",
            at(1, 60),
            at(1, 0)
        )
        .await
        .unwrap(),
        1
    );
}

async fn set_next_poll_creates_or_touches_only_the_due_time(t: TestStore) {
    let store = &*t;
    store.set_next_poll("nlc-news", at(1, 0)).await.unwrap();
    let fresh = store.source_status("nlc-news").await.unwrap().unwrap();
    assert_eq!(fresh.next_poll, Some(at(1, 0)));
    assert_eq!(fresh.last_attempt, None);

    let url = "https://www.ifla.org/news/feed/";
    record_failure(store, "ifla-news", url, "HTTP 503", at(2, 60), at(2, 0))
        .await
        .unwrap();
    store.set_next_poll("ifla-news", at(9, 0)).await.unwrap();
    let status = store.source_status("ifla-news").await.unwrap().unwrap();
    assert_eq!(status.next_poll, Some(at(9, 0)));
    assert_eq!(status.consecutive_failures, 1);
    assert_eq!(status.url, url);

    let ids: Vec<String> = store
        .source_statuses()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(ids, ["ifla-news", "nlc-news"]);
}

async fn apply_creates_the_source_and_counts_its_items(t: TestStore) {
    let store = &*t;
    store
        .apply_items(
            &ifla(),
            &[
                item(&ifla(), "a", "A", at(1, 0)),
                item(&ifla(), "b", "B", at(2, 0)),
            ],
            at(3, 0),
        )
        .await
        .unwrap();
    let statuses = store.source_statuses().await.unwrap();
    assert_eq!(statuses.len(), 1);
    assert_eq!(statuses[0].id, "ifla-news");
    assert_eq!(statuses[0].url, ifla().url);
    assert_eq!(statuses[0].item_count, 2);
}

async fn outbox_pages_in_order_confirms_and_reports_depth(t: TestStore) {
    let store = &*t;
    assert_eq!(store.outbox_depth().await.unwrap(), (0, None));
    store
        .apply_items(&ifla(), &[item(&ifla(), "a", "A", at(1, 0))], at(5, 0))
        .await
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
        .await
        .unwrap();
    assert_eq!(store.outbox_depth().await.unwrap(), (3, Some(at(5, 0))));

    let all = all_pending(store).await;
    let seqs: Vec<i64> = all.iter().map(|m| m.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");

    let first_page = store.outbox_pending(0, 2).await.unwrap();
    assert_eq!(first_page, all[..2]);
    let second_page = store.outbox_pending(first_page[1].seq, 2).await.unwrap();
    assert_eq!(second_page, all[2..]);
    assert!(
        store
            .outbox_pending(all[2].seq, 2)
            .await
            .unwrap()
            .is_empty()
    );

    store.outbox_confirmed(&[all[0].seq]).await.unwrap();
    assert_eq!(store.outbox_depth().await.unwrap(), (2, Some(at(6, 0))));
    assert_eq!(all_pending(store).await, all[1..]);
    // Confirming twice, or nothing, is harmless.
    store
        .outbox_confirmed(&[all[0].seq, all[1].seq])
        .await
        .unwrap();
    store.outbox_confirmed(&[]).await.unwrap();
    assert_eq!(all_pending(store).await, all[2..]);
}

async fn outbox_seqs_are_never_reused_after_draining(t: TestStore) {
    let store = &*t;
    store
        .apply_items(&ifla(), &[item(&ifla(), "a", "A", at(1, 0))], at(5, 0))
        .await
        .unwrap();
    let drained = all_pending(store).await;
    store.outbox_confirmed(&[drained[0].seq]).await.unwrap();

    store
        .apply_items(&ifla(), &[item(&ifla(), "b", "B", at(2, 0))], at(6, 0))
        .await
        .unwrap();
    // A publisher that remembers the last seq it sent still sees the new one.
    let next = store.outbox_pending(drained[0].seq, 10).await.unwrap();
    assert_eq!(next.len(), 1);
    assert!(next[0].seq > drained[0].seq);
}

async fn the_watch_channel_moves_on_changes_only(t: TestStore) {
    let store = &*t;
    let mut changes = store.subscribe();
    let a = item(&ifla(), "a", "A", at(1, 0));

    store
        .apply_items(&ifla(), std::slice::from_ref(&a), at(2, 0))
        .await
        .unwrap();
    assert!(changes.has_changed().unwrap());
    changes.mark_unchanged();

    store
        .apply_items(&ifla(), std::slice::from_ref(&a), at(3, 0))
        .await
        .unwrap();
    assert!(!changes.has_changed().unwrap());
    store.apply_items(&ifla(), &[], at(3, 0)).await.unwrap();
    assert!(!changes.has_changed().unwrap());

    store
        .apply_items(&ifla(), &[retitled(a, "A2")], at(4, 0))
        .await
        .unwrap();
    assert!(changes.has_changed().unwrap());
}

async fn known_ids_are_the_stored_and_the_retired_ones(t: TestStore) {
    let store = &*t;
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
    store.apply_items(&ifla(), &[item], at(1, 0)).await.unwrap();
    let known = store
        .known_ids(&[stored.clone(), fresh.clone()])
        .await
        .unwrap();
    assert!(known.contains(&stored));
    assert!(!known.contains(&fresh));
    // Retention deletes it; it stays known, so its page is not fetched again.
    let pruned = store
        .prune(
            &retention(std::time::Duration::from_secs(3600), 0, 0),
            at(30, 0),
        )
        .await
        .unwrap();
    assert_eq!(pruned, 1);
    assert!(store.item(stored.as_str()).await.unwrap().is_none());
    let known = store.known_ids(&[stored.clone(), fresh]).await.unwrap();
    assert!(known.contains(&stored));
}

async fn a_feed_says_when_its_newest_version_was_stored(t: TestStore) {
    let store = &*t;
    assert_eq!(
        store.feed(&ItemFilter::default(), 10).await.unwrap(),
        FeedItems::default()
    );
    let old = item(&ifla(), "old", "Old news", at(1, 0));
    let new = item(&ifla(), "new", "New news", at(2, 0));
    store
        .apply_items(&ifla(), &[old.clone(), new.clone()], at(10, 0))
        .await
        .unwrap();
    // A later version of the older item: the feed changed then.
    store
        .apply_items(&ifla(), &[retitled(old, "Old news, corrected")], at(11, 0))
        .await
        .unwrap();
    let feed = store.feed(&ItemFilter::default(), 10).await.unwrap();
    assert_eq!(feed.items.len(), 2);
    assert_eq!(feed.stored_at, Some(at(11, 0)));
    // The newest item alone was stored before the correction.
    let top = store.feed(&ItemFilter::default(), 1).await.unwrap();
    assert_eq!(top.stored_at, Some(at(10, 0)));
    let filtered = ItemFilter {
        words: vec!["corrected".into()],
        ..ItemFilter::default()
    };
    let found = store.feed(&filtered, 10).await.unwrap();
    assert_eq!(found.items.len(), 1);
    assert_eq!(found.stored_at, Some(at(11, 0)));
}

/// 2024-01-01 plus `minutes` minutes.
pub(super) fn minute(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap() + TimeDelta::minutes(minutes)
}

pub(super) fn lettered(id: &str) -> SourceRef {
    SourceRef {
        id: id.into(),
        name: format!("Source {id}"),
        url: format!("https://{id}.example.org/feed"),
    }
}

/// An item for the filter tests: `key` is its guid, with a title and
/// categories of its own, published `at` minutes into 2024.
pub(super) fn filed(
    source: &SourceRef,
    key: &str,
    title: &str,
    categories: &[&str],
    at: i64,
) -> Item {
    let mut item = Item {
        id: ItemId::derive(&source.id, key),
        source: source.clone(),
        guid: key.into(),
        url: Some(format!("https://example.org/{key}")),
        title: title.into(),
        summary: format!("Summary of {key}"),
        content_html: None,
        authors: vec![],
        categories: categories.iter().map(|c| (*c).to_owned()).collect(),
        language: None,
        published: minute(at),
        updated: None,
        revision: 1,
        published_from_source: true,
        content_hash: String::new(),
    };
    item.content_hash = item.compute_content_hash();
    item
}

/// Five items of two sources, in all the cases the filters tell apart.
async fn filter_fixture(store: &Store) {
    let (a, b) = (lettered("a"), lettered("b"));
    store
        .apply_items(
            &a,
            &[
                filed(&a, "a1", "Reading room opens", &["Events"], 1),
                filed(&a, "a2", "ÉTÉ à la bibliothèque", &["Été", "News"], 3),
                filed(&a, "a3", "Budget report", &["Reports"], 5),
            ],
            minute(10),
        )
        .await
        .unwrap();
    store
        .apply_items(
            &b,
            &[
                filed(&b, "b1", "Open access week", &["events"], 2),
                filed(&b, "b2", "New reading lists", &["News"], 4),
            ],
            minute(10),
        )
        .await
        .unwrap();
}

pub(super) fn keys(items: &[Item]) -> Vec<&str> {
    items.iter().map(|i| i.guid.as_str()).collect()
}

async fn each_filter_keeps_exactly_the_matching_items_newest_first(t: TestStore) {
    let store = &*t;
    filter_fixture(store).await;
    let by = async |filter: ItemFilter, limit| store.filtered_items(&filter, limit).await.unwrap();
    let all = by(ItemFilter::default(), 10).await;
    assert_eq!(keys(&all), ["a3", "b2", "a2", "b1", "a1"]);

    let sources = |ids: &[&str]| ItemFilter {
        sources: ids.iter().map(|s| (*s).to_owned()).collect(),
        ..ItemFilter::default()
    };
    assert_eq!(keys(&by(sources(&["b"]), 10).await), ["b2", "b1"]);
    assert_eq!(
        keys(&by(sources(&["a", "b"]), 10).await),
        ["a3", "b2", "a2", "b1", "a1"]
    );
    assert_eq!(keys(&by(sources(&["a", "b"]), 2).await), ["a3", "b2"]);
    assert!(by(sources(&["nobody"]), 10).await.is_empty());

    let category = |c: &str| ItemFilter {
        category: Some(c.into()),
        ..ItemFilter::default()
    };
    assert_eq!(keys(&by(category("EVENTS"), 10).await), ["b1", "a1"]);
    assert_eq!(keys(&by(category("éTÉ"), 10).await), ["a2"]);
    // A category is matched whole, not as a substring.
    assert!(by(category("Event"), 10).await.is_empty());

    let words = |w: &[&str]| ItemFilter {
        words: w.iter().map(|s| ItemFilter::fold(s)).collect(),
        ..ItemFilter::default()
    };
    assert_eq!(keys(&by(words(&["READING"]), 10).await), ["b2", "a1"]);
    assert_eq!(keys(&by(words(&["reading", "room"]), 10).await), ["a1"]);
    // In the summary, and across all of Unicode.
    assert_eq!(keys(&by(words(&["summary", "b1"]), 10).await), ["b1"]);
    assert_eq!(keys(&by(words(&["été"]), 10).await), ["a2"]);
    assert_eq!(keys(&by(words(&["ÉTÉ"]), 10).await), ["a2"]);
    assert!(by(words(&["reading", "budget"]), 10).await.is_empty());
    // A word is a substring, and % or _ in it mean themselves.
    assert_eq!(keys(&by(words(&["ading r"]), 10).await), ["a1"]);
    assert!(by(words(&["read%"]), 10).await.is_empty());
    assert!(by(words(&["r_ading"]), 10).await.is_empty());

    let mixed = ItemFilter {
        sources: vec!["a".into(), "b".into()],
        category: Some("news".into()),
        words: vec!["reading".into()],
        all_duplicates: false,
        before: None,
    };
    assert_eq!(keys(&by(mixed, 10).await), ["b2"]);
}

/// A `?q=` is answered from the full-text index in one of two ways (its
/// few matches sorted, or the feed's index walked and tested against the
/// many), or by testing every item when no word is long enough for the
/// index: each must find what testing every item by the rule finds.
async fn every_way_of_searching_finds_what_testing_every_item_finds(t: TestStore) {
    let store = &*t;
    filter_fixture(store).await;
    let a = lettered("a");
    // Enough items with one common word for the walk over the index.
    let many: Vec<Item> = (0..query::FEW_MATCHES + 50)
        .map(|n| {
            filed(
                &a,
                &format!("m{n}"),
                &format!("Opening hours {n}"),
                &[],
                20 + n,
            )
        })
        .collect();
    store.apply_items(&a, &many, minute(10)).await.unwrap();
    let every = store.newest_items(100_000).await.unwrap();
    for (words, sources) in [
        (vec!["reading"], vec![]),
        (vec!["ading", "room"], vec![]),
        (vec!["été"], vec![]),
        (vec!["opening"], vec![]),
        (vec!["opening", "hours", "20"], vec![]),
        (vec!["hours"], vec!["a", "b"]),
        (vec!["summary"], vec!["b"]),
        (vec!["m1"], vec![]),
        (vec!["ho"], vec!["a"]),
    ] {
        let filter = ItemFilter {
            words: words.iter().map(|w| ItemFilter::fold(w)).collect(),
            sources: sources.iter().map(|s| (*s).to_owned()).collect(),
            ..ItemFilter::default()
        };
        let expected: Vec<&str> = every
            .iter()
            .filter(|i| filter.sources.is_empty() || filter.sources.contains(&i.source.id))
            .filter(|i| {
                filter.words.iter().all(|w| {
                    query::contains_folded(&i.title, w) || query::contains_folded(&i.summary, w)
                })
            })
            .map(|i| i.guid.as_str())
            .take(30)
            .collect();
        let found = store.filtered_items(&filter, 30).await.unwrap();
        assert_eq!(keys(&found), expected, "{words:?} {sources:?}");
    }
}

/// The index follows every write of a title or summary in its
/// transaction: a new revision's words are found and its old ones are
/// not, and a pruned item is gone from it.
async fn the_index_follows_revisions_and_retention(t: TestStore) {
    let store = &*t;
    filter_fixture(store).await;
    let a = lettered("a");
    let found = async |w: &str| {
        let filter = ItemFilter {
            words: vec![w.into()],
            ..ItemFilter::default()
        };
        keys(&store.filtered_items(&filter, 10).await.unwrap()).join(",")
    };
    assert_eq!(found("budget").await, "a3");
    store
        .apply_items(
            &a,
            &[filed(&a, "a3", "Annual accounts", &["Reports"], 5)],
            minute(11),
        )
        .await
        .unwrap();
    assert_eq!(found("accounts").await, "a3", "the new title is indexed");
    assert_eq!(found("budget").await, "", "the old one is not");
    store
        .prune(&retention(std::time::Duration::ZERO, 0, 1), minute(20))
        .await
        .unwrap();
    // One item kept per source: a3 and b2; a1 and a2 went.
    assert_eq!(found("room").await, "", "a pruned item is not found");
    assert_eq!(found("bibliothèque").await, "");
    assert_eq!(found("accounts").await, "a3", "a kept one is");
    assert_eq!(found("reading").await, "b2");
}

async fn has_source_knows_polled_sources_only(t: TestStore) {
    let store = &*t;
    filter_fixture(store).await;
    assert!(store.has_source("a").await.unwrap());
    assert!(!store.has_source("c").await.unwrap());
    store.set_next_poll("c", at(1, 0)).await.unwrap();
    assert!(store.has_source("c").await.unwrap(), "scheduled is known");
}

async fn ping_answers_and_a_sound_store_has_no_problems(t: TestStore) {
    let store = &*t;
    store.ping().await.unwrap();
    store
        .apply_items(&ifla(), &[item(&ifla(), "a", "A", at(1, 0))], at(2, 0))
        .await
        .unwrap();
    assert!(store.problems().is_empty(), "{:?}", store.problems());
}

mod duplicates;

/// A successful poll of `source` at `now` with `items` and the article
/// fetches `full_text`.
fn poll_with_articles(
    source: &SourceRef,
    items: Vec<Item>,
    full_text: Vec<FullTextAttempt>,
    now: DateTime<Utc>,
) -> PollRecord {
    let mut record = poll_of(source, items, now, Retention::default());
    if let PollOutcome::Success { full_text: f, .. } = &mut record.outcome {
        *f = full_text;
    }
    record
}

fn failed(id: &ItemId, last: bool) -> FullTextAttempt {
    FullTextAttempt::Failed {
        item_id: id.clone(),
        reason: "HTTP 500 from https://www.ifla.org/a".into(),
        last,
    }
}

async fn article_fetches_are_kept_per_item_and_counted_per_source(store: TestStore) {
    let a = item(&ifla(), "a", "Fetched", at(0, 0));
    let b = ItemId::derive("ifla-news", "b");
    let never = ItemId::derive("ifla-news", "never");
    let fetched = FullTextAttempt::Fetched {
        item_id: a.id.clone(),
        content_html: Some("<p>The whole article.</p>".into()),
    };
    let first = poll_with_articles(
        &ifla(),
        vec![a.clone()],
        vec![fetched, failed(&b, false)],
        at(0, 0),
    );
    store.record_poll(first).await.unwrap();
    let second = poll_with_articles(&ifla(), vec![a.clone()], vec![failed(&b, false)], at(0, 60));
    store.record_poll(second).await.unwrap();

    let ids = [a.id.clone(), b.clone(), never.clone()];
    let states = store.full_text_states(&ids).await.unwrap();
    assert_eq!(
        states.len(),
        2,
        "no state for an item never tried: {states:?}"
    );
    assert_eq!(
        states[&a.id],
        FullTextState {
            fetched: true,
            failures: 0,
            given_up: false,
            content_html: Some("<p>The whole article.</p>".into()),
        }
    );
    assert_eq!(
        states[&b],
        FullTextState {
            fetched: false,
            failures: 2,
            given_up: false,
            content_html: None,
        }
    );
    let counts = store.full_text_counts().await.unwrap();
    assert_eq!(
        counts,
        vec![FullTextCount {
            source_id: "ifla-news".into(),
            fetched: 1,
            failed: 0,
            retrying: 1,
        }]
    );

    let third = poll_with_articles(&ifla(), vec![a.clone()], vec![failed(&b, true)], at(0, 120));
    store.record_poll(third).await.unwrap();
    let store = store.reopen().await;
    let states = store.full_text_states(&ids).await.unwrap();
    assert_eq!(states[&b].failures, 3);
    assert!(
        states[&b].given_up,
        "the last try gives up: {:?}",
        states[&b]
    );
    let counts = store.full_text_counts().await.unwrap();
    assert_eq!(
        (counts[0].fetched, counts[0].failed, counts[0].retrying),
        (1, 1, 0)
    );
    assert!(store.full_text_states(&[]).await.unwrap().is_empty());
}

/// A full-text item is stored with the article's body and the hash of what
/// its feed gave: the same feed entry again is unchanged, with no revision
/// and no message.
async fn an_item_stored_with_its_article_and_the_feeds_hash_is_unchanged_next_poll(
    store: TestStore,
) {
    let from_feed = item(&ifla(), "a", "Summary only", at(0, 0));
    let mut with_article = from_feed.clone();
    with_article.content_html = Some("<p>The whole article, much longer.</p>".into());
    assert_eq!(with_article.content_hash, from_feed.content_hash);
    let fetched = FullTextAttempt::Fetched {
        item_id: from_feed.id.clone(),
        content_html: with_article.content_html.clone(),
    };
    let first = poll_with_articles(&ifla(), vec![with_article.clone()], vec![fetched], at(0, 0));
    let applied = store.record_poll(first).await.unwrap().applied;
    assert_eq!(applied.new, 1);
    let stored = store.item(from_feed.id.as_str()).await.unwrap().unwrap();
    assert_eq!(stored.content_html, with_article.content_html);
    assert_eq!(stored.content_hash, from_feed.content_hash);

    let again = poll_with_articles(&ifla(), vec![with_article], Vec::new(), at(0, 60));
    let applied = store.record_poll(again).await.unwrap().applied;
    assert_eq!((applied.new, applied.updated, applied.unchanged), (0, 0, 1));
    assert_eq!(
        store.revisions(from_feed.id.as_str()).await.unwrap().len(),
        1
    );
    assert_eq!(
        store.outbox_depth().await.unwrap().0,
        1,
        "one item.new, nothing more"
    );
}

async fn prune_forgets_the_article_state_of_deleted_items_only(store: TestStore) {
    let now = at(800, 0);
    let old = item(&ifla(), "old", "Old", at(0, 0));
    let fresh = item(&ifla(), "fresh", "Fresh", now);
    let waiting = ItemId::derive("ifla-news", "waiting");
    let fetched = |it: &Item| FullTextAttempt::Fetched {
        item_id: it.id.clone(),
        content_html: None,
    };
    let record = poll_with_articles(
        &ifla(),
        vec![old.clone(), fresh.clone()],
        vec![fetched(&old), fetched(&fresh), failed(&waiting, false)],
        now,
    );
    store.record_poll(record).await.unwrap();
    let removed = store.prune(&retention(YEAR, 0, 0), now).await.unwrap();
    assert_eq!(removed, 1);
    let states = store
        .full_text_states(&[old.id.clone(), fresh.id.clone(), waiting.clone()])
        .await
        .unwrap();
    assert!(
        !states.contains_key(&old.id),
        "the deleted item's state goes"
    );
    assert!(
        states.contains_key(&fresh.id),
        "a stored item's state stays"
    );
    assert!(
        states.contains_key(&waiting),
        "an item waiting for its article stays"
    );
}

/// The HTML page's `?before=` cursor: pages of any size, along any filter,
/// together give exactly the filter's items in feed order, each once, even
/// when many items share a date (the id breaks the tie).
async fn paging_by_cursor_visits_every_item_once_in_feed_order(t: TestStore) {
    let store = &*t;
    let (a, b) = (ifla(), other());
    // 23 items of a and 17 of b; every three share a date.
    let of = |source: &SourceRef, n: usize| -> Vec<Item> {
        (0..n)
            .map(|i| {
                let title = if i % 2 == 0 { "Reading room" } else { "Budget" };
                item(
                    source,
                    &format!("{}-{i}", source.id),
                    title,
                    at(0, (i / 3) as i64 * 60),
                )
            })
            .collect()
    };
    store.apply_items(&a, &of(&a, 23), at(1, 0)).await.unwrap();
    store.apply_items(&b, &of(&b, 17), at(1, 0)).await.unwrap();
    for filter in [
        ItemFilter::default(),
        ItemFilter {
            sources: vec![a.id.clone()],
            ..ItemFilter::default()
        },
        ItemFilter {
            sources: vec![a.id.clone(), b.id.clone()],
            ..ItemFilter::default()
        },
        ItemFilter {
            words: vec!["reading".into()],
            ..ItemFilter::default()
        },
        ItemFilter {
            category: Some("events".into()),
            ..ItemFilter::default()
        },
    ] {
        let whole = store.filtered_items(&filter, 1000).await.unwrap();
        assert!(!whole.is_empty(), "{filter:?}");
        for size in [1, 4, 7] {
            let mut paged: Vec<Item> = Vec::new();
            let mut cursor = None;
            loop {
                let page_filter = ItemFilter {
                    before: cursor.clone(),
                    ..filter.clone()
                };
                let page = store.filtered_items(&page_filter, size).await.unwrap();
                assert!(page.len() <= size);
                let Some(last) = page.last() else { break };
                cursor = Some(Cursor {
                    published: last.published,
                    id: last.id.as_str().to_owned(),
                });
                paged.extend(page);
                assert!(paged.len() <= whole.len(), "{filter:?} by {size}: too many");
            }
            let ids = |items: &[Item]| items.iter().map(|i| i.id.clone()).collect::<Vec<_>>();
            assert_eq!(ids(&paged), ids(&whole), "{filter:?} by {size}");
        }
    }
}

/// `/status.html`'s chart of items per day: by the items' dates, from
/// `since` on, days without items left out.
async fn items_per_day_counts_the_items_of_each_day_since(t: TestStore) {
    let store = &*t;
    let a = ifla();
    let items = [
        item(&a, "1", "One", at(0, 10)),
        item(&a, "2", "Two", at(0, 86_399)),
        item(&a, "3", "Three", at(1, 0)),
        item(&a, "4", "Four", at(3, 3600)),
        item(&a, "5", "Five", at(-1, 0)),
    ];
    store.apply_items(&a, &items, at(4, 0)).await.unwrap();
    let days = store.items_per_day(at(0, 0)).await.unwrap();
    let seen: Vec<(String, u64)> = days.iter().map(|d| (d.day.to_string(), d.items)).collect();
    assert_eq!(
        seen,
        [
            ("2024-01-01".to_owned(), 2),
            ("2024-01-02".to_owned(), 1),
            ("2024-01-04".to_owned(), 1)
        ]
    );
    assert!(store.items_per_day(at(5, 0)).await.unwrap().is_empty());
}

/// Every poll leaves its outcome, read back by source and hour; a poll
/// drops its source's outcomes older than [`FETCH_OUTCOMES_KEPT`], and
/// leaves other sources' alone.
async fn each_poll_outcome_is_kept_by_hour_and_pruned_after_two_days(t: TestStore) {
    let store = &*t;
    let url = "https://example.org/feed";
    let state = FetchState::default();
    record_success(store, "a", url, &state, at(9, 0), at(0, 60))
        .await
        .unwrap();
    record_success(store, "b", url, &state, at(9, 0), at(0, 90))
        .await
        .unwrap();
    record_failure(store, "a", url, "timed out", at(9, 0), at(0, 120))
        .await
        .unwrap();
    record_success(store, "a", url, &state, at(9, 0), at(0, 3600 + 5))
        .await
        .unwrap();
    let hours = store.fetch_outcomes(at(0, 0)).await.unwrap();
    let seen: Vec<(&str, i64, u64, u64)> = hours
        .iter()
        .map(|h| {
            (
                h.source_id.as_str(),
                (h.hour - at(0, 0)).num_hours(),
                h.ok,
                h.failed,
            )
        })
        .collect();
    assert_eq!(seen, [("a", 0, 1, 1), ("a", 1, 1, 0), ("b", 0, 1, 0)]);
    assert_eq!(store.fetch_outcomes(at(0, 3600)).await.unwrap().len(), 1);

    // Two days and more later, a's poll drops a's old outcomes only.
    record_failure(store, "a", url, "refused", at(9, 0), at(2, 3600 + 6))
        .await
        .unwrap();
    let hours = store.fetch_outcomes(at(-1, 0)).await.unwrap();
    let seen: Vec<(&str, i64, u64, u64)> = hours
        .iter()
        .map(|h| {
            (
                h.source_id.as_str(),
                (h.hour - at(0, 0)).num_hours(),
                h.ok,
                h.failed,
            )
        })
        .collect();
    assert_eq!(seen, [("a", 49, 0, 1), ("b", 0, 1, 0)]);
}
