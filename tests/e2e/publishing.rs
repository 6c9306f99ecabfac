//! The daemon publishes through its outbox to the real RabbitMQ.

use crate::broker::{BROKER, Proxy, Received, TestQueue, amqp_toml, test_exchange};
use crate::helpers::{FeedServer, PATIENCE, TestApp, TestConfig, feed_file, small_rss, wait_until};
use librarywire::app::Application;
use librarywire::item::ItemId;
use librarywire::store::Store;
use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const RSS: &str = "application/rss+xml";

fn schema() -> jsonschema::Validator {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/item-event.schema.json");
    let schema: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).expect("the shipped schema is a valid JSON Schema")
}

/// Checks one message against "The message" of the contract.
fn assert_contract(m: &Received, validator: &jsonschema::Validator, kind: &str, source: &str) {
    assert_eq!(m.routing_key, format!("item.{kind}.{source}"));
    assert_eq!(
        m.content_type.as_deref(),
        Some("application/cloudevents+json")
    );
    assert_eq!(m.delivery_mode, Some(2), "persistent");
    assert_eq!(m.app_id.as_deref(), Some("librarywire"));
    assert!(m.timestamp.is_some_and(|t| t > 1_600_000_000), "timestamp");
    assert_eq!(
        m.message_id.as_deref(),
        m.body["id"].as_str(),
        "message_id is the event id"
    );
    assert_eq!(m.body["type"], format!("org.librarywire.item.{kind}"));
    assert_eq!(m.body["source"], format!("librarywire/{source}"));
    assert_eq!(m.body["data"]["source"]["id"], source);
    let errors: Vec<String> = validator
        .iter_errors(&m.body)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "schema errors: {errors:?}\n{}", m.body);
}

#[tokio::test]
async fn every_item_of_a_corpus_feed_arrives_once_as_the_contract_says() {
    let exchange = test_exchange("corpus");
    let mut queue = TestQueue::bind(&exchange, "item.#").await;
    let server = FeedServer::start().await;
    let body = feed_file("tarleb-rss.xml");
    let count = feed_rs::parser::parse(&body[..]).unwrap().entries.len();
    server.set("/tarleb.xml", body, RSS);
    let url = server.url("/tarleb.xml");
    let config = TestConfig::new(&[("tarleb", &url)], "1h", &amqp_toml(BROKER, &exchange));
    let app = TestApp::spawn(config.settings()).await;

    let messages = queue.take(count).await;
    let validator = schema();
    for m in &messages {
        assert_contract(m, &validator, "new", "tarleb");
        assert_eq!(m.body["data"]["revision"], 1);
        assert_eq!(
            m.body["id"], m.body["data"]["id"],
            "item.new's event id is the item id"
        );
    }
    let ids: BTreeSet<_> = messages
        .iter()
        .map(|m| m.message_id.clone().unwrap())
        .collect();
    assert_eq!(ids.len(), count, "each item once");
    assert!(
        queue.drain_for(Duration::from_secs(1)).await.is_empty(),
        "and nothing more"
    );
    wait_until("the outbox to empty", || {
        app.store.outbox_depth().unwrap().0 == 0
    })
    .await;
    app.stop().await;
    queue.delete_exchange().await;
}

#[tokio::test]
async fn an_edit_gives_exactly_one_item_updated_and_a_restart_publishes_nothing_again() {
    let exchange = test_exchange("edit");
    let mut queue = TestQueue::bind(&exchange, "item.#").await;
    let server = FeedServer::start().await;
    server.set(
        "/small.xml",
        small_rss(&[("a", "First"), ("b", "Second")]),
        RSS,
    );
    let url = server.url("/small.xml");
    let config = TestConfig::new(&[("small", &url)], "1s", &amqp_toml(BROKER, &exchange));
    let validator = schema();

    let app = TestApp::spawn(config.settings()).await;
    let first = queue.take(2).await;
    assert!(first.iter().all(|m| m.routing_key == "item.new.small"));

    server.set(
        "/small.xml",
        small_rss(&[("a", "First, corrected"), ("b", "Second")]),
        RSS,
    );
    let updated = queue.take(1).await.remove(0);
    assert_contract(&updated, &validator, "updated", "small");
    let id = ItemId::derive("small", "guid:a");
    assert_eq!(updated.message_id, Some(format!("{id}-r2")));
    assert_eq!(updated.body["data"]["id"], id.as_str());
    assert_eq!(updated.body["data"]["revision"], 2);
    assert_eq!(updated.body["data"]["title"], "First, corrected");
    // Several more polls of the same content: nothing.
    let polls_before = server.hits("/small.xml").len();
    wait_until("two more polls", || {
        server.hits("/small.xml").len() >= polls_before + 2
    })
    .await;
    assert!(
        queue.drain_for(Duration::from_millis(500)).await.is_empty(),
        "an unchanged re-poll publishes nothing"
    );
    app.stop().await;

    // Restart against the same store, with the same items behind a new ETag
    // so they are fetched and compared in full.
    let mut touched = small_rss(&[("a", "First, corrected"), ("b", "Second")]);
    touched.push('\n');
    server.set("/small.xml", touched, RSS);
    let full_before = server
        .hits("/small.xml")
        .iter()
        .filter(|h| h.status == 200)
        .count();
    let app = TestApp::spawn(config.settings()).await;
    wait_until("a full fetch after the restart", || {
        server
            .hits("/small.xml")
            .iter()
            .filter(|h| h.status == 200)
            .count()
            > full_before
    })
    .await;
    // Polls of one source never overlap: once the next one has started, the
    // full fetch has been stored.
    let after_full = server.hits("/small.xml").len();
    wait_until("one more poll after it", || {
        server.hits("/small.xml").len() > after_full
    })
    .await;
    assert!(
        queue.drain_for(Duration::from_secs(1)).await.is_empty(),
        "a restart publishes nothing again"
    );
    assert_eq!(app.store.outbox_depth().unwrap().0, 0);
    app.stop().await;
    queue.delete_exchange().await;
}

/// Kills the daemon process after the broker has the messages but before the
/// daemon saw a confirm; the restarted daemon must send them again.
#[tokio::test]
async fn a_crash_between_store_and_confirm_loses_nothing() {
    let exchange = test_exchange("crash");
    let mut queue = TestQueue::bind(&exchange, "item.#").await;
    let proxy = Proxy::to_broker().await;
    let server = FeedServer::start().await;
    server.set("/news.xml", small_rss(&[("canary", "Canary")]), RSS);
    let url = server.url("/news.xml");
    let config = TestConfig::new(&[("news", &url)], "1s", &amqp_toml(&proxy.url(), &exchange));

    let spawn = |config_path: &std::path::Path, amqp_url: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_librarywire"));
        command
            .arg("--config")
            .arg(config_path)
            .env_remove("LIBRARYWIRE_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(url) = amqp_url {
            command.env("LIBRARYWIRE__AMQP__URL", url);
        }
        command.spawn().unwrap()
    };
    let mut daemon = spawn(&config.path, None);
    // The canary shows the publisher is connected, confirming, through the proxy.
    let canary = queue.take(1).await;
    assert_eq!(canary[0].body["data"]["title"], "Canary");

    proxy.mute();
    server.set(
        "/news.xml",
        small_rss(&[
            ("canary", "Canary"),
            ("one", "One"),
            ("two", "Two"),
            ("three", "Three"),
        ]),
        RSS,
    );
    // The broker routes the three new messages, but their confirms are dropped.
    let sent = queue.take(3).await;
    let sent_ids: BTreeSet<_> = sent.iter().map(|m| m.message_id.clone().unwrap()).collect();
    let store_path = config.settings().store.path;
    let store = Store::open(&store_path).unwrap();
    assert_eq!(
        store.outbox_depth().unwrap().0,
        3,
        "stored, published, not confirmed"
    );
    drop(store);
    daemon.kill().unwrap();
    daemon.wait().unwrap();

    let mut restarted = spawn(&config.path, Some(BROKER));
    let resent = queue.take(3).await;
    let resent_ids: BTreeSet<_> = resent
        .iter()
        .map(|m| m.message_id.clone().unwrap())
        .collect();
    assert_eq!(
        resent_ids, sent_ids,
        "the unconfirmed messages come again, with the same message_id"
    );
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let depth = Store::open(&store_path).unwrap().outbox_depth().unwrap().0;
        if depth == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the outbox never emptied ({depth} left)"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        queue.drain_for(Duration::from_secs(1)).await.is_empty(),
        "and nothing else"
    );
    assert!(proxy.connections() >= 1);
    Command::new("kill")
        .args(["-TERM", &restarted.id().to_string()])
        .status()
        .unwrap();
    assert!(restarted.wait().unwrap().success());
    queue.delete_exchange().await;
}

/// Stops the daemon the way SIGTERM does while confirms are on their way:
/// the rows the broker acknowledges during the stop are removed before the
/// daemon exits, so the next start sends none of them again.
#[tokio::test]
async fn rows_confirmed_while_stopping_are_removed_before_exit() {
    let exchange = test_exchange("graceful");
    let mut queue = TestQueue::bind(&exchange, "item.#").await;
    let proxy = Proxy::to_broker().await;
    let server = FeedServer::start().await;
    server.set("/news.xml", small_rss(&[("canary", "Canary")]), RSS);
    let url = server.url("/news.xml");
    // A long broker timeout, so the held confirms are never given up on
    // while the test stages the stop, however loaded the machine.
    let amqp = format!(
        "[amqp]\nurl = \"{}\"\nexchange = \"{exchange}\"\ntimeout = \"20s\"\nmax_backoff = \"1s\"\n",
        proxy.url()
    );
    let config = TestConfig::new(&[("news", &url)], "1s", &amqp);
    let app = Application::build(config.settings())
        .await
        .expect("the daemon builds");
    let store = app.store();
    let shutdown = CancellationToken::new();
    let daemon = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    assert_eq!(queue.take(1).await[0].body["data"]["title"], "Canary");
    wait_until("the canary's row to be removed", || {
        store.outbox_depth().unwrap().0 == 0
    })
    .await;

    // The broker takes the next three messages, but its confirms are held back.
    proxy.mute();
    let news = [
        ("canary", "Canary"),
        ("one", "One"),
        ("two", "Two"),
        ("three", "Three"),
    ];
    server.set("/news.xml", small_rss(&news), RSS);
    let sent = queue.take(3).await;
    assert_eq!(
        store.outbox_depth().unwrap().0,
        3,
        "stored, published, not confirmed"
    );

    // The stop begins before the confirms come; they come during it.
    shutdown.cancel();
    proxy.unmute();
    tokio::time::timeout(PATIENCE, daemon)
        .await
        .expect("the daemon stops in time")
        .expect("the daemon task does not panic")
        .expect("the daemon stops cleanly");
    assert_eq!(
        store.outbox_depth().unwrap().0,
        0,
        "the rows confirmed during the stop were removed before the daemon returned"
    );
    drop(store);

    // The next start, straight to the broker, has nothing to send again.
    let mut settings = config.settings();
    settings.amqp.url = BROKER.to_owned();
    let polls_before = server.hits("/news.xml").len();
    let app = TestApp::spawn(settings).await;
    // Polls of one source never overlap: once the second poll after the
    // start has begun, the first one has been stored.
    wait_until("two polls after the restart", || {
        server.hits("/news.xml").len() >= polls_before + 2
    })
    .await;
    let again = queue.drain_for(Duration::from_secs(1)).await;
    let again_ids: Vec<_> = again.iter().map(|m| m.message_id.clone()).collect();
    assert!(
        again.is_empty(),
        "a restart sent again {again_ids:?} (first sent: {:?})",
        sent.iter()
            .map(|m| m.message_id.clone())
            .collect::<Vec<_>>()
    );
    assert_eq!(app.store.outbox_depth().unwrap().0, 0);
    app.stop().await;
    queue.delete_exchange().await;
}
