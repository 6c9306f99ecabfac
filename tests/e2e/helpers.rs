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
use std::process::{Child, Command, ExitStatus};
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
pub fn small_rss(items: &[(impl AsRef<str>, impl AsRef<str>)]) -> String {
    let mut xml = String::from(
        r#"<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Small</title><link>http://example.org/</link><description>d</description>"#,
    );
    for (guid, title) in items {
        let (guid, title) = (guid.as_ref(), title.as_ref());
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
    /// The `Authorization` header sent, if any.
    pub authorization: Option<String>,
    /// When the request arrived.
    pub at: std::time::Instant,
}

#[derive(Default)]
struct Served {
    feeds: HashMap<String, (Vec<u8>, &'static str)>,
    redirects: HashMap<String, String>,
    /// Paths answered only after a pause: a slow source.
    delays: HashMap<String, Duration>,
    /// Paths answered with an error status.
    failures: HashMap<String, StatusCode>,
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
        Self::start_on("127.0.0.1").await
    }

    /// Starts the server on the loopback address `ip` (`::1`, say) with a free port.
    pub async fn start_on(ip: &str) -> FeedServer {
        let served = Arc::new(Mutex::new(Served::default()));
        let app = axum::Router::new()
            .fallback(serve_feed)
            .with_state(served.clone());
        let ip: std::net::IpAddr = ip.parse().unwrap();
        let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
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

    /// Answers `path` with a 302 to `location` from now on.
    pub fn redirect(&self, path: &str, location: &str) {
        self.served
            .lock()
            .unwrap()
            .redirects
            .insert(path.to_owned(), location.to_owned());
    }

    /// Answers `path` with `status` (an error) from now on.
    pub fn fail(&self, path: &str, status: u16) {
        self.served
            .lock()
            .unwrap()
            .failures
            .insert(path.to_owned(), StatusCode::from_u16(status).unwrap());
    }

    /// Answers `path` only `delay` after each request arrives, with the
    /// body it served when the request came.
    pub fn delay(&self, path: &str, delay: Duration) {
        self.served
            .lock()
            .unwrap()
            .delays
            .insert(path.to_owned(), delay);
    }

    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every request so far, whatever its path.
    pub fn all_hits(&self) -> Vec<Hit> {
        self.served.lock().unwrap().hits.clone()
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
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let at = std::time::Instant::now();
    let (found, delay, redirect, failure) = {
        let served = served.lock().unwrap();
        (
            served.feeds.get(&path).cloned(),
            served.delays.get(&path).copied(),
            served.redirects.get(&path).cloned(),
            served.failures.get(&path).copied(),
        )
    };
    let (status, response) = match found {
        _ if failure.is_some() => {
            let status = failure.unwrap();
            (status, status.into_response())
        }
        _ if redirect.is_some() => (
            StatusCode::FOUND,
            (StatusCode::FOUND, [(header::LOCATION, redirect.unwrap())]).into_response(),
        ),
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
    served.lock().unwrap().hits.push(Hit {
        path,
        conditional: if_none_match.is_some(),
        status: status.as_u16(),
        user_agent,
        authorization,
        at,
    });
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
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
        // Retention by age is off: the corpus feeds are years old, and
        // would otherwise keep only each source's newest 20 items.
        Self::write(dir, sources, interval, "max_age = \"0s\"\n", extra)
    }

    /// Like [`TestConfig::new`] with `store` (TOML keys of `[store]`
    /// besides `path`) in place of the default that turns age retention off.
    pub fn with_store(
        sources: &[(&str, &str)],
        interval: &str,
        store: &str,
        extra: &str,
    ) -> TestConfig {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        Self::write(dir, sources, interval, store, extra)
    }

    fn write(
        dir: Arc<tempfile::TempDir>,
        sources: &[(&str, &str)],
        interval: &str,
        store_keys: &str,
        extra: &str,
    ) -> TestConfig {
        let store = dir.path().join("store/librarywire.db");
        let mut toml = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\ntitle = \"Test news\"\npublic_url = \"http://news.example.org/\"\nfeed_size = 500\n\
             [store]\npath = \"{}\"\n{store_keys}\
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
        eventually(what, || async {
            let feed = self.feed().await;
            if check(&feed) {
                Ok(feed)
            } else {
                Err(format!("/feed.xml has {} items", feed.entries.len()))
            }
        })
        .await
    }
}

/// What one try of [`eventually`] found: done, with a value, or not yet,
/// with what it saw (for the message when it never is).
pub trait Probe {
    /// What a try that is done gives.
    type Value;
    /// `Ok` when done; `Err` with what was seen, if it says, when not yet.
    fn done(self) -> Result<Self::Value, Option<String>>;
}

impl Probe for bool {
    type Value = ();
    fn done(self) -> Result<(), Option<String>> {
        if self { Ok(()) } else { Err(None) }
    }
}

impl<T> Probe for Option<T> {
    type Value = T;
    fn done(self) -> Result<T, Option<String>> {
        self.ok_or(None)
    }
}

impl<T> Probe for Result<T, String> {
    type Value = T;
    fn done(self) -> Result<T, Option<String>> {
        self.map_err(Some)
    }
}

/// Waits for something the daemon should do by itself: tries `probe` every
/// 50 ms until it is done ([`Probe`]: `true`, `Some`, `Ok`) and returns its
/// value, or panics naming `what`, and what it last saw, after [`PATIENCE`].
/// The one deadline loop of the end-to-end tests.
pub async fn eventually<P, F, Fut>(what: &str, mut probe: F) -> P::Value
where
    P: Probe,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = P>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let seen = match probe().await.done() {
            Ok(value) => return value,
            Err(seen) => seen,
        };
        if tokio::time::Instant::now() > deadline {
            match seen {
                Some(seen) => {
                    panic!("gave up after {PATIENCE:?} waiting for {what}; last seen: {seen}")
                }
                None => panic!("gave up after {PATIENCE:?} waiting for {what}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// [`eventually`] for a condition that needs no await.
pub async fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    eventually(what, || std::future::ready(check())).await
}

/// Collects a child's stderr lines on a thread of its own.
pub fn collect_lines(stderr: std::process::ChildStderr) -> Arc<Mutex<Vec<String>>> {
    use std::io::BufRead;
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            match line {
                Ok(line) => sink.lock().unwrap().push(line),
                Err(_) => break,
            }
        }
    });
    lines
}

/// The built binary running as a daemon. Killed (and reaped) when dropped,
/// so a test that fails half-way never leaves the process running.
pub struct DaemonProcess {
    child: Child,
}

impl DaemonProcess {
    /// Starts `command` (the binary, set up by the caller).
    pub fn spawn(command: &mut Command) -> DaemonProcess {
        DaemonProcess {
            child: command.spawn().expect("the daemon binary starts"),
        }
    }

    /// Starts `command` (the binary, set up by the caller) with its stdout
    /// to nothing and its stderr collected, and waits until it answers
    /// `/healthz` on `port`. Returns it with its stderr lines, so far and to
    /// come.
    pub async fn start_healthy(
        command: &mut Command,
        port: u16,
    ) -> (DaemonProcess, Arc<Mutex<Vec<String>>>) {
        let mut daemon = DaemonProcess::spawn(
            command
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped()),
        );
        let lines = collect_lines(daemon.child().stderr.take().unwrap());
        daemon
            .wait_healthy(port, || lines.lock().unwrap().join("\n"))
            .await;
        (daemon, lines)
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The child process, to take its piped output.
    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Waits until it answers `/healthz` on `port`; `log` says what it
    /// wrote, for the message when it exits or never answers.
    pub async fn wait_healthy(&mut self, port: u16, log: impl Fn() -> String) {
        let client = reqwest::Client::new();
        let url = format!("http://127.0.0.1:{port}/healthz");
        // Behind a lock, so each try's future can borrow the child in turn.
        let child = std::sync::Mutex::new(&mut self.child);
        eventually("the daemon to answer /healthz", || async {
            let exited = child.lock().unwrap().try_wait().unwrap();
            if let Some(exit) = exited {
                panic!("the daemon exited ({exit:?}): {}", log());
            }
            match client.get(&url).send().await {
                Ok(reply) if reply.status().is_success() => Ok(()),
                Ok(reply) => Err(format!("HTTP {}", reply.status())),
                Err(e) => Err(e.to_string()),
            }
        })
        .await;
    }

    /// Sends `signal` (`-TERM`, `-HUP`, …) to it.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill {signal} failed");
    }

    /// Sends `signal` and waits for it to exit; its exit status.
    pub async fn stop_with(&mut self, signal: &str) -> ExitStatus {
        self.signal(signal);
        eventually(&format!("the daemon to exit after {signal}"), || {
            std::future::ready(self.child.try_wait().unwrap())
        })
        .await
    }
}

impl Drop for DaemonProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
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
