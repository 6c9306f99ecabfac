//! The schema, as a list of migration steps tracked by `PRAGMA user_version`.
//!
//! Step `n` (counting from 1) moves a file from version `n - 1` to `n`. Steps
//! are only ever appended: a released step is never edited, because files in
//! the field already ran it.

use crate::store::StoreError;
use crate::store::schema::{VersionSlot, next_step};
use rusqlite::{Connection, TransactionBehavior};

/// Every migration step, oldest first.
const MIGRATIONS: &[&str] = &[
    // 1: sources, items, revisions, retired items, outbox.
    r#"
    CREATE TABLE sources (
        id                   TEXT PRIMARY KEY NOT NULL,
        url                  TEXT NOT NULL,
        etag                 TEXT,
        last_modified        TEXT,
        permanent_url        TEXT,
        last_attempt         INTEGER,
        last_success         INTEGER,
        last_error           TEXT,
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        -- When the current run of failures began; NULL while the source works.
        failing_since        INTEGER,
        -- 1 once the source answered 410 Gone: it is not polled again until
        -- a restart or a config change, and /status says so.
        gone                 INTEGER NOT NULL DEFAULT 0,
        next_poll            INTEGER
    );

    CREATE TABLE items (
        id                    TEXT PRIMARY KEY NOT NULL,
        source_id             TEXT NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
        source_name           TEXT NOT NULL,
        source_url            TEXT NOT NULL,
        guid                  TEXT NOT NULL,
        url                   TEXT,
        title                 TEXT NOT NULL,
        summary               TEXT NOT NULL,
        content_html          TEXT,
        authors               TEXT NOT NULL,  -- JSON array of strings
        categories            TEXT NOT NULL,  -- JSON array of strings
        language              TEXT,
        published             INTEGER NOT NULL,
        published_from_source INTEGER NOT NULL,
        updated               INTEGER,
        first_seen            INTEGER NOT NULL,
        last_seen             INTEGER NOT NULL,
        revision              INTEGER NOT NULL,
        content_hash          TEXT NOT NULL
    );
    -- Serves the merged feed (`ORDER BY published DESC, id DESC LIMIT n`,
    -- read backwards) and pruning by age.
    CREATE INDEX items_by_published ON items(published, id);
    -- Serves per-source counts and pruning by count per source.
    CREATE INDEX items_by_source ON items(source_id, published, id);

    CREATE TABLE item_revisions (
        item_id      TEXT NOT NULL REFERENCES items(id) ON DELETE CASCADE,
        revision     INTEGER NOT NULL,
        content_hash TEXT NOT NULL,
        title        TEXT NOT NULL,
        url          TEXT,
        content_html TEXT,
        recorded_at  INTEGER NOT NULL,
        PRIMARY KEY (item_id, revision)
    );

    -- Ids of items that retention deleted. A feed often keeps listing items
    -- older than `store.max_age`; without this list each poll would store
    -- them again and publish them again as `item.new`.
    CREATE TABLE retired_items (
        id         TEXT PRIMARY KEY NOT NULL,
        source_id  TEXT NOT NULL,
        retired_at INTEGER NOT NULL,
        last_seen  INTEGER NOT NULL
    );
    CREATE INDEX retired_items_by_last_seen ON retired_items(last_seen);

    -- AUTOINCREMENT, not a plain rowid: once the outbox is drained a plain
    -- rowid restarts at 1, and a publisher paging with `seq > after_seq` would
    -- skip the next messages. AUTOINCREMENT never hands out a seq twice.
    CREATE TABLE outbox (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id    TEXT NOT NULL,
        routing_key TEXT NOT NULL,
        body        BLOB NOT NULL,
        created_at  INTEGER NOT NULL
    );
    "#,
    // 2: what a page source's last good poll yielded, and the warning a poor
    // yield raised ("selectors may be stale"). Kept apart from last_error:
    // the poll itself worked, and a success must not clear the warning.
    r#"
    ALTER TABLE sources ADD COLUMN page_baseline INTEGER;
    ALTER TABLE sources ADD COLUMN warning TEXT;
    "#,
    // 3: a full-text index of the items' titles and summaries, for `?q=`.
    // Trigram, as `?q=` matches substrings: every three characters of the
    // text, case-folded (Unicode simple folding), diacritics kept.
    // `detail = none` keeps only which items hold each trigram, not where:
    // half the size and half the write cost of a full index; a word is
    // looked up as all of its trigrams, and the rows found are then tested
    // exactly. External content: the text stays in `items` only, and the
    // index is keyed by the items' rowid. The triggers keep it in step with
    // every write of a title or summary, in the same transaction. An
    // existing file's items are indexed here.
    //
    // The items' rowid is implicit (their key is the text id), and SQLite
    // says VACUUM may renumber implicit rowids; the daemon never vacuums.
    // After a VACUUM by hand, `INSERT INTO items_fts(items_fts)
    // VALUES('rebuild')` indexes the items afresh.
    r#"
    CREATE VIRTUAL TABLE items_fts USING fts5(
        title, summary,
        content = 'items', content_rowid = 'rowid',
        tokenize = 'trigram case_sensitive 0', detail = none
    );
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
    END;
    INSERT INTO items_fts (items_fts) VALUES ('rebuild');
    "#,
    // 4: why the last page poll that followed articles left some unfollowed
    // (the outbound policy's refusals among them), as a JSON array of lines.
    r#"
    ALTER TABLE sources ADD COLUMN not_followed TEXT;
    "#,
    // 5: cross-source duplicates (`src/dedup.rs`). An item's keys, written
    // when it is stored: its canonical link and guid link, its normalized
    // title (NULL when generic) and the MinHash signature of its text; and
    // what it duplicates: the original's id and source, and why. Items
    // stored before this step keep NULL keys: they are not judged again,
    // and later items are not judged against them. Each lookup the write
    // makes has its index; the partial ones serve the feeds' "also in" and
    // `/status`'s counts.
    r#"
    ALTER TABLE items ADD COLUMN dedup_link TEXT;
    ALTER TABLE items ADD COLUMN dedup_guid TEXT;
    ALTER TABLE items ADD COLUMN dedup_title TEXT;
    ALTER TABLE items ADD COLUMN dedup_signature BLOB;
    ALTER TABLE items ADD COLUMN duplicate_of TEXT;
    ALTER TABLE items ADD COLUMN duplicate_source TEXT;
    ALTER TABLE items ADD COLUMN duplicate_reason TEXT;
    CREATE INDEX items_by_dedup_link ON items(dedup_link);
    CREATE INDEX items_by_dedup_guid ON items(dedup_guid);
    CREATE INDEX items_by_dedup_title ON items(dedup_title, published);
    CREATE INDEX items_by_duplicate_of ON items(duplicate_of) WHERE duplicate_of IS NOT NULL;
    CREATE INDEX items_duplicates_by_source ON items(source_id, duplicate_source)
        WHERE duplicate_of IS NOT NULL;
    "#,
    // 6: the article fetches of `full_text = true` sources, one row per
    // item: `fetched` (never fetched again; the body the item took, so an
    // edit of the feed's entry keeps it), `retrying` (failed, tried again
    // on the next poll, the item not stored yet) or `failed` (given up; the
    // item keeps what the feed gave). No foreign key: an item waiting for
    // its article is not stored yet. Retention forgets the rows of items it
    // deletes.
    r#"
    CREATE TABLE full_text (
        item_id      TEXT PRIMARY KEY NOT NULL,
        source_id    TEXT NOT NULL,
        state        TEXT NOT NULL,
        failures     INTEGER NOT NULL DEFAULT 0,
        last_error   TEXT,
        content_html TEXT,
        updated_at   INTEGER NOT NULL
    );
    CREATE INDEX full_text_by_source ON full_text(source_id, state);
    "#,
    // 7: each poll's outcome, for `/status.html`'s chart of the last day
    // (`sqlite/history.rs`): written in the poll's transaction, which also
    // drops the source's outcomes older than two days. One index for that
    // pruning, one for the chart's read of the last day.
    r#"
    CREATE TABLE fetch_outcomes (
        at        INTEGER NOT NULL,
        source_id TEXT NOT NULL,
        outcome   TEXT NOT NULL
    );
    CREATE INDEX fetch_outcomes_by_source ON fetch_outcomes(source_id, at);
    CREATE INDEX fetch_outcomes_by_time ON fetch_outcomes(at);
    "#,
    // 8: the full-text index written once per transaction instead of once
    // per item (`sqlite/search_index.rs`). FTS5 writes what it holds in
    // memory to a new segment of the index at every statement savepoint of
    // the transaction that has written it, and each INSERT of an item, its
    // revision and its outbox message opens one: a poll of 20 items made
    // some 60 segments, and their merging was a third of a first cycle's
    // CPU. Now the triggers queue each change to the index in
    // `items_fts_pending` (a delete with the old text, an insert with the
    // new, in order), and the writer moves the queue into `items_fts` in
    // one statement before its commit: one segment per commit.
    r#"
    CREATE TABLE items_fts_pending (
        seq        INTEGER PRIMARY KEY,
        op         TEXT,
        item_rowid INTEGER NOT NULL,
        title      TEXT,
        summary    TEXT
    );
    DROP TRIGGER items_fts_insert;
    DROP TRIGGER items_fts_delete;
    DROP TRIGGER items_fts_update;
    CREATE TRIGGER items_fts_insert AFTER INSERT ON items BEGIN
        INSERT INTO items_fts_pending (op, item_rowid, title, summary)
        VALUES (NULL, new.rowid, new.title, new.summary);
    END;
    CREATE TRIGGER items_fts_delete AFTER DELETE ON items BEGIN
        INSERT INTO items_fts_pending (op, item_rowid, title, summary)
        VALUES ('delete', old.rowid, old.title, old.summary);
    END;
    CREATE TRIGGER items_fts_update AFTER UPDATE OF title, summary ON items BEGIN
        INSERT INTO items_fts_pending (op, item_rowid, title, summary)
        VALUES ('delete', old.rowid, old.title, old.summary);
        INSERT INTO items_fts_pending (op, item_rowid, title, summary)
        VALUES (NULL, new.rowid, new.title, new.summary);
    END;
    "#,
    // 9: the same-title lookup of a new item's judging answered from the
    // index alone. It reads every stored item of other sources with the
    // title within the window, sorted by first sight; each was a lookup of
    // the item's row and a walk of its content's overflow pages to reach
    // `dedup_signature`. A story in many sources made that most of a first
    // cycle's CPU (BENCHMARKS.md, section 4).
    r#"
    DROP INDEX items_by_dedup_title;
    CREATE INDEX items_by_dedup_title ON items(
        dedup_title, published, source_id, first_seen, id,
        duplicate_of, duplicate_source, dedup_signature
    );
    "#,
];

/// The schema version this build writes.
#[cfg(test)]
pub(super) fn current_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// Brings the file up to [`current_version`], one step per transaction.
pub(super) fn migrate(conn: &mut Connection, path: &str) -> Result<(), StoreError> {
    let open_error = |source| StoreError::Open {
        path: path.to_owned(),
        source,
    };
    loop {
        // IMMEDIATE takes the write lock before reading the version, so two
        // processes opening one new file cannot both run the same step.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(open_error)?;
        let found: i64 = tx
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(open_error)?;
        let slot = VersionSlot {
            table: "pragma",
            key: path.to_owned(),
            column: "user_version",
        };
        let Some(step) = next_step(MIGRATIONS, found, path, slot)? else {
            return Ok(());
        };
        tx.execute_batch(step).map_err(open_error)?;
        // user_version lives in the file header, which is part of the
        // transaction: the step and its version commit together or not at all.
        tx.pragma_update(None, "user_version", found + 1)
            .map_err(open_error)?;
        tx.commit().map_err(open_error)?;
    }
}
