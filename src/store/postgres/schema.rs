//! The schema, as a list of migration steps tracked in `schema_version`.
//!
//! Step `n` (counting from 1) moves a database from version `n - 1` to `n`.
//! Steps are only ever appended. Each runs in one transaction under an
//! advisory lock, so replicas started together migrate once: PostgreSQL's
//! DDL is transactional, and the step and its version commit together.

use crate::store::StoreError;
use crate::store::schema::{VersionSlot, next_step};
use deadpool_postgres::Object;

/// The advisory lock key the migrations take ("lwschema" in ASCII).
const MIGRATION_LOCK: i64 = 0x6c77_7363_6865_6d61;

/// Every migration step, oldest first.
const MIGRATIONS: &[&str] = &[
    // 1: the same tables as SQLite's three first steps, and what replicas
    // share: the source and publisher leases, and a sequence that counts
    // item changes for the replicas' periodic check.
    //
    // Text keys are COLLATE "C": ids sort by code point, as in SQLite, so
    // the feeds list ties in the same order on both backends. The folded
    // title, summary and categories are written by the store (Rust's
    // lowercasing, `ItemFilter::fold`), so matching does not depend on the
    // database's locale; a pg_trgm index over them serves `?q=`.
    r#"
    CREATE EXTENSION IF NOT EXISTS pg_trgm;

    CREATE TABLE sources (
        id                   TEXT COLLATE "C" PRIMARY KEY,
        url                  TEXT NOT NULL,
        etag                 TEXT,
        last_modified        TEXT,
        permanent_url        TEXT,
        last_attempt         BIGINT,
        last_success         BIGINT,
        last_error           TEXT,
        consecutive_failures BIGINT NOT NULL DEFAULT 0,
        failing_since        BIGINT,
        gone                 BOOLEAN NOT NULL DEFAULT FALSE,
        next_poll            BIGINT,
        page_baseline        BIGINT,
        warning              TEXT,
        -- The replica polling the source now, until when (the database's
        -- clock, unix microseconds), and the claim's number: every claim
        -- adds one, so a write under an older claim is refused.
        lease_holder         TEXT,
        lease_until          BIGINT,
        lease_epoch          BIGINT NOT NULL DEFAULT 0
    );

    CREATE TABLE items (
        id                    TEXT COLLATE "C" PRIMARY KEY,
        source_id             TEXT COLLATE "C" NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
        source_name           TEXT NOT NULL,
        source_url            TEXT NOT NULL,
        guid                  TEXT NOT NULL,
        url                   TEXT,
        title                 TEXT NOT NULL,
        summary               TEXT NOT NULL,
        content_html          TEXT,
        authors               TEXT NOT NULL,
        categories            TEXT NOT NULL,
        language              TEXT,
        published             BIGINT NOT NULL,
        published_from_source BOOLEAN NOT NULL,
        updated               BIGINT,
        first_seen            BIGINT NOT NULL,
        last_seen             BIGINT NOT NULL,
        revision              BIGINT NOT NULL,
        content_hash          TEXT NOT NULL,
        title_folded          TEXT COLLATE "C" NOT NULL,
        summary_folded        TEXT COLLATE "C" NOT NULL,
        categories_folded     TEXT[] COLLATE "C" NOT NULL
    );
    CREATE INDEX items_by_published ON items (published, id);
    CREATE INDEX items_by_source ON items (source_id, published, id);
    CREATE INDEX items_text ON items
        USING gin (title_folded gin_trgm_ops, summary_folded gin_trgm_ops);

    CREATE TABLE item_revisions (
        item_id      TEXT COLLATE "C" NOT NULL REFERENCES items(id) ON DELETE CASCADE,
        revision     BIGINT NOT NULL,
        content_hash TEXT NOT NULL,
        title        TEXT NOT NULL,
        url          TEXT,
        content_html TEXT,
        recorded_at  BIGINT NOT NULL,
        PRIMARY KEY (item_id, revision)
    );

    CREATE TABLE retired_items (
        id         TEXT COLLATE "C" PRIMARY KEY,
        source_id  TEXT NOT NULL,
        retired_at BIGINT NOT NULL,
        last_seen  BIGINT NOT NULL
    );
    CREATE INDEX retired_items_by_last_seen ON retired_items (last_seen);

    -- An identity never hands out a seq twice, drained or not.
    CREATE TABLE outbox (
        seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        event_id    TEXT NOT NULL,
        routing_key TEXT NOT NULL,
        body        BYTEA NOT NULL,
        created_at  BIGINT NOT NULL
    );

    -- The one publisher: which replica drains the outbox, until when, and
    -- the claim's number, as for a source.
    CREATE TABLE publisher_lease (
        only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
        holder   TEXT,
        until    BIGINT,
        epoch    BIGINT NOT NULL DEFAULT 0
    );
    INSERT INTO publisher_lease (only_row) VALUES (TRUE);

    -- Taken once by every commit that changes items: the replicas' slow
    -- periodic check reads it when a notification may have been missed.
    CREATE SEQUENCE item_changes;
    "#,
    // 2: as SQLite's step 4, why the last page poll that followed articles
    // left some unfollowed, as a JSON array of lines.
    r#"
    ALTER TABLE sources ADD COLUMN not_followed TEXT;
    "#,
    // 3: as SQLite's step 5, cross-source duplicates: each item's keys
    // (canonical link, guid link, normalized title, MinHash signature) and
    // what it duplicates, with an index for each lookup. Items stored
    // before keep NULL keys and are not judged again.
    r#"
    ALTER TABLE items ADD COLUMN dedup_link TEXT COLLATE "C";
    ALTER TABLE items ADD COLUMN dedup_guid TEXT COLLATE "C";
    ALTER TABLE items ADD COLUMN dedup_title TEXT COLLATE "C";
    ALTER TABLE items ADD COLUMN dedup_signature BYTEA;
    ALTER TABLE items ADD COLUMN duplicate_of TEXT COLLATE "C";
    ALTER TABLE items ADD COLUMN duplicate_source TEXT COLLATE "C";
    ALTER TABLE items ADD COLUMN duplicate_reason TEXT;
    CREATE INDEX items_by_dedup_link ON items (dedup_link);
    CREATE INDEX items_by_dedup_guid ON items (dedup_guid);
    CREATE INDEX items_by_dedup_title ON items (dedup_title, published);
    CREATE INDEX items_by_duplicate_of ON items (duplicate_of) WHERE duplicate_of IS NOT NULL;
    CREATE INDEX items_duplicates_by_source ON items (source_id, duplicate_source)
        WHERE duplicate_of IS NOT NULL;
    "#,
    // 4: as SQLite's step 6, the article fetches of `full_text = true`
    // sources, one row per item (`fetched`, `retrying` or `failed`), with
    // no foreign key: an item waiting for its article is not stored yet.
    r#"
    CREATE TABLE full_text (
        item_id      TEXT COLLATE "C" PRIMARY KEY,
        source_id    TEXT COLLATE "C" NOT NULL,
        state        TEXT NOT NULL,
        failures     BIGINT NOT NULL DEFAULT 0,
        last_error   TEXT,
        content_html TEXT,
        updated_at   BIGINT NOT NULL
    );
    CREATE INDEX full_text_by_source ON full_text (source_id, state);
    "#,
    // 5: as SQLite's step 7, each poll's outcome for `/status.html`'s chart,
    // pruned by the poll's own write after two days.
    r#"
    CREATE TABLE fetch_outcomes (
        at        BIGINT NOT NULL,
        source_id TEXT COLLATE "C" NOT NULL,
        outcome   TEXT NOT NULL
    );
    CREATE INDEX fetch_outcomes_by_source ON fetch_outcomes (source_id, at);
    CREATE INDEX fetch_outcomes_by_time ON fetch_outcomes (at);
    "#,
];

/// The schema version this build writes.
#[cfg(test)]
pub(super) fn current_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// Brings the database up to [`current_version`], one step per transaction.
pub(super) async fn migrate(conn: &mut Object) -> Result<(), StoreError> {
    loop {
        let tx = conn.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        // Under the lock too: two replicas creating the table at once would
        // race on the catalog.
        tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL);")
            .await?;
        let found: i64 = tx
            .query_opt("SELECT version FROM schema_version", &[])
            .await?
            .map_or(Ok(0), |row| row.try_get(0))?;
        let slot = VersionSlot {
            table: "schema_version",
            key: "version".to_owned(),
            column: "version",
        };
        let Some(step) = next_step(MIGRATIONS, found, "store.url", slot)? else {
            return Ok(());
        };
        tx.batch_execute(step).await?;
        if found == 0 {
            tx.execute("INSERT INTO schema_version (version) VALUES (1)", &[])
                .await?;
        } else {
            tx.execute("UPDATE schema_version SET version = $1", &[&(found + 1)])
                .await?;
        }
        tx.commit().await?;
    }
}
