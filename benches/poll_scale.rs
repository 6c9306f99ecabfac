//! Polling at scale: two full cycles over many sources through the library's
//! own poll path, under the daemon's limits. Driven by `bench/poll-scale.sh`,
//! which serves the feeds from a local nginx and measures the curl floor.
//!
//! Each source is polled the way the scheduler polls it: a permit from a
//! global semaphore (`poll.concurrency`) and one from its host's semaphore
//! (`poll.per_host`), then `SourcePoller::refresh` (the fetch state recorded
//! by the last poll, kept in memory as a source's task keeps it, else read
//! from the store → conditional fetch → parse → normalize → one
//! `record_poll` transaction with the items and the source's new state). The
//! first cycle finds every item new; the second sends the validators and
//! gets 304s. `POLL_SCALE_READ_STATE=1` starts every poll from a new
//! `SourcePoller`, which reads the fetch state from the store, as the daemon
//! did before it kept it.
//!
//! Run: `POLL_SCALE_URLS=urls.txt POLL_SCALE_CONCURRENCY=32 cargo bench --bench poll_scale`
//! (one URL per line). Under `cargo test` (no `--bench` argument) it does
//! nothing. `POLL_SCALE_CYCLES=n` runs n cycles (default 2).
//!
//! `POLL_SCALE_STORE=postgres://…` (an empty database) puts the store on
//! PostgreSQL instead of an SQLite file in a temp dir, and
//! `POLL_SCALE_REPLICAS=k` runs k replicas on it in this process, each with
//! its own store handle (and connection pool), fetcher and semaphores, as k
//! daemons have: every replica goes over every source, and each source is
//! polled by the one whose `claim_source` wins, under that lease, as the
//! scheduler claims it. Between cycles (not timed) every source is made due
//! again with `set_next_poll`.

use chrono::Utc;
use librarywire::config::{PollSettings, SourceKind, SourceSettings};
use librarywire::error::error_chain;
use librarywire::fetch::Fetcher;
use librarywire::refresh::{NextDelay, SourcePoller};
use librarywire::store::{Claim, LeaseDeadline, Store};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Semaphore;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("poll_scale: run with `cargo bench --bench poll_scale` (see bench/poll-scale.sh)");
        return;
    }
    let Ok(list) = std::env::var("POLL_SCALE_URLS") else {
        eprintln!("poll_scale: set POLL_SCALE_URLS to a file of feed URLs, one a line");
        std::process::exit(2);
    };
    let concurrency: usize = std::env::var("POLL_SCALE_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32);
    let text = std::fs::read_to_string(&list)
        .unwrap_or_else(|e| panic!("cannot read POLL_SCALE_URLS file {list}: {e}"));
    let sources: Vec<SourceSettings> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, url)| SourceSettings {
            id: format!("s{i}"),
            name: None,
            url: url.trim().into(),
            password_env: None,
            interval: None,
            kind: SourceKind::Feed,
            page: None,
            encoding: None,
            timezone: None,
            dedup: true,
            full_text: false,
            full_text_per_poll: None,
            rules: Vec::new(),
        })
        .collect();
    let dir = tempfile::tempdir().expect("temp dir for the store");
    let url = std::env::var("POLL_SCALE_STORE").ok();
    let count: usize = std::env::var("POLL_SCALE_REPLICAS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    assert!(
        count == 1 || url.is_some(),
        "POLL_SCALE_REPLICAS needs POLL_SCALE_STORE: replicas share a PostgreSQL store"
    );
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(async {
        let poll = PollSettings {
            concurrency,
            per_host: concurrency,
            ..PollSettings::default()
        };
        let mut replicas = Vec::new();
        for r in 0..count {
            let store = match &url {
                Some(url) => Store::connect(url).await.expect("the PostgreSQL store"),
                None => Store::open(&dir.path().join("bench.db")).expect("store"),
            };
            replicas.push(Replica {
                name: format!("bench-{r}"),
                fetcher: Fetcher::new(&poll).expect("fetcher"),
                store,
                known: HashMap::new(),
            });
        }
        let store = replicas[0].store.clone();
        println!(
            "poll_scale: {} sources, concurrency = per_host = {concurrency} per replica, store {}, {count} replica(s)",
            sources.len(),
            store.describe()
        );
        // More than two cycles (POLL_SCALE_CYCLES) repeat the 304 cycle, for profiling it.
        let cycles: usize = std::env::var("POLL_SCALE_CYCLES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2);
        let keep_state = std::env::var_os("POLL_SCALE_READ_STATE").is_none();
        println!("fetch state: {}", if keep_state { "kept in memory between polls" } else { "read from the store on every poll" });
        for cycle in 1..=cycles {
            if cycle > 1 {
                // Due again at once (each poll set its next one an interval on).
                for source in &sources {
                    store
                        .set_next_poll(&source.id, Utc::now() - chrono::TimeDelta::seconds(1))
                        .await
                        .expect("making the source due");
                }
            }
            let cpu_before = cpu_seconds();
            let started = Instant::now();
            let tallies = futures_util::future::join_all(
                replicas
                    .iter_mut()
                    .map(|replica| run_cycle(&poll, replica, &sources)),
            )
            .await;
            if !keep_state {
                replicas.iter_mut().for_each(|r| r.known.clear());
            }
            let wall = started.elapsed();
            let cpu = cpu_seconds() - cpu_before;
            let mut tally = Tally::default();
            for t in &tallies {
                tally.polled += t.polled;
                tally.busy += t.busy;
                tally.not_modified += t.not_modified;
                tally.new_items += t.new_items;
                tally.failed += t.failed;
                if tally.first_error.is_none() {
                    tally.first_error = t.first_error.clone();
                }
            }
            let shares: Vec<String> = tallies.iter().map(|t| t.polled.to_string()).collect();
            println!(
                "cycle {cycle}: wall {:.3} s, cpu {cpu:.2} s, polled {}, not modified {}, new items {}, failed {}, claimed elsewhere {}, per replica {}",
                wall.as_secs_f64(),
                tally.polled,
                tally.not_modified,
                tally.new_items,
                tally.failed,
                tally.busy,
                shares.join("/")
            );
            if let Some(first) = &tally.first_error {
                println!("  first error: {first}");
            }
        }
        println!("peak memory (VmHWM): {} KiB", vm_hwm_kib());
    });
}

/// One replica: its own store handle, fetcher, and what its source tasks
/// remember between polls.
struct Replica {
    name: String,
    fetcher: Fetcher,
    store: Store,
    known: HashMap<String, SourcePoller>,
}

#[derive(Default)]
struct Tally {
    polled: usize,
    /// Sources another replica claimed first.
    busy: usize,
    not_modified: usize,
    new_items: usize,
    failed: usize,
    first_error: Option<String>,
}

/// Polls every source `replica` can claim once, as the scheduler would,
/// all due at once.
async fn run_cycle(
    poll: &PollSettings,
    replica: &mut Replica,
    sources: &[SourceSettings],
) -> Tally {
    let lease = std::time::Duration::from_secs(60);
    let (fetcher, store, known) = (&replica.fetcher, &replica.store, &mut replica.known);
    let next: NextDelay = Arc::new(|_| std::time::Duration::from_secs(15 * 60));
    let global = Arc::new(Semaphore::new(poll.concurrency));
    let mut hosts: HashMap<String, Arc<Semaphore>> = HashMap::new();
    let mut tasks = tokio::task::JoinSet::new();
    for source in sources {
        let host = source
            .parsed_url()
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default();
        let per_host = hosts
            .entry(host)
            .or_insert_with(|| Arc::new(Semaphore::new(poll.per_host)))
            .clone();
        let (global, fetcher, store, next) =
            (global.clone(), fetcher.clone(), store.clone(), next.clone());
        let mut poller = known
            .remove(&source.id)
            .unwrap_or_else(|| SourcePoller::new(source.clone(), poll.flag_after));
        let holder = replica.name.clone();
        tasks.spawn(async move {
            let _global = global.acquire_owned().await.expect("semaphore open");
            let _host = per_host.acquire_owned().await.expect("semaphore open");
            let id = poller.settings().id.clone();
            let url = poller.settings().url.public();
            let asked = tokio::time::Instant::now();
            match store.claim_source(&id, &url, &holder, lease, None).await {
                Ok(Claim::Held(held)) => {
                    let deadline = if store.is_shared() {
                        LeaseDeadline::claimed(asked, lease)
                    } else {
                        LeaseDeadline::never()
                    };
                    poller.hold(held, deadline);
                }
                Ok(Claim::Busy { .. }) => return (poller, None),
                Err(e) => return (poller, Some(Err(error_chain(&e)))),
            }
            let report = poller.refresh(&fetcher, &store, Utc::now(), &next).await;
            (poller, Some(report.result.map_err(|e| error_chain(&e))))
        });
    }
    let mut tally = Tally::default();
    while let Some(joined) = tasks.join_next().await {
        let (poller, result) = joined.expect("poll task");
        known.insert(poller.settings().id.clone(), poller);
        let Some(result) = result else {
            tally.busy += 1;
            continue;
        };
        tally.polled += 1;
        match result {
            Ok(refreshed) => {
                tally.not_modified += usize::from(refreshed.not_modified);
                tally.new_items += refreshed.applied.new;
            }
            Err(e) => {
                tally.failed += 1;
                tally.first_error.get_or_insert(e);
            }
        }
    }
    tally
}

/// User plus system CPU time of this process so far, from `/proc/self/stat`.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at field 3.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15, i.e. 11 and 12 after the name.
    // The kernel reports them in USER_HZ, 100 on Linux.
    (ticks(11) + ticks(12)) / 100.0
}

/// The process's peak resident memory, from `/proc/self/status`.
fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
