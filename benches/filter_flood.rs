//! A flood of uncached filtered feeds (`?q=` with a random word, so every
//! request misses the render cache and reads the store), and beside it, in
//! the same run, `/readyz` asked every 100 ms: first with no flood (its
//! floor), then during the flood. Prints the flood's req/s, its latency p50
//! and p99 and its 200/503 counts, and `/readyz`'s p50, p99 and max in both.
//!
//! `cargo bench --bench filter_flood`. Env: `FLOOD_ITEMS` (default 100000,
//! stored as 200 sources of polls of 50 synthetic items), `FLOOD_CLIENTS`
//! (64), `FLOOD_SECONDS` (10). The store is generated in a temporary folder;
//! the daemon is the library's `Application`, in this process, with no
//! sources and a closed broker port. Under `cargo test` it does nothing.

mod common;

use librarywire::app::Application;
use librarywire::config::Settings;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    if !common::measuring() {
        println!("filter_flood: run with `cargo bench --bench filter_flood`");
        return;
    }
    let items = env("FLOOD_ITEMS", 100_000);
    let clients = env("FLOOD_CLIENTS", 64);
    let seconds = env("FLOOD_SECONDS", 10);
    let dir = tempfile::tempdir().expect("a temporary folder");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[store]\npath = \"{}\"\nmax_age = \"0s\"\nmax_items_per_source = 0\n\
             [amqp]\nurl = \"amqp://guest:guest@127.0.0.1:1/%2f\"\n",
            dir.path().join("flood.db").display()
        ),
    )
    .expect("the config");
    let settings = Settings::load_with_env(&config, Some(Default::default())).expect("settings");
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async move {
        let app = Application::build(settings).await.expect("the daemon builds");
        let (addr, store) = (app.local_addr(), app.store());
        let started = Instant::now();
        {
            const PER_POLL: usize = 50;
            let sources = 200;
            for poll in 0..items.div_ceil(PER_POLL * sources) {
                for s in 0..sources {
                    let source = common::source(s);
                    let batch: Vec<_> = (0..PER_POLL)
                        .map(|k| common::item(&source, poll * PER_POLL + k, common::epoch()))
                        .collect();
                    store
                        .apply_items(&source, &batch, chrono::Utc::now()).await
                        .expect("items stored");
                }
            }
        }
        println!(
            "filter_flood: {items} items stored in {:.1} s; {clients} clients for {seconds} s",
            started.elapsed().as_secs_f64()
        );
        let shutdown = CancellationToken::new();
        let daemon = tokio::spawn(app.run_until_stopped(shutdown.clone()));
        let base = format!("http://{addr}");
        let client = reqwest::Client::new();

        let idle = sample_readyz(&client, &base, Duration::from_secs(3)).await;
        report("readyz, no flood", idle);

        let stop = Arc::new(AtomicBool::new(false));
        let mut workers = Vec::new();
        for worker in 0..clients {
            let (client, base, stop) = (client.clone(), base.clone(), stop.clone());
            workers.push(tokio::spawn(async move {
                let mut seed = worker as u64 * 7919 + 1;
                let (mut latencies, mut ok, mut refused) = (Vec::new(), 0usize, 0usize);
                while !stop.load(Ordering::Relaxed) {
                    seed = seed
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    let word: String = (0..7)
                        .map(|i| (b'a' + ((seed >> (8 + 5 * i)) % 26) as u8) as char)
                        .collect();
                    let sent = Instant::now();
                    let status = client
                        .get(format!("{base}/feed.json?q={word}"))
                        .send()
                        .await
                        .map(|r| r.status().as_u16());
                    latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                    match status {
                        Ok(200) => ok += 1,
                        Ok(503) => refused += 1,
                        other => panic!("a flooded filter got {other:?}"),
                    }
                }
                (latencies, ok, refused)
            }));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let flooded = sample_readyz(&client, &base, Duration::from_secs(seconds as u64)).await;
        stop.store(true, Ordering::Relaxed);
        let (mut latencies, mut ok, mut refused) = (Vec::new(), 0, 0);
        for worker in workers {
            let (l, o, r) = worker.await.expect("a flood worker");
            latencies.extend(l);
            ok += o;
            refused += r;
        }
        let total = seconds as f64 + 1.0;
        println!(
            "flood: {:.0} req/s ({ok} answered 200, {refused} refused 503), p50 {:.1} ms, p99 {:.1} ms",
            (ok + refused) as f64 / total,
            common::percentile(&mut latencies, 50.0),
            common::percentile(&mut latencies, 99.0),
        );
        report("readyz, during the flood", flooded);
        shutdown.cancel();
        daemon.await.expect("the daemon task").expect("the daemon stops");
    });
}

/// `/readyz` latencies in ms, asked every 100 ms for `during`; a request
/// that does not answer within 30 s counts as 30 s.
async fn sample_readyz(client: &reqwest::Client, base: &str, during: Duration) -> Vec<f64> {
    let end = Instant::now() + during;
    let mut samples = Vec::new();
    while Instant::now() < end {
        let sent = Instant::now();
        let answered = tokio::time::timeout(
            Duration::from_secs(30),
            client.get(format!("{base}/readyz")).send(),
        )
        .await;
        assert!(
            !matches!(answered, Ok(Err(_))),
            "/readyz failed: {answered:?}"
        );
        samples.push(sent.elapsed().as_secs_f64() * 1000.0);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    samples
}

fn report(what: &str, mut samples: Vec<f64>) {
    let n = samples.len();
    let p50 = common::percentile(&mut samples, 50.0);
    let p99 = common::percentile(&mut samples, 99.0);
    let max = samples.last().copied().unwrap_or(f64::NAN);
    println!("{what}: {n} samples, p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms");
}
