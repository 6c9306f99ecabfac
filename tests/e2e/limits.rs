//! The politeness limits: at most `poll.per_host` requests to one host, and
//! at most `poll.concurrency` over all hosts, at any moment.

use crate::helpers::{TestApp, TestConfig, small_rss, wait_until};
use axum::Router;
use axum::routing::get;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Requests in flight now, the most ever seen, and how many were answered.
#[derive(Default)]
struct InFlight {
    now: AtomicUsize,
    max: AtomicUsize,
    answered: AtomicUsize,
}

/// A slow feed server on `ip` whose every answer takes 300 ms, sharing one
/// in-flight counter with the other servers of the test.
async fn slow_server(ip: &str, counter: Arc<InFlight>) -> String {
    let router = Router::new().fallback(get(move || {
        let counter = counter.clone();
        async move {
            let now = counter.now.fetch_add(1, Ordering::SeqCst) + 1;
            counter.max.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(300)).await;
            counter.now.fetch_sub(1, Ordering::SeqCst);
            counter.answered.fetch_add(1, Ordering::SeqCst);
            (
                [("content-type", "application/rss+xml")],
                small_rss(&[("a", "A")]),
            )
        }
    }));
    let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

#[tokio::test]
async fn one_host_gets_at_most_per_host_requests_at_once() {
    let counter = Arc::new(InFlight::default());
    let base = slow_server("127.0.0.1", counter.clone()).await;
    let urls: Vec<(String, String)> = (0..4)
        .map(|i| (format!("s{i}"), format!("{base}/feed-{i}.xml")))
        .collect();
    let sources: Vec<(&str, &str)> = urls
        .iter()
        .map(|(id, url)| (id.as_str(), url.as_str()))
        .collect();
    let config = TestConfig::new(&sources, "1h", "concurrency = 8\nper_host = 1\n");
    let app = TestApp::spawn(config.settings()).await;
    wait_until("every source polled once", || {
        counter.answered.load(Ordering::SeqCst) >= 4
    })
    .await;
    assert_eq!(
        counter.max.load(Ordering::SeqCst),
        1,
        "per_host = 1 serializes one host's sources"
    );
    app.stop().await;
}

#[tokio::test]
async fn all_hosts_together_get_at_most_concurrency_requests_at_once() {
    let counter = Arc::new(InFlight::default());
    // Four hosts: four loopback addresses, each its own server.
    let mut urls = Vec::new();
    for (i, ip) in ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"]
        .iter()
        .enumerate()
    {
        let base = slow_server(ip, counter.clone()).await;
        urls.push((format!("h{i}"), format!("{base}/feed.xml")));
    }
    let sources: Vec<(&str, &str)> = urls
        .iter()
        .map(|(id, url)| (id.as_str(), url.as_str()))
        .collect();
    let config = TestConfig::new(&sources, "1h", "concurrency = 2\nper_host = 2\n");
    let app = TestApp::spawn(config.settings()).await;
    wait_until("every source polled once", || {
        counter.answered.load(Ordering::SeqCst) >= 4
    })
    .await;
    assert_eq!(
        counter.max.load(Ordering::SeqCst),
        2,
        "concurrency = 2 over four hosts"
    );
    app.stop().await;
}
