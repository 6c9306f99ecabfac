//! Live reload: the built binary with a config file, changed under it. On
//! SIGHUP and on file changes it adds, removes and retunes sources; a broken
//! config is refused and the running one keeps serving.

use crate::cli::librarywire;
use crate::helpers::{
    DaemonProcess, FeedServer, PATIENCE, eventually, free_port, small_rss, wait_until,
};
use librarywire::app::Application;
use librarywire::config::Settings;
use librarywire_testkit::TestDatabase;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio_util::sync::CancellationToken;

const RSS: &str = "application/rss+xml";

/// A full config: the server on `port`, the store beside the file, a closed
/// broker port, every source polled each second, and `sources` as (id, url).
/// `extra` is appended to the first source (to break it on purpose).
fn config_text(port: u16, dir: &Path, sources: &[(&str, &str)], extra: &str) -> String {
    let mut toml = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://news.example.org/\"\nfeed_size = 500\n\
         [store]\npath = \"{}\"\nmax_age = \"0s\"\n\
         [poll]\ninterval = \"1s\"\njitter = 0.0\n\
         [amqp]\nurl = \"amqp://guest:guest@127.0.0.1:1/%2f\"\nmax_backoff = \"1s\"\n",
        dir.join("store/librarywire.db").display()
    );
    for (i, (id, url)) in sources.iter().enumerate() {
        toml.push_str(&format!(
            "\n[[sources]]\nid = \"{id}\"\nname = \"Source {id}\"\nurl = \"{url}\"\n"
        ));
        if i == 0 {
            toml.push_str(extra);
        }
    }
    toml
}

/// The binary running as a daemon, its log in a file. Killed if a test
/// fails before stopping it ([`DaemonProcess`]).
struct Daemon {
    process: DaemonProcess,
    port: u16,
    log: PathBuf,
    client: reqwest::Client,
}

impl Daemon {
    async fn start(config: &Path, port: u16, args: &[&str]) -> Daemon {
        let log = config.with_extension("log");
        let mut process = DaemonProcess::spawn(
            librarywire()
                .arg("--config")
                .arg(config)
                .args(args)
                .env("RUST_LOG", "info")
                .env("NO_COLOR", "1")
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap()),
        );
        process
            .wait_healthy(port, || std::fs::read_to_string(&log).unwrap_or_default())
            .await;
        Daemon {
            process,
            port,
            log,
            client: reqwest::Client::new(),
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }

    fn signal(&self, signal: &str) {
        self.process.signal(signal);
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("http://127.0.0.1:{}{path}", self.port))
            .send()
            .await
            .unwrap()
    }

    /// `/status`'s sources as (id, state).
    async fn statuses(&self) -> Vec<(String, String)> {
        let body = self.get("/status").await.bytes().await.unwrap();
        let report: serde_json::Value = serde_json::from_slice(&body).expect("/status is JSON");
        report["sources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["id"].as_str().unwrap().to_owned(),
                    s["state"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    /// The titles in `/feed.xml`.
    async fn titles(&self) -> Vec<String> {
        let body = self.get("/feed.xml").await.bytes().await.unwrap();
        let feed = feed_rs::parser::parse(&body[..]).expect("/feed.xml parses");
        feed.entries
            .into_iter()
            .filter_map(|e| e.title.map(|t| t.content))
            .collect()
    }

    /// Stops it with SIGTERM; it must exit cleanly.
    async fn stop(mut self) {
        let exit = self.process.stop_with("-TERM").await;
        assert!(exit.success(), "exit after SIGTERM: {exit:?}");
    }
}

fn has(list: &[(String, String)], id: &str, state: &str) -> bool {
    list.iter().any(|(i, s)| i == id && s == state)
}

async fn feeds() -> FeedServer {
    let server = FeedServer::start().await;
    server.set("/a.xml", small_rss(&[("a1", "Alpha one")]), RSS);
    server.set("/b.xml", small_rss(&[("b1", "Bravo one")]), RSS);
    server.set("/c.xml", small_rss(&[("c1", "Charlie one")]), RSS);
    server
}

#[tokio::test]
async fn sighup_adds_a_source_refuses_a_broken_config_and_removes_a_source() {
    let server = feeds().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("librarywire.toml");
    let port = free_port();
    let (a, b) = (server.url("/a.xml"), server.url("/b.xml"));
    std::fs::write(&path, config_text(port, dir.path(), &[("a", &a)], "")).unwrap();
    // SIGHUP only: file watching off, so the signal alone does the reload.
    let daemon = Daemon::start(&path, port, &["run", "--no-watch"]).await;
    eventually("source a polled", || async {
        has(&daemon.statuses().await, "a", "ok")
    })
    .await;

    // Add b. The file changes, but nothing happens until SIGHUP.
    let both = config_text(port, dir.path(), &[("a", &a), ("b", &b)], "");
    std::fs::write(&path, &both).unwrap();
    daemon.signal("-HUP");
    wait_until("b's server asked", || !server.hits("/b.xml").is_empty()).await;
    eventually("b ok in /status", || async {
        has(&daemon.statuses().await, "b", "ok")
    })
    .await;
    eventually("b's item in /feed.xml", || async {
        daemon.titles().await.contains(&"Bravo one".to_owned())
    })
    .await;
    let log = daemon.log();
    let reloaded = log
        .lines()
        .find(|l| l.contains("config reloaded"))
        .unwrap_or_else(|| panic!("no reload in the log: {log}"));
    assert!(
        reloaded.contains("SIGHUP") && reloaded.contains("added=b"),
        "{reloaded}"
    );

    // A broken config (an unknown key) is refused, naming the file and the
    // key, and the running config keeps serving and polling.
    std::fs::write(
        &path,
        config_text(port, dir.path(), &[("a", &a), ("b", &b)], "bogus = 1\n"),
    )
    .unwrap();
    daemon.signal("-HUP");
    wait_until("the refusal in the log", || {
        daemon.log().contains("config refused")
    })
    .await;
    let log = daemon.log();
    let refusal = log.lines().find(|l| l.contains("config refused")).unwrap();
    assert!(refusal.contains("ERROR"), "{refusal}");
    assert!(refusal.contains("sources[0].bogus"), "{refusal}");
    assert!(refusal.contains(&path.display().to_string()), "{refusal}");
    let statuses = daemon.statuses().await;
    assert!(
        has(&statuses, "a", "ok") && has(&statuses, "b", "ok"),
        "{statuses:?}"
    );
    let titles = daemon.titles().await;
    assert!(
        titles.contains(&"Alpha one".to_owned()) && titles.contains(&"Bravo one".to_owned()),
        "{titles:?}"
    );
    let b_hits = server.hits("/b.xml").len();
    wait_until("b still polled", || server.hits("/b.xml").len() > b_hits).await;

    // Remove b: its polling stops, its items stay in the feed.
    std::fs::write(&path, config_text(port, dir.path(), &[("a", &a)], "")).unwrap();
    daemon.signal("-HUP");
    eventually("b gone from /status", || async {
        let statuses = daemon.statuses().await;
        !statuses.iter().any(|(id, _)| id == "b") && has(&statuses, "a", "ok")
    })
    .await;
    // a, polled every second, is the clock: once it has been polled twice,
    // any poll of b that was in flight at the reload is over.
    let a_hits = server.hits("/a.xml").len();
    wait_until("a polled twice more", || {
        server.hits("/a.xml").len() >= a_hits + 2
    })
    .await;
    let b_hits = server.hits("/b.xml").len();
    wait_until("a polled three times more", || {
        server.hits("/a.xml").len() >= a_hits + 5
    })
    .await;
    assert_eq!(server.hits("/b.xml").len(), b_hits, "b is no longer polled");
    let titles = daemon.titles().await;
    assert!(
        titles.contains(&"Bravo one".to_owned()),
        "a removed source's items stay until retention: {titles:?}"
    );
    assert!(daemon.log().contains("removed=b"), "{}", daemon.log());
    daemon.stop().await;
}

#[tokio::test]
async fn an_edited_or_replaced_config_file_reloads_without_a_signal() {
    let server = feeds().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("librarywire.toml");
    let port = free_port();
    let (a, b, c) = (
        server.url("/a.xml"),
        server.url("/b.xml"),
        server.url("/c.xml"),
    );
    std::fs::write(&path, config_text(port, dir.path(), &[("a", &a)], "")).unwrap();
    let daemon = Daemon::start(&path, port, &[]).await;
    eventually("source a polled", || async {
        has(&daemon.statuses().await, "a", "ok")
    })
    .await;

    // Edited in place.
    std::fs::write(
        &path,
        config_text(port, dir.path(), &[("a", &a), ("b", &b)], ""),
    )
    .unwrap();
    eventually("b ok in /status", || async {
        has(&daemon.statuses().await, "b", "ok")
    })
    .await;
    assert!(!server.hits("/b.xml").is_empty());

    // Replaced, as editors and `mv` do: a new file renamed over the old one.
    let staged = dir.path().join("librarywire.toml.new");
    std::fs::write(
        &staged,
        config_text(port, dir.path(), &[("a", &a), ("b", &b), ("c", &c)], ""),
    )
    .unwrap();
    std::fs::rename(&staged, &path).unwrap();
    eventually("c's item in /feed.xml", || async {
        daemon.titles().await.contains(&"Charlie one".to_owned())
    })
    .await;
    let log = daemon.log();
    assert!(
        log.lines()
            .any(|l| l.contains("config reloaded") && l.contains("file change")),
        "{log}"
    );
    assert!(!log.contains("config refused"), "{log}");
    daemon.stop().await;
}

/// In process: a reload that shortens a source's interval brings its next
/// poll forward, and a new `[poll]` section restarts every source.
#[tokio::test]
async fn a_shortened_interval_applies_without_waiting_out_the_old_one() {
    shortened_interval_applies(None).await;
}

/// The same on PostgreSQL, where a source is claimed only when the
/// database says it is due: the claim must know the reload brought it forward.
#[tokio::test]
async fn a_shortened_interval_applies_without_waiting_out_the_old_one_on_postgres() {
    let db = TestDatabase::create().await;
    shortened_interval_applies(Some(db.url())).await;
}

async fn shortened_interval_applies(store_url: Option<&str>) {
    let server = feeds().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("librarywire.toml");
    let a = server.url("/a.xml");
    let config_text = |port, dir: &Path, sources: &[(&str, &str)], extra: &str| {
        let text = config_text(port, dir, sources, extra);
        match store_url {
            Some(url) => text.replacen("[store]\n", &format!("[store]\nurl = \"{url}\"\n"), 1),
            None => text,
        }
    };
    let hourly = config_text(0, dir.path(), &[("a", &a)], "interval = \"1h\"\n");
    std::fs::write(&path, &hourly).unwrap();
    let daemon = InProcess::start(&path).await;
    let (reloader, live) = (&daemon.reloader, &daemon.live);
    wait_until("a's first poll", || server.hits("/a.xml").len() == 1).await;
    // Recorded, with its next poll an hour on, before the reload.
    let status = format!("{}/status", daemon.base);
    eventually("a's first poll to be recorded", || async {
        let body = reqwest::get(&status).await.ok()?.bytes().await.ok()?;
        let report: serde_json::Value = serde_json::from_slice(&body).ok()?;
        report["sources"][0]["last_attempt"].as_str().map(|_| ())
    })
    .await;

    // Only the interval changes: 1h becomes the default second.
    std::fs::write(&path, config_text(0, dir.path(), &[("a", &a)], "")).unwrap();
    let reloaded = reloader.reload("test").await.unwrap();
    assert_eq!(reloaded.changes.changed, ["a"]);
    assert!(reloaded.at_restart.is_empty(), "{:?}", reloaded.at_restart);
    assert_eq!(live.borrow().sources[0].interval, None);
    wait_until("a polled again on its new 1s interval", || {
        server.hits("/a.xml").len() >= 3
    })
    .await;

    // A new [poll] retunes everything; polling goes on.
    std::fs::write(
        &path,
        config_text(0, dir.path(), &[("a", &a)], "").replace("jitter = 0.0", "jitter = 0.1"),
    )
    .unwrap();
    let reloaded = reloader.reload("test").await.unwrap();
    assert!(reloaded.changes.poll_changed);
    let hits = server.hits("/a.xml").len();
    wait_until("a polled after the [poll] change", || {
        server.hits("/a.xml").len() > hits
    })
    .await;

    daemon.stop().await;
}

/// A reload that changes the feeds' `[server]` settings (title, self links,
/// size) renders every feed again at once, with no store change.
#[tokio::test]
async fn a_new_server_title_and_size_reach_the_feeds_without_a_restart() {
    let server = feeds().await;
    server.set(
        "/a.xml",
        small_rss(&[("a1", "Alpha one"), ("a2", "Alpha two")]),
        RSS,
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("librarywire.toml");
    let a = server.url("/a.xml");
    let hourly = config_text(0, dir.path(), &[("a", &a)], "interval = \"1h\"\n");
    std::fs::write(&path, &hourly).unwrap();
    let daemon = InProcess::start(&path).await;
    let (reloader, base) = (&daemon.reloader, daemon.base.clone());
    let client = reqwest::Client::new();
    let get = |path: &'static str| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            client
                .get(format!("{base}{path}"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let body = eventually("both items in /feed.xml", || async {
        let body = get("/feed.xml").await;
        if body.matches("<item>").count() == 2 {
            Ok(body)
        } else {
            Err(body)
        }
    })
    .await;
    assert!(body.contains("<title>Library news</title>"), "{body}");

    let retitled = hourly
        .replace(
            "feed_size = 500\n",
            "feed_size = 1\ntitle = \"Reading room news\"\n",
        )
        .replace("http://news.example.org/", "https://feeds.example.org/");
    std::fs::write(&path, retitled).unwrap();
    let reloaded = reloader.reload("test").await.unwrap();
    assert!(reloaded.changed && reloaded.at_restart.is_empty());
    let renders = eventually("the new title in the feeds", || async {
        let renders = vec![get("/feed.xml").await, get("/feed.atom").await];
        if renders.iter().all(|r| r.contains("Reading room news")) {
            Ok(renders)
        } else {
            Err(format!("{renders:?}"))
        }
    })
    .await;
    let [rss, atom] = &renders[..] else {
        unreachable!()
    };
    assert!(rss.contains("<title>Reading room news</title>"), "{rss}");
    assert_eq!(rss.matches("<item>").count(), 1, "feed_size 1: {rss}");
    assert!(rss.contains("https://feeds.example.org/feed.xml"), "{rss}");
    assert!(atom.contains("Reading room news"), "{atom}");
    assert!(
        atom.contains("https://feeds.example.org/feed.atom"),
        "{atom}"
    );
    assert_eq!(server.hits("/a.xml").len(), 1, "no poll was needed");

    daemon.stop().await;
}

/// The daemon in this process, reloading its file only when told to.
struct InProcess {
    reloader: librarywire::reload::Reloader,
    live: librarywire::config::LiveSettings,
    base: String,
    shutdown: CancellationToken,
    running: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl InProcess {
    async fn start(path: &Path) -> InProcess {
        let settings = Settings::load_with_env(path, Some(Default::default())).unwrap();
        let app = Application::build(settings)
            .await
            .unwrap()
            .with_config_file(path)
            .without_file_watching();
        let reloader = app.reloader().expect("a reloader with a config file");
        let live = app.live_settings();
        let base = format!("http://{}", app.local_addr());
        let shutdown = CancellationToken::new();
        let running = tokio::spawn(app.run_until_stopped(shutdown.clone()));
        InProcess {
            reloader,
            live,
            base,
            shutdown,
            running,
        }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(PATIENCE, self.running)
            .await
            .expect("the daemon stops in time")
            .unwrap()
            .unwrap();
    }
}
