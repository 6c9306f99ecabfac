//! Tests of the PostgreSQL backend's own machinery: its URL errors, its
//! schema, its plans, its leases and notifications, on the real server.
//! What every backend must do is tested once, on each, in `store/tests.rs`.

use super::*;
use crate::store::tests::{at, item};
use crate::store::{PollOutcome, Store};
use librarywire_testkit::TestDatabase;

fn source() -> SourceRef {
    SourceRef {
        id: "ifla-news".into(),
        name: "IFLA News".into(),
        url: "https://www.ifla.org/news/feed/".into(),
    }
}

/// A successful poll of [`source`] with one item, under `lease`.
fn poll(key: &str, lease: Option<Lease>) -> PollRecord {
    PollRecord {
        source: source(),
        url: source().url,
        started: at(1, 0),
        finished: at(1, 1),
        next_poll: Utc::now() + chrono::TimeDelta::hours(1),
        outcome: PollOutcome::Success {
            state: FetchState::default(),
            items: vec![item(&source(), key, key, at(0, 0))],
            page_yield: None,
            full_text: Vec::new(),
        },
        retention: crate::store::Retention::default(),
        dedup: crate::dedup::DedupRule::default(),
        lease,
    }
}

/// The interval the claims of these tests pass, unless a test says otherwise.
const INTERVAL: Duration = Duration::from_secs(15 * 60);

fn held(claim: Claim) -> Lease {
    match claim {
        Claim::Held(lease) => lease,
        Claim::Busy { wait } => panic!("expected the lease, busy for {wait:?}"),
    }
}

#[tokio::test]
async fn a_bad_or_unreachable_url_names_store_url_and_never_the_password() {
    let bad = Store::connect("postgres://lw:s3cret@127.0.0.1:notaport/db")
        .await
        .expect_err("a bad URL is refused");
    let said = bad.to_string();
    assert!(said.contains("store.url"), "{said}");
    assert!(!said.contains("s3cret"), "{said}");

    // Port 1: nothing listens there.
    let unreachable = Store::connect("postgres://lw:s3cret@127.0.0.1:1/db")
        .await
        .expect_err("an unreachable server is refused");
    let said = unreachable.to_string();
    assert!(
        matches!(unreachable, StoreError::Connect { .. }),
        "{unreachable:?}"
    );
    assert!(said.contains("store.url"), "{said}");
    assert!(said.contains("postgres://127.0.0.1:1/db"), "{said}");
    assert!(!said.contains("lw@"), "{said}");
    assert!(!said.contains("s3cret"), "{said}");
    assert!(!format!("{unreachable:?}").contains("s3cret"));
}

#[tokio::test]
async fn a_schema_from_the_future_is_refused_and_replicas_migrate_once() {
    let db = TestDatabase::create().await;
    // Two replicas starting at once: one migrates, the other waits and finds it done.
    let (a, b) = tokio::join!(Postgres::connect(db.url()), Postgres::connect(db.url()));
    let (a, b) = (a.unwrap(), b.unwrap());
    let conn = a.conn().await.unwrap();
    let version: i64 = conn
        .query_one("SELECT version FROM schema_version", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(version, schema::current_version());
    conn.execute("UPDATE schema_version SET version = 99", &[])
        .await
        .unwrap();
    drop((conn, a, b));
    let err = Store::connect(db.url()).await.expect_err("refused");
    let said = err.to_string();
    assert!(said.contains("store.url"), "{said}");
    assert!(said.contains("99"), "{said}");
}

/// A database written before duplicates were judged (version 2) is
/// migrated when a replica connects; its items are not judged and nothing
/// is published again, and a later item of another source with an old
/// item's link is not judged against it (the old item has no keys).
#[tokio::test]
async fn a_version_2_database_gains_the_duplicate_columns_and_republishes_nothing() {
    let db = TestDatabase::create().await;
    let store = Postgres::connect(db.url()).await.unwrap();
    let old = [
        item(&source(), "a", "Reading room opens", at(1, 0)),
        item(&source(), "b", "Budget report", at(1, 60)),
    ];
    store.write_items(&source(), &old, at(2, 0)).await.unwrap();
    let sent: Vec<i64> = store
        .read_outbox(0, 10)
        .await
        .unwrap()
        .iter()
        .map(|m| m.seq)
        .collect();
    store.delete_confirmed(&sent).await.unwrap();
    let conn = store.conn().await.unwrap();
    conn.batch_execute(
        "DROP TABLE fetch_outcomes;
         ALTER TABLE items DROP COLUMN dedup_link, DROP COLUMN dedup_guid,
             DROP COLUMN dedup_title, DROP COLUMN dedup_signature, DROP COLUMN duplicate_of,
             DROP COLUMN duplicate_source, DROP COLUMN duplicate_reason;
         DROP TABLE full_text;
         UPDATE schema_version SET version = 2;",
    )
    .await
    .unwrap();
    drop((conn, store));

    let store = Store::connect(db.url()).await.unwrap();
    assert_eq!(store.newest_items(10).await.unwrap().len(), 2);
    assert!(store.outbox_pending(0, 10).await.unwrap().is_empty());
    let judged = |source: &SourceRef, items: Vec<Item>| {
        let mut record = poll("unused", None);
        record.source = source.clone();
        record.outcome = PollOutcome::Success {
            state: FetchState::default(),
            items,
            page_yield: None,
            full_text: Vec::new(),
        };
        record.dedup = crate::dedup::DedupRule::judging();
        record
    };
    let recorded = store
        .record_poll(judged(&source(), old.to_vec()))
        .await
        .unwrap();
    assert_eq!(recorded.applied.unchanged, 2);
    let other = SourceRef {
        id: "other".into(),
        ..source()
    };
    let copy = item(&other, "a", "Reading room opens", at(1, 0));
    store
        .record_poll(judged(&other, vec![copy.clone()]))
        .await
        .unwrap();
    assert_eq!(
        store
            .duplication(copy.id.as_str())
            .await
            .unwrap()
            .duplicate_of,
        None
    );
    assert!(
        store
            .duplication(old[0].id.as_str())
            .await
            .unwrap()
            .duplicates
            .is_empty()
    );
    assert_eq!(
        store.outbox_pending(0, 10).await.unwrap().len(),
        1,
        "only the new item"
    );
}

#[tokio::test]
async fn the_merged_feed_walks_its_index_instead_of_sorting() {
    let db = TestDatabase::create().await;
    let store = Postgres::connect(db.url()).await.unwrap();
    let conn = store.conn().await.unwrap();
    // Without statistics a tiny table would be read whole and sorted,
    // which is right for it; the plan that matters is the large table's.
    conn.batch_execute("SET enable_seqscan = off; SET enable_sort = off")
        .await
        .unwrap();
    let plan: Vec<String> = conn
        .query(
            &format!("EXPLAIN {}", items::newest_items_sql()),
            &[&10_i64],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    let plan = plan.join("\n");
    assert!(
        plan.contains("Index Scan Backward using items_by_published"),
        "{plan}"
    );
    assert!(!plan.contains("Sort"), "{plan}");
}

/// An older page of the HTML news starts the walk at its cursor: a range
/// of the feed's index, read backwards, with no sort.
#[tokio::test]
async fn a_page_before_a_cursor_walks_the_index_from_the_cursor() {
    let db = TestDatabase::create().await;
    let store = Postgres::connect(db.url()).await.unwrap();
    let conn = store.conn().await.unwrap();
    conn.batch_execute("SET enable_seqscan = off; SET enable_sort = off")
        .await
        .unwrap();
    let filter = crate::store::ItemFilter {
        before: Some(crate::store::Cursor {
            published: Utc::now(),
            id: "0123456789abcdef0123456789abcdef".into(),
        }),
        ..Default::default()
    };
    let (sql, params) = super::query::filtered_sql(&filter, 10);
    let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
        params.iter().map(|p| p.as_sql()).collect();
    let plan: Vec<String> = conn
        .query(&format!("EXPLAIN {sql}"), &refs)
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    let plan = plan.join("\n");
    assert!(
        plan.contains("Index Scan Backward using items_by_published"),
        "{plan}"
    );
    assert!(plan.contains("Index Cond: (ROW(published, id) <"), "{plan}");
    assert!(!plan.contains("Sort"), "{plan}");
}

#[tokio::test]
async fn a_source_is_claimed_by_one_replica_and_a_stale_holder_writes_nothing() {
    let db = TestDatabase::create().await;
    let store = Store::connect(db.url()).await.unwrap();
    let other = Store::connect(db.url()).await.unwrap();
    let lease = Duration::from_secs(60);
    let url = &source().url;

    let a = held(
        store
            .claim_source("ifla-news", url, "a", lease, INTERVAL, None)
            .await
            .unwrap(),
    );
    assert_eq!(a.epoch, 1);
    let Claim::Busy { wait } = other
        .claim_source("ifla-news", url, "b", lease, INTERVAL, None)
        .await
        .unwrap()
    else {
        panic!("a held source cannot be claimed by another replica");
    };
    assert!(wait > Duration::from_secs(50), "{wait:?}");
    let status = other.source_status("ifla-news").await.unwrap().unwrap();
    assert_eq!(status.lease.map(|l| l.holder).as_deref(), Some("a"));

    assert!(store.renew_source("ifla-news", &a, lease).await.unwrap());
    store
        .record_poll(poll("one", Some(a.clone())))
        .await
        .unwrap();
    // The poll gave the lease back and set the next poll an hour ahead:
    // the source is not due, so nobody polls it again now.
    let status = store.source_status("ifla-news").await.unwrap().unwrap();
    assert_eq!(status.lease, None, "released by the poll's write");
    let Claim::Busy { wait } = other
        .claim_source("ifla-news", url, "b", lease, INTERVAL, None)
        .await
        .unwrap()
    else {
        panic!("a source that is not due cannot be claimed");
    };
    assert!(wait > Duration::from_secs(3500), "{wait:?}");

    // Due again, and claimed by "b"; "a", waking with its old lease, is
    // fenced off: its poll's write is refused whole.
    store
        .set_next_poll("ifla-news", Utc::now() - chrono::TimeDelta::seconds(1))
        .await
        .unwrap();
    let b = held(
        other
            .claim_source("ifla-news", url, "b", lease, INTERVAL, None)
            .await
            .unwrap(),
    );
    assert_eq!(b.epoch, 2);
    assert!(!store.renew_source("ifla-news", &a, lease).await.unwrap());
    let refused = store
        .record_poll(poll("stale", Some(a.clone())))
        .await
        .expect_err("a stale write is refused");
    assert!(
        matches!(refused, StoreError::LeaseLost { .. }),
        "{refused:?}"
    );
    assert_eq!(
        store
            .item(ItemId::derive("ifla-news", "stale").as_str())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.outbox_depth().await.unwrap().0,
        1,
        "only the first poll's message"
    );
    other.record_poll(poll("two", Some(b))).await.unwrap();
    assert_eq!(store.outbox_depth().await.unwrap().0, 2);
}

/// A reload shortened the interval: the source is due before its stored
/// next poll, as long as no replica has polled it since the reload read it.
#[tokio::test]
async fn a_source_brought_forward_is_claimed_before_its_stored_next_poll() {
    let db = TestDatabase::create().await;
    let store = Store::connect(db.url()).await.unwrap();
    let url = &source().url;
    let lease = Duration::from_secs(60);
    let first = held(
        store
            .claim_source("ifla-news", url, "a", lease, INTERVAL, None)
            .await
            .unwrap(),
    );
    store.record_poll(poll("one", Some(first))).await.unwrap();
    let stored = store
        .source_status("ifla-news")
        .await
        .unwrap()
        .unwrap()
        .next_poll
        .unwrap();
    let due = Utc::now() - chrono::TimeDelta::seconds(1);
    assert!(matches!(
        store
            .claim_source("ifla-news", url, "a", lease, INTERVAL, None)
            .await
            .unwrap(),
        Claim::Busy { .. }
    ));
    let stale = BroughtForward {
        stored: stored - chrono::TimeDelta::seconds(5),
        due,
    };
    assert!(
        matches!(
            store
                .claim_source("ifla-news", url, "b", lease, INTERVAL, Some(stale))
                .await
                .unwrap(),
            Claim::Busy { .. }
        ),
        "another poll has replaced the next poll the reload saw"
    );
    let forward = BroughtForward { stored, due };
    let claimed = held(
        store
            .claim_source("ifla-news", url, "b", lease, INTERVAL, Some(forward))
            .await
            .unwrap(),
    );
    assert_eq!(claimed.holder, "b");
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_and_its_holder_fenced() {
    let db = TestDatabase::create().await;
    let store = Store::connect(db.url()).await.unwrap();
    let url = &source().url;
    let short = Duration::from_millis(300);
    let a = held(
        store
            .claim_source("ifla-news", url, "a", short, short, None)
            .await
            .unwrap(),
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    // Expired, not yet taken over: the holder is fenced all the same.
    let refused = store.record_poll(poll("late", Some(a.clone()))).await;
    assert!(
        matches!(refused, Err(StoreError::LeaseLost { .. })),
        "{refused:?}"
    );
    let b = held(
        store
            .claim_source("ifla-news", url, "b", Duration::from_secs(60), short, None)
            .await
            .unwrap(),
    );
    assert_eq!(b.epoch, a.epoch + 1);
    assert!(!b.follows(Some(&a)), "another replica's claim");
}

/// A poll whose lease ran out writes nothing (it may have fetched the
/// source already): the claim itself set the next poll an interval on, so
/// the source is not due again, for any replica, before its interval.
#[tokio::test]
async fn a_lease_that_lapses_without_a_write_leaves_the_source_not_due_for_its_interval() {
    let db = TestDatabase::create().await;
    let store = Store::connect(db.url()).await.unwrap();
    let other = Store::connect(db.url()).await.unwrap();
    let url = &source().url;
    let short = Duration::from_millis(300);
    let interval = Duration::from_secs(60);
    let a = held(
        store
            .claim_source("ifla-news", url, "a", short, interval, None)
            .await
            .unwrap(),
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    let refused = store.record_poll(poll("late", Some(a.clone()))).await;
    assert!(
        matches!(refused, Err(StoreError::LeaseLost { .. })),
        "{refused:?}"
    );
    for (claimer, holder) in [(&store, "a"), (&other, "b")] {
        let Claim::Busy { wait } = claimer
            .claim_source("ifla-news", url, holder, short, interval, None)
            .await
            .unwrap()
        else {
            panic!("{holder} claimed the source again within its interval");
        };
        assert!(wait > Duration::from_secs(50), "{holder}: {wait:?}");
    }
    let status = store.source_status("ifla-news").await.unwrap().unwrap();
    assert!(
        status.next_poll.is_some_and(|next| next > Utc::now()),
        "{status:?}"
    );

    // A source seen for the first time is held by its first claimer on the
    // same terms.
    let first = held(
        other
            .claim_source("new-source", url, "b", short, interval, None)
            .await
            .unwrap(),
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        matches!(
            store
                .claim_source("new-source", url, "a", short, interval, None)
                .await
                .unwrap(),
            Claim::Busy { .. }
        ),
        "b's first claim of a new source, lapsed, leaves it not due either"
    );
    drop(first);

    // Asked to poll now (`poll-now`), the source is due at once; the poll's
    // write then sets the real next poll, sooner than the interval too (a
    // failure's first retry).
    store
        .set_next_poll("ifla-news", Utc::now() - chrono::TimeDelta::seconds(1))
        .await
        .unwrap();
    let b = held(
        other
            .claim_source(
                "ifla-news",
                url,
                "b",
                Duration::from_secs(60),
                interval,
                None,
            )
            .await
            .unwrap(),
    );
    let mut soon = poll("retried", Some(b));
    soon.next_poll = Utc::now() - chrono::TimeDelta::seconds(1);
    other.record_poll(soon).await.unwrap();
    held(
        store
            .claim_source("ifla-news", url, "a", short, interval, None)
            .await
            .unwrap(),
    );
}

/// A replica restarted under the same `replica_id` while the old process
/// was only paused (a frozen VM, SIGSTOP): the holder's name is the same,
/// so only the epoch tells the old claim's writes from the new one's.
#[tokio::test]
async fn the_same_replica_id_claiming_again_fences_its_older_claim_by_epoch() {
    let db = TestDatabase::create().await;
    let paused = Store::connect(db.url()).await.unwrap();
    let restarted = Store::connect(db.url()).await.unwrap();
    let url = &source().url;
    let short = Duration::from_millis(300);
    let old = held(
        paused
            .claim_source("ifla-news", url, "news-1", short, short, None)
            .await
            .unwrap(),
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    let new = held(
        restarted
            .claim_source(
                "ifla-news",
                url,
                "news-1",
                Duration::from_secs(60),
                short,
                None,
            )
            .await
            .unwrap(),
    );
    assert_eq!(new.epoch, old.epoch + 1);
    assert!(
        !paused.renew_source("ifla-news", &old, short).await.unwrap(),
        "the old claim cannot be renewed"
    );
    let refused = paused.record_poll(poll("stale", Some(old))).await;
    assert!(
        matches!(refused, Err(StoreError::LeaseLost { .. })),
        "{refused:?}"
    );
    assert_eq!(
        paused
            .item(ItemId::derive("ifla-news", "stale").as_str())
            .await
            .unwrap(),
        None
    );
    restarted
        .record_poll(poll("fresh", Some(new)))
        .await
        .unwrap();
    assert_eq!(
        paused.outbox_depth().await.unwrap().0,
        1,
        "only the new claim's"
    );

    // The same for the publisher: the paused one's deletes are refused
    // once the restarted one claimed the lease after it ran out.
    let seq = paused.outbox_pending(0, 10).await.unwrap()[0].seq;
    held(paused.claim_publisher("news-1", short).await.unwrap());
    tokio::time::sleep(Duration::from_millis(400)).await;
    held(
        restarted
            .claim_publisher("news-1", Duration::from_secs(60))
            .await
            .unwrap(),
    );
    let refused = paused.outbox_confirmed(&[seq]).await;
    assert!(
        matches!(refused, Err(StoreError::LeaseLost { .. })),
        "{refused:?}"
    );
    assert_eq!(paused.outbox_depth().await.unwrap().0, 1, "the row stays");
    restarted.outbox_confirmed(&[seq]).await.unwrap();
    assert_eq!(paused.outbox_depth().await.unwrap().0, 0);
}

#[tokio::test]
async fn one_publisher_at_a_time_and_a_stale_one_deletes_nothing() {
    let db = TestDatabase::create().await;
    let a = Store::connect(db.url()).await.unwrap();
    let b = Store::connect(db.url()).await.unwrap();
    a.apply_items(&source(), &[item(&source(), "x", "X", at(0, 0))], at(1, 0))
        .await
        .unwrap();
    let seq = a.outbox_pending(0, 10).await.unwrap()[0].seq;

    let short = Duration::from_millis(300);
    let first = held(a.claim_publisher("a", short).await.unwrap());
    assert!(matches!(
        b.claim_publisher("b", short).await.unwrap(),
        Claim::Busy { .. }
    ));
    let renewed = held(a.claim_publisher("a", short).await.unwrap());
    assert_eq!(renewed.epoch, first.epoch, "a renewal keeps the epoch");
    assert_eq!(
        b.publisher_lease()
            .await
            .unwrap()
            .map(|l| l.holder)
            .as_deref(),
        Some("a")
    );

    tokio::time::sleep(Duration::from_millis(400)).await;
    let taken = held(
        b.claim_publisher("b", Duration::from_secs(60))
            .await
            .unwrap(),
    );
    assert_eq!(taken.epoch, first.epoch + 1);
    let refused = a.outbox_confirmed(&[seq]).await;
    assert!(
        matches!(refused, Err(StoreError::LeaseLost { .. })),
        "{refused:?}"
    );
    assert_eq!(
        a.outbox_depth().await.unwrap().0,
        1,
        "the row stays for the new holder"
    );
    b.outbox_confirmed(&[seq]).await.unwrap();
    assert_eq!(a.outbox_depth().await.unwrap().0, 0);

    b.release_publisher(&taken).await.unwrap();
    held(a.claim_publisher("a", short).await.unwrap());
}

/// Many polls commit at once on three replicas while a publisher pages
/// through the outbox by seq, as `publish` does: it reads every row. (Seqs
/// handed out in another order than the commits would let it skip one.)
#[tokio::test]
async fn concurrent_writers_never_make_the_outbox_reader_skip_a_row() {
    let db = TestDatabase::create().await;
    let reader = Store::connect(db.url()).await.unwrap();
    let mut writers = tokio::task::JoinSet::new();
    for replica in 0..3 {
        let store = Store::connect(db.url()).await.unwrap();
        for task in 0..4 {
            let store = store.clone();
            writers.spawn(async move {
                for poll in 0..15 {
                    let source = SourceRef {
                        id: format!("r{replica}-t{task}-p{poll}"),
                        name: "Source".into(),
                        url: "http://example.org/feed".into(),
                    };
                    let items: Vec<Item> = (0..3)
                        .map(|n| item(&source, &format!("k{n}"), "T", at(0, n)))
                        .collect();
                    store.apply_items(&source, &items, at(1, 0)).await.unwrap();
                }
            });
        }
    }
    let mut after = 0;
    let mut read = std::collections::BTreeSet::new();
    loop {
        let done = writers.is_empty();
        let page = reader.outbox_pending(after, 50).await.unwrap();
        for message in &page {
            read.insert(message.seq);
            after = message.seq;
        }
        if done && page.is_empty() {
            break;
        }
        while let Some(finished) = writers.try_join_next() {
            finished.unwrap();
        }
    }
    let all: std::collections::BTreeSet<i64> = reader
        .outbox_pending(0, 10_000)
        .await
        .unwrap()
        .iter()
        .map(|m| m.seq)
        .collect();
    assert_eq!(all.len(), 3 * 4 * 15 * 3);
    let skipped: Vec<&i64> = all.difference(&read).collect();
    assert!(skipped.is_empty(), "the reader skipped seqs {skipped:?}");
}

#[tokio::test]
async fn a_replica_hears_of_the_items_another_one_stored() {
    let db = TestDatabase::create().await;
    let writer = Store::connect(db.url()).await.unwrap();
    let reader = Store::connect(db.url()).await.unwrap();
    let mut changes = reader.subscribe();
    // The listener may still be connecting: write until it hears.
    let heard = tokio::time::timeout(Duration::from_secs(10), async {
        for n in 0.. {
            let key = format!("k{n}");
            writer
                .apply_items(
                    &source(),
                    &[item(&source(), &key, &key, at(0, n))],
                    at(1, n),
                )
                .await
                .unwrap();
            if tokio::time::timeout(Duration::from_millis(500), changes.changed())
                .await
                .is_ok()
            {
                return;
            }
        }
    })
    .await;
    assert!(heard.is_ok(), "no notification reached the other replica");
    assert!(!reader.newest_items(10).await.unwrap().is_empty());
}

/// Of many replicas, only the one holding the publisher lease runs
/// retention, and one that lost the lease since deletes nothing.
#[tokio::test]
async fn retention_runs_on_the_publisher_only_and_a_stale_one_deletes_nothing() {
    let db = TestDatabase::create().await;
    let a = Store::connect(db.url()).await.unwrap();
    let b = Store::connect(db.url()).await.unwrap();
    let old = [
        item(&source(), "x", "X", at(0, 0)),
        item(&source(), "y", "Y", at(0, 60)),
    ];
    a.apply_items(&source(), &old, at(1, 0)).await.unwrap();
    let keep = crate::store::Retention {
        max_age: Duration::from_secs(3600),
        min_per_source: 1,
        max_per_source: 0,
    };
    assert!(!a.runs_retention() && !b.runs_retention(), "no lease yet");

    let short = Duration::from_millis(300);
    held(a.claim_publisher("a", short).await.unwrap());
    assert!(a.runs_retention());
    assert!(
        matches!(
            b.claim_publisher("b", short).await.unwrap(),
            Claim::Busy { .. }
        ),
        "a holds it"
    );
    assert!(!b.runs_retention(), "b stands by");

    // a stalls past its lease; b takes it over.
    tokio::time::sleep(Duration::from_millis(400)).await;
    held(
        b.claim_publisher("b", Duration::from_secs(60))
            .await
            .unwrap(),
    );
    assert!(b.runs_retention());
    let refused = a.prune(&keep, at(10, 0)).await;
    assert!(
        matches!(refused, Err(StoreError::LeaseLost { .. })),
        "{refused:?}"
    );
    assert_eq!(
        a.newest_items(10).await.unwrap().len(),
        2,
        "nothing deleted"
    );
    assert_eq!(b.prune(&keep, at(10, 0)).await.unwrap(), 1);
    assert_eq!(a.newest_items(10).await.unwrap()[0].title, "Y");
}

/// `migrate-store` carries the poll outcomes of `/status.html`'s chart.
#[tokio::test]
async fn migrate_store_keeps_the_poll_outcomes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let sqlite = Store::open(&path).unwrap();
    let mut ok = poll("unused", None);
    ok.finished = at(0, 60);
    sqlite.record_poll(ok).await.unwrap();
    let mut failed = poll("unused", None);
    failed.finished = at(0, 120);
    failed.outcome = PollOutcome::Failure {
        reason: "timed out".into(),
        gone: false,
    };
    sqlite.record_poll(failed).await.unwrap();
    let before = sqlite.fetch_outcomes(at(0, 0)).await.unwrap();
    drop(sqlite);

    let db = TestDatabase::create().await;
    let copied = crate::store::migrate_store(&path, db.url()).await.unwrap();
    assert_eq!(copied.fetch_outcomes, 2);
    let store = Store::connect(db.url()).await.unwrap();
    let after = store.fetch_outcomes(at(0, 0)).await.unwrap();
    assert_eq!(after, before);
    assert_eq!((after[0].ok, after[0].failed), (1, 1));
}

/// `migrate-store` carries what duplicates what, and the keys later items
/// are judged against.
#[tokio::test]
async fn migrate_store_keeps_the_duplicates_and_their_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let judged = |source: &SourceRef, key: &str| {
        let mut it = item(source, key, "Reading room opens", at(1, 0));
        it.url = Some("https://www.ifla.org/news/reading-room/".into());
        let mut record = poll("unused", None);
        record.source = source.clone();
        record.outcome = PollOutcome::Success {
            state: FetchState::default(),
            items: vec![it.clone()],
            page_yield: None,
            full_text: Vec::new(),
        };
        record.dedup = crate::dedup::DedupRule::judging();
        (record, it)
    };
    let other = |id: &str| SourceRef {
        id: id.into(),
        ..source()
    };
    let sqlite = Store::open(&path).unwrap();
    let (record, first) = judged(&source(), "a");
    sqlite.record_poll(record).await.unwrap();
    let (record, copy) = judged(&other("copy"), "b");
    sqlite.record_poll(record).await.unwrap();
    drop(sqlite);

    let db = TestDatabase::create().await;
    crate::store::migrate_store(&path, db.url()).await.unwrap();
    let store = Store::connect(db.url()).await.unwrap();
    let verdict = store
        .duplication(copy.id.as_str())
        .await
        .unwrap()
        .duplicate_of;
    assert_eq!(verdict.map(|v| v.of), Some(first.id.clone()));
    let (record, third) = judged(&other("third"), "c");
    store.record_poll(record).await.unwrap();
    let verdict = store
        .duplication(third.id.as_str())
        .await
        .unwrap()
        .duplicate_of;
    assert_eq!(
        verdict.map(|v| (v.of, v.reason)),
        Some((first.id, "same link".into()))
    );
}

/// Two replicas store one story from two sources at the same moment, round
/// after round, alternately with the same link and with other links but
/// the same title and text: each round keeps exactly one original, the
/// other item its duplicate. (Each judging before the other's row was
/// visible, both would stay originals.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_storing_one_story_at_once_keep_one_original() {
    const ROUNDS: i64 = 50;
    let db = TestDatabase::create().await;
    let (a, b) = tokio::join!(Postgres::connect(db.url()), Postgres::connect(db.url()));
    let replicas = [a.unwrap(), b.unwrap()];
    let sources = [
        SourceRef {
            id: "blog-rss".into(),
            name: "Blog (RSS)".into(),
            url: "https://blog.example/feed/".into(),
        },
        SourceRef {
            id: "planet".into(),
            name: "Planet".into(),
            url: "https://planet.example/rss".into(),
        },
    ];
    // Rounds a window apart, each with words of its own, so that only the
    // two items of one round are the same story.
    let story = |source: &SourceRef, round: i64| {
        let tag: String = format!("{round:02}")
            .bytes()
            .map(|d| char::from(b'k' + d - b'0'))
            .collect();
        let published = at(round * 30, 0);
        let mut it = item(
            source,
            &format!("story-{round}"),
            &format!("Reading room {tag} reopens after the flood"),
            published,
        );
        if round % 2 == 1 {
            it.url = Some(format!("https://{}.example/{round}", source.id));
            it.content_html = Some(format!(
                "<p>The {tag} reading room of the city library reopens on Monday after \
                 the spring flood; the stacks were dried, the catalogue computers replaced \
                 and the children's corner painted by volunteers from the {tag} school.</p>"
            ));
            it.content_hash = it.compute_content_hash();
        }
        (it, published)
    };
    for round in 0..ROUNDS {
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
        let mut writes = tokio::task::JoinSet::new();
        for (store, source) in replicas.iter().zip(&sources) {
            let (it, published) = story(source, round);
            let record = PollRecord {
                source: source.clone(),
                url: source.url.clone(),
                started: published + chrono::TimeDelta::hours(1),
                finished: published + chrono::TimeDelta::hours(1),
                next_poll: Utc::now() + chrono::TimeDelta::hours(1),
                outcome: PollOutcome::Success {
                    state: FetchState::default(),
                    items: vec![it],
                    page_yield: None,
                    full_text: Vec::new(),
                },
                retention: crate::store::Retention::default(),
                dedup: crate::dedup::DedupRule::judging(),
                lease: None,
            };
            let (store, barrier) = (store.clone(), barrier.clone());
            writes.spawn(async move {
                barrier.wait().await;
                store.write_poll(&record).await.unwrap();
            });
        }
        writes.join_all().await;
    }
    let conn = replicas[0].conn().await.unwrap();
    let rows = conn
        .query(
            "SELECT guid, COUNT(*), COUNT(*) FILTER (WHERE duplicate_of IS NULL) FROM items
             GROUP BY guid ORDER BY guid",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), usize::try_from(ROUNDS).unwrap());
    let wrong: Vec<(String, i64)> = rows
        .iter()
        .filter(|row| row.get::<_, i64>(1) != 2 || row.get::<_, i64>(2) != 1)
        .map(|row| (row.get(0), row.get(2)))
        .collect();
    assert!(
        wrong.is_empty(),
        "rounds without exactly one original (round, originals): {wrong:?}"
    );
}

/// A 304's write (no item: it commits without waiting for its WAL flush)
/// is fenced as any other, and neither it nor the claim (which commits the
/// same way) leaves `synchronous_commit` off on its connection: the next
/// transaction there, which may store items, waits for its flush again.
#[tokio::test]
async fn a_quiet_commit_is_fenced_and_leaves_its_connection_synchronous() {
    let db = TestDatabase::create().await;
    let store = Postgres::connect(db.url()).await.unwrap();
    let lease = Duration::from_secs(60);
    let url = &source().url;
    // Round `day`'s poll finishes `day` days on: the history keeps two.
    let not_modified = |lease: Lease, etag: &str, day: i64| PollRecord {
        finished: at(1, 1) + chrono::TimeDelta::days(day),
        outcome: PollOutcome::Success {
            state: FetchState {
                etag: Some(etag.into()),
                ..FetchState::default()
            },
            items: Vec::new(),
            page_yield: None,
            full_text: Vec::new(),
        },
        ..poll("unused", Some(lease))
    };
    let history = async || -> Vec<i64> {
        let conn = store.conn().await.unwrap();
        conn.query(
            "SELECT at FROM fetch_outcomes WHERE source_id = 'ifla-news' AND outcome = 'ok' ORDER BY at",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
    };
    let day = |n: i64| crate::store::to_stored(at(1, 1) + chrono::TimeDelta::days(n));
    let due = async || {
        store
            .write_next_poll("ifla-news", Utc::now() - chrono::TimeDelta::seconds(1))
            .await
            .unwrap();
    };
    for (round, day) in [0, 1, 3].into_iter().enumerate() {
        due().await;
        let a = held(
            store
                .claim_source_lease("ifla-news", url, "a", lease, lease, None)
                .await
                .unwrap(),
        );
        store
            .write_poll(&not_modified(a, &format!("\"v{round}\""), day))
            .await
            .unwrap();
    }
    assert_eq!(
        store
            .read_fetch_state("ifla-news")
            .await
            .unwrap()
            .etag
            .as_deref(),
        Some("\"v2\"")
    );
    assert_eq!(
        store
            .read_source_status("ifla-news")
            .await
            .unwrap()
            .unwrap()
            .lease,
        None
    );

    // A holder whose lease another claim took writes nothing, not even a 304.
    due().await;
    let stale = held(
        store
            .claim_source_lease("ifla-news", url, "a", lease, lease, None)
            .await
            .unwrap(),
    );
    store
        .write_next_poll("ifla-news", Utc::now() - chrono::TimeDelta::seconds(1))
        .await
        .unwrap();
    store
        .release_source_lease("ifla-news", &stale)
        .await
        .unwrap();
    let b = held(
        store
            .claim_source_lease("ifla-news", url, "b", lease, lease, None)
            .await
            .unwrap(),
    );
    assert_eq!(history().await, [day(1), day(3)]);
    let refused = store
        .write_poll(&not_modified(stale, "\"stale\"", 4))
        .await
        .expect_err("a stale 304 is refused");
    assert!(
        matches!(refused, StoreError::LeaseLost { .. }),
        "{refused:?}"
    );
    assert_eq!(
        store
            .read_fetch_state("ifla-news")
            .await
            .unwrap()
            .etag
            .as_deref(),
        Some("\"v2\"")
    );
    assert_eq!(history().await, [day(1), day(3)]);
    store
        .write_poll(&not_modified(b, "\"v3\"", 4))
        .await
        .unwrap();
    assert_eq!(history().await, [day(3), day(4)]);

    // Every connection of the pool at once: the ones the claims and writes
    // used among them.
    let mut conns = Vec::new();
    for _ in 0..POOL_SIZE {
        conns.push(store.conn().await.unwrap());
    }
    for conn in &conns {
        let mode: String = conn
            .query_one("SHOW synchronous_commit", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(mode, "on");
    }
}

/// `store.url`'s `sslmode` against a real server that takes TLS only: each
/// mode that asks for TLS gets it (`pg_stat_ssl`), with the certificate
/// checked as the mode says; plain text, an unknown CA and a name the
/// certificate is not made out to are refused, naming `store.url` and never
/// the password.
#[tokio::test]
async fn sslmode_is_honoured_against_a_server_that_takes_tls_only() {
    let server = tokio::task::spawn_blocking(librarywire_testkit::TlsServer::start)
        .await
        .unwrap();
    let url = |host: &str, query: String| {
        format!(
            "postgres://postgres:s3cret@{host}:{}/postgres?{query}",
            server.port()
        )
    };
    let ca = server.ca().display().to_string();
    let other = server.other_ca().display().to_string();
    for (host, query) in [
        ("localhost", format!("sslmode=verify-full&sslrootcert={ca}")),
        ("127.0.0.1", format!("sslmode=verify-ca&sslrootcert={ca}")),
        ("127.0.0.1", "sslmode=require".to_owned()),
        ("127.0.0.1", "sslmode=prefer".to_owned()),
    ] {
        let store = Postgres::connect(&url(host, query.clone()))
            .await
            .unwrap_or_else(|e| panic!("{query}: {e}"));
        let conn = store.conn().await.unwrap();
        let ssl: bool = conn
            .query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert!(ssl, "{query}: connected in plain text");
    }
    for (host, query, why) in [
        ("127.0.0.1", "sslmode=disable".to_owned(), "no encryption"),
        ("127.0.0.1", String::new(), "no encryption"),
        (
            "localhost",
            format!("sslmode=verify-full&sslrootcert={other}"),
            "certificate",
        ),
        (
            "127.0.0.1",
            format!("sslmode=require&sslrootcert={other}"),
            "certificate",
        ),
        (
            "127.0.0.1",
            format!("sslmode=verify-full&sslrootcert={ca}"),
            "certificate",
        ),
    ] {
        let err = Postgres::connect(&url(host, query.clone()))
            .await
            .err()
            .unwrap_or_else(|| panic!("{query} to {host} must be refused"));
        let said = err.to_string();
        assert!(
            matches!(err, StoreError::Connect { .. }),
            "{query}: {err:?}"
        );
        assert!(said.contains("store.url"), "{said}");
        assert!(said.contains(why), "{query}: {said}");
        assert!(!said.contains("s3cret"), "{said}");
    }
}

/// `migrate-store` carries each item's article state: a fetched article
/// is not fetched again on the new store, and its body is kept.
#[tokio::test]
async fn migrate_store_keeps_the_article_states() {
    use crate::store::{FullTextAttempt, FullTextState};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let sqlite = Store::open(&path).unwrap();
    let fetched = item(&source(), "a", "Fetched", at(0, 0));
    let waiting = crate::item::ItemId::derive("ifla-news", "waiting");
    let mut record = poll("a", None);
    record.outcome = PollOutcome::Success {
        state: FetchState::default(),
        items: vec![fetched.clone()],
        page_yield: None,
        full_text: vec![
            FullTextAttempt::Fetched {
                item_id: fetched.id.clone(),
                content_html: Some("<p>The article.</p>".into()),
            },
            FullTextAttempt::Failed {
                item_id: waiting.clone(),
                reason: "HTTP 500".into(),
                last: false,
            },
        ],
    };
    sqlite.record_poll(record).await.unwrap();
    drop(sqlite);

    let db = TestDatabase::create().await;
    let copied = crate::store::migrate_store(&path, db.url()).await.unwrap();
    assert_eq!(copied.full_text, 2);
    let store = Store::connect(db.url()).await.unwrap();
    let states = store
        .full_text_states(&[fetched.id.clone(), waiting.clone()])
        .await
        .unwrap();
    assert_eq!(
        states[&fetched.id],
        FullTextState {
            fetched: true,
            failures: 0,
            given_up: false,
            content_html: Some("<p>The article.</p>".into()),
        }
    );
    assert_eq!(states[&waiting].failures, 1);
    assert!(!states[&waiting].fetched && !states[&waiting].given_up);
}
