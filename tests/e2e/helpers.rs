//! What every end-to-end test needs: a real feed server on a random loopback
//! port, a config written to a temporary folder, and the daemon itself.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use librarywire::app::Application;
use librarywire::config::Settings;
use librarywire::store::Store;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long a test waits for something the daemon should do by itself.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A test feed file under `tests/data/feeds`.
pub fn feed_file(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/feeds")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// A small RSS 2.0 feed of `(guid, title)` items, all dated 2021-08-19,
/// whose links carry a tracking parameter the daemon must drop.
pub fn small_rss(items: &[(&str, &str)]) -> String {
    let mut xml = String::from(
        r#"<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Small</title><link>http://example.org/</link><description>d</description>"#,
    );
    for (guid, title) in items {
        xml.push_str(&format!(
            "<item><guid>{guid}</guid><title>{title}</title><link>http://example.org/{guid}?utm_source=rss</link><description>Body of {guid}</description><pubDate>Thu, 19 Aug 2021 08:00:00 GMT</pubDate></item>"
        ));
    }
    xml.push_str("</channel></rss>");
    xml
}

/// One request the feed server saw.
#[derive(Debug, Clone)]
pub struct Hit {
    /// The request path.
    pub path: String,
    /// Whether it carried `If-None-Match`.
    pub conditional: bool,
    /// The status answered.
    pub status: u16,
    /// The User-Agent sent.
    pub user_agent: String,
}

#[derive(Default)]
struct Served {
    feeds: HashMap<String, (Vec<u8>, &'static str)>,
    hits: Vec<Hit>,
}

/// A real HTTP server that serves feeds with ETags and answers 304s.
#[derive(Clone)]
pub struct FeedServer {
    addr: SocketAddr,
    served: Arc<Mutex<Served>>,
}

impl FeedServer {
    /// Starts the server on 127.0.0.1 with a free port.
    pub async fn start() -> FeedServer {
        let served = Arc::new(Mutex::new(Served::default()));
        let app = axum::Router::new()
            .fallback(serve_feed)
            .with_state(served.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        FeedServer { addr, served }
    }

    /// Serves `body` at `path` from now on.
    pub fn set(&self, path: &str, body: impl Into<Vec<u8>>, content_type: &'static str) {
        self.served
            .lock()
            .unwrap()
            .feeds
            .insert(path.to_owned(), (body.into(), content_type));
    }

    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Every request for `path` so far.
    pub fn hits(&self, path: &str) -> Vec<Hit> {
        self.served
            .lock()
            .unwrap()
            .hits
            .iter()
            .filter(|h| h.path == path)
            .cloned()
            .collect()
    }
}

async fn serve_feed(State(served): State<Arc<Mutex<Served>>>, request: Request<Body>) -> Response {
    let path = request.uri().path().to_owned();
    let headers: &HeaderMap = request.headers();
    let if_none_match = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let mut served = served.lock().unwrap();
    let found = served.feeds.get(&path).cloned();
    let (status, response) = match found {
        None => (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND.into_response()),
        Some((body, content_type)) => {
            let etag = format!("\"{:x}\"", fxhash(&body));
            if if_none_match.as_deref() == Some(etag.as_str()) {
                (
                    StatusCode::NOT_MODIFIED,
                    (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response(),
                )
            } else {
                (
                    StatusCode::OK,
                    (
                        StatusCode::OK,
                        [
                            (header::ETAG, etag),
                            (header::CONTENT_TYPE, content_type.to_owned()),
                        ],
                        body,
                    )
                        .into_response(),
                )
            }
        }
    };
    served.hits.push(Hit {
        path,
        conditional: if_none_match.is_some(),
        status: status.as_u16(),
        user_agent,
    });
    response
}

/// A small stable hash for test ETags.
fn fxhash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// A config file in its own temporary folder, with the store beside it.
pub struct TestConfig {
    /// Keeps the folder alive.
    pub dir: Arc<tempfile::TempDir>,
    /// The config file.
    pub path: PathBuf,
}

impl TestConfig {
    /// Writes a config with `sources` (id, url, interval) and `extra` TOML
    /// appended before the sources. The broker defaults to a closed port:
    /// tests of this binary that need RabbitMQ set `amqp` themselves.
    pub fn new(sources: &[(&str, &str)], interval: &str, extra: &str) -> TestConfig {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        Self::in_dir(dir, sources, interval, extra)
    }

    /// Like [`TestConfig::new`], in an existing folder (so a second config
    /// can share the first one's store).
    pub fn in_dir(
        dir: Arc<tempfile::TempDir>,
        sources: &[(&str, &str)],
        interval: &str,
        extra: &str,
    ) -> TestConfig {
        let store = dir.path().join("store/librarywire.db");
        // Retention by age is off: the corpus feeds are years old, and the
        // hourly prune at start would otherwise remove them between restarts.
        let mut toml = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\ntitle = \"Test news\"\npublic_url = \"http://news.example.org/\"\nfeed_size = 500\n\
             [store]\npath = \"{}\"\nmax_age = \"0s\"\n\
             [poll]\ninterval = \"{interval}\"\njitter = 0.0\n\
             {extra}\n",
            store.display()
        );
        if !extra.contains("[amqp]") {
            toml.push_str(
                "[amqp]\nurl = \"amqp://guest:guest@127.0.0.1:1/%2f\"\nmax_backoff = \"1s\"\n",
            );
        }
        for (id, url) in sources {
            toml.push_str(&format!(
                "[[sources]]\nid = \"{id}\"\nname = \"Source {id}\"\nurl = \"{url}\"\n"
            ));
        }
        let path = dir.path().join(format!("config-{}.toml", rand_suffix()));
        std::fs::write(&path, toml).unwrap();
        TestConfig { dir, path }
    }

    /// Loads it as the daemon does, without the process environment.
    pub fn settings(&self) -> Settings {
        Settings::load_with_env(&self.path, Some(BTreeMap::new())).unwrap()
    }
}

/// A random suffix for names that must not collide between parallel tests.
pub fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A running daemon, driven through the library's `run`.
pub struct TestApp {
    /// Where its server listens.
    pub addr: SocketAddr,
    /// Its store (the same file the daemon writes).
    pub store: Store,
    shutdown: CancellationToken,
    handle: JoinHandle<anyhow::Result<()>>,
    client: reqwest::Client,
}

impl TestApp {
    /// Builds and starts the daemon on `settings`.
    pub async fn spawn(settings: Settings) -> TestApp {
        let app = Application::build(settings)
            .await
            .expect("the daemon builds");
        let addr = app.local_addr();
        let store = app.store();
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(app.run_until_stopped(shutdown.clone()));
        TestApp {
            addr,
            store,
            shutdown,
            handle,
            client: reqwest::Client::new(),
        }
    }

    /// Stops it the way SIGTERM does and waits for every task.
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(PATIENCE, self.handle)
            .await
            .expect("the daemon stops in time")
            .expect("the daemon task does not panic")
            .expect("the daemon stops cleanly");
    }

    /// A URL on its server.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// A client for its server.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// `/feed.xml`, parsed with feed-rs.
    pub async fn feed(&self) -> feed_rs::model::Feed {
        let body = self
            .client
            .get(self.url("/feed.xml"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        feed_rs::parser::parse(&body[..]).expect("/feed.xml parses as a feed")
    }

    /// Waits until `check` holds for `/feed.xml`, and returns that feed.
    pub async fn wait_for_feed(
        &self,
        what: &str,
        check: impl Fn(&feed_rs::model::Feed) -> bool,
    ) -> feed_rs::model::Feed {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let feed = self.feed().await;
            if check(&feed) {
                return feed;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "gave up waiting for {what}; /feed.xml has {} items",
                    feed.entries.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Waits until `check` is true, polling every 50 ms, or panics naming `what`.
pub async fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !check() {
        if tokio::time::Instant::now() > deadline {
            panic!("gave up waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A loopback port that was free a moment ago, for a daemon started as a
/// process (which binds it itself).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
