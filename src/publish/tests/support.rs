//! Helpers of the broker tests: a connection to the real RabbitMQ and a
//! private exchange and queue per test (from `librarywire_testkit`, shared
//! with the end-to-end tests), publisher settings for them, a store in a
//! temporary folder, a running publisher, test items and the event schema.

use crate::config::AmqpSettings;
use crate::item::{Item, ItemId, SourceRef};
use crate::publish::{PublisherStats, run};
use crate::store::{OutboxMessage, Store};
use chrono::{DateTime, Duration as ChronoDuration, TimeZone, Utc};
use lapin::Connection;
use lapin::types::FieldTable;
pub(super) use librarywire_testkit::{
    BROKER_ADDR, PATIENCE, Proxy, TestQueue, broker_url, message_id, unique,
};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Awaits `future`, failing the test with `what` if it takes longer than [`PATIENCE`].
pub(super) async fn within<F: Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(PATIENCE, future).await {
        Ok(output) => output,
        Err(_) => panic!("gave up after {PATIENCE:?} waiting for {what}"),
    }
}

/// Waits until `condition` holds, checking every 20 ms, failing the test after [`PATIENCE`].
pub(super) async fn eventually(what: &str, mut condition: impl AsyncFnMut() -> bool) {
    within(what, async {
        while !condition().await {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

/// Sends the publisher's logs to the test output when `TEST_LOG` is set;
/// tests are silent otherwise.
pub(super) fn init_test_log() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "librarywire=debug".into()),
            )
            .with_test_writer()
            .try_init();
    }
}

/// Connects to the real broker, or fails the test saying how to start one.
pub(super) async fn broker() -> Connection {
    init_test_log();
    librarywire_testkit::connect(&broker_url()).await
}

/// Publisher settings for `topology` at `url`, with short waits so failures
/// are noticed quickly in tests.
pub(super) fn publisher_settings(topology: &TestQueue, url: &str) -> AmqpSettings {
    AmqpSettings {
        url: vec![url.to_owned()],
        queue: None,
        exchange: topology.exchange.clone(),
        confirm_window: 16,
        timeout: Duration::from_secs(3),
        max_backoff: Duration::from_millis(400),
    }
}

/// A fresh exchange and queue on the real broker for one test.
pub(super) async fn topology(tag: &str, binding: &str, queue_args: FieldTable) -> TestQueue {
    init_test_log();
    TestQueue::new(tag, binding, queue_args).await
}

/// A publisher running in the background.
pub(super) struct RunningPublisher {
    /// Its counters.
    pub stats: Arc<PublisherStats>,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl RunningPublisher {
    /// Starts `run` on `store` with `settings`.
    pub(super) fn start(settings: AmqpSettings, store: &Store) -> RunningPublisher {
        let stats = Arc::new(PublisherStats::default());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(run(
            settings,
            store.clone(),
            stats.clone(),
            shutdown.clone(),
        ));
        RunningPublisher {
            stats,
            shutdown,
            task,
        }
    }

    /// A counter's value.
    pub(super) fn count(
        &self,
        counter: fn(&PublisherStats) -> &std::sync::atomic::AtomicU64,
    ) -> u64 {
        counter(&self.stats).load(Ordering::Relaxed)
    }

    /// Whether the publisher has a ready channel.
    pub(super) fn connected(&self) -> bool {
        self.stats.connected.load(Ordering::Relaxed)
    }

    /// Cancels it and waits for `run` to return.
    pub(super) async fn stop(self) {
        self.shutdown.cancel();
        within("the publisher to stop", self.task)
            .await
            .expect("the publisher task panicked");
    }
}

/// A store in a fresh temporary folder; keep the folder alive as long as the store.
pub(super) fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let store = Store::open(&dir.path().join("librarywire.db")).expect("opening the store");
    (dir, store)
}

/// Every outbox row, in seq order.
pub(super) async fn outbox(store: &Store) -> Vec<OutboxMessage> {
    store
        .outbox_pending(i64::MIN, 1_000_000)
        .await
        .expect("reading the outbox")
}

/// How many rows wait in the outbox.
pub(super) async fn outbox_depth(store: &Store) -> u64 {
    store
        .outbox_depth()
        .await
        .expect("reading the outbox depth")
        .0
}

/// A source of test items.
pub(super) fn source(id: &str) -> SourceRef {
    SourceRef {
        id: id.to_owned(),
        name: format!("Test source {id}"),
        url: format!("https://news.example.org/{id}/feed.xml"),
    }
}

/// When the test items were published; fixed, so runs are repeatable.
fn base_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2021, 8, 19, 8, 0, 0).unwrap()
}

/// Test item number `n` of `source`. Items differ in which optional fields
/// they fill, so the events cover every null and non-null form of the schema.
pub(super) fn item(source: &SourceRef, n: usize) -> Item {
    let guid = format!("urn:librarywire-test:{}:{n}", source.id);
    let published = base_time() + ChronoDuration::minutes(n as i64);
    let mut item = Item {
        id: ItemId::derive(&source.id, &guid),
        source: source.clone(),
        guid,
        url: (!n.is_multiple_of(3)).then(|| format!("https://news.example.org/{}/{n}", source.id)),
        title: format!("Library news {n} from {}", source.name),
        summary: format!(
            "Summary of news {n}: reading rooms, catalogues and \"quotes\" & ampersands."
        ),
        content_html: (n.is_multiple_of(2)).then(|| format!("<p>News <b>{n}</b> in full.</p>")),
        authors: if n.is_multiple_of(4) {
            Vec::new()
        } else {
            vec![format!("Author {n}"), "IFLA".to_owned()]
        },
        categories: if n.is_multiple_of(5) {
            Vec::new()
        } else {
            vec!["libraries".to_owned()]
        },
        language: (!n.is_multiple_of(5)).then(|| "en".to_owned()),
        published,
        updated: (!n.is_multiple_of(2)).then(|| published + ChronoDuration::hours(1)),
        revision: 1,
        published_from_source: true,
        content_hash: String::new(),
    };
    item.content_hash = item.compute_content_hash();
    item
}

/// Items `range` of `source`.
pub(super) fn items(source: &SourceRef, range: std::ops::Range<usize>) -> Vec<Item> {
    range.map(|n| item(source, n)).collect()
}

/// Stores `items` of `source` as one poll would.
pub(super) async fn apply(store: &Store, source: &SourceRef, items: &[Item]) {
    store
        .apply_items(source, items, Utc::now())
        .await
        .expect("storing test items");
}

/// The event schema shipped in `schema/`, compiled with format checks on.
pub(super) fn schema() -> jsonschema::Validator {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema/item-event.schema.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let schema: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path} is not JSON: {e}"));
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{path} is not a valid 2020-12 schema: {e}"))
}

/// The reasons `body` does not validate against `schema`; empty when it does.
pub(super) fn schema_errors(schema: &jsonschema::Validator, body: &[u8]) -> Vec<String> {
    let value: serde_json::Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(e) => return vec![format!("not JSON: {e}")],
    };
    schema
        .iter_errors(&value)
        .map(|e| format!("at {}: {e}", e.instance_path()))
        .collect()
}

/// Fails the test unless `body` validates against `schema`.
pub(super) fn assert_valid(schema: &jsonschema::Validator, body: &[u8]) {
    let errors = schema_errors(schema, body);
    assert!(
        errors.is_empty(),
        "event does not validate against schema/item-event.schema.json:\n{}\nbody: {}",
        errors.join("\n"),
        String::from_utf8_lossy(body)
    );
}
