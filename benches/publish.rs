//! Section 3 of BENCHMARKS.md: publishing from the outbox to RabbitMQ with
//! confirms, against a bare lapin publisher with the same confirm window,
//! messages and broker in the same run; then the latency from a source
//! answering to the broker's confirm.
//!
//! On the three-node cluster of `scripts/rabbitmq-cluster` (when
//! `LIBRARYWIRE_TEST_CLUSTER` names it, as `scripts/test` and
//! `bench/publish-cluster.sh` do): the same drain into a quorum queue, both
//! publishers on node 1, and the time from stopping the node the daemon's
//! publisher is connected to until the first confirm from another node.
//!
//! The events are shaped like real ones: news items whose titles, summaries
//! and full HTML content come from the corpus's captured blog feeds
//! (`$LIBRARYWIRE_CORPUS`, else `../shared/corpus`), cut so the event bodies
//! average `PUBLISH_BODY` bytes (2,500 by default; 1,000 for the smaller
//! case), each between 0.6 and 1.4 times that. Without the corpus the content
//! is synthetic words of the same sizes. `PUBLISH_STORES` picks the outboxes
//! drained (`sqlite`, `postgres`, or both, comma-separated; both by default),
//! `PUBLISH_LATENCY=0` skips the latency section, `PUBLISH_ROUNDS` sets the throughput rounds (3;
//! the two publishers take turns at going first).
//!
//! `cargo bench --bench publish`, or `bench/publish-cluster.sh` for the
//! cluster sections too. Needs RabbitMQ on 127.0.0.1:5672 (guest/guest, or
//! `$LIBRARYWIRE_BENCH_AMQP`); without one it says so and measures nothing.
//! Under `cargo test` it does a smoke run of a few hundred messages, and no
//! failover.

mod common;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use chrono::Utc;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions,
    ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions,
    QueueDeleteOptions, QueuePurgeOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use librarywire::config::{AmqpSettings, PollSettings, SourceKind, SourceSettings};
use librarywire::event::{EventKind, item_event};
use librarywire::fetch::Fetcher;
use librarywire::item::{Item, SourceRef};
use librarywire::normalize::normalize;
use librarywire::parse::{ParseOptions, parse};
use librarywire::publish::{CONFIRMED_TARGET, PublisherStats};
use librarywire::store::{OutboxMessage, Store};
use librarywire_testkit::{Cluster, TestDatabase};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::layer::SubscriberExt;

/// The confirm window of both publishers: the daemon's default.
const WINDOW: usize = 256;

/// How long any one wait of the bench may take. A publisher that stops
/// confirming then fails the run, and `cargo test`'s smoke run with it,
/// instead of hanging it; a round of the measured run takes seconds.
const PATIENCE: Duration = Duration::from_secs(60);

/// Awaits `future`, giving up on the run after [`PATIENCE`] with `what`.
async fn within<F: std::future::Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(PATIENCE, future).await {
        Ok(output) => output,
        Err(_) => panic!("publish bench: gave up after {PATIENCE:?} waiting for {what}"),
    }
}

fn amqp_url() -> String {
    std::env::var("LIBRARYWIRE_BENCH_AMQP")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

fn main() {
    let measuring = common::measuring();
    let hook = ConfirmHook::default();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(hook.clone()))
        .expect("the only subscriber");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(run(measuring, hook));
}

async fn run(measuring: bool, hook: ConfirmHook) {
    let connection = match tokio::time::timeout(
        Duration::from_secs(5),
        Connection::connect(&amqp_url(), ConnectionProperties::default()),
    )
    .await
    {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return eprintln!("publish bench: no broker ({e}); nothing measured"),
        Err(_) => return eprintln!("publish bench: no broker answer in 5 s; nothing measured"),
    };
    let topology =
        Topology::declare(&connection, &amqp_url(), false, "one broker, durable queue").await;
    let rounds = std::env::var("PUBLISH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let (count, rounds, latency_samples) = if measuring {
        (20_000, rounds, 500)
    } else {
        (300, 1, 10)
    };
    for backing in backings() {
        throughput(&topology, count, rounds, backing).await;
    }
    if std::env::var("PUBLISH_LATENCY").as_deref() != Ok("0") {
        latency(&topology, hook.clone(), latency_samples).await;
    }
    topology.delete().await;
    match Cluster::from_env() {
        Some(cluster) => on_cluster(&cluster, measuring, hook).await,
        None => eprintln!(
            "publish bench: no cluster (LIBRARYWIRE_TEST_CLUSTER unset; see bench/publish-cluster.sh); its sections measure nothing"
        ),
    }
}

/// The bench's own exchange and durable queue, bound to every item event.
struct Topology {
    /// The broker (or cluster node) both publishers connect to.
    url: String,
    /// What the figures are of, for the printed lines.
    label: &'static str,
    channel: Channel,
    exchange: String,
    queue: String,
}

impl Topology {
    /// Declares the bench's exchange and a durable queue through `connection`
    /// (a quorum queue when `quorum`); both publishers then use `url`.
    async fn declare(
        connection: &Connection,
        url: &str,
        quorum: bool,
        label: &'static str,
    ) -> Topology {
        let channel = connection.create_channel().await.expect("a channel");
        let exchange = format!("librarywire-bench-{:016x}", rand::random::<u64>());
        let queue = format!("{exchange}-q");
        channel
            .exchange_declare(
                exchange.as_str().into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("declaring the exchange");
        let mut arguments = FieldTable::default();
        if quorum {
            arguments.insert(
                "x-queue-type".into(),
                AMQPValue::LongString("quorum".into()),
            );
        }
        channel
            .queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                arguments,
            )
            .await
            .expect("declaring the queue");
        channel
            .queue_bind(
                queue.as_str().into(),
                exchange.as_str().into(),
                "item.#".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("binding the queue");
        Topology {
            url: url.to_owned(),
            label,
            channel,
            exchange,
            queue,
        }
    }

    async fn purge(&self) {
        self.channel
            .queue_purge(self.queue.as_str().into(), QueuePurgeOptions::default())
            .await
            .expect("purging the queue");
    }

    async fn delete(&self) {
        let _ = self
            .channel
            .queue_delete(self.queue.as_str().into(), QueueDeleteOptions::default())
            .await;
        let _ = self
            .channel
            .exchange_delete(
                self.exchange.as_str().into(),
                ExchangeDeleteOptions::default(),
            )
            .await;
    }

    fn settings(&self) -> AmqpSettings {
        AmqpSettings {
            url: vec![self.url.clone()],
            exchange: self.exchange.clone(),
            confirm_window: WINDOW,
            ..AmqpSettings::default()
        }
    }
}

/// Which backend's outbox the daemon's publisher drains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backing {
    /// An SQLite file in a temporary folder.
    Sqlite,
    /// A PostgreSQL database of the bench's own (the test kit's
    /// `TestDatabase`, dropped after), drained under the publisher lease as
    /// a replica drains it.
    Postgres,
}

/// What keeps a filled store alive: its folder or its database.
enum Keep {
    #[allow(dead_code)]
    Dir(tempfile::TempDir),
    #[allow(dead_code)]
    Db(TestDatabase),
}

/// A store whose outbox holds `count` item events, as polls of 200 sources
/// would leave them.
async fn filled_store(count: usize, backing: Backing) -> (Keep, Store) {
    let (keep, store) = match backing {
        Backing::Sqlite => {
            let dir = tempfile::tempdir().expect("a temporary folder");
            let store = Store::open(&dir.path().join("bench.db")).expect("a store");
            (Keep::Dir(dir), store)
        }
        Backing::Postgres => {
            let db = TestDatabase::create().await;
            let store = Store::connect(db.url()).await.expect("a PostgreSQL store");
            (Keep::Db(db), store)
        }
    };
    let sources: Vec<_> = (0..200).map(common::source).collect();
    let per_poll = 50;
    let mut n = 0;
    while n < count {
        let source = &sources[(n / per_poll) % sources.len()];
        let take = per_poll.min(count - n);
        let items: Vec<_> = (n..n + take).map(|i| real_shaped(source, i)).collect();
        store
            .apply_items(source, &items, Utc::now())
            .await
            .expect("storing items");
        n += take;
    }
    (keep, store)
}

/// The outboxes to drain, from `PUBLISH_STORES` (`sqlite`, `postgres`, or
/// both, comma-separated): both by default.
fn backings() -> Vec<Backing> {
    let wanted = std::env::var("PUBLISH_STORES").unwrap_or_else(|_| "sqlite,postgres".to_owned());
    wanted
        .split(',')
        .map(|name| match name.trim() {
            "sqlite" => Backing::Sqlite,
            "postgres" | "pg" => Backing::Postgres,
            other => panic!("PUBLISH_STORES: unknown store `{other}` (sqlite, postgres)"),
        })
        .collect()
}

/// The mean event body the bench aims at, from `PUBLISH_BODY` (bytes):
/// 2,500 by default, the size of real news items with full HTML content.
fn body_target() -> usize {
    std::env::var("PUBLISH_BODY")
        .ok()
        .map(|v| v.parse().expect("PUBLISH_BODY: a number of bytes"))
        .unwrap_or(2_500)
}

/// The text of one real news item: what a poll of its feed stored.
struct Piece {
    title: String,
    summary: String,
    html: String,
    authors: Vec<String>,
    categories: Vec<String>,
}

/// Every item with HTML content of the corpus's captured blog feeds, through
/// the product's parse and normalize; empty without the corpus. Under
/// `cargo test` only the small feeds are read, for speed.
fn pieces() -> &'static [Piece] {
    static PIECES: OnceLock<Vec<Piece>> = OnceLock::new();
    PIECES.get_or_init(|| {
        let dir = common::corpus_root().join("rogue-scholar-api/captured-feeds");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|entries| entries.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|e| e == "xml"));
        files.sort();
        let limit = if common::measuring() { 4 << 20 } else { 200 << 10 };
        let source = common::source(0);
        let base = url::Url::parse("https://corpus.example/feed.xml").expect("a URL");
        let mut pieces = Vec::new();
        for path in files {
            let Ok(body) = std::fs::read(&path) else {
                continue;
            };
            if body.len() > limit {
                continue;
            }
            let Ok(feed) = parse(&body, &ParseOptions::new(&base)) else {
                continue;
            };
            for item in normalize(&source, &base, &feed, common::epoch()) {
                if let Some(html) = item.content_html.filter(|h| h.len() >= 200) {
                    pieces.push(Piece {
                        title: item.title,
                        summary: item.summary,
                        html,
                        authors: item.authors,
                        categories: item.categories,
                    });
                }
            }
        }
        if pieces.is_empty() {
            eprintln!(
                "publish bench: no corpus feeds in {} (set LIBRARYWIRE_CORPUS); the items' content is synthetic",
                dir.display()
            );
        }
        pieces
    })
}

/// The bytes `c` takes inside a JSON string, as serde_json writes it.
fn json_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if (c as u32) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

/// HTML content of about `budget` bytes once in the event's JSON: real items'
/// content from piece `n` on, run together and cut; synthetic words without
/// the corpus.
fn content(n: usize, budget: usize) -> String {
    let pieces = pieces();
    let mut out = String::with_capacity(budget);
    let mut used = 0;
    let mut k = n;
    let mut filler = 0;
    while used < budget {
        let synthetic;
        let text = if pieces.is_empty() {
            filler += 1;
            synthetic = format!(
                "<p>{}</p>",
                common::item(&common::source(0), n + filler, common::epoch()).summary
            );
            synthetic.as_str()
        } else {
            k += 1;
            pieces[k % pieces.len()].html.as_str()
        };
        for c in text.chars() {
            let size = json_len(c);
            if used + size > budget {
                return out;
            }
            out.push(c);
            used += size;
        }
    }
    out
}

/// The `n`th item of `source`, shaped like a real news item (title, summary,
/// authors, categories and full HTML content of a corpus item), with its
/// event body between 0.6 and 1.4 times [`body_target`] bytes, spread
/// evenly so the mean lands on it.
fn real_shaped(source: &SourceRef, n: usize) -> Item {
    let mut item = common::item(source, n, common::epoch());
    let pieces = pieces();
    if !pieces.is_empty() {
        let piece = &pieces[n % pieces.len()];
        item.title = format!("{} ({n})", piece.title);
        item.summary = piece.summary.clone();
        item.authors = piece.authors.clone();
        item.categories = piece.categories.clone();
    }
    item.content_html = None;
    let body_len = |item: &Item| {
        item_event(item, EventKind::New, Utc::now(), None)
            .body
            .len()
    };
    // A fixed spread over 0.6..1.4 by a multiplicative hash of `n`.
    let spread = 0.6 + 0.8 * ((n.wrapping_mul(2_654_435_761) % 1_000) as f64 / 1_000.0);
    let want = (body_target() as f64 * spread) as usize;
    let mut bare = body_len(&item);
    if bare > want {
        // A small event: no content, and a summary cut to fit (summaries
        // are bounded, not always this short, but the size is what counts).
        let mut keep = item.summary.len().saturating_sub(bare - want);
        while !item.summary.is_char_boundary(keep) {
            keep -= 1;
        }
        item.summary.truncate(keep);
        bare = body_len(&item);
    }
    // `null` gives way to the quoted string.
    let budget = (want + 4).saturating_sub(bare + 2);
    if budget > 0 {
        item.content_html = Some(content(n, budget));
    }
    item.content_hash = item.compute_content_hash();
    item
}

/// The daemon's publisher draining `count` messages; returns the seconds
/// from its start to the last confirm.
async fn product_round(topology: &Topology, count: usize, backing: Backing) -> f64 {
    let (_keep, store) = filled_store(count, backing).await;
    let stats = Arc::new(PublisherStats::default());
    let shutdown = CancellationToken::new();
    let started = Instant::now();
    let task = match backing {
        Backing::Sqlite => tokio::spawn(librarywire::publish::run(
            topology.settings(),
            store.clone(),
            stats.clone(),
            shutdown.clone(),
        )),
        Backing::Postgres => tokio::spawn(librarywire::publish::run_under_lease(
            topology.settings(),
            "bench".to_owned(),
            Duration::from_secs(60),
            store.clone(),
            stats.clone(),
            shutdown.clone(),
        )),
    };
    within(
        "the daemon's publisher to have every message confirmed",
        async {
            while stats.confirmed.load(Ordering::Relaxed) < count as u64 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        },
    )
    .await;
    let seconds = started.elapsed().as_secs_f64();
    shutdown.cancel();
    within("the publisher to stop", task)
        .await
        .expect("the publisher task");
    assert_eq!(
        stats.returned.load(Ordering::Relaxed),
        0,
        "nothing is returned"
    );
    seconds
}

/// The bare publisher: one connection, confirms on, at most [`WINDOW`]
/// confirms awaited, the same properties as the daemon's. Returns the
/// seconds from connecting to the last confirm.
async fn bare_round(topology: &Topology, messages: &[OutboxMessage]) -> f64 {
    let started = Instant::now();
    let connection = Connection::connect(&topology.url, ConnectionProperties::default())
        .await
        .expect("connecting");
    let channel = connection.create_channel().await.expect("a channel");
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirm mode");
    let mut pending = FuturesUnordered::new();
    for message in messages {
        while pending.len() >= WINDOW {
            let confirm: lapin::Result<lapin::Confirmation> =
                pending.next().await.expect("a confirm");
            assert!(confirm.expect("a confirm").is_ack());
        }
        let properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/cloudevents+json".into())
            .with_message_id(message.event_id.as_str().into())
            .with_timestamp(message.created_at.timestamp() as u64)
            .with_app_id("librarywire".into());
        let confirm = channel
            .basic_publish(
                topology.exchange.as_str().into(),
                message.routing_key.as_str().into(),
                BasicPublishOptions {
                    mandatory: true,
                    immediate: false,
                },
                &message.body,
                properties,
            )
            .await
            .expect("publishing");
        pending.push(confirm);
    }
    while let Some(confirm) = pending.next().await {
        assert!(confirm.expect("a confirm").is_ack());
    }
    let seconds = started.elapsed().as_secs_f64();
    let _ = connection.close(200, "done".into()).await;
    seconds
}

async fn throughput(topology: &Topology, count: usize, rounds: usize, backing: Backing) {
    // The bare publisher sends exactly the daemon's messages.
    let (_keep, store) = filled_store(count, backing).await;
    let messages = store
        .outbox_pending(i64::MIN, count)
        .await
        .expect("the outbox");
    // No item of the bench is a duplicate, so neither publisher sends the
    // `x-duplicate-of` header and both send the same properties.
    let unjudged = br#""duplicate_of":null"#;
    assert!(
        messages
            .iter()
            .all(|m| m.body.windows(unjudged.len()).any(|w| w == unjudged)),
        "no bench item is a duplicate"
    );
    let sizes: Vec<usize> = messages.iter().map(|m| m.body.len()).collect();
    let mean = sizes.iter().sum::<usize>() / sizes.len().max(1);
    let label = match backing {
        Backing::Sqlite => topology.label.to_owned(),
        Backing::Postgres => format!("{}, PostgreSQL outbox", topology.label),
    };
    println!(
        "publish ({label}): {count} messages per round, body {}..{} bytes (mean {mean}), window {WINDOW}, \
         persistent, mandatory",
        sizes.iter().min().unwrap_or(&0),
        sizes.iter().max().unwrap_or(&0),
    );
    let (mut product, mut bare, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        // Taking turns at going first, so neither always meets the broker
        // as the other left it.
        let bare_first = round % 2 == 1;
        let mut p = 0.0;
        if !bare_first {
            topology.purge().await;
            p = count as f64 / product_round(topology, count, backing).await;
        }
        topology.purge().await;
        let b = count as f64
            / within(
                "the bare publisher to have every message confirmed",
                bare_round(topology, &messages),
            )
            .await;
        if bare_first {
            topology.purge().await;
            p = count as f64 / product_round(topology, count, backing).await;
        }
        ratios.push(p / b);
        println!(
            "publish ({label}) round {round}: bare lapin {b:.0} msg/s, librarywire {p:.0} msg/s, ratio {:.2}",
            p / b
        );
        bare.push(b);
        product.push(p);
    }
    topology.purge().await;
    let b = common::percentile(&mut bare, 50.0);
    let p = common::percentile(&mut product, 50.0);
    let r = common::percentile(&mut ratios, 50.0);
    println!(
        "publish ({label}) median of {rounds}: bare lapin {b:.0} msg/s, librarywire {p:.0} msg/s, ratio {:.2}; \
         median of the rounds' ratios {r:.2}",
        p / b
    );
}

/// Where the hook sends each confirmed event id and when it was confirmed.
type ConfirmSender = mpsc::UnboundedSender<(String, Instant)>;

/// Receives the daemon's confirm events (see [`CONFIRMED_TARGET`]) while armed.
#[derive(Clone, Default)]
struct ConfirmHook {
    armed: Arc<AtomicBool>,
    sender: Arc<Mutex<Option<ConfirmSender>>>,
}

impl ConfirmHook {
    fn arm(&self) -> mpsc::UnboundedReceiver<(String, Instant)> {
        let (tx, rx) = mpsc::unbounded_channel();
        *self.sender.lock().unwrap() = Some(tx);
        self.armed.store(true, Ordering::SeqCst);
        rx
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for ConfirmHook {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() != CONFIRMED_TARGET || !self.armed.load(Ordering::Relaxed) {
            return;
        }
        let at = Instant::now();
        struct Id(String);
        impl tracing::field::Visit for Id {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "event_id" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        let mut id = Id(String::new());
        event.record(&mut id);
        if let Some(tx) = self.sender.lock().unwrap().as_ref() {
            let _ = tx.send((id.0, at));
        }
    }
}

/// A feed server that lists the newest 20 of an ever-growing list of items,
/// one more per request, and records when it answered each request.
#[derive(Clone, Default)]
struct FeedServer {
    requests: Arc<AtomicUsize>,
    answered: Arc<Mutex<Vec<Instant>>>,
}

async fn feed(State(server): State<FeedServer>) -> impl IntoResponse {
    let newest = server.requests.fetch_add(1, Ordering::SeqCst);
    let mut body = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>Bench library</title><link>https://bench.example.org/</link><description>News</description>"#,
    );
    for n in newest.saturating_sub(19)..=newest {
        let minute = n % 60;
        let hour = (n / 60) % 24;
        body.push_str(&format!(
            "<item><title>Reading room news {n}: extended opening hours and a new catalogue</title>\
             <link>https://bench.example.org/news/{n}/</link><guid>https://bench.example.org/news/{n}/</guid>\
             <pubDate>Mon, 01 Jan 2024 {hour:02}:{minute:02}:00 +0000</pubDate><dc:creator>Library staff</dc:creator>\
             <category>news</category><description>&lt;p&gt;The reading room opens longer from next week; \
             the new catalogue covers the manuscript collection and the digital archive. Item {n}.&lt;/p&gt;</description></item>"
        ));
    }
    body.push_str("</channel></rss>");
    server.answered.lock().unwrap().push(Instant::now());
    ([(header::CONTENT_TYPE, "application/rss+xml")], body)
}

async fn latency(topology: &Topology, hook: ConfirmHook, samples: usize) {
    topology.purge().await;
    let server = FeedServer::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let addr = listener.local_addr().expect("an address");
    let app = Router::new()
        .route("/feed.xml", get(feed))
        .with_state(server.clone());
    let http = tokio::spawn(async move { axum::serve(listener, app).await });

    // A consumer: the receive time is an upper bound of the confirm time.
    let consumer_connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
        .await
        .expect("connecting");
    let consumer_channel = consumer_connection
        .create_channel()
        .await
        .expect("a channel");
    let mut consumer = consumer_channel
        .basic_consume(
            topology.queue.as_str().into(),
            "bench".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("consuming");

    let dir = tempfile::tempdir().expect("a temporary folder");
    let store = Store::open(&dir.path().join("latency.db")).expect("a store");
    let stats = Arc::new(PublisherStats::default());
    let shutdown = CancellationToken::new();
    let mut confirms = hook.arm();
    let publisher = tokio::spawn(librarywire::publish::run(
        topology.settings(),
        store.clone(),
        stats.clone(),
        shutdown.clone(),
    ));
    within("the publisher to connect", async {
        while !stats.connected.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    let fetcher = Fetcher::new(&PollSettings::default()).expect("a fetcher");
    let source = SourceSettings {
        id: "bench".to_owned(),
        name: Some("Bench library".to_owned()),
        url: format!("http://{addr}/feed.xml").into(),
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
    };
    let (mut to_stored, mut to_confirm, mut to_receive) = (Vec::new(), Vec::new(), Vec::new());
    for k in 0..samples + 20 {
        let refreshed = librarywire::refresh::refresh(&fetcher, &store, &source, Utc::now())
            .await
            .expect("a poll");
        let stored = Instant::now();
        let expected = 1;
        assert_eq!(
            refreshed.applied.new, expected,
            "poll {k} stores its one new item"
        );
        let answered = *server.answered.lock().unwrap().last().expect("an answer");
        let mut confirmed = None;
        for _ in 0..expected {
            confirmed = Some(
                within("the broker's confirm of a poll's item", confirms.recv())
                    .await
                    .expect("a confirm")
                    .1,
            );
        }
        let mut received = None;
        for _ in 0..expected {
            let delivery = within("the consumer to receive a poll's item", consumer.next())
                .await
                .expect("a delivery")
                .expect("a delivery");
            received = Some(Instant::now());
            delivery
                .ack(BasicAckOptions::default())
                .await
                .expect("an ack");
        }
        // The first 20 polls fill the feed's window; they are the warm-up.
        if k >= 20 {
            let ms = |t: Instant| t.duration_since(answered).as_secs_f64() * 1000.0;
            to_stored.push(ms(stored));
            to_confirm.push(ms(confirmed.expect("a confirm")));
            to_receive.push(ms(received.expect("a delivery")));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    println!(
        "publish latency over {samples} polls (one new item each, 20 listed), ms from the source's answer:"
    );
    for (what, samples) in [
        (
            "stored (poll path: fetch, parse, normalize, store)",
            &mut to_stored,
        ),
        ("confirmed by the broker", &mut to_confirm),
        ("received by a consumer (upper bound)", &mut to_receive),
    ] {
        let p50 = common::percentile(samples, 50.0);
        let p99 = common::percentile(samples, 99.0);
        println!("  {what}: p50 {p50:.2} ms, p99 {p99:.2} ms");
    }
    shutdown.cancel();
    within("the publisher to stop", publisher)
        .await
        .expect("the publisher task");
    http.abort();
    let _ = consumer_connection.close(200, "done".into()).await;
}

/// The cluster sections: the drain into a quorum queue, and failover times.
async fn on_cluster(cluster: &Cluster, measuring: bool, hook: ConfirmHook) {
    let node1 = cluster.url(1).to_owned();
    let connection = match Connection::connect(&node1, ConnectionProperties::default()).await {
        Ok(c) => c,
        Err(e) => {
            return eprintln!(
                "publish bench: cluster node 1 does not answer ({e}); nothing measured"
            );
        }
    };
    let topology =
        Topology::declare(&connection, &node1, true, "3-node cluster, quorum queue").await;
    let (count, rounds) = if measuring { (20_000, 3) } else { (200, 1) };
    throughput(&topology, count, rounds, Backing::Sqlite).await;
    if measuring {
        failover(cluster, &topology, hook, 5).await;
    }
    topology.delete().await;
    let _ = connection.close(200, "done".into()).await;
}

/// Stops the node the daemon's publisher is connected to while it drains a
/// backlog, `samples` times (a different node each time, brought back
/// after), and prints the time from the stop command to the connection's
/// loss and to the first confirm from another node.
async fn failover(cluster: &Cluster, topology: &Topology, hook: ConfirmHook, samples: usize) {
    let _turn = cluster.exclusive().await;
    topology.purge().await;
    let (_keep, store) = filled_store(20_000, Backing::Sqlite).await;
    // The backlog never runs dry, however long the nodes take to come back:
    // polls keep adding items while the publisher drains them.
    let feeding = CancellationToken::new();
    let feeder = tokio::spawn({
        let (store, feeding) = (store.clone(), feeding.clone());
        async move {
            let source = common::source(999);
            let mut next = 1_000_000;
            while !feeding.is_cancelled() {
                if store.outbox_depth().await.expect("the outbox depth").0 < 20_000 {
                    let items: Vec<_> = (next..next + 1000)
                        .map(|i| common::item(&source, i, common::epoch()))
                        .collect();
                    store
                        .apply_items(&source, &items, Utc::now())
                        .await
                        .expect("storing items");
                    next += 1000;
                } else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    });
    let stats = Arc::new(PublisherStats::default());
    let shutdown = CancellationToken::new();
    let mut settings = topology.settings();
    settings.url = cluster.urls().to_vec();
    let mut confirms = hook.arm();
    let publisher = tokio::spawn(librarywire::publish::run(
        settings,
        store.clone(),
        stats.clone(),
        shutdown.clone(),
    ));
    let node_now = || stats.node().and_then(|address| cluster.node_of(&address));
    let (mut to_loss, mut to_confirm, mut gaps) = (Vec::new(), Vec::new(), Vec::new());
    for sample in 1..=samples {
        // Publishing, with confirms coming, on some node.
        let confirmed = stats.confirmed.load(Ordering::Relaxed);
        within("confirms before the stop", async {
            while node_now().is_none() || stats.confirmed.load(Ordering::Relaxed) < confirmed + 1000
            {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
        let node = node_now().expect("connected");
        let stopped = Instant::now();
        let stop = tokio::spawn({
            let cluster = cluster.clone();
            async move { cluster.stop_app(node).await }
        });
        let lost = within("the publisher to lose its node", async {
            while node_now() == Some(node) {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Instant::now()
        })
        .await;
        let moved_at = within("the publisher to reach another node", async {
            loop {
                if let Some(other) = node_now()
                    && other != node
                {
                    return Instant::now();
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
        // Confirms only come over a connection, so the first one timed after
        // the move is the other node's.
        let first = within("the first confirm from another node", async {
            loop {
                let (_, at) = confirms.recv().await.expect("a confirm");
                if at >= moved_at {
                    return at;
                }
            }
        })
        .await;
        stop.await.expect("stop_app");
        let ms = |t: Instant| t.duration_since(stopped).as_secs_f64() * 1000.0;
        let gap = first.duration_since(lost).as_secs_f64() * 1000.0;
        println!(
            "publish failover {sample}: node {node} stopped (stop_app); connection lost after {:.0} ms, \
             first confirm from node {} after {:.0} ms ({gap:.0} ms after the loss)",
            ms(lost),
            node_now().map_or("?".to_owned(), |n| n.to_string()),
            ms(first)
        );
        to_loss.push(ms(lost));
        to_confirm.push(ms(first));
        gaps.push(gap);
        cluster.start_app(node).await;
    }
    println!(
        "publish failover median of {samples}: connection lost after {:.0} ms, first confirm from another node \
         after {:.0} ms ({:.0} ms after the loss)",
        common::percentile(&mut to_loss, 50.0),
        common::percentile(&mut to_confirm, 50.0),
        common::percentile(&mut gaps, 50.0)
    );
    feeding.cancel();
    within("the feeder to stop", feeder)
        .await
        .expect("the feeder task");
    shutdown.cancel();
    within("the publisher to stop", publisher)
        .await
        .expect("the publisher task");
}
