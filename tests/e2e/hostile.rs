//! Sources that misbehave in every way a real one does, beside one good
//! source: the good one keeps flowing, the daemon stays up, and `/status`
//! says what is wrong with each bad one.

use crate::helpers::{TestApp, TestConfig, eventually, wait_until};
use axum::Router;
use axum::body::Body;
use axum::http::StatusCode;
use axum::routing::get;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const GOOD: &str = r#"<?xml version="1.0"?><rss version="2.0"><channel><title>Good</title><link>http://example.org/</link><description>d</description>
<item><guid>g1</guid><title>Good news</title><link>http://example.org/g1</link><description><![CDATA[<style>body{display:none}</style><p onclick="steal()" style="x">Hello<script>alert(1)</script><iframe src="http://evil.example/"></iframe><a href="javascript:alert(1)">x</a><a href="data:text/html;base64,PHNjcmlwdD4=">y</a><img src="x" onerror="steal()"></p>]]></description></item>
</channel></rss>"#;

/// Counts hits per path.
#[derive(Clone, Default)]
struct Hits(Arc<Mutex<HashMap<String, usize>>>);

impl Hits {
    fn count(&self, path: &str) -> usize {
        self.0.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

async fn misbehaving_server(hits: Hits) -> String {
    let bomb = {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![b' '; 64 << 20]).unwrap();
        Arc::new(gz.finish().unwrap())
    };
    let counted = hits.clone();
    let router = Router::new()
        .route("/good.xml", get(|| async { ([("content-type", "application/rss+xml")], GOOD) }))
        .route(
            "/hang.xml",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                GOOD
            }),
        )
        .route(
            "/drip.xml",
            get(|| async {
                // One byte every 100 ms, forever: a server that never finishes.
                let stream = futures_util::stream::unfold((), |()| async {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Some((Ok::<_, std::io::Error>(bytes::Bytes::from_static(b" ")), ()))
                });
                Body::from_stream(stream)
            }),
        )
        .route("/loop-a.xml", get(|| async { (StatusCode::FOUND, [("location", "/loop-b.xml")]) }))
        .route("/loop-b.xml", get(|| async { (StatusCode::FOUND, [("location", "/loop-a.xml")]) }))
        .route("/busy.xml", get(|| async { (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "3600")]) }))
        .route("/unavailable.xml", get(|| async { (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "1800")]) }))
        .route("/gone.xml", get(|| async { StatusCode::GONE }))
        .route("/forbidden.xml", get(|| async { StatusCode::FORBIDDEN }))
        .route("/missing.xml", get(|| async { StatusCode::NOT_FOUND }))
        .route("/broken.xml", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
        .route(
            "/bomb.xml",
            get(move || {
                let bomb = bomb.clone();
                async move { ([("content-encoding", "gzip")], (*bomb).clone()) }
            }),
        )
        .route("/huge.xml", get(|| async { vec![b'x'; 3 << 20] }))
        .route(
            "/page.html",
            get(|| async {
                (
                    [("content-type", "text/html")],
                    r#"<!DOCTYPE html><html><head><title>News</title><link rel="alternate" type="application/rss+xml" href="/news/feed/"></head><body>News</body></html>"#,
                )
            }),
        )
        .route("/garbage.xml", get(|| async { "\u{0}\u{1}binary garbage \u{ff}" }))
        .layer(axum::middleware::from_fn(move |request: axum::extract::Request, next: axum::middleware::Next| {
            let hits = counted.clone();
            async move {
                *hits.0.lock().unwrap().entry(request.uri().path().to_owned()).or_default() += 1;
                next.run(request).await
            }
        }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

#[tokio::test]
async fn bad_sources_get_clear_reasons_and_the_good_one_keeps_flowing() {
    let hits = Hits::default();
    let base = misbehaving_server(hits.clone()).await;
    let bad = [
        ("hang", "/hang.xml", "timed out"),
        ("drip", "/drip.xml", "timed out"),
        ("loop", "/loop-a.xml", "redirect loop"),
        ("busy", "/busy.xml", "HTTP 429"),
        ("unavailable", "/unavailable.xml", "HTTP 503"),
        ("gone", "/gone.xml", "HTTP 410"),
        ("forbidden", "/forbidden.xml", "HTTP 403"),
        ("missing", "/missing.xml", "HTTP 404"),
        ("broken", "/broken.xml", "HTTP 500"),
        ("bomb", "/bomb.xml", "larger than"),
        ("huge", "/huge.xml", "larger than"),
        ("page", "/page.html", "/news/feed/"),
        ("garbage", "/garbage.xml", "not a valid"),
        ("dead-host", "http://127.0.0.1:1/feed.xml", "cannot reach"),
    ];
    let urls: Vec<(String, String)> =
        std::iter::once(("good".to_owned(), format!("{base}/good.xml")))
            .chain(bad.iter().map(|(id, path, _)| {
                let url = if path.starts_with("http") {
                    (*path).to_owned()
                } else {
                    format!("{base}{path}")
                };
                ((*id).to_owned(), url)
            }))
            .collect();
    let sources: Vec<(&str, &str)> = urls
        .iter()
        .map(|(id, url)| (id.as_str(), url.as_str()))
        .collect();
    let config = TestConfig::new(
        &sources,
        "1s",
        "timeout = \"2s\"\nconnect_timeout = \"1s\"\nmax_body = \"1MB\"\nconcurrency = 16\n",
    );
    let app = TestApp::spawn(config.settings()).await;

    let feed = app
        .wait_for_feed("the good source's item", |f| f.entries.len() == 1)
        .await;
    let content = feed.entries[0]
        .summary
        .as_ref()
        .map(|s| s.content.clone())
        .unwrap_or_default();
    for active in [
        "<script",
        "<iframe",
        "<style",
        "onclick",
        "onerror",
        "javascript:",
        "data:",
    ] {
        assert!(
            !content.contains(active),
            "{active} reached the merged feed: {content}"
        );
    }
    assert!(content.contains("Hello"));
    // The message waiting for the broker carries the same sanitized item.
    let pending = app.store.outbox_pending(0, 100).await.unwrap();
    assert_eq!(pending.len(), 1, "one message, for the good item");
    let body = String::from_utf8(pending[0].body.clone()).unwrap();
    for active in [
        "<script",
        "<iframe",
        "<style",
        "onclick",
        "onerror",
        "javascript:",
        "data:text",
    ] {
        assert!(
            !body.contains(active),
            "{active} reached the message: {body}"
        );
    }

    let client = app.client().clone();
    let status_url = app.url("/status");
    let fetch_status = || {
        let client = client.clone();
        let url = status_url.clone();
        async move {
            client
                .get(url)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .map(|b| serde_json::from_slice::<serde_json::Value>(&b).unwrap())
                .unwrap()
        }
    };
    let status = eventually("every bad source to fail", || async {
        let status = fetch_status().await;
        let all_failed = bad.iter().all(|(id, ..)| {
            status["sources"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["id"] == *id && s["consecutive_failures"].as_u64() > Some(0))
        });
        if all_failed {
            Ok(status)
        } else {
            Err(format!("{status:#}"))
        }
    })
    .await;
    let by_id = |id: &str| -> serde_json::Value {
        status["sources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .unwrap()
            .clone()
    };
    for (id, _, reason) in bad {
        let source = by_id(id);
        let error = source["last_error"].as_str().unwrap_or_default();
        assert!(
            error.contains(reason),
            "{id}: expected a reason with `{reason}`, got `{error}`"
        );
        assert!(
            !error.contains('\n'),
            "{id}: the reason is one line: {error}"
        );
        let state = source["state"].as_str().unwrap();
        assert!(["failing", "gone"].contains(&state), "{id}: {state}");
    }
    assert_eq!(by_id("good")["state"], "ok");
    assert_eq!(by_id("good")["item_count"], 1);
    assert_eq!(by_id("gone")["state"], "gone");
    assert!(by_id("gone")["next_poll"].is_null());

    // Retry-After is a floor: nothing asks again within the hour.
    let now = chrono::Utc::now();
    for (id, floor) in [("busy", 3500), ("unavailable", 1700)] {
        let next: chrono::DateTime<chrono::Utc> =
            by_id(id)["next_poll"].as_str().unwrap().parse().unwrap();
        assert!(
            next > now + chrono::Duration::seconds(floor),
            "{id} is due at {next}"
        );
    }
    // A few more seconds of the daemon's life: the good source is polled
    // again and again, the 429/503/410 sources are not, the 500 one backs off.
    let good_polls = hits.count("/good.xml");
    let bomb_tries = hits.count("/bomb.xml");
    wait_until(
        "more polls of the good source and more tries of the bomb",
        || hits.count("/good.xml") >= good_polls + 3 && hits.count("/bomb.xml") > bomb_tries,
    )
    .await;
    assert_eq!(
        hits.count("/busy.xml"),
        1,
        "a 429 is not retried before its Retry-After"
    );
    assert_eq!(hits.count("/unavailable.xml"), 1);
    assert_eq!(hits.count("/gone.xml"), 1, "a 410 stops polling");
    assert!(
        hits.count("/broken.xml") < hits.count("/good.xml"),
        "a failing source backs off: {} polls against {}",
        hits.count("/broken.xml"),
        hits.count("/good.xml")
    );
    assert_eq!(
        app.client()
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    app.stop().await;
}
