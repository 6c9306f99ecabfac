//! The publisher against the real RabbitMQ on 127.0.0.1:5672 (guest/guest),
//! with a real store in a temporary folder. No mocks: outages and blocking are
//! staged by a TCP proxy between the two. Each test owns its exchange and
//! queue, so the tests run in parallel.
//!
//! If the broker does not answer, every broker test fails and says how to
//! start one (`rabbitmq-server -detached`).

mod schema;
mod support;

use super::PublisherStats;
use crate::event;
use crate::item::Item;
use lapin::types::{AMQPValue, FieldTable};
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use support::*;

fn confirmed(s: &PublisherStats) -> &std::sync::atomic::AtomicU64 {
    &s.confirmed
}
fn nacked(s: &PublisherStats) -> &std::sync::atomic::AtomicU64 {
    &s.nacked
}
fn returned(s: &PublisherStats) -> &std::sync::atomic::AtomicU64 {
    &s.returned
}
fn connections(s: &PublisherStats) -> &std::sync::atomic::AtomicU64 {
    &s.connections
}

/// Arguments of a queue that holds `max` messages and makes the broker nack
/// any publish beyond them.
fn refusing_beyond(max: i32) -> FieldTable {
    let mut args = FieldTable::default();
    args.insert("x-max-length".into(), AMQPValue::LongInt(max));
    args.insert(
        "x-overflow".into(),
        AMQPValue::LongString("reject-publish".into()),
    );
    args
}

/// The event ids of `items` as `item.new` events, which is how the store
/// first writes them.
fn new_event_ids(items: &[Item]) -> Vec<String> {
    items.iter().map(|i| i.id.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_item_arrives_once_as_the_contract_says() {
    let topology = topology("contract", "item.#", FieldTable::default()).await;
    let mut received = topology.consume().await;
    let (_dir, store) = temp_store();
    let ifla = source("ifla-news");
    let loc = source("loc-news");
    apply(&store, &ifla, &items(&ifla, 0..15)).await;
    apply(&store, &loc, &items(&loc, 0..10)).await;
    let rows = outbox(&store).await;
    assert_eq!(
        rows.len(),
        25,
        "the store wrote one outbox row per new item"
    );

    let publisher = RunningPublisher::start(publisher_settings(&topology, &broker_url()), &store);
    let deliveries = received.take(rows.len()).await;
    let schema = schema();
    let mut seen = HashSet::new();
    for (row, delivery) in rows.iter().zip(&deliveries) {
        let id = message_id(delivery);
        assert_eq!(id, row.event_id, "messages arrive in outbox order");
        assert!(seen.insert(id.clone()), "event {id} arrived twice");
        assert_eq!(delivery.exchange.as_str(), topology.exchange);
        assert_eq!(delivery.routing_key.as_str(), row.routing_key);
        assert!(
            row.routing_key == "item.new.ifla-news" || row.routing_key == "item.new.loc-news",
            "{}",
            row.routing_key
        );
        let p = &delivery.properties;
        assert_eq!(p.delivery_mode(), &Some(2), "persistent");
        assert_eq!(
            p.content_type().as_ref().map(|c| c.as_str()),
            Some("application/cloudevents+json")
        );
        assert_eq!(
            p.timestamp(),
            &Some(row.created_at.timestamp() as u64),
            "timestamp is the outbox row's creation time"
        );
        assert_eq!(p.app_id().as_ref().map(|a| a.as_str()), Some("librarywire"));
        assert_eq!(
            delivery.data, row.body,
            "the body is the outbox row's, byte for byte"
        );
        assert_valid(&schema, &delivery.data);
        let body: serde_json::Value = serde_json::from_slice(&delivery.data).unwrap();
        assert_eq!(body["id"], id, "message_id is the CloudEvents id");
        assert_eq!(body["type"], "org.librarywire.item.new");
    }
    let expected: HashSet<String> = new_event_ids(&items(&ifla, 0..15))
        .into_iter()
        .chain(new_event_ids(&items(&loc, 0..10)))
        .collect();
    assert_eq!(seen, expected, "every item arrived");

    // Exactly once: a later item arrives next, so nothing was sent twice before it.
    let late = items(&ifla, 100..101);
    apply(&store, &ifla, &late).await;
    let next = received.next().await;
    assert_eq!(message_id(&next), late[0].id.to_string());
    eventually("the outbox to empty", async || {
        outbox_depth(&store).await == 0
    })
    .await;
    eventually("all confirms to be counted", async || {
        publisher.count(confirmed) == 26
    })
    .await;
    assert!(publisher.connected());
    assert_eq!(publisher.count(nacked), 0);
    assert_eq!(publisher.count(returned), 0);
    assert_eq!(publisher.count(connections), 1);
    publisher.stop().await;
    topology.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_drains_in_seq_order() {
    let topology = topology("order", "item.#", FieldTable::default()).await;
    let mut received = topology.consume().await;
    let (_dir, store) = temp_store();
    // Polls of three sources interleave, and the backlog is many windows long.
    let sources = [source("a"), source("b"), source("c")];
    for round in 0..5 {
        for s in &sources {
            apply(&store, s, &items(s, round * 20..round * 20 + 20)).await;
        }
    }
    let expected: Vec<String> = outbox(&store)
        .await
        .into_iter()
        .map(|r| r.event_id)
        .collect();
    assert_eq!(expected.len(), 300);

    let publisher = RunningPublisher::start(publisher_settings(&topology, &broker_url()), &store);
    let got: Vec<String> = received
        .take(expected.len())
        .await
        .iter()
        .map(message_id)
        .collect();
    assert_eq!(got, expected, "the backlog arrives in outbox order");
    eventually("the outbox to empty", async || {
        outbox_depth(&store).await == 0
    })
    .await;
    publisher.stop().await;
    topology.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_gives_exactly_one_updated_event() {
    let topology = topology("edit", "item.#", FieldTable::default()).await;
    let mut received = topology.consume().await;
    let (_dir, store) = temp_store();
    let publisher = RunningPublisher::start(publisher_settings(&topology, &broker_url()), &store);
    let schema = schema();
    let ifla = source("ifla-news");
    let original = item(&ifla, 1);

    apply(&store, &ifla, std::slice::from_ref(&original)).await;
    let first = received.next().await;
    assert_eq!(first.routing_key.as_str(), "item.new.ifla-news");
    assert_eq!(message_id(&first), original.id.to_string());

    let mut edited = original.clone();
    edited.title = "WLIC 2021: the programme is out (corrected)".to_owned();
    edited.content_hash = edited.compute_content_hash();
    apply(&store, &ifla, std::slice::from_ref(&edited)).await;
    // Polled again unchanged: no event.
    apply(&store, &ifla, std::slice::from_ref(&edited)).await;
    // A sentinel: once it arrives, anything sent before it has arrived too.
    let sentinel = item(&ifla, 2);
    apply(&store, &ifla, std::slice::from_ref(&sentinel)).await;

    let update = received.next().await;
    assert_eq!(update.routing_key.as_str(), "item.updated.ifla-news");
    assert_eq!(message_id(&update), format!("{}-r2", original.id));
    assert_valid(&schema, &update.data);
    let body: serde_json::Value = serde_json::from_slice(&update.data).unwrap();
    assert_eq!(body["type"], "org.librarywire.item.updated");
    assert_eq!(body["data"]["revision"], 2);
    assert_eq!(body["data"]["title"], edited.title);
    let next = received.next().await;
    assert_eq!(
        message_id(&next),
        sentinel.id.to_string(),
        "exactly one item.updated, and nothing for the unchanged re-poll"
    );
    eventually("the outbox to empty", async || {
        outbox_depth(&store).await == 0
    })
    .await;
    publisher.stop().await;
    topology.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_loses_nothing() {
    let topology = topology("outage", "item.#", FieldTable::default()).await;
    let mut received = topology.consume().await;
    let proxy = Proxy::start(BROKER_ADDR).await;
    let (_dir, store) = temp_store();
    let publisher = RunningPublisher::start(publisher_settings(&topology, &proxy.url()), &store);
    let src = source("ifla-news");
    let mut expected = HashSet::new();

    let before = items(&src, 0..20);
    apply(&store, &src, &before).await;
    expected.extend(new_event_ids(&before));
    let mut seen: HashMap<String, usize> = HashMap::new();
    for d in received.take(before.len()).await {
        *seen.entry(message_id(&d)).or_default() += 1;
    }

    // A batch, then the cut at once: some of it is likely in flight.
    let during = items(&src, 20..220);
    apply(&store, &src, &during).await;
    expected.extend(new_event_ids(&during));
    proxy.cut();
    eventually("the publisher to notice the cut", async || {
        !publisher.connected()
    })
    .await;

    // Found while the broker is away: stored, waiting in the outbox.
    let while_down = items(&src, 220..240);
    apply(&store, &src, &while_down).await;
    expected.extend(new_event_ids(&while_down));
    assert!(
        outbox_depth(&store).await >= while_down.len() as u64,
        "items found during the outage wait in the outbox"
    );
    assert!(!publisher.connected());
    // The publisher keeps trying while the broker is away.
    eventually("reconnection attempts during the outage", async || {
        proxy.refused() >= 2
    })
    .await;

    proxy.restore();
    within("every item to arrive after the outage", async {
        while !expected.iter().all(|id| seen.contains_key(id)) {
            let d = received.next().await;
            *seen.entry(message_id(&d)).or_default() += 1;
        }
    })
    .await;
    let unknown: Vec<&String> = seen.keys().filter(|id| !expected.contains(*id)).collect();
    assert!(unknown.is_empty(), "unexpected events: {unknown:?}");
    eventually("the outbox to empty", async || {
        outbox_depth(&store).await == 0
    })
    .await;
    assert!(
        publisher.count(connections) >= 2,
        "the publisher reconnected: {} connections",
        publisher.count(connections)
    );
    assert!(publisher.connected());
    let duplicates = seen.values().filter(|&&n| n > 1).count();
    eprintln!(
        "outage: {} events, {duplicates} delivered more than once (allowed: at least once), {} connections",
        expected.len(),
        publisher.count(connections)
    );
    publisher.stop().await;
    topology.delete().await;
}

/// Three nodes (proxies to the one broker) in `amqp.url`: when the one the
/// publisher is connected to goes, it moves to the next at once; with every
/// node gone it keeps trying each, with backoff. Nothing unconfirmed is lost,
/// and what is sent again keeps its `message_id`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_node_is_left_for_the_next_one() {
    let topology = topology("failover", "item.#", FieldTable::default()).await;
    let mut received = topology.consume().await;
    let nodes = [
        Proxy::start(BROKER_ADDR).await,
        Proxy::start(BROKER_ADDR).await,
        Proxy::start(BROKER_ADDR).await,
    ];
    let endpoint = |n: usize| format!("amqp://{}//", nodes[n].addr());
    let (_dir, store) = temp_store();
    let mut settings = publisher_settings(&topology, &nodes[0].url());
    settings.url = nodes.iter().map(Proxy::url).collect();
    let publisher = RunningPublisher::start(settings, &store);
    let src = source("ifla-news");
    let mut expected = HashSet::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut take_until_all =
        async |expected: &HashSet<String>, seen: &mut HashMap<String, usize>| {
            within("every event to arrive", async {
                while !expected.iter().all(|id| seen.contains_key(id)) {
                    *seen.entry(message_id(&received.next().await)).or_default() += 1;
                }
            })
            .await;
        };

    let first = items(&src, 0..20);
    apply(&store, &src, &first).await;
    expected.extend(new_event_ids(&first));
    take_until_all(&expected, &mut seen).await;
    assert_eq!(
        publisher.stats.node(),
        Some(endpoint(0)),
        "the first node first"
    );

    // A batch, then the node goes at once: some of it is in flight.
    let during = items(&src, 20..220);
    apply(&store, &src, &during).await;
    expected.extend(new_event_ids(&during));
    nodes[0].cut();
    eventually("the publisher to move to the second node", async || {
        publisher.stats.node() == Some(endpoint(1))
    })
    .await;
    take_until_all(&expected, &mut seen).await;
    eventually("the outbox to empty", async || {
        outbox_depth(&store).await == 0
    })
    .await;
    assert_eq!(
        publisher
            .stats
            .failovers
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );

    // Every node down: stored items wait, and each node is tried again and again.
    nodes[1].cut();
    nodes[2].cut();
    let down = items(&src, 220..240);
    apply(&store, &src, &down).await;
    expected.extend(new_event_ids(&down));
    eventually("the publisher to notice", async || !publisher.connected()).await;
    eventually("every node to be tried again", async || {
        nodes.iter().all(|node| node.refused() >= 2)
    })
    .await;
    assert_eq!(publisher.stats.node(), None);
    nodes[2].restore();
    eventually("the publisher to reach the third node", async || {
        publisher.stats.node() == Some(endpoint(2))
    })
    .await;
    take_until_all(&expected, &mut seen).await;
    eventually("the outbox to empty", async || {
        outbox_depth(&store).await == 0
    })
    .await;
    let unknown: Vec<&String> = seen.keys().filter(|id| !expected.contains(*id)).collect();
    assert!(unknown.is_empty(), "unexpected events: {unknown:?}");
    assert_eq!(
        publisher
            .stats
            .failovers
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );
    let duplicates = seen.values().filter(|&&n| n > 1).count();
    eprintln!(
        "failover: {} events, {duplicates} delivered more than once (allowed: at least once), {} connections",
        expected.len(),
        publisher.count(connections)
    );
    publisher.stop().await;
    topology.delete().await;
}

/// With `amqp.queue` set, the publisher declares that queue as a durable
/// quorum queue bound with `item.#`, and every item lands in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_queue_is_a_quorum_queue_the_publisher_declares() {
    // The topology's own queue is bound to nothing the publisher sends.
    let topology = topology("own-queue", "nothing.bound", FieldTable::default()).await;
    let owned = format!("{}-owned", topology.exchange);
    let (_dir, store) = temp_store();
    let src = source("ifla-news");
    let batch = items(&src, 0..5);
    apply(&store, &src, &batch).await;
    let mut settings = publisher_settings(&topology, &broker_url());
    settings.queue = Some(owned.clone());
    let publisher = RunningPublisher::start(settings, &store);
    eventually("the outbox to empty", async || {
        outbox_depth(&store).await == 0
    })
    .await;
    assert_eq!(
        publisher.count(returned),
        0,
        "the queue was bound before the first publish"
    );

    let connection = broker().await;
    let channel = connection.create_channel().await.unwrap();
    let declared = channel
        .queue_declare(
            owned.as_str().into(),
            lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("the publisher declared the queue");
    assert_eq!(declared.message_count(), 5, "every item is in it");
    // Declared as a classic queue, it clashes: the broker holds it as quorum.
    let classic = connection.create_channel().await.unwrap();
    let clash = classic
        .queue_declare(
            owned.as_str().into(),
            lapin::options::QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await;
    assert!(
        clash.is_err_and(|e| e.to_string().contains("x-queue-type")),
        "the queue is a quorum queue"
    );
    publisher.stop().await;
    let _ = channel
        .queue_delete(owned.as_str().into(), Default::default())
        .await;
    topology.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nack_is_counted_and_the_message_sent_again() {
    // A queue that holds two messages and refuses more makes the broker nack.
    let topology = topology("nack", "item.#", refusing_beyond(2)).await;
    let (_dir, store) = temp_store();
    let src = source("ifla-news");
    let batch = items(&src, 0..6);
    apply(&store, &src, &batch).await;
    let publisher = RunningPublisher::start(publisher_settings(&topology, &broker_url()), &store);

    eventually("the broker to nack a message", async || {
        publisher.count(nacked) >= 1
    })
    .await;
    assert!(
        outbox_depth(&store).await > 0,
        "a nacked message stays in the outbox"
    );

    // Make room: consuming drains the queue, and the nacked messages get in.
    let mut received = topology.consume().await;
    let mut seen = HashSet::new();
    let expected: HashSet<String> = new_event_ids(&batch).into_iter().collect();
    within("every message to arrive once room is made", async {
        while seen.len() < expected.len() {
            let id = message_id(&received.next().await);
            assert!(expected.contains(&id), "unexpected event {id}");
            assert!(seen.insert(id.clone()), "event {id} arrived twice");
        }
    })
    .await;
    eventually("the outbox to empty", async || {
        outbox_depth(&store).await == 0
    })
    .await;
    eventually("every message to be confirmed", async || {
        publisher.count(confirmed) == 6
    })
    .await;
    assert_eq!(
        publisher.count(connections),
        1,
        "a nack is not a connection failure"
    );
    publisher.stop().await;
    topology.delete().await;
}

/// A queue that stays full refuses the same rows again and again: each is
/// sent again after every nack, however many, and none is dropped, sent to
/// the queue twice or left behind; the rest of the outbox waits its turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_nacked_again_and_again_each_arrive_once() {
    // Room for one message: the first row gets in, the window's others are
    // refused until a consumer makes room.
    let topology = topology("nack-again", "item.#", refusing_beyond(1)).await;
    let (_dir, store) = temp_store();
    let src = source("ifla-news");
    let batch = items(&src, 0..10);
    apply(&store, &src, &batch).await;
    let mut settings = publisher_settings(&topology, &broker_url());
    settings.confirm_window = 4;
    let publisher = RunningPublisher::start(settings, &store);

    // Four rows in flight at a time, one of them in the queue: the other
    // three (then four) are each refused three times and more.
    eventually(
        "the broker to nack each waiting row several times",
        async || publisher.count(nacked) >= 12,
    )
    .await;
    assert_eq!(publisher.count(confirmed), 1, "only the first row got in");
    assert_eq!(
        outbox_depth(&store).await,
        9,
        "every refused row, however often, stays in the outbox"
    );

    let mut received = topology.consume().await;
    let expected: Vec<String> = new_event_ids(&batch);
    let mut seen = HashSet::new();
    within("every row to arrive once the queue has room", async {
        while seen.len() < expected.len() {
            let id = message_id(&received.next().await);
            assert!(expected.contains(&id), "unexpected event {id}");
            assert!(seen.insert(id.clone()), "event {id} arrived twice");
        }
    })
    .await;
    eventually("the outbox to empty", async || {
        outbox_depth(&store).await == 0
    })
    .await;
    eventually("every row to be confirmed", async || {
        publisher.count(confirmed) == 10
    })
    .await;
    assert!(
        received
            .drain_for(Duration::from_millis(500))
            .await
            .is_empty(),
        "and nothing more"
    );
    assert_eq!(publisher.count(connections), 1, "nacks are not failures");
    publisher.stop().await;
    topology.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_returned_message_is_counted_and_blocks_nothing() {
    // Only items of source `bound` have a queue; `nowhere`'s are unroutable.
    let topology = topology("returned", "item.*.bound", FieldTable::default()).await;
    let mut received = topology.consume().await;
    let (_dir, store) = temp_store();
    let nowhere = source("nowhere");
    let bound = source("bound");
    apply(&store, &nowhere, &items(&nowhere, 0..3)).await;
    let routable = items(&bound, 0..3);
    apply(&store, &bound, &routable).await;
    let publisher = RunningPublisher::start(publisher_settings(&topology, &broker_url()), &store);

    let got: Vec<String> = received.take(3).await.iter().map(message_id).collect();
    assert_eq!(
        got,
        new_event_ids(&routable),
        "later messages are not held up"
    );
    eventually("the three returns to be counted", async || {
        publisher.count(returned) == 3
    })
    .await;
    eventually("the outbox to empty", async || {
        outbox_depth(&store).await == 0
    })
    .await;
    assert_eq!(
        publisher.count(confirmed),
        6,
        "returned messages are still acked"
    );
    assert_eq!(publisher.count(nacked), 0);
    publisher.stop().await;
    topology.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_connection_waits_without_reconnecting() {
    let topology = topology("blocked", "item.#", FieldTable::default()).await;
    let mut received = topology.consume().await;
    let proxy = Proxy::start(BROKER_ADDR).await;
    let (_dir, store) = temp_store();
    let mut settings = publisher_settings(&topology, &proxy.url());
    // Long enough for the confirms after the unblock on a loaded machine
    // (a late one ends the session, which would be counted as a failure).
    settings.timeout = Duration::from_secs(2);
    let publisher = RunningPublisher::start(settings, &store);
    let src = source("ifla-news");
    let first = items(&src, 0..3);
    apply(&store, &src, &first).await;
    received.take(first.len()).await;

    proxy.block("low on memory (test)");
    let held = items(&src, 3..8);
    apply(&store, &src, &held).await;
    // Blocked for more than twice the timeout: a publisher that timed out
    // its waits would reconnect meanwhile.
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let waiting: Vec<String> = outbox(&store)
        .await
        .into_iter()
        .map(|r| r.event_id)
        .collect();
    assert_eq!(
        waiting,
        new_event_ids(&held),
        "nothing is confirmed while blocked, and the rows wait in the outbox"
    );
    assert_eq!(publisher.count(connections), 1, "blocked is not a failure");
    assert!(publisher.connected());

    proxy.unblock();
    let got: Vec<String> = received
        .take(held.len())
        .await
        .iter()
        .map(message_id)
        .collect();
    assert_eq!(got, new_event_ids(&held));
    eventually("the outbox to empty", async || {
        outbox_depth(&store).await == 0
    })
    .await;
    assert_eq!(publisher.count(connections), 1);

    // Stopping while blocked still returns, and leaves the rows in the outbox.
    proxy.block("low on disk (test)");
    let last = items(&src, 8..10);
    apply(&store, &src, &last).await;
    publisher.stop().await;
    assert_eq!(outbox_depth(&store).await, last.len() as u64);
    topology.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_exchange_is_declared_again() {
    let topology = topology("redeclare", "item.#", FieldTable::default()).await;
    let mut received = topology.consume().await;
    let (_dir, store) = temp_store();
    let publisher = RunningPublisher::start(publisher_settings(&topology, &broker_url()), &store);
    let src = source("ifla-news");
    let first = item(&src, 0);
    apply(&store, &src, std::slice::from_ref(&first)).await;
    assert_eq!(message_id(&received.next().await), first.id.to_string());

    // The broker closes the channel on a publish to a missing exchange; the
    // publisher reconnects and declares it again. The queue's binding went
    // with the exchange, so that message is returned, not lost silently.
    topology.delete_exchange().await;
    apply(&store, &src, &items(&src, 1..2)).await;
    eventually("the publisher to reconnect", async || {
        publisher.count(connections) >= 2
    })
    .await;
    eventually("the outbox to empty", async || {
        outbox_depth(&store).await == 0
    })
    .await;
    assert_eq!(publisher.count(returned), 1);

    topology.bind("item.#").await;
    let last = item(&src, 2);
    apply(&store, &src, std::slice::from_ref(&last)).await;
    assert_eq!(message_id(&received.next().await), last.id.to_string());
    publisher.stop().await;
    topology.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_broker_items_wait_and_shutdown_is_prompt() {
    // Check the broker answers, so a missing broker fails here as everywhere.
    drop(broker().await);
    let proxy = Proxy::start(BROKER_ADDR).await;
    proxy.cut();
    let (_dir, store) = temp_store();
    let settings = crate::config::AmqpSettings {
        url: vec![proxy.url()],
        queue: None,
        exchange: unique("down"),
        confirm_window: 8,
        timeout: Duration::from_secs(2),
        max_backoff: Duration::from_millis(200),
    };
    let publisher = RunningPublisher::start(settings, &store);
    let src = source("ifla-news");
    // Storing never waits for the broker.
    apply(&store, &src, &items(&src, 0..10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(outbox_depth(&store).await, 10);
    assert_eq!(publisher.count(connections), 0);
    assert!(!publisher.connected());
    publisher.stop().await;
    assert_eq!(
        outbox_depth(&store).await,
        10,
        "unsent items stay in the outbox"
    );
}

/// Measures, asserts nothing: how many messages per second the publisher
/// moves from the outbox to a durable queue with confirms. Run with
/// `cargo test --release --lib publish::tests::throughput -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a test; run it by name"]
async fn throughput() {
    const COUNT: usize = 20_000;
    let connection = broker().await;
    let channel = connection.create_channel().await.unwrap();
    let exchange = unique("throughput");
    let queue = format!("{exchange}-q");
    channel
        .queue_declare(
            queue.as_str().into(),
            lapin::options::QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    channel
        .exchange_declare(
            exchange.as_str().into(),
            lapin::ExchangeKind::Topic,
            lapin::options::ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    channel
        .queue_bind(
            queue.as_str().into(),
            exchange.as_str().into(),
            "item.#".into(),
            Default::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let (_dir, store) = temp_store();
    let src = source("bench");
    let fill = std::time::Instant::now();
    for start in (0..COUNT).step_by(500) {
        apply(&store, &src, &items(&src, start..start + 500)).await;
    }
    eprintln!("stored {COUNT} items in {:?}", fill.elapsed());
    let settings = crate::config::AmqpSettings {
        url: vec![broker_url()],
        exchange: exchange.clone(),
        ..Default::default()
    };
    let started = std::time::Instant::now();
    let publisher = RunningPublisher::start(settings, &store);
    within("the backlog to be confirmed", async {
        while publisher.count(confirmed) < COUNT as u64 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    let confirmed_at = started.elapsed();
    eventually("the outbox to empty", async || {
        outbox_depth(&store).await == 0
    })
    .await;
    let emptied_at = started.elapsed();
    eprintln!(
        "published {COUNT} messages (~{} bytes each) with confirms to a durable queue: \
         all confirmed after {confirmed_at:?} = {:.0} msg/s; outbox empty after {emptied_at:?}",
        outbox_len_hint(&src),
        COUNT as f64 / confirmed_at.as_secs_f64()
    );
    publisher.stop().await;
    let _ = channel
        .queue_delete(queue.as_str().into(), Default::default())
        .await;
    let _ = channel
        .exchange_delete(exchange.as_str().into(), Default::default())
        .await;
}

fn outbox_len_hint(src: &crate::item::SourceRef) -> usize {
    event::item_event(
        &item(src, 1),
        event::EventKind::New,
        chrono::Utc::now(),
        None,
    )
    .body
    .len()
}
