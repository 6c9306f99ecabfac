//! `librarywire migrate-store`: a real SQLite store, filled by the daemon
//! (messages confirmed, and messages still waiting for the broker), copied
//! by the binary into a PostgreSQL database of the test's own; then a
//! replica on it publishes what was waiting, once, and nothing else.

use crate::cli::librarywire;
use crate::helpers::{FeedServer, TestApp, TestConfig, eventually, small_rss};
use librarywire::item::ItemId;
use librarywire_testkit::{TestDatabase, TestQueue, broker_url, message_id};
use std::collections::BTreeSet;
use std::time::Duration;

const RSS: &str = "application/rss+xml";

fn news(count: usize) -> String {
    let items: Vec<(String, String)> = (1..=count)
        .map(|n| (format!("n{n}"), format!("News {n}")))
        .collect();
    small_rss(&items)
}

fn id_of(n: usize) -> String {
    ItemId::derive("news", &format!("guid:n{n}")).to_string()
}

#[tokio::test]
async fn migrate_store_copies_everything_and_nothing_is_published_twice() {
    let queue = TestQueue::new("migrate", "item.#", Default::default()).await;
    let mut deliveries = queue.consume().await;
    let server = FeedServer::start().await;
    let sources = [("news", server.url("/news.xml"))];
    let sources: Vec<(&str, &str)> = sources.iter().map(|(i, u)| (*i, u.as_str())).collect();
    let online = format!(
        "[amqp]\nurl = \"{}\"\nexchange = \"{}\"\nmax_backoff = \"1s\"\n",
        broker_url(),
        queue.exchange
    );
    let config = TestConfig::new(&sources, "1s", &online);

    // The daemon on SQLite publishes three items, confirmed...
    server.set("/news.xml", news(3), RSS);
    let app = TestApp::spawn(config.settings()).await;
    let published: BTreeSet<String> = deliveries.take(3).await.iter().map(message_id).collect();
    assert_eq!(published, (1..=3).map(id_of).collect());
    eventually("the outbox to empty", || async {
        app.store.outbox_depth().await.unwrap().0 == 0
    })
    .await;
    app.stop().await;
    // ... then, with the broker away, two more wait in its outbox.
    let offline = TestConfig::in_dir(config.dir.clone(), &sources, "1s", "");
    server.set("/news.xml", news(5), RSS);
    let app = TestApp::spawn(offline.settings()).await;
    app.wait_for_feed("the five items", |feed| feed.entries.len() == 5)
        .await;
    assert_eq!(app.store.outbox_depth().await.unwrap().0, 2);
    let items = app.store.newest_items(100).await.unwrap();
    let revisions = app.store.revisions(&id_of(1)).await.unwrap();
    let fetch_state = app.store.fetch_state("news").await.unwrap();
    let pending = app.store.outbox_pending(0, 100).await.unwrap();
    app.stop().await;

    // The binary copies it, the target's password given and never shown.
    let db = TestDatabase::create().await;
    let to = db.url().replacen("postgres@", "postgres:s3cret-pw@", 1);
    let migrate = || {
        librarywire()
            .arg("migrate-store")
            .arg("--config")
            .arg(&config.path)
            .arg("--to")
            .arg(&to)
            .output()
            .unwrap()
    };
    let out = migrate();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout
            .contains("1 sources, 5 items, 5 revisions, 0 retired item ids, 0 article states and 2 outbox messages"),
        "{stdout}"
    );
    assert!(!stdout.contains("s3cret-pw"), "{stdout}");

    // A second copy into the same database is refused, naming it.
    let again = migrate();
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(!again.status.success());
    assert!(stderr.contains(db.name()), "{stderr}");
    assert!(
        stderr.contains("already holds 1 sources, 5 items, 5 item revisions, 2 outbox messages"),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret-pw"), "{stderr}");

    // A replica on the copy: the same items, ids and state; the two waiting
    // messages once, with their message_id; nothing else, though it polls.
    let mut settings = config.settings();
    settings.store.url = Some(db.url().to_owned());
    let polls = server.hits("/news.xml").len();
    let app = TestApp::spawn(settings).await;
    assert!(app.store.is_shared());
    assert_eq!(app.store.newest_items(100).await.unwrap(), items);
    assert_eq!(app.store.revisions(&id_of(1)).await.unwrap(), revisions);
    assert_eq!(app.store.fetch_state("news").await.unwrap(), fetch_state);
    assert_eq!(app.store.outbox_pending(0, 100).await.unwrap(), pending);
    let resent: BTreeSet<String> = deliveries.take(2).await.iter().map(message_id).collect();
    assert_eq!(resent, [id_of(4), id_of(5)].into_iter().collect());
    eventually("the replica to poll the source again", || {
        std::future::ready(server.hits("/news.xml").len() > polls + 1)
    })
    .await;
    let hits = server.hits("/news.xml");
    assert!(
        hits[polls..].iter().all(|h| h.conditional),
        "its polls are conditional, with the copied validators"
    );
    eventually("the outbox to empty", || async {
        app.store.outbox_depth().await.unwrap().0 == 0
    })
    .await;
    let extra = deliveries.drain_for(Duration::from_secs(1)).await;
    assert!(
        extra.is_empty(),
        "nothing is published again: {:?}",
        extra.iter().map(message_id).collect::<Vec<_>>()
    );
    app.stop().await;
    queue.delete().await;
}
