//! The daemon against the real three-node RabbitMQ cluster of
//! `scripts/rabbitmq-cluster`: a backlog drains into a quorum queue while the node
//! the daemon is connected to goes away (its application stopped, or its
//! process killed), then comes back while a second one goes. A consumer
//! reads through a node that stays up. Every item arrives (at least once,
//! once after dedup by `message_id`), and the outbox empties.
//!
//! `scripts/test` starts the cluster once per run; these tests take turns
//! with it ([`Cluster::exclusive`]) because they stop its nodes.

use crate::helpers::{FeedServer, TestApp, TestConfig, eventually, free_port};
use crate::pages::status;
use crate::publishing::numbered_rss;
use librarywire_testkit::{Cluster, TestQueue, message_id, unique};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const RSS: &str = "application/rss+xml";

/// Items the source lists by the end of a test: two backlogs of half as
/// many, each long enough to be in flight when a node goes.
const ITEMS: usize = 3000;

/// A consumer on one node of the cluster, counting deliveries by `message_id`.
struct QuorumConsumer {
    queue: TestQueue,
    seen: Arc<Mutex<HashMap<String, usize>>>,
    task: tokio::task::JoinHandle<()>,
}

impl QuorumConsumer {
    /// Declares `exchange` and `{exchange}-q` as the daemon does (the queue as
    /// its `amqp.queue`: durable, quorum, bound with `item.#`) and consumes
    /// it through `url`, acking each message.
    async fn start(url: &str, exchange: &str) -> QuorumConsumer {
        let queue = TestQueue::quorum(url, exchange, "item.#").await;
        let mut deliveries = queue.consume().await;
        let seen = Arc::new(Mutex::new(HashMap::new()));
        let sink = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                if let Some(delivery) = deliveries.next_within(Duration::from_secs(1)).await {
                    *sink
                        .lock()
                        .unwrap()
                        .entry(message_id(&delivery))
                        .or_default() += 1;
                }
            }
        });
        QuorumConsumer { queue, seen, task }
    }

    /// How many distinct message ids arrived, and how many deliveries.
    fn counts(&self) -> (usize, usize) {
        let seen = self.seen.lock().unwrap();
        (seen.len(), seen.values().sum())
    }

    /// The distinct message ids that arrived.
    fn ids(&self) -> BTreeSet<String> {
        self.seen.lock().unwrap().keys().cloned().collect()
    }

    async fn delete(self) {
        self.task.abort();
        self.queue.delete().await;
    }
}

/// How a node goes away.
#[derive(Debug, Clone, Copy)]
enum Outage {
    /// `rabbitmqctl stop_app`: the broker closes its connections.
    StopApp,
    /// `kill -9` of the node's process: its sockets just die.
    Kill,
}

impl Outage {
    async fn take_down(self, cluster: &Cluster, node: usize) {
        match self {
            Outage::StopApp => cluster.stop_app(node).await,
            Outage::Kill => cluster.kill(node).await,
        }
    }

    async fn bring_back(self, cluster: &Cluster, node: usize) {
        match self {
            Outage::StopApp => cluster.start_app(node).await,
            Outage::Kill => cluster.start_node(node).await,
        }
    }
}

/// The node (1..=3) the daemon's publisher is connected to, and its confirms.
async fn publisher(app: &TestApp, cluster: &Cluster) -> (Option<usize>, u64) {
    let status = status(app).await;
    let node = status["publisher"]["node"]
        .as_str()
        .and_then(|address| cluster.node_of(address));
    let confirmed = status["publisher"]["confirmed"].as_u64().unwrap_or(0);
    (node, confirmed)
}

/// Waits until the publisher is connected to `node` and has had a confirm
/// beyond `after` there; the confirms then.
async fn confirming_on(app: &TestApp, cluster: &Cluster, node: usize, after: u64) -> u64 {
    eventually(&format!("confirms through node {node}"), || async {
        match publisher(app, cluster).await {
            (Some(n), confirmed) if n == node && confirmed > after => Ok(confirmed),
            seen => Err(format!("connected to {:?}, {} confirmed", seen.0, seen.1)),
        }
    })
    .await
}

/// A backlog draining, node 1 (the daemon's) goes and comes back; another
/// backlog, and node 2 (where the daemon went) goes; node 3 carries the
/// consumer throughout.
async fn lose_two_nodes_in_turn(outage: Outage) {
    let cluster = Cluster::get();
    let _turn = cluster.exclusive().await;
    let exchange = unique(&format!("cluster-{outage:?}").to_lowercase());
    let consumer = QuorumConsumer::start(cluster.url(3), &exchange).await;
    let queue = consumer.queue.queue.clone();
    let server = FeedServer::start().await;
    server.set("/news.xml", numbered_rss(0), RSS);
    let urls: Vec<String> = cluster.urls().iter().map(|u| format!("\"{u}\"")).collect();
    let amqp = format!(
        "[amqp]\nurl = [{}]\nexchange = \"{exchange}\"\nqueue = \"{queue}\"\n\
         timeout = \"5s\"\nmax_backoff = \"1s\"\nconfirm_window = 16\n",
        urls.join(", ")
    );
    let config = TestConfig::new(&[("news", &server.url("/news.xml"))], "1s", &amqp);
    let app = TestApp::spawn(config.settings()).await;

    // A backlog, so the node goes while messages are in flight.
    server.set("/news.xml", numbered_rss(ITEMS / 2), RSS);
    let confirmed = confirming_on(&app, &cluster, 1, 50).await;
    let stopped = Instant::now();
    outage.take_down(&cluster, 1).await;
    let confirmed = confirming_on(&app, &cluster, 2, confirmed).await;
    let first_failover = stopped.elapsed();
    outage.bring_back(&cluster, 1).await;

    // Another backlog, and the node the daemon moved to goes too.
    server.set("/news.xml", numbered_rss(ITEMS), RSS);
    confirming_on(&app, &cluster, 2, confirmed + 50).await;
    let stopped = Instant::now();
    outage.take_down(&cluster, 2).await;
    // Node 1 is back, but the rotation goes on from node 2 to node 3.
    confirming_on(&app, &cluster, 3, 0).await;
    let second_failover = stopped.elapsed();
    outage.bring_back(&cluster, 2).await;

    eventually("every item to reach the consumer", || async {
        match consumer.counts() {
            (distinct, _) if distinct >= ITEMS => Ok(()),
            (distinct, deliveries) => {
                Err(format!("{distinct} distinct of {deliveries} deliveries"))
            }
        }
    })
    .await;
    eventually("the outbox to empty", || async {
        match app.store.outbox_depth().await.unwrap().0 {
            0 => Ok(()),
            depth => Err(format!("{depth} left")),
        }
    })
    .await;
    let expected: BTreeSet<String> = (0..ITEMS)
        .map(|n| librarywire::item::ItemId::derive("news", &format!("guid:n{n}")).to_string())
        .collect();
    assert_eq!(consumer.ids(), expected, "every item, and nothing else");
    let (distinct, deliveries) = consumer.counts();
    let report = status(&app).await;
    assert_eq!(report["publisher"]["failovers"], 2, "{report}");
    assert_eq!(report["publisher"]["connected"], true);
    eprintln!(
        "cluster {outage:?}: {distinct} items, {deliveries} deliveries ({} duplicates, dropped by message_id), \
         first confirm on another node {first_failover:?} and {second_failover:?} after the stop",
        deliveries - distinct
    );
    app.stop().await;
    consumer.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_the_connected_node_loses_nothing() {
    lose_two_nodes_in_turn(Outage::StopApp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_connected_node_loses_nothing() {
    lose_two_nodes_in_turn(Outage::Kill).await;
}

/// With every node of `amqp.url` down, the daemon polls, stores and serves
/// as with one broker down: items wait in the outbox.
#[tokio::test]
async fn with_every_node_down_the_daemon_polls_stores_and_serves() {
    let server = FeedServer::start().await;
    server.set("/news.xml", numbered_rss(5), RSS);
    let down: Vec<String> = (0..3)
        .map(|_| format!("\"amqp://guest:guest@127.0.0.1:{}/%2f\"", free_port()))
        .collect();
    let amqp = format!(
        "[amqp]\nurl = [{}]\nexchange = \"{}\"\ntimeout = \"2s\"\nmax_backoff = \"500ms\"\n",
        down.join(", "),
        unique("all-down")
    );
    let config = TestConfig::new(&[("news", &server.url("/news.xml"))], "1s", &amqp);
    let app = TestApp::spawn(config.settings()).await;
    let feed = app
        .wait_for_feed("the items in the feed", |feed| feed.entries.len() == 5)
        .await;
    assert_eq!(feed.entries.len(), 5);
    assert_eq!(
        app.store.outbox_depth().await.unwrap().0,
        5,
        "they wait in the outbox"
    );
    let polls = server.hits("/news.xml").len();
    eventually("polling to go on", || async {
        server.hits("/news.xml").len() > polls
    })
    .await;
    let report = status(&app).await;
    assert_eq!(report["publisher"]["connected"], false);
    assert_eq!(report["publisher"]["node"], serde_json::Value::Null);
    assert_eq!(report["publisher"]["connections"], 0);
    let ready = app.client().get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(
        ready.status(),
        200,
        "broker trouble is not the daemon's readiness"
    );
    app.stop().await;
}
