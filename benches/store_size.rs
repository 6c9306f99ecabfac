//! Section 5 of BENCHMARKS.md: the store at 1,000, 100,000 and 1,000,000
//! items: peak memory, the time to render the merged feed (the newest 100
//! items, as RSS), and the time to start (open the file, first render).
//!
//! `cargo bench --bench store_size`. Each store is generated once with
//! `Store::apply_items` (200 sources, polls of 50 items, outbox drained as a
//! running daemon leaves it) and cached under `target/bench-store/`. Each size
//! is measured in a fresh child process, so its `VmHWM` is that size's own
//! peak; "cold" runs first evict the file from the page cache
//! (`dd iflag=nocache`). `LIBRARYWIRE_BENCH_STORE_SIZES=1000,100000` picks
//! the sizes. Under `cargo test` it does one small store in a temporary
//! folder.

mod common;

use chrono::Utc;
use librarywire::config::ServerSettings;
use librarywire::serve::render_rss;
use librarywire::store::Store;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Bumped when the generated data changes, so stale caches are not reused.
const DATA_VERSION: u32 = 1;

/// Items per poll, and sources.
const PER_POLL: usize = 50;
const SOURCES: usize = 200;

/// Renders timed per size, after the first.
const RENDERS: usize = 200;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--generate") {
        return generate(
            args[i + 1].parse().expect("a size"),
            Path::new(&args[i + 2]),
        );
    }
    if let Some(i) = args.iter().position(|a| a == "--measure") {
        return measure(Path::new(&args[i + 1]));
    }
    let measuring = common::measuring();
    let sizes: Vec<usize> = match std::env::var("LIBRARYWIRE_BENCH_STORE_SIZES") {
        Ok(list) => list
            .split(',')
            .map(|s| s.trim().parse().expect("sizes are numbers"))
            .collect(),
        Err(_) if measuring => vec![1_000, 100_000, 1_000_000],
        Err(_) => vec![1_000],
    };
    let temp = tempfile::tempdir().expect("a temporary folder");
    let cache = if measuring {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-store")
    } else {
        temp.path().to_path_buf()
    };
    std::fs::create_dir_all(&cache).expect("the cache folder");
    println!(
        "store size: {SOURCES} sources, polls of {PER_POLL} items; {RENDERS} renders of the newest 100 items per size"
    );
    for size in sizes {
        let path = cache.join(format!("store-v{DATA_VERSION}-{size}.db"));
        if !path.exists() {
            let partial = path.with_extension("partial");
            for stale in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{stale}", partial.display()));
            }
            let started = Instant::now();
            let out = child(&["--generate", &size.to_string(), &partial.to_string_lossy()]);
            print!("{out}");
            println!(
                "  generated {size} items in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            std::fs::rename(&partial, &path).expect("moving the generated store in place");
        }
        let mb = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) as f64 / 1e6;
        println!("size {size}: file {mb:.0} MB");
        let evicted = evict(&path);
        print!(
            "  {} {}",
            if evicted {
                "cold:"
            } else {
                "warm (could not evict):"
            },
            child(&["--measure", &path.to_string_lossy()])
        );
        print!("  warm: {}", child(&["--measure", &path.to_string_lossy()]));
    }
}

/// Runs this binary again with `args`, returning what it printed.
fn child(args: &[&str]) -> String {
    let out = Command::new(std::env::current_exe().expect("this binary"))
        .args(args)
        .output()
        .expect("running a child");
    assert!(
        out.status.success(),
        "the child {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// Asks the kernel to drop `path` from the page cache; false when it could not.
fn evict(path: &Path) -> bool {
    let mut ok = true;
    for suffix in ["", "-wal", "-shm"] {
        let file = PathBuf::from(format!("{}{suffix}", path.display()));
        if !file.exists() {
            continue;
        }
        ok &= Command::new("dd")
            .arg(format!("if={}", file.display()))
            .args(["iflag=nocache", "count=0", "status=none"])
            .status()
            .is_ok_and(|s| s.success());
    }
    ok
}

/// Writes a store of `size` items to `path`, as polls of [`SOURCES`] sources
/// would, then drains the outbox as the publisher would.
fn generate(size: usize, path: &Path) {
    runtime().block_on(generate_in(size, path));
}

/// A runtime for the store's async interface.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("a runtime")
}

async fn generate_in(size: usize, path: &Path) {
    let store = Store::open(path).expect("a new store");
    let sources: Vec<_> = (0..SOURCES).map(common::source).collect();
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
        store
            .outbox_confirmed(&seqs)
            .await
            .expect("draining the outbox");
    }
    println!(
        "  generating: peak memory {} MB",
        common::peak_rss_kb().unwrap_or(0) / 1024
    );
}

/// Opens the store at `path`, renders the feed once (the start), then
/// [`RENDERS`] more times, and prints the times and this process's peak memory.
fn measure(path: &Path) {
    runtime().block_on(measure_in(path));
}

async fn measure_in(path: &Path) {
    let settings = ServerSettings::default();
    let started = Instant::now();
    let store = Store::open(path).expect("the store");
    let opened = started.elapsed();
    let items = store
        .newest_items(settings.feed_size)
        .await
        .expect("the newest items");
    let first = render_rss(&settings, &items);
    let start = started.elapsed();
    assert_eq!(items.len(), settings.feed_size.min(items.len()));
    let (mut query, mut render, mut total) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..RENDERS {
        let t0 = Instant::now();
        let items = store
            .newest_items(settings.feed_size)
            .await
            .expect("the newest items");
        let t1 = Instant::now();
        let bytes = render_rss(&settings, &items);
        let t2 = Instant::now();
        assert_eq!(bytes, first, "the same store renders the same bytes");
        query.push((t1 - t0).as_secs_f64() * 1e3);
        render.push((t2 - t1).as_secs_f64() * 1e3);
        total.push((t2 - t0).as_secs_f64() * 1e3);
    }
    let p = |v: &mut Vec<f64>| {
        format!(
            "p50 {:.3} ms, p99 {:.3} ms",
            common::percentile(v, 50.0),
            common::percentile(v, 99.0)
        )
    };
    println!(
        "start {:.1} ms (open {:.1} ms); feed of {} items, {} bytes: query {}; render {}; both {}; peak memory {:.1} MB",
        start.as_secs_f64() * 1e3,
        opened.as_secs_f64() * 1e3,
        items.len(),
        first.len(),
        p(&mut query),
        p(&mut render),
        p(&mut total),
        common::peak_rss_kb().unwrap_or(0) as f64 / 1024.0,
    );
}
