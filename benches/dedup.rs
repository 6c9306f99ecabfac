//! Section 9 of BENCHMARKS.md: what judging duplicates costs per new item
//! as the store grows, at 100,000 and 1,000,000 stored items.
//!
//! `cargo bench --bench dedup`. Each store is filled once through
//! `Store::apply_items` (which fingerprints every item, as a poll does; 200
//! sources, polls of 50) and cached under `target/bench-store/`. Then, on
//! that store, polls of 50 new items of other sources go through
//! `Store::record_poll`, of three kinds: a new story (no stored item shares
//! its link or title), a duplicate by link (a stored item's link), and a
//! duplicate by text (a stored item's title and text, another link). Each
//! kind is written once with judging on and once, with other items of the
//! same kind, with it off: the difference is the cost of judging.
//!
//! The limits, measured in the same run: judging must not grow with the
//! store (at 1,000,000 items at most twice its cost at 100,000: indexed
//! lookups, not a scan), and must cost less than the write of the item
//! itself. `LIBRARYWIRE_BENCH_DEDUP_SIZES=100000` picks the sizes. Under
//! `cargo test` it does one small store in a temporary folder.

mod common;

use chrono::{TimeDelta, Utc};
use librarywire::dedup::DedupRule;
use librarywire::fetch::FetchState;
use librarywire::item::{Item, ItemId, SourceRef};
use librarywire::store::{PollOutcome, PollRecord, Retention, Store};
use std::path::Path;
use std::time::{Duration, Instant};

/// Bumped when the generated data changes, so stale caches are not reused.
const DATA_VERSION: u32 = 1;

const SOURCES: usize = 200;
const PER_POLL: usize = 50;

/// New items written per kind and per setting (judging on, off); a tenth
/// of it in a smoke run.
const NEW_ITEMS: usize = 1_000;

fn new_items() -> usize {
    if common::measuring() {
        NEW_ITEMS
    } else {
        NEW_ITEMS / 10
    }
}

fn main() {
    let measuring = common::measuring();
    let sizes: Vec<usize> = match std::env::var("LIBRARYWIRE_BENCH_DEDUP_SIZES") {
        Ok(list) => list
            .split(',')
            .map(|s| s.trim().parse().expect("sizes are numbers"))
            .collect(),
        Err(_) if measuring => vec![100_000, 1_000_000],
        Err(_) => vec![1_000],
    };
    let temp = tempfile::tempdir().expect("a temporary folder");
    let cache = if measuring {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-store")
    } else {
        temp.path().to_path_buf()
    };
    std::fs::create_dir_all(&cache).expect("the cache folder");
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    println!(
        "dedup: {SOURCES} sources; per size and kind, {NEW_ITEMS} new items in polls of {PER_POLL}, judged and not"
    );
    let mut judging_cost = Vec::new();
    for size in sizes {
        let path = cache.join(format!("dedup-v{DATA_VERSION}-{size}.db"));
        if !path.exists() {
            let partial = path.with_extension("partial");
            for stale in ["", "-wal", "-shm", ".lock"] {
                let _ = std::fs::remove_file(format!("{}{stale}", partial.display()));
            }
            let started = Instant::now();
            runtime.block_on(fill(size, &partial));
            println!(
                "  filled {size} items in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            for extra in ["-wal", "-shm", ".lock"] {
                let _ = std::fs::remove_file(format!("{}{extra}", partial.display()));
            }
            std::fs::rename(&partial, &path).expect("moving the store in place");
        }
        // Measure on a copy: the measured writes must not grow the cached store.
        let copy = temp.path().join(format!("measured-{size}.db"));
        std::fs::copy(&path, &copy).expect("copying the store");
        let costs = runtime.block_on(measure(size, &copy));
        std::fs::remove_file(&copy).ok();
        judging_cost.push((size, costs));
    }
    if let [(small, a), .., (large, b)] = judging_cost.as_slice() {
        let worst = |c: &Costs| c.judging.iter().copied().fold(0.0, f64::max);
        println!(
            "  limit: judging at {large} items {:.1} us per item, at {small} items {:.1} us: {} (at most 2x)",
            worst(b),
            worst(a),
            if worst(b) <= 2.0 * worst(a).max(1.0) {
                "within"
            } else {
                "OVER"
            }
        );
    }
}

/// Per kind: the cost of judging (on minus off) and of the write without
/// it, in microseconds per item.
struct Costs {
    judging: [f64; 3],
}

fn sources() -> Vec<SourceRef> {
    (0..SOURCES).map(common::source).collect()
}

async fn fill(size: usize, path: &Path) {
    let store = Store::open(path).expect("a new store");
    let sources = sources();
    let mut n = 0;
    while n < size {
        let source = &sources[(n / PER_POLL) % SOURCES];
        let take = PER_POLL.min(size - n);
        let items: Vec<_> = (n..n + take)
            .map(|i| common::item(source, i, common::epoch()))
            .collect();
        store
            .apply_items(source, &items, Utc::now())
            .await
            .expect("storing items");
        n += take;
    }
    let mut after = i64::MIN;
    loop {
        let rows = store
            .outbox_pending(after, 5_000)
            .await
            .expect("the outbox");
        let Some(last) = rows.last() else { break };
        after = last.seq;
        let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
        store.outbox_confirmed(&seqs).await.expect("draining");
    }
}

/// The `i`th new item of `kind` for `source`, modelled on stored item
/// `stored_n` of its source.
fn new_item(kind: usize, source: &SourceRef, i: usize, size: usize, salt: usize) -> Item {
    // A stored item spread over the whole store, far from the newest.
    let stored_n = (i * 7_919 + salt * 104_729) % size;
    let stored = common::item(
        &common::source((stored_n / PER_POLL) % SOURCES),
        stored_n,
        common::epoch(),
    );
    let mut it = match kind {
        // A new story: a number no stored item has.
        0 => common::item(source, size * 10 + salt * new_items() + i, common::epoch()),
        // The stored item's link, with tracking added and http.
        1 => {
            let mut it = stored.clone();
            it.url = stored
                .url
                .as_ref()
                .map(|u| format!("{}?utm_source=bench", u.replace("https://", "http://")));
            it
        }
        // Its title and text under another link.
        _ => {
            let mut it = stored.clone();
            it.url = Some(format!("https://planet.example/{salt}/{i}"));
            it
        }
    };
    let key = format!("bench-{kind}-{salt}-{i}");
    it.id = ItemId::derive(&source.id, &key);
    it.guid = key;
    it.source = source.clone();
    it.content_hash = it.compute_content_hash();
    it
}

/// Writes [`NEW_ITEMS`] items of `kind` in polls of [`PER_POLL`] under
/// `rule`; returns microseconds per item.
async fn write(
    store: &Store,
    kind: usize,
    size: usize,
    salt: usize,
    rule: DedupRule,
) -> (f64, usize) {
    let source = SourceRef {
        id: format!("bench-{kind}-{salt}"),
        name: "Bench".into(),
        url: "https://bench.example/feed".into(),
    };
    let items: Vec<Item> = (0..new_items())
        .map(|i| new_item(kind, &source, i, size, salt))
        .collect();
    let started = Instant::now();
    for poll in items.chunks(PER_POLL) {
        let now = Utc::now();
        store
            .record_poll(PollRecord {
                source: source.clone(),
                url: source.url.clone(),
                started: now,
                finished: now,
                next_poll: now + TimeDelta::hours(1),
                outcome: PollOutcome::Success {
                    state: FetchState::default(),
                    items: poll.to_vec(),
                    page_yield: None,
                    full_text: Vec::new(),
                },
                retention: Retention::default(),
                dedup: rule,
                lease: None,
            })
            .await
            .expect("the poll's write");
    }
    let elapsed: Duration = started.elapsed();
    let found = match store.duplicate_counts().await {
        Ok(counts) => counts
            .iter()
            .filter(|c| c.source_id == source.id)
            .map(|c| c.count as usize)
            .sum(),
        Err(_) => 0,
    };
    (elapsed.as_secs_f64() * 1e6 / new_items() as f64, found)
}

async fn measure(size: usize, path: &Path) -> Costs {
    let store = Store::open(path).expect("the store");
    // Warm the caches as a running daemon's are.
    store.newest_items(100).await.expect("a read");
    let names = ["new story", "same link", "same text"];
    let mut judging = [0.0; 3];
    for kind in 0..3 {
        let (off, _) = write(&store, kind, size, 1, DedupRule::default()).await;
        let (on, found) = write(&store, kind, size, 2, DedupRule::judging()).await;
        judging[kind] = (on - off).max(0.0);
        println!(
            "  {size:>9} stored, {:<9}: write {off:7.1} us/item without judging, {on:7.1} with; \
             judging {:6.1} us/item ({found} of {} judged duplicates); limit: judging below the write: {}",
            names[kind],
            judging[kind],
            new_items(),
            if judging[kind] <= off {
                "within"
            } else {
                "OVER"
            },
        );
    }
    Costs { judging }
}
