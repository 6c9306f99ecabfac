//! Tests of the SQLite backend's own machinery: the file, its schema steps,
//! its connections, its query plans. What every backend must do is tested
//! once, on each, in `store/tests.rs`.

use super::items::item_from_row;
use super::query::{Search, filtered_sql, match_expression, search_for};
use super::*;
use crate::store::PageYield;
use crate::store::query::FEW_MATCHES;
use crate::store::tests::{at, filed, item, keys, lettered, minute};
use std::sync::atomic::{AtomicBool, Ordering};

fn ifla() -> SourceRef {
    SourceRef {
        id: "ifla-news".into(),
        name: "IFLA News".into(),
        url: "https://www.ifla.org/news/feed/".into(),
    }
}

/// The five items of the shared filter tests, in a fresh file.
fn filter_store() -> (tempfile::TempDir, Sqlite) {
    let (dir, store) = open_temp();
    let (a, b) = (lettered("a"), lettered("b"));
    store
        .write_items(
            &a,
            &[
                filed(&a, "a1", "Reading room opens", &["Events"], 1),
                filed(&a, "a2", "ÉTÉ à la bibliothèque", &["Été", "News"], 3),
                filed(&a, "a3", "Budget report", &["Reports"], 5),
            ],
            minute(10),
        )
        .unwrap();
    store
        .write_items(
            &b,
            &[
                filed(&b, "b1", "Open access week", &["events"], 2),
                filed(&b, "b2", "New reading lists", &["News"], 4),
            ],
            minute(10),
        )
        .unwrap();
    (dir, store)
}

fn open_temp() -> (tempfile::TempDir, Sqlite) {
    let dir = tempfile::tempdir().unwrap();
    let store = Sqlite::open(&dir.path().join("store.db")).unwrap();
    (dir, store)
}

#[test]
fn a_second_open_of_one_file_is_refused_until_the_first_closes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let first = Sqlite::open(&path).unwrap();
    let refused = Sqlite::open(&path).err().expect("a second open is refused");
    assert!(matches!(refused, StoreError::Locked { .. }), "{refused:?}");
    let said = refused.to_string();
    assert!(said.contains("store.db"), "{said}");
    assert!(said.contains("another librarywire process"), "{said}");
    assert!(said.contains("store.url"), "{said}");
    drop(first);
    Sqlite::open(&path).expect("free again once the first is closed");
}

/// Only a write that changed rows ends a write problem: on a full disk a
/// transaction with nothing to write still commits.
#[test]
fn a_write_that_changes_nothing_proves_nothing() {
    let (_dir, store) = open_temp();
    let full = || {
        Err::<(), _>(StoreError::Sqlite(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(13),
            None,
        )))
    };
    let _ = store.noted(full);
    assert_eq!(store.inner.health.problems().len(), 1);
    store.noted(|| store.delete_confirmed(&[42])).unwrap();
    assert_eq!(store.inner.health.problems().len(), 1);
    store
        .noted(|| store.write_next_poll("a-source", at(1, 0)))
        .unwrap();
    assert!(store.inner.health.problems().is_empty());
}

#[test]
fn open_creates_folders_and_sets_up_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a").join("b").join("store.db");
    let store = Sqlite::open(&path).unwrap();
    assert!(path.is_file());
    assert_eq!(store.inner.path, path);

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
    drop(Sqlite::open(&path).unwrap());
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();

    let err = Sqlite::open(&path).err().expect("refused");
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
    let err = Sqlite::open(&path).err().expect("refused");
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    assert!(err.to_string().contains("notes.db"), "{err}");
}

/// SQLite's plan for `sql` with `params`, a line a step.
fn query_plan(conn: &rusqlite::Connection, sql: &str, params: impl rusqlite::Params) -> String {
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    let plan: Vec<String> = stmt
        .query_map(params, |row| row.get(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    plan.join("\n")
}

#[test]
fn newest_items_reads_an_index_instead_of_sorting() {
    let (_dir, store) = open_temp();
    let plan = query_plan(&store.reader().unwrap(), &items::newest_items_sql(), [10]);
    assert!(plan.contains("items_by_published"), "{plan}");
    assert!(!plan.contains("TEMP B-TREE"), "{plan}");
}

#[test]
fn bad_stored_json_is_an_error_naming_the_row_and_column() {
    let (_dir, store) = open_temp();
    let a = item(&ifla(), "a", "A", at(1, 0));
    store
        .write_items(&ifla(), std::slice::from_ref(&a), at(2, 0))
        .unwrap();
    store
        .writer()
        .execute(
            "UPDATE items SET categories = '{not json' WHERE id = ?1",
            [a.id.as_str()],
        )
        .unwrap();

    let err = store.read_item(a.id.as_str()).unwrap_err();
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
    assert!(
        store
            .read_feed(&ItemFilter::default(), 10)
            .map(|f| f.items)
            .is_err()
    );
}

#[test]
fn readers_run_beside_a_writer_without_busy_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = Sqlite::open(&path).unwrap();
    let done = Arc::new(AtomicBool::new(false));

    let readers: Vec<_> = [store.clone(), store.clone(), store.clone()]
        .into_iter()
        .map(|reader| {
            let done = Arc::clone(&done);
            std::thread::spawn(move || -> Result<usize, StoreError> {
                let mut reads = 0;
                while !done.load(Ordering::Relaxed) {
                    reader
                        .read_feed(&ItemFilter::default(), 50)
                        .map(|f| f.items)?;
                    reader.read_outbox(0, 50)?;
                    reader.read_source_statuses()?;
                    reader.read_outbox_depth()?;
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
        store.write_items(&ifla(), &items, at(100, poll)).unwrap();
    }
    done.store(true, Ordering::Relaxed);
    for reader in readers {
        let reads = reader
            .join()
            .expect("reader thread")
            .expect("reads succeed");
        assert!(reads > 0);
    }
    assert_eq!(store.read_outbox_depth().unwrap().0, 2000);
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
    let outcome = store.write_items(&ifla(), &items, at(1, 0)).unwrap();
    let new_items = start.elapsed();
    assert_eq!(outcome.new, 1000);
    let start = std::time::Instant::now();
    store.write_items(&ifla(), &items, at(2, 0)).unwrap();
    let unchanged = start.elapsed();
    let start = std::time::Instant::now();
    store
        .read_feed(&ItemFilter::default(), 100)
        .map(|f| f.items)
        .unwrap();
    let newest = start.elapsed();
    println!(
        "apply_items, 1000 new: {new_items:?}; 1000 unchanged: {unchanged:?}; newest_items(100): {newest:?}"
    );
}

#[test]
fn a_version_1_file_gains_the_page_columns_and_keeps_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = Sqlite::open(&path).unwrap();
    sources::record_success(
        &store.writer(),
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
    drop_full_text_state(&conn);
    drop_duplicate_columns(&conn);
    drop_full_text_index(&conn);
    conn.execute_batch(
        "ALTER TABLE sources DROP COLUMN not_followed;
         ALTER TABLE sources DROP COLUMN warning;
         ALTER TABLE sources DROP COLUMN page_baseline;
         PRAGMA user_version = 1;",
    )
    .unwrap();
    drop(conn);

    let store = Sqlite::open(&path).unwrap();
    let status = store.read_source_status("ifla-news").unwrap().unwrap();
    assert_eq!(status.last_success, Some(at(1, 0)));
    assert_eq!(status.warning, None);
    assert_eq!(store.read_page_baseline("ifla-news").unwrap(), None);
    let page_yield = |baseline, warning: Option<&str>| PageYield {
        baseline: Some(baseline),
        warning: warning.map(str::to_owned),
        not_followed: None,
    };
    sources::record_page_yield(
        &store.writer(),
        "nlc",
        "https://www.nlc.cn/enweb/",
        &page_yield(12, Some("selectors may be stale: x")),
    )
    .unwrap();
    assert_eq!(store.read_page_baseline("nlc").unwrap(), Some(12));
    let nlc = store.read_source_status("nlc").unwrap().unwrap();
    assert_eq!(nlc.warning.as_deref(), Some("selectors may be stale: x"));
    // A successful poll does not clear a page's warning; only its next yield does.
    sources::record_success(
        &store.writer(),
        "nlc",
        "https://www.nlc.cn/enweb/",
        &FetchState::default(),
        at(2, 600),
        at(2, 0),
    )
    .unwrap();
    assert!(
        store
            .read_source_status("nlc")
            .unwrap()
            .unwrap()
            .warning
            .is_some()
    );
    sources::record_page_yield(
        &store.writer(),
        "nlc",
        "https://www.nlc.cn/enweb/",
        &page_yield(11, None),
    )
    .unwrap();
    assert_eq!(
        store.read_source_status("nlc").unwrap().unwrap().warning,
        None
    );
}

/// The guids of the items whose title or summary holds `word` (`?q=`).
fn guids_matching(store: &Sqlite, word: &str) -> Vec<String> {
    let filter = ItemFilter {
        words: vec![word.into()],
        ..ItemFilter::default()
    };
    let mut found: Vec<String> = store
        .read_feed(&filter, 10)
        .unwrap()
        .items
        .into_iter()
        .map(|i| i.guid)
        .collect();
    found.sort();
    found
}

/// How many items the full-text index finds for the trigram "rea" (the
/// index alone, without the exact test of the rows).
fn indexed_rea(store: &Sqlite) -> i64 {
    store
        .reader()
        .unwrap()
        .query_row(
            "SELECT COUNT(*) FROM items_fts WHERE items_fts MATCH '\"rea\"'",
            [],
            |row| row.get(0),
        )
        .unwrap()
}

/// A store at `path` holding `items` of IFLA, seen at(2, 0), their outbox
/// messages published (deleted); closed.
fn published_file(path: &std::path::Path, items: &[Item]) {
    let store = Sqlite::open(path).unwrap();
    store.write_items(&ifla(), items, at(2, 0)).unwrap();
    let drained: Vec<i64> = store
        .read_outbox(0, 10)
        .unwrap()
        .iter()
        .map(|m| m.seq)
        .collect();
    store.delete_confirmed(&drained).unwrap();
}

/// Undoes migration step 8: the triggers write to the full-text index
/// again, as step 3 made them, and its queue goes.
fn undo_index_queue(conn: &rusqlite::Connection) {
    conn.execute_batch(
        "DROP TABLE items_fts_pending;
         DROP TRIGGER items_fts_insert;
         DROP TRIGGER items_fts_delete;
         DROP TRIGGER items_fts_update;
         CREATE TRIGGER items_fts_insert AFTER INSERT ON items BEGIN
             INSERT INTO items_fts (rowid, title, summary)
             VALUES (new.rowid, new.title, new.summary);
         END;
         CREATE TRIGGER items_fts_delete AFTER DELETE ON items BEGIN
             INSERT INTO items_fts (items_fts, rowid, title, summary)
             VALUES ('delete', old.rowid, old.title, old.summary);
         END;
         CREATE TRIGGER items_fts_update AFTER UPDATE OF title, summary ON items BEGIN
             INSERT INTO items_fts (items_fts, rowid, title, summary)
             VALUES ('delete', old.rowid, old.title, old.summary);
             INSERT INTO items_fts (rowid, title, summary)
             VALUES (new.rowid, new.title, new.summary);
         END;",
    )
    .unwrap();
}

/// The same-title lookup of a new item's judging reads only the index:
/// never the rows, whose content runs over several pages (schema step 9).
#[test]
fn the_same_title_lookup_reads_only_its_index() {
    let (_dir, store) = open_temp();
    let plan = query_plan(
        &store.writer(),
        &super::dedup::title_candidates_sql(),
        rusqlite::params!["reading room opens", 0, 1, "ifla", 50],
    );
    assert!(
        plan.contains("USING COVERING INDEX items_by_dedup_title"),
        "{plan}"
    );
}

/// How many times SQLite compiled `sql` again while it ran on `conn` once
/// with each of `bindings`.
fn recompiles(conn: &rusqlite::Connection, sql: &str, bindings: &[&[&dyn rusqlite::ToSql]]) -> i32 {
    let mut stmt = conn.prepare(sql).unwrap();
    for params in bindings {
        let mut rows = stmt.query(*params).unwrap();
        while rows.next().unwrap().is_some() {}
    }
    stmt.get_status(rusqlite::StatementStatus::RePrepare)
}

/// A statement run again with new values keeps its compiled plan: the
/// duplicate lookups run for every new item on the writer, the feed's
/// query for every render on a reader. Both end in a `LIMIT ?`, which
/// SQLite would compile again at every new binding.
#[test]
fn statements_run_again_are_not_compiled_again() {
    let (_dir, store) = open_temp();
    let title = super::dedup::title_candidates_sql();
    let lookups: [&[&dyn rusqlite::ToSql]; 3] = [
        &[&"reading room opens", &0, &1, &"ifla", &50],
        &[&"new director", &2, &3, &"nlc", &50],
        &[&"new director", &2, &3, &"nlc", &10],
    ];
    assert_eq!(recompiles(&store.writer(), &title, &lookups), 0);
    let feeds: [&[&dyn rusqlite::ToSql]; 2] = [&[&10], &[&100]];
    let reader = store.reader().unwrap();
    assert_eq!(recompiles(&reader, &items::newest_items_sql(), &feeds), 0);
}

/// The segments of the full-text index: FTS5 keeps one `%_idx` row per
/// segment and leaf page.
fn index_segments(store: &Sqlite) -> i64 {
    store
        .reader()
        .unwrap()
        .query_row("SELECT COUNT(DISTINCT segid) FROM items_fts_idx", [], |r| {
            r.get(0)
        })
        .unwrap()
}

/// A poll's items reach the full-text index in one segment, written just
/// before the commit, however many statements the poll ran (before step 8
/// FTS5 wrote one at each statement's savepoint, three or more an item).
#[test]
fn a_poll_adds_one_segment_to_the_full_text_index() {
    let dir = tempfile::tempdir().unwrap();
    let store = Sqlite::open(&dir.path().join("store.db")).unwrap();
    let source = ifla();
    let items: Vec<Item> = (0..20)
        .map(|k| {
            item(
                &source,
                &format!("g{k}"),
                &format!("Reading room {k} opens"),
                at(1, k),
            )
        })
        .collect();
    store.write_items(&source, &items, at(2, 0)).unwrap();
    assert_eq!(index_segments(&store), 1);
    let pending: i64 = store
        .reader()
        .unwrap()
        .query_row("SELECT COUNT(*) FROM items_fts_pending", [], |r| r.get(0))
        .unwrap();
    assert_eq!(pending, 0, "the queue is empty once committed");
}

/// A version-7 file, whose triggers wrote to the index directly, keeps its
/// items found by `?q=` after the migration; its later writes, edits and
/// deletes reach the index through the queue; nothing is published again.
#[test]
fn a_version_7_file_keeps_its_index_and_indexes_through_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let source = ifla();
    published_file(&path, &[item(&source, "a", "Reading room opens", at(1, 0))]);
    let conn = rusqlite::Connection::open(&path).unwrap();
    undo_index_queue(&conn);
    conn.execute_batch("PRAGMA user_version = 7;").unwrap();
    // Written by the version-7 triggers, straight into the index.
    conn.execute(
        "UPDATE items SET title = 'Budget report', summary = 'Summary of Budget report'
         WHERE guid = 'a'",
        [],
    )
    .unwrap();
    drop(conn);

    let store = Sqlite::open(&path).unwrap();
    let search = |word: &str| guids_matching(&store, word);
    assert_eq!(search("budget"), ["a"]);
    assert!(search("reading").is_empty());
    assert!(
        store.read_outbox(0, 10).unwrap().is_empty(),
        "nothing republished"
    );
    // A new item and an edit through the queue.
    let mut edited = item(&source, "a", "Budget report", at(1, 0));
    edited.summary = "Annual figures of the reading room".into();
    edited.content_hash = edited.compute_content_hash();
    store
        .write_items(
            &source,
            &[
                edited,
                item(&source, "b", "Conference in Leiden", at(1, 60)),
            ],
            at(3, 0),
        )
        .unwrap();
    assert_eq!(search("leiden"), ["b"]);
    assert_eq!(search("figures"), ["a"]);
    assert_eq!(search("budget"), ["a"]);
    // A delete through the queue: retention drops both (keep none, any age).
    let retention = Retention {
        max_age: std::time::Duration::from_secs(1),
        min_per_source: 0,
        max_per_source: 0,
    };
    assert_eq!(store.write_prune(&retention, at(400, 0)).unwrap(), 2);
    assert!(search("leiden").is_empty());
    assert!(search("budget").is_empty());
    assert_eq!(indexed_rea(&store), 0, "no item left in the index");
    store
        .writer()
        .execute(
            "INSERT INTO items_fts (items_fts) VALUES ('integrity-check')",
            [],
        )
        .expect("the index agrees with the items");
}

/// Undoes migration step 7, the poll outcomes, in the file of `conn`.
fn drop_fetch_outcomes(conn: &rusqlite::Connection) {
    conn.execute_batch("DROP TABLE fetch_outcomes;").unwrap();
}

/// Undoes step 6: the article state of full-text items.
fn drop_full_text_state(conn: &rusqlite::Connection) {
    conn.execute_batch("DROP TABLE full_text;").unwrap();
}

/// A store written before full text (version 5) opens and migrates: its
/// items stay, nothing is published again, and article state is kept from
/// then on.
#[test]
fn a_version_5_file_gains_the_article_state_and_republishes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let old = [item(&ifla(), "a", "Reading room opens", at(1, 0))];
    published_file(&path, &old);
    let conn = rusqlite::Connection::open(&path).unwrap();
    drop_fetch_outcomes(&conn);
    drop_full_text_state(&conn);
    undo_index_queue(&conn);
    conn.execute_batch("PRAGMA user_version = 5;").unwrap();
    drop(conn);

    let store = Sqlite::open(&path).unwrap();
    assert_eq!(
        store
            .read_feed(&ItemFilter::default(), 10)
            .unwrap()
            .items
            .len(),
        1
    );
    assert!(store.read_outbox(0, 10).unwrap().is_empty());
    assert!(
        store
            .read_full_text_states(&[old[0].id.clone()])
            .unwrap()
            .is_empty()
    );
    let mut writer = store.writer();
    let attempt = crate::store::FullTextAttempt::Fetched {
        item_id: old[0].id.clone(),
        content_html: None,
    };
    super::full_text::record_full_text(
        &writer.transaction().unwrap(),
        "ifla-news",
        &[attempt],
        at(3, 0),
    )
    .unwrap();
    drop(writer);
    let version: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, schema::current_version());
}

/// A version-6 file gains the poll outcomes' table, empty, and its next
/// poll is kept there.
#[test]
fn a_version_6_file_gains_the_poll_outcomes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = Sqlite::open(&path).unwrap();
    let source = ifla();
    store
        .write_items(&source, &[item(&source, "a", "One", at(0, 0))], at(1, 0))
        .unwrap();
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    drop_fetch_outcomes(&conn);
    undo_index_queue(&conn);
    conn.execute_batch("PRAGMA user_version = 6;").unwrap();
    drop(conn);

    let store = Sqlite::open(&path).unwrap();
    assert!(store.read_fetch_outcomes(at(0, 0)).unwrap().is_empty());
    assert_eq!(store.read_items_per_day(at(0, 0)).unwrap().len(), 1);
}

/// Undoes migration step 5, the duplicates' columns, in the file of `conn`,
/// and the step of the poll outcomes.
fn drop_duplicate_columns(conn: &rusqlite::Connection) {
    drop_fetch_outcomes(conn);
    conn.execute_batch(
        "DROP INDEX items_by_dedup_link;
         DROP INDEX items_by_dedup_guid;
         DROP INDEX items_by_dedup_title;
         DROP INDEX items_by_duplicate_of;
         DROP INDEX items_duplicates_by_source;
         ALTER TABLE items DROP COLUMN dedup_link;
         ALTER TABLE items DROP COLUMN dedup_guid;
         ALTER TABLE items DROP COLUMN dedup_title;
         ALTER TABLE items DROP COLUMN dedup_signature;
         ALTER TABLE items DROP COLUMN duplicate_of;
         ALTER TABLE items DROP COLUMN duplicate_source;
         ALTER TABLE items DROP COLUMN duplicate_reason;",
    )
    .unwrap();
}

/// A store written before duplicates were judged (version 4) opens and
/// migrates; its items are not judged and nothing is published again, and
/// a later item of another source with an old item's link is not judged
/// against it (the old item has no keys).
#[test]
fn a_version_4_file_gains_the_duplicate_columns_and_republishes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let old = [
        item(&ifla(), "a", "Reading room opens", at(1, 0)),
        item(&ifla(), "b", "Budget report", at(1, 60)),
    ];
    published_file(&path, &old);
    let conn = rusqlite::Connection::open(&path).unwrap();
    drop_full_text_state(&conn);
    drop_duplicate_columns(&conn);
    undo_index_queue(&conn);
    conn.execute_batch("PRAGMA user_version = 4;").unwrap();
    drop(conn);

    let store = Sqlite::open(&path).unwrap();
    assert_eq!(
        store
            .read_feed(&ItemFilter::default(), 10)
            .unwrap()
            .items
            .len(),
        2
    );
    assert!(store.read_outbox(0, 10).unwrap().is_empty());
    // The same poll again: unchanged, nothing queued, nothing judged.
    let judging = crate::dedup::DedupRule::judging();
    let mut writer = store.writer();
    let tx = writer.transaction().unwrap();
    let outcome = items::apply_in(
        &tx,
        &ifla(),
        &old,
        at(3, 0),
        &Default::default(),
        &judging,
        &Default::default(),
    )
    .unwrap();
    assert_eq!(outcome.unchanged, 2);
    let other = SourceRef {
        id: "other".into(),
        ..ifla()
    };
    let copy = item(&other, "a", "Reading room opens", at(1, 0));
    items::apply_in(
        &tx,
        &other,
        std::slice::from_ref(&copy),
        at(3, 0),
        &Default::default(),
        &judging,
        &Default::default(),
    )
    .unwrap();
    tx.commit().unwrap();
    drop(writer);
    assert!(
        store
            .read_duplication(old[0].id.as_str())
            .unwrap()
            .duplicates
            .is_empty()
    );
    assert_eq!(
        store
            .read_duplication(copy.id.as_str())
            .unwrap()
            .duplicate_of,
        None
    );
    assert_eq!(
        store.read_outbox(0, 10).unwrap().len(),
        1,
        "only the new item"
    );
}

/// Undoes migration step 3, the full-text index, in the file of `conn`
/// (and step 8, its queue).
fn drop_full_text_index(conn: &rusqlite::Connection) {
    conn.execute_batch(
        "DROP TABLE items_fts_pending;
         DROP TRIGGER items_fts_insert;
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
    let store = Sqlite::open(&path).unwrap();
    store
        .write_items(
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
    drop_full_text_state(&conn);
    drop_duplicate_columns(&conn);
    drop_full_text_index(&conn);
    conn.execute_batch(
        "ALTER TABLE sources DROP COLUMN not_followed;
         PRAGMA user_version = 2;",
    )
    .unwrap();
    drop(conn);

    let store = Sqlite::open(&path).unwrap();
    let search = |word: &str| guids_matching(&store, word);
    assert_eq!(search("reading"), ["a"]);
    assert_eq!(search("budget"), ["b"]);
    assert_eq!(indexed_rea(&store), 1, "the stored items are in the index");
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

/// Every word in the title or the summary, as substrings, through each
/// way of using the full-text index: the same items as testing every
/// row, with the index consulted or not.
#[test]
fn each_use_of_the_index_finds_what_testing_every_row_finds() {
    let (_dir, store) = filter_store();
    let a = lettered("a");
    // Enough items with one common word for the walk over the index.
    let many: Vec<Item> = (0..FEW_MATCHES + 50)
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
    store.write_items(&a, &many, minute(10)).unwrap();
    let conn = store.reader().unwrap();
    let run = |filter: &ItemFilter, search: &Search| {
        let (sql, params) = filtered_sql(filter, 30, search);
        let mut stmt = conn.prepare(&sql).unwrap();
        let mut rows = stmt.query(rusqlite::params_from_iter(params)).unwrap();
        let mut keys = Vec::new();
        while let Some(row) = rows.next().unwrap() {
            keys.push(item_from_row(row).unwrap().0.guid);
        }
        keys
    };
    for (words, sources) in [
        (vec!["reading"], vec![]),
        (vec!["ading", "room"], vec![]),
        (vec!["été"], vec![]),
        (vec!["opening"], vec![]),
        (vec!["opening", "hours", "20"], vec![]),
        (vec!["hours"], vec!["a", "b"]),
        (vec!["summary"], vec!["b"]),
    ] {
        let filter = ItemFilter {
            words: words.iter().map(|w| ItemFilter::fold(w)).collect(),
            sources: sources.iter().map(|s| (*s).to_owned()).collect(),
            ..ItemFilter::default()
        };
        let expected = run(&filter, &Search::Walk);
        let expression = match_expression(&filter.words).unwrap();
        for search in [Search::Few(expression.clone()), Search::Many(expression)] {
            assert_eq!(
                run(&filter, &search),
                expected,
                "{words:?} {sources:?} {search:?}"
            );
        }
        let chosen = store.read_feed(&filter, 30).map(|f| f.items).unwrap();
        assert_eq!(keys(&chosen), expected, "{words:?} {sources:?}");
    }
    let common = ItemFilter {
        words: vec!["opening".into()],
        ..ItemFilter::default()
    };
    assert!(matches!(
        search_for(&conn, &common).unwrap(),
        Search::Many(_)
    ));
    let rare = ItemFilter {
        words: vec!["budget".into()],
        ..ItemFilter::default()
    };
    assert!(matches!(search_for(&conn, &rare).unwrap(), Search::Few(_)));
    let short = ItemFilter {
        words: vec!["b1".into()],
        ..ItemFilter::default()
    };
    assert_eq!(search_for(&conn, &short).unwrap(), Search::Walk);
}

/// A read past its budget is stopped, says so, and leaves the
/// connection as it was.
#[test]
fn a_read_past_its_budget_is_stopped() {
    let (_dir, store) = filter_store();
    let mut conn = store.reader().unwrap();
    // Seconds of work: far past the budget, but it ends without one.
    let endless = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 20000000) \
                   SELECT COUNT(*) FROM n";
    let budget = std::time::Duration::from_millis(100);
    let started = std::time::Instant::now();
    let stopped = super::within_budget(&mut conn, budget, |conn| {
        Ok(conn.query_row(endless, [], |row| row.get::<_, i64>(0))?)
    });
    assert!(
        matches!(stopped, Err(StoreError::TimeBudget { budget: b }) if b == budget),
        "{stopped:?}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    let after: i64 = conn
        .query_row("SELECT 2 + 2", [], |row| row.get(0))
        .unwrap();
    assert_eq!(
        after, 4,
        "the connection reads again, with no budget left on it"
    );
}

/// `/status.html`'s items per day read the date index only, from the
/// first day on.
#[test]
fn items_per_day_read_a_range_of_the_date_index() {
    let (_dir, store) = filter_store();
    let plan = query_plan(
        &store.reader().unwrap(),
        super::history::ITEMS_PER_DAY,
        rusqlite::params![0_i64, super::history::DAY_MICROS],
    );
    assert!(
        plan.contains("USING COVERING INDEX items_by_published (published>?)"),
        "{plan}"
    );
}

/// A cursor in the middle of any store.
fn cursor() -> crate::store::Cursor {
    crate::store::Cursor {
        published: chrono::Utc::now(),
        id: "0123456789abcdef0123456789abcdef".into(),
    }
}

/// The plan walks an index in feed order; a `USE TEMP B-TREE FOR ORDER
/// BY` over the items table would mean sorting every matching row.
#[test]
fn filtered_queries_walk_an_index_instead_of_sorting() {
    let (_dir, store) = filter_store();
    let filters = [
        ItemFilter {
            category: Some("news".into()),
            words: vec!["x".into()],
            ..ItemFilter::default()
        },
        ItemFilter {
            sources: vec!["a".into(), "b".into()],
            category: Some("news".into()),
            ..ItemFilter::default()
        },
        // The HTML page's older pages: the walk starts at the cursor.
        ItemFilter {
            before: Some(cursor()),
            ..ItemFilter::default()
        },
        ItemFilter {
            sources: vec!["a".into()],
            before: Some(cursor()),
            ..ItemFilter::default()
        },
    ];
    let conn = store.reader().unwrap();
    for filter in filters {
        let (sql, params) = filtered_sql(&filter, 10, &Search::Walk);
        let plan = query_plan(&conn, &sql, rusqlite::params_from_iter(params));
        assert!(
            plan.contains("USING INDEX items_by_"),
            "{filter:?}:\n{plan}"
        );
        let scans_items = plan
            .lines()
            .any(|l| l.contains("SCAN items") && !l.contains("USING INDEX"));
        assert!(!scans_items, "{filter:?}:\n{plan}");
        if filter.before.is_some() {
            // A range of the index, not a walk from the newest testing rows.
            assert!(plan.contains("(published,id)<(?,?)"), "{filter:?}:\n{plan}");
        }
        // Merging the per-source subqueries may sort their rows, at
        // most `limit` each; nothing sorts rows read from items.
        let lines: Vec<&str> = plan.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if line.contains("TEMP B-TREE") {
                let after = i.checked_sub(1).map(|j| lines[j]).unwrap_or("");
                assert!(after.starts_with("SCAN (subquery"), "{filter:?}:\n{plan}");
            }
        }
    }
}

/// A successful poll of `source` at 01:00 with the one item `item`.
fn poll_of_one(source: &SourceRef, item: Item) -> PollRecord {
    PollRecord {
        source: source.clone(),
        url: source.url.clone(),
        started: at(1, 0),
        finished: at(1, 0),
        next_poll: at(2, 0),
        outcome: crate::store::PollOutcome::Success {
            state: crate::fetch::FetchState::default(),
            items: vec![item],
            page_yield: None,
            full_text: Vec::new(),
        },
        retention: Retention::default(),
        dedup: crate::dedup::DedupRule::default(),
        lease: None,
    }
}

#[test]
fn a_poll_queued_as_the_poll_writer_stops_is_written_by_it() {
    let (_dir, store) = open_temp();
    let polls = &store.inner.polls;
    let source = lettered("a");
    let record = poll_of_one(&source, item(&source, "a1", "Reading room opens", at(0, 0)));
    // The poll writer is at work and has just found no poll left; a poll
    // comes, and its caller leaves it to that writer.
    assert!(polls.start_writing());
    let mut outcome = polls.push(record, Default::default());
    assert!(!polls.start_writing());
    // The writer's last look finds it, and goes on to write it.
    assert!(polls.stop_writing());
    store.clone().write_waiting_polls();
    assert_eq!(outcome.try_recv().unwrap().unwrap().applied.new, 1);
    assert!(polls.start_writing(), "the flag is free again");
}

/// Many polls finishing at once, from many tasks, while the writer is also
/// taken by other writes: every poll is written and gets its outcome (the
/// poll writer stops only once no poll is left waiting), none waits for
/// another's caller.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn polls_finishing_at_once_are_all_written() {
    let (_dir, store) = open_temp();
    let tasks: Vec<_> = (0..40)
        .map(|task| {
            let store = store.clone();
            tokio::spawn(async move {
                for round in 0..10 {
                    let source = lettered(&format!("t{task:02}"));
                    let key = format!("r{round}");
                    let story = item(&source, &key, &format!("Story {task} {round}"), at(0, 0));
                    let record = poll_of_one(&source, story);
                    let recorded = store.record_poll(record).await.unwrap();
                    assert_eq!(recorded.applied.new, 1);
                    if round % 3 == 0 {
                        // The writer taken between polls, as the outbox's
                        // removal takes it.
                        let s = store.clone();
                        tokio::task::spawn_blocking(move || s.writer().execute_batch("SELECT 1"))
                            .await
                            .unwrap()
                            .unwrap();
                    }
                }
            })
        })
        .collect();
    let all = futures_util::future::try_join_all(tasks);
    tokio::time::timeout(Duration::from_secs(60), all)
        .await
        .expect("every poll is written")
        .unwrap();
    let stored: i64 = store
        .reader()
        .unwrap()
        .query_row("SELECT COUNT(*) FROM items", [], |row| row.get(0))
        .unwrap();
    assert_eq!(stored, 400);
    assert!(store.inner.polls.lock().is_empty());
}

/// A store closed as soon as its last poll is written opens again at once:
/// the poll writer has let go of it before that poll's outcome went out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_closed_on_its_last_poll_outcome_opens_again_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let source = lettered("a");
    for round in 0..100 {
        let store = Sqlite::open(&path).unwrap_or_else(|e| panic!("round {round}: {e}"));
        let story = item(
            &source,
            &format!("r{round}"),
            "Reading room opens",
            at(0, 0),
        );
        store
            .record_poll(poll_of_one(&source, story))
            .await
            .unwrap();
    }
}
