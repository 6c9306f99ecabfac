//! Three replica processes (the built binary) on one PostgreSQL database of
//! the test's own and the real broker, polling a few hundred sources on one
//! local server that logs every request with its time and the replica that
//! made it (each replica sends its own User-Agent).
//!
//! One test walks through a replica's life in a cluster: all three share
//! the first cycle, one is paused with SIGSTOP mid-poll past its lease and
//! resumed, two are killed with SIGKILL (the publisher among them), one
//! comes back. Throughout, no source is fetched twice within its interval
//! (the woken replica's requests included: it sends none under the leases
//! it lost), every item reaches a bound queue as `item.new`, nothing stale
//! is written, and the live replicas serve the same `/feed.xml`.

use crate::cli::librarywire;
use crate::helpers::{DaemonProcess, FeedServer, Hit, eventually, free_port, small_rss};
use librarywire::item::ItemId;
use librarywire::store::Store;
use librarywire_testkit::{TestDatabase, TestQueue, message_id};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const RSS: &str = "application/rss+xml";

const HTML: &str = "text/html; charset=utf-8";

/// Sources on the server, besides the trap.
const SOURCES: usize = 210;

/// Of those, the first few answer only after [`SLOW_ANSWER`]: their
/// leases are held long enough for a kill to find one held.
const SLOW: usize = 8;

/// How long a slow source takes to answer.
const SLOW_ANSWER: Duration = Duration::from_millis(1500);

/// Every source's interval (`poll.interval`, no jitter).
const INTERVAL: Duration = Duration::from_secs(3);

/// `cluster.lease`: longer than the interval, so a takeover after a lease
/// runs out is never within one interval of the lost poll either.
const LEASE: Duration = Duration::from_secs(4);

/// After SIGCONT, how long the woken replica's requests that were past
/// their lease check at SIGSTOP may take to reach the server.
const ON_THE_WAY: Duration = Duration::from_secs(1);

/// The source the paused replica is caught polling: a page source that
/// follows its new items' own pages, so that a poll which wakes with the
/// list in hand would go on to request an article.
const TRAP: &str = "trap";

/// The trap's list page; its articles are `/trap/<name>.html`.
const TRAP_PATH: &str = "/trap/";

/// The trap's list page, linking to the articles `names`.
fn trap_page(names: &[&str]) -> String {
    let items: String = names
        .iter()
        .map(|n| format!(r#"<li><a href="{n}.html">Trap {n}</a></li>"#))
        .collect();
    format!("<html><body><ul>{items}</ul></body></html>")
}

fn trap_article(name: &str) -> String {
    format!(
        r#"<html><body><div class="content"><p>The trap's {name} news.</p></div></body></html>"#
    )
}

fn source_id(n: usize) -> String {
    format!("s{n:03}")
}

/// A source's feed: items `1..=count`, guids `<source>-<n>`.
fn feed_of(source: &str, count: usize) -> String {
    let items: Vec<(String, String)> = (1..=count)
        .map(|n| (format!("{source}-{n}"), format!("News {n} of {source}")))
        .collect();
    small_rss(&items)
}

fn item_id(source: &str, guid: &str) -> String {
    ItemId::derive(source, &format!("guid:{guid}")).to_string()
}

/// The ids of items `1..=count` of every source but the trap.
fn expected_items(count: usize) -> BTreeSet<String> {
    (0..SOURCES)
        .flat_map(|n| {
            let source = source_id(n);
            (1..=count).map(move |i| item_id(&source, &format!("{source}-{i}")))
        })
        .collect()
}

/// One replica: the binary with its own config (own port, `replica_id` and
/// User-Agent), on the shared database.
struct Replica {
    name: &'static str,
    port: u16,
    config: PathBuf,
    log: PathBuf,
    process: DaemonProcess,
}

impl Replica {
    /// Writes `name`'s config into `dir` and starts the binary on it.
    async fn start(name: &'static str, dir: &Path, shared: &str) -> Replica {
        let port = free_port();
        let config = dir.join(format!("{name}.toml"));
        let toml = format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\ntitle = \"Replica news\"\n\
             public_url = \"http://news.example.org/\"\nfeed_size = 1000\n\
             [cluster]\nreplica_id = \"{name}\"\nlease = \"{}ms\"\n\
             [poll]\ninterval = \"{}ms\"\njitter = 0.0\nconcurrency = 32\nper_host = 32\n\
             timeout = \"30s\"\nuser_agent = \"{}\"\n{shared}",
            LEASE.as_millis(),
            INTERVAL.as_millis(),
            user_agent(name),
        );
        std::fs::write(&config, toml).unwrap();
        Replica::spawn(name, port, config, dir).await
    }

    async fn spawn(name: &'static str, port: u16, config: PathBuf, dir: &Path) -> Replica {
        let log = dir.join(format!("{name}-{}.log", rand::random::<u32>()));
        let mut command = librarywire();
        command
            .arg("run")
            .arg("--no-watch")
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        let mut process = DaemonProcess::spawn(&mut command);
        let shown = log.clone();
        process
            .wait_healthy(port, || std::fs::read_to_string(&shown).unwrap_or_default())
            .await;
        Replica {
            name,
            port,
            config,
            log,
            process,
        }
    }

    /// Starts this replica's config again, as a new process (after a kill).
    async fn restart(&self, dir: &Path) -> Replica {
        Replica::spawn(self.name, self.port, self.config.clone(), dir).await
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    async fn status(&self) -> serde_json::Value {
        let body = reqwest::get(self.url("/status"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        serde_json::from_slice(&body).expect("/status is JSON")
    }

    /// `/feed.xml`'s bytes and ETag.
    async fn feed(&self) -> Result<(Vec<u8>, String), String> {
        let reply = reqwest::get(self.url("/feed.xml"))
            .await
            .map_err(|e| e.to_string())?;
        let etag = reply
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = reply.bytes().await.map_err(|e| e.to_string())?;
        Ok((body.to_vec(), etag))
    }

    fn signal(&self, signal: &str) {
        self.process.signal(signal);
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn user_agent(replica: &str) -> String {
    format!("librarywire-test-replica-{replica}")
}

/// Which replica made a request, by its User-Agent.
fn replica_of(hit: &Hit) -> &str {
    hit.user_agent
        .strip_prefix("librarywire-test-replica-")
        .unwrap_or("?")
}

/// What arrived on the test's queue: every delivery's `message_id` and routing key.
struct Arrivals(
    Arc<Mutex<Vec<(String, String, Instant)>>>,
    tokio::task::JoinHandle<()>,
);

impl Arrivals {
    fn start(mut deliveries: librarywire_testkit::Deliveries) -> Arrivals {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                if let Some(delivery) = deliveries.next_within(Duration::from_secs(1)).await {
                    sink.lock().unwrap().push((
                        message_id(&delivery),
                        delivery.routing_key.to_string(),
                        Instant::now(),
                    ));
                }
            }
        });
        Arrivals(seen, task)
    }

    /// The distinct message ids that arrived as `item.new`.
    fn new_items(&self) -> BTreeSet<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, key, _)| key.starts_with("item.new."))
            .map(|(id, _, _)| id.clone())
            .collect()
    }

    fn all(&self) -> Vec<(String, String, Instant)> {
        self.0.lock().unwrap().clone()
    }

    /// Waits until every id of `expected` arrived as `item.new`.
    async fn wait_for(&self, what: &str, expected: &BTreeSet<String>) {
        eventually(what, || async {
            let arrived = self.new_items();
            let missing: Vec<&String> = expected.difference(&arrived).collect();
            if missing.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "{} of {} not arrived, such as {:?}",
                    missing.len(),
                    expected.len(),
                    &missing[..missing.len().min(3)]
                ))
            }
        })
        .await;
    }
}

/// Waits until every replica of `live` serves the same `/feed.xml` bytes
/// and ETag, with `items` items; that feed.
async fn same_feed_everywhere(live: &[&Replica], items: usize) -> (Vec<u8>, String) {
    eventually("every live replica to serve the same /feed.xml", || async {
        let mut seen = Vec::new();
        for replica in live {
            seen.push((replica.name, replica.feed().await?));
        }
        let (first, (body, etag)) = &seen[0];
        let count = String::from_utf8_lossy(body).matches("<item>").count();
        if count != items {
            return Err(format!("{first} serves {count} items, not {items}"));
        }
        for (name, other) in &seen[1..] {
            if other.0 != *body || other.1 != *etag {
                return Err(format!(
                    "{first} serves ETag {etag}, {name} ETag {} ({} and {} bytes)",
                    other.1,
                    body.len(),
                    other.0.len()
                ));
            }
        }
        assert!(!etag.is_empty(), "/feed.xml has an ETag");
        Ok((body.clone(), etag.clone()))
    })
    .await
}

/// The closest two fetches of one source came, over the whole request
/// log, with the source and the replicas that made them.
fn closest_fetches(hits: &[Hit]) -> Option<(Duration, String, String, String)> {
    let mut by_path: HashMap<&str, Vec<&Hit>> = HashMap::new();
    for hit in hits {
        by_path.entry(&hit.path).or_default().push(hit);
    }
    by_path
        .values_mut()
        .flat_map(|hits| {
            hits.sort_by_key(|h| h.at);
            hits.windows(2)
                .map(|pair| {
                    (
                        pair[1].at - pair[0].at,
                        pair[0].path.clone(),
                        replica_of(pair[0]).to_owned(),
                        replica_of(pair[1]).to_owned(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .min_by_key(|(gap, ..)| *gap)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_poll_once_lose_nothing_and_serve_one_feed() {
    let started = Instant::now();
    let db = TestDatabase::create().await;
    let queue = TestQueue::new("replicas", "item.#", Default::default()).await;
    let arrivals = Arrivals::start(queue.consume().await);
    let server = FeedServer::start().await;
    let mut sources = String::new();
    for n in 0..SOURCES {
        let id = source_id(n);
        let path = format!("/{id}.xml");
        server.set(&path, feed_of(&id, 2), RSS);
        if n < SLOW {
            server.delay(&path, SLOW_ANSWER);
        }
        sources.push_str(&format!(
            "[[sources]]\nid = \"{id}\"\nname = \"Source {id}\"\nurl = \"{}\"\n",
            server.url(&path)
        ));
    }
    let trap_path = TRAP_PATH.to_owned();
    server.set(&trap_path, trap_page(&["1"]), HTML);
    server.delay(&trap_path, SLOW_ANSWER);
    for name in ["1", "stale", "fresh"] {
        server.set(&format!("{TRAP_PATH}{name}.html"), trap_article(name), HTML);
    }
    sources.push_str(&format!(
        "[[sources]]\nid = \"{TRAP}\"\nname = \"Trap\"\nurl = \"{}\"\nkind = \"page\"\n\
         [sources.page]\nitem = \"li\"\ntitle = \"a\"\nlink = \"a@href\"\nfollow = true\ncontent = \".content\"\n",
        server.url(&trap_path)
    ));
    // Retention by age is off: the test items are dated 2021.
    let shared = format!(
        "[store]\nurl = \"{}\"\nmax_age = \"0s\"\n\
         [amqp]\nurl = \"amqp://guest:guest@127.0.0.1:5672/%2f\"\nexchange = \"{}\"\nmax_backoff = \"1s\"\n\
         {sources}",
        db.url(),
        queue.exchange
    );
    let dir = tempfile::tempdir().unwrap();
    let mut replicas = BTreeMap::new();
    for name in ["a", "b", "c"] {
        replicas.insert(name, Replica::start(name, dir.path(), &shared).await);
    }
    let store = Store::connect(db.url())
        .await
        .expect("the test's own store handle");
    // A page item's key is its link.
    let trap = |name: &str| {
        ItemId::derive(
            TRAP,
            &format!("link:{}", server.url(&format!("{TRAP_PATH}{name}.html"))),
        )
        .to_string()
    };
    // The sources' own requests, without the trap's articles.
    let is_poll = |hit: &Hit| hit.path == TRAP_PATH || !hit.path.starts_with(TRAP_PATH);

    // 1. The first cycle, shared: every source polled, every item announced once.
    let mut expected = expected_items(2);
    expected.insert(trap("1"));
    arrivals
        .wait_for("the first cycle's items", &expected)
        .await;
    eventually("every source to be polled", || async {
        let hits = server.all_hits();
        let polled: BTreeSet<&str> = hits
            .iter()
            .filter(|h| is_poll(h))
            .map(|h| h.path.as_str())
            .collect();
        match SOURCES + 1 - polled.len() {
            0 => Ok(()),
            left => Err(format!("{left} sources not polled yet")),
        }
    })
    .await;
    let pollers: BTreeSet<String> = server
        .all_hits()
        .iter()
        .map(|h| replica_of(h).to_owned())
        .collect();
    assert_eq!(
        pollers,
        BTreeSet::from(["a".to_owned(), "b".to_owned(), "c".to_owned()]),
        "every replica takes a share of the polls"
    );
    let all: Vec<&Replica> = replicas.values().collect();
    same_feed_everywhere(&all, expected.len()).await;

    // 2. A replica caught polling the trap is paused past its lease: the
    // list it was sent has an item nobody else ever sees, whose article it
    // would follow once awake.
    server.set(&trap_path, trap_page(&["1", "stale"]), HTML);
    let mark = Instant::now();
    let caught = eventually("a replica to fetch the trap", || {
        let hit = server.hits(&trap_path).into_iter().find(|h| h.at > mark);
        std::future::ready(hit.map(|h| (h.at, replica_of(&h).to_owned())))
    })
    .await;
    assert!(
        caught.0.elapsed() < SLOW_ANSWER / 2,
        "the test noticed the trap's fetch too late to pause its replica before the answer"
    );
    let paused = &replicas[caught.1.as_str()];
    paused.signal("-STOP");
    let stopped = Instant::now();
    server.set(&trap_path, trap_page(&["1", "fresh"]), HTML);
    assert_eq!(
        server
            .hits(&trap_path)
            .iter()
            .filter(|h| h.at > mark)
            .count(),
        1,
        "only the paused replica was sent the stale body"
    );
    expected.insert(trap("fresh"));
    arrivals
        .wait_for(
            "the trap's fresh item, from a replica that took it over",
            &expected,
        )
        .await;
    let takeover = server
        .hits(&trap_path)
        .into_iter()
        .find(|h| h.at > caught.0)
        .expect("another replica polled the trap");
    assert_ne!(replica_of(&takeover), paused.name);
    let paused_for = stopped.elapsed();
    // Taken before the signal: the woken process may send a request before
    // `kill -CONT` has returned, and nothing it sends comes earlier.
    let resumed = Instant::now();
    paused.signal("-CONT");
    // Awake: it polls again, and its stale poll had time to try its write.
    eventually("the resumed replica to poll again", || {
        let polled = server
            .all_hits()
            .iter()
            .any(|h| h.at > resumed && replica_of(h) == paused.name);
        std::future::ready(polled)
    })
    .await;
    tokio::time::sleep(INTERVAL).await;
    assert_eq!(
        server
            .hits(&format!("{TRAP_PATH}stale.html"))
            .iter()
            .map(|h| replica_of(h).to_owned())
            .collect::<Vec<_>>(),
        Vec::<String>::new(),
        "the woken replica sent no request under the trap's lease, which it had lost: \
         it did not follow the stale list's new article; its log: {}",
        paused.log()
    );
    assert_eq!(
        store.item(&trap("stale")).await.unwrap(),
        None,
        "the paused replica stored nothing from its stale poll; its log: {}",
        paused.log()
    );
    assert!(
        !arrivals.new_items().contains(&trap("stale")),
        "nor announced it"
    );
    let trap_status = store.source_status(TRAP).await.unwrap().unwrap();
    assert_eq!(trap_status.last_error, None, "nor recorded a failure");
    same_feed_everywhere(&all, expected.len()).await;

    // 3. The publisher and another replica holding a source are killed.
    let holder = replicas["a"].status().await["replica"]["publisher_lease"]["holder"]
        .as_str()
        .expect("a replica holds the publisher lease")
        .to_owned();
    let (other, held) = eventually("another replica to hold a source's lease", || async {
        let statuses = store.source_statuses().await.unwrap();
        let now = chrono::Utc::now();
        let mut held: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for status in statuses {
            if let Some(lease) = status.lease.filter(|l| l.until > now && l.holder != holder) {
                held.entry(lease.holder).or_default().push(status.id);
            }
        }
        held.into_iter().next()
    })
    .await;
    for name in [&holder, &other] {
        replicas[name.as_str()].signal("-KILL");
    }
    let killed = Instant::now();
    for n in 0..SOURCES {
        let id = source_id(n);
        server.set(&format!("/{id}.xml"), feed_of(&id, 3), RSS);
    }
    expected.extend(expected_items(3));
    arrivals
        .wait_for("every item found after the kill", &expected)
        .await;
    let last_arrival = arrivals.all().iter().map(|(_, _, at)| *at).max().unwrap();
    let survivor = replicas
        .keys()
        .find(|name| **name != holder && **name != other)
        .copied()
        .unwrap();
    for id in &held {
        // The trap (slow to answer, so often the one held) is a page.
        let path = if id == TRAP {
            TRAP_PATH.to_owned()
        } else {
            format!("/{id}.xml")
        };
        assert!(
            server
                .hits(&path)
                .iter()
                .any(|h| h.at > killed && replica_of(h) == survivor),
            "{other} held {id} when it was killed; {survivor} polled it since"
        );
    }

    // 4. A killed replica comes back and serves what the survivor serves.
    let restarted = replicas[holder.as_str()].restart(dir.path()).await;
    same_feed_everywhere(&[&replicas[survivor], &restarted], expected.len()).await;

    // Over the whole run, no source was fetched twice within its interval.
    // A claim sets the next poll an interval after it; the request itself
    // may reach the server late on a busy machine (this one runs three
    // daemons and PostgreSQL), so half an interval is the margin: two
    // replicas polling one source at once would come within milliseconds.
    //
    // The paused replica's requests after it woke are in: the polls it had
    // claimed before it was stopped and not yet sent are dropped, since
    // their leases ran out by its own clock, so whatever it sends comes
    // from a claim made since. All but one kind: a request whose lease
    // check had passed when SIGSTOP landed, on its way to the socket. No
    // process can check a deadline and write a request in one step, so
    // that request goes out as it wakes (its poll's write is fenced: the
    // trap's check above). Such a request comes first for its source, and
    // right after SIGCONT; those are left out, and counted.
    let all_hits = server.all_hits();
    let mut woken: BTreeSet<String> = BTreeSet::new();
    let (on_the_way, hits): (Vec<Hit>, Vec<Hit>) = all_hits.into_iter().partition(|h| {
        replica_of(h) == paused.name
            && h.at >= resumed
            && h.at < resumed + ON_THE_WAY
            && woken.insert(h.path.clone())
    });
    let woken_requests = hits
        .iter()
        .filter(|h| replica_of(h) == paused.name && h.at >= resumed)
        .count();
    let (gap, path, first, second) = closest_fetches(&hits).unwrap();
    assert!(
        gap >= INTERVAL / 2,
        "{path} was fetched by {first} and then by {second} {gap:?} later, within its {INTERVAL:?} interval; \
         its fetches (replica, seconds since the start): {:?}; {} was stopped at {:.3} s and \
         woken at {:.3} s, and {} of its requests on their way at the stop were left out",
        server
            .hits(&path)
            .iter()
            .map(|h| (replica_of(h).to_owned(), (h.at - started).as_secs_f32()))
            .collect::<Vec<_>>(),
        paused.name,
        (stopped - started).as_secs_f32(),
        (resumed - started).as_secs_f32(),
        on_the_way.len(),
    );
    let other_keys: Vec<_> = arrivals
        .all()
        .into_iter()
        .filter(|(_, key, _)| !key.starts_with("item.new."))
        .collect();
    assert!(other_keys.is_empty(), "only item.new: {other_keys:?}");
    let deliveries = arrivals.all().len();
    eprintln!(
        "replicas: {} sources, {} fetches, {} items in {deliveries} deliveries; \
         closest two fetches of a source {gap:?} apart ({path}); paused {} for {paused_for:?} \
         ({woken_requests} requests since it woke in the spacing check, {} on their way at the stop left out); \
         killed publisher {holder} and {other} (holding {held:?}): every new item arrived {:?} \
         after the kill (lease {LEASE:?} + interval {INTERVAL:?}); {:?} in all",
        SOURCES + 1,
        hits.len() + on_the_way.len(),
        expected.len(),
        paused.name,
        on_the_way.len(),
        last_arrival - killed,
        started.elapsed()
    );
    drop(restarted);
    drop(replicas);
    arrivals.1.abort();
    queue.delete().await;
}
