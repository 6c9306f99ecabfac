//! The daemon publishes through its outbox to the real RabbitMQ.

use crate::broker::{BROKER, Proxy, Received, TestQueue, amqp_toml, test_exchange};
use crate::helpers::{
    FeedServer, PATIENCE, TestApp, TestConfig, eventually, feed_file, free_port, small_rss,
    wait_until,
};
use crate::store_trouble::Daemon;
use librarywire::app::Application;
use librarywire::item::ItemId;
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
    eventually("the outbox to empty", || async {
        app.store.outbox_depth().await.unwrap().0 == 0
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
    assert_eq!(app.store.outbox_depth().await.unwrap().0, 0);
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

    // The store is the daemon's own while it runs (it locks the file): the
    // test reads the outbox depth from its /status.
    let port = free_port();
    let outbox_depth = async || -> Result<u64, String> {
        let body = reqwest::get(format!("http://127.0.0.1:{port}/status"))
            .await
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        let status: serde_json::Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
        status["publisher"]["outbox_depth"]
            .as_u64()
            .ok_or_else(|| format!("no outbox depth in {status}"))
    };
    let spawn = |config_path: &std::path::Path, amqp_url: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_librarywire"));
        command
            .arg("--config")
            .arg(config_path)
            .env("LIBRARYWIRE__SERVER__LISTEN", format!("127.0.0.1:{port}"))
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
    assert_eq!(
        outbox_depth().await.unwrap(),
        3,
        "stored, published, not confirmed"
    );
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
    eventually("the outbox to empty", || async {
        match outbox_depth().await? {
            0 => Ok(()),
            depth => Err(format!("{depth} left")),
        }
    })
    .await;
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
    eventually("the canary's row to be removed", || async {
        store.outbox_depth().await.unwrap().0 == 0
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
        store.outbox_depth().await.unwrap().0,
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
        store.outbox_depth().await.unwrap().0,
        0,
        "the rows confirmed during the stop were removed before the daemon returned"
    );
    drop(store);

    // The next start, straight to the broker, has nothing to send again.
    let mut settings = config.settings();
    settings.amqp.url = vec![BROKER.to_owned()];
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
    assert_eq!(app.store.outbox_depth().await.unwrap().0, 0);
    app.stop().await;
    queue.delete_exchange().await;
}

/// A feed of `count` small items, `n0` to `n{count - 1}`.
pub fn numbered_rss(count: usize) -> String {
    let news: Vec<(String, String)> = (0..count)
        .map(|n| (format!("n{n}"), format!("News {n}")))
        .collect();
    small_rss(&news)
}

/// A tmpfs of `size` mounted at `at` for one test; unmounted when dropped.
struct Tmpfs {
    at: std::path::PathBuf,
}

impl Tmpfs {
    /// Mounts it, or says why it cannot (not root, no mount command, a
    /// container without the capability).
    fn mount(at: &std::path::Path, size: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(at).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
        }
        Ok(Tmpfs { at: at.to_owned() })
    }

    /// Fills it up with one file; returns the file.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.at.join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        loop {
            match file.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
                Err(e) => panic!("filling the tmpfs: {e}"),
            }
        }
        // The last partial pages too.
        while file.write(&[0u8; 512]).is_ok_and(|n| n > 0) {}
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: the daemon may still hold the store open if the test failed.
        let _ = Command::new("umount").arg("-l").arg(&self.at).status();
    }
}

/// The store's disk fills up while the outbox holds rows: the publisher keeps
/// its one connection, stops sending, sends nothing twice, says so once, and
/// delivers the rest by itself once there is space again.
#[tokio::test]
async fn a_full_disk_pauses_publishing_without_duplicates_and_it_recovers() {
    const ITEMS: usize = 148;
    const WINDOW: usize = 16;
    let exchange = test_exchange("disk-full");
    let mut queue = TestQueue::bind(&exchange, "item.#").await;
    let proxy = Proxy::to_broker().await;
    // The broker is away while the items are stored, so they wait in the outbox.
    proxy.cut();
    let server = FeedServer::start().await;
    server.set("/news.xml", numbered_rss(ITEMS), RSS);
    let amqp = format!(
        "[amqp]\nurl = \"{}\"\nexchange = \"{exchange}\"\ntimeout = \"5s\"\nmax_backoff = \"1s\"\nconfirm_window = {WINDOW}\n",
        proxy.url()
    );
    let config = TestConfig::new(&[("news", &server.url("/news.xml"))], "1s", &amqp);
    let store_dir = config.settings().store.path.parent().unwrap().to_owned();
    let tmpfs = match Tmpfs::mount(&store_dir, "8m") {
        Ok(tmpfs) => tmpfs,
        Err(why) => {
            eprintln!(
                "SKIPPED a_full_disk_pauses_publishing_without_duplicates_and_it_recovers: \
                 cannot mount a tmpfs at {} ({why}); this test needs root",
                store_dir.display()
            );
            return;
        }
    };
    let daemon = Daemon::start(&config.path).await;
    daemon
        .wait_for("every item to wait in the outbox", |d| async move {
            d.status().await["publisher"]["outbox_depth"] == ITEMS
        })
        .await;

    let filler = tmpfs.fill();
    proxy.restore();
    // A fixed time with the disk full, for the figures.
    let observed = Duration::from_secs(6);
    let during = queue.drain_for(observed).await;
    let count_ids = |messages: &[Received]| {
        let mut ids = std::collections::HashMap::<String, usize>::new();
        for m in messages {
            *ids.entry(m.message_id.clone().unwrap()).or_default() += 1;
        }
        ids
    };
    let during_ids = count_ids(&during);
    let duplicates = during.len() - during_ids.len();
    eprintln!(
        "disk full for {observed:?}: {} broker connections, {} deliveries, {} unique, {duplicates} duplicates",
        proxy.connections(),
        during.len(),
        during_ids.len()
    );
    assert_eq!(
        duplicates, 0,
        "nothing is sent twice while the disk is full"
    );
    assert_eq!(proxy.connections(), 1, "the publisher keeps its connection");
    // How much goes out before the first failed removal is known depends on
    // how long that removal takes (the publisher sends on while one runs),
    // so the bound is not a number of windows: it is that sending stops.
    assert!(
        !during.is_empty() && during.len() < ITEMS,
        "it stops sending once confirmed rows cannot be removed: {} of {ITEMS} sent",
        during.len()
    );
    let after = queue.drain_for(Duration::from_secs(1)).await;
    assert!(
        after.is_empty(),
        "nothing more is sent while the disk stays full: {} after the first {}",
        after.len(),
        during.len()
    );
    let (code, reason) = daemon.get("/readyz").await;
    assert_eq!(code, 503, "{reason}\n{}", daemon.log().join("\n"));
    assert!(reason.contains("the disk is full"), "{reason}");
    let status = daemon.status().await;
    assert_eq!(status["publisher"]["paused"], true, "{status}");
    assert_eq!(status["publisher"]["connected"], true, "{status}");
    assert_eq!(
        status["store"]["problems"][0]["kind"], "disk_full",
        "{status}"
    );
    let (_, metrics) = daemon.get("/metrics").await;
    assert!(
        metrics.contains("librarywire_publisher_paused 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("librarywire_store_problem{kind=\"disk_full\"} 1"),
        "{metrics}"
    );
    let paused = daemon.logged("cannot remove confirmed messages");
    assert_eq!(paused.len(), 1, "logged once per episode: {paused:?}");
    let full = daemon.logged("store writes fail");
    assert_eq!(full.len(), 1, "logged once per episode: {full:?}");

    // Space returns: everything arrives, once, on the same connection.
    std::fs::remove_file(filler).unwrap();
    let mut all = during;
    while count_ids(&all).len() < ITEMS {
        // Each message within the tests' patience.
        all.extend(queue.take(1).await);
    }
    all.extend(queue.drain_for(Duration::from_millis(500)).await);
    let all_ids = count_ids(&all);
    assert_eq!(all_ids.len(), ITEMS, "every item arrived");
    assert_eq!(all.len(), ITEMS, "and each exactly once");
    daemon
        .wait_for(
            "the outbox to empty and /readyz to be 200",
            |d| async move {
                d.status().await["publisher"]["outbox_depth"] == 0
                    && d.get("/readyz").await.0 == 200
            },
        )
        .await;
    let status = daemon.status().await;
    assert_eq!(status["publisher"]["paused"], false);
    assert_eq!(status["store"]["ok"], true);
    assert_eq!(proxy.connections(), 1);
    daemon.stop().await;
    drop(tmpfs);
    queue.delete_exchange().await;
}

/// With no queue bound, every message comes back unroutable: each is
/// counted, but the log holds a line per routing key, not one per message.
#[tokio::test]
async fn returned_messages_are_counted_but_logged_once_per_routing_key() {
    const ITEMS: usize = 300;
    // The exchange exists, and nothing is bound to it.
    let exchange = test_exchange("unbound");
    let server = FeedServer::start().await;
    server.set("/news.xml", numbered_rss(ITEMS), RSS);
    let config = TestConfig::new(
        &[("news", &server.url("/news.xml"))],
        "1h",
        &amqp_toml(BROKER, &exchange),
    );
    let daemon = Daemon::start(&config.path).await;
    daemon
        .wait_for(
            "every message to be returned and the outbox to empty",
            |d| async move {
                let status = d.status().await;
                status["publisher"]["returned"] == ITEMS && status["publisher"]["outbox_depth"] == 0
            },
        )
        .await;
    let log = daemon.log();
    let bytes: usize = log.iter().map(|l| l.len() + 1).sum();
    let returns = daemon.logged("returned");
    eprintln!(
        "{ITEMS} returned messages: {} log lines, {bytes} bytes, {} about returns",
        log.len(),
        returns.len()
    );
    assert_eq!(
        returns.len(),
        1,
        "one line for the one routing key: {returns:?}"
    );
    assert!(
        bytes < 16 * 1024,
        "the log stays small: {bytes} bytes\n{}",
        log.join("\n")
    );
    daemon.stop().await;
    let cleanup = TestQueue::bind(&exchange, "nothing.bound").await;
    cleanup.delete_exchange().await;
}
