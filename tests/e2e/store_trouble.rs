//! The store in trouble under a running daemon: a store file deleted or
//! corrupted while the daemon runs makes `/readyz` answer 503 with the
//! reason, logged once at error level. The daemon is the built binary, so
//! its log is what an admin would read.

use crate::cli::librarywire;
use crate::helpers::collect_lines;
use crate::helpers::{DaemonProcess, FeedServer, TestConfig, eventually, free_port, small_rss};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

const RSS: &str = "application/rss+xml";

/// The daemon binary (killed when dropped, so a failing test leaves no
/// process behind), where it answers, and what it logs.
pub struct Daemon {
    process: DaemonProcess,
    base: String,
    lines: Arc<Mutex<Vec<String>>>,
    client: reqwest::Client,
}

impl Daemon {
    /// Starts `librarywire run` on `config` (with `RUST_LOG=warn`, as
    /// `librarywire()` sets it) and waits until it answers `/healthz`.
    pub async fn start(config: &Path) -> Daemon {
        let port = free_port();
        let mut command = librarywire();
        command
            .arg("run")
            .arg("--config")
            .arg(config)
            .env("LIBRARYWIRE__SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut process = DaemonProcess::spawn(&mut command);
        let lines = collect_lines(process.child().stderr.take().unwrap());
        process
            .wait_healthy(port, || lines.lock().unwrap().join("\n"))
            .await;
        Daemon {
            process,
            base: format!("http://127.0.0.1:{port}"),
            lines,
            client: reqwest::Client::new(),
        }
    }

    /// `GET path`: the status and the body; status 0 when nothing answers.
    pub async fn get(&self, path: &str) -> (u16, String) {
        match self.client.get(format!("{}{path}", self.base)).send().await {
            Ok(reply) => (
                reply.status().as_u16(),
                reply.text().await.unwrap_or_default(),
            ),
            Err(_) => (0, String::new()),
        }
    }

    /// `/status` as JSON.
    pub async fn status(&self) -> serde_json::Value {
        let (code, body) = self.get("/status").await;
        assert_eq!(code, 200, "/status: {body}");
        serde_json::from_str(&body).expect("/status is JSON")
    }

    /// The lines logged so far.
    pub fn log(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// The lines logged so far that contain `text`.
    pub fn logged(&self, text: &str) -> Vec<String> {
        self.log()
            .into_iter()
            .filter(|l| l.contains(text))
            .collect()
    }

    /// Waits until `check` holds, or fails after the tests' patience with
    /// the daemon's log.
    pub async fn wait_for<'a, F, Fut>(&'a self, what: &str, check: F)
    where
        F: Fn(&'a Daemon) -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        eventually(what, || async {
            if check(self).await {
                Ok(())
            } else {
                Err(format!("the daemon logged:\n{}", self.log().join("\n")))
            }
        })
        .await
    }

    /// Stops it with SIGTERM and checks it exits 0.
    pub async fn stop(mut self) {
        let exit = self.process.stop_with("-TERM").await;
        assert!(exit.success(), "exit after SIGTERM: {exit:?}");
    }
}

/// A daemon polling one small feed every second, with its store polled once.
async fn polling_daemon(server: &FeedServer) -> (TestConfig, Daemon) {
    server.set("/news.xml", small_rss(&[("a", "A"), ("b", "B")]), RSS);
    let config = TestConfig::new(&[("news", &server.url("/news.xml"))], "1s", "");
    let daemon = Daemon::start(&config.path).await;
    daemon
        .wait_for("the first poll to be stored", |d| async move {
            d.status().await["sources"][0]["item_count"] == 2
        })
        .await;
    assert_eq!(daemon.get("/readyz").await, (200, "ready\n".to_owned()));
    (config, daemon)
}

#[tokio::test]
async fn a_store_file_deleted_under_the_daemon_makes_it_unready() {
    let server = FeedServer::start().await;
    let (config, daemon) = polling_daemon(&server).await;
    let path = config.settings().store.path;

    std::fs::remove_file(&path).unwrap();
    let (code, reason) = daemon.get("/readyz").await;
    assert_eq!(code, 503, "{reason}");
    assert!(
        reason.starts_with("not ready: the store file ") && reason.contains("was deleted"),
        "{reason}"
    );
    // Asked again and again, as an orchestrator does: logged once.
    for _ in 0..5 {
        assert_eq!(daemon.get("/readyz").await.0, 503);
    }
    let status = daemon.status().await;
    assert_eq!(status["store"]["ok"], false);
    assert_eq!(status["store"]["problems"][0]["kind"], "file_deleted");
    let (_, metrics) = daemon.get("/metrics").await;
    assert!(
        metrics.contains("librarywire_store_problem{kind=\"file_deleted\"} 1"),
        "{metrics}"
    );
    let errors = daemon.logged("was deleted");
    assert_eq!(errors.len(), 1, "logged once: {errors:?}");
    assert!(errors[0].contains("ERROR"), "at error level: {errors:?}");
    assert_eq!(
        daemon.get("/healthz").await.0,
        200,
        "/healthz stays as it is"
    );
    daemon.stop().await;
}

#[tokio::test]
async fn a_store_corrupted_under_the_daemon_makes_it_unready() {
    let server = FeedServer::start().await;
    let (config, daemon) = polling_daemon(&server).await;
    let path = config.settings().store.path;

    // Everything into the main file, then junk over all of it but the first
    // page (which holds the schema, so the store still opens and answers a
    // ping): a disk that went bad mid-file.
    let external = rusqlite::Connection::open(&path).unwrap();
    eventually("a full checkpoint", || async {
        let (busy, wal_frames): (i64, i64) = external
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        busy == 0 && wal_frames == 0
    })
    .await;
    let size = std::fs::metadata(&path).unwrap().len() as usize;
    assert!(size > 4096 * 2, "a store of several pages: {size} bytes");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[4096..].fill(0x5a);
    std::fs::write(&path, bytes).unwrap();
    // A write of the first page only, so the daemon's connections see the
    // file changed and read its pages afresh instead of from their caches.
    let version: i64 = external
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    external
        .pragma_update(None, "user_version", version)
        .unwrap();
    drop(external);

    daemon
        .wait_for("/readyz to say the store is corrupt", |d| async move {
            let (code, reason) = d.get("/readyz").await;
            code == 503 && reason.contains("reports corruption")
        })
        .await;
    let (_, reason) = daemon.get("/readyz").await;
    assert!(reason.contains("malformed"), "SQLite's own words: {reason}");
    let errors = daemon.logged("reports corruption");
    assert_eq!(errors.len(), 1, "logged once: {errors:?}");
    assert!(errors[0].contains("ERROR"), "at error level: {errors:?}");
    let (_, metrics) = daemon.get("/metrics").await;
    assert!(
        metrics.contains("librarywire_store_problem{kind=\"corrupt\"} 1"),
        "{metrics}"
    );
    daemon.stop().await;
}
