//! The binary itself: `check-config`, `poll-once`, and stopping on signals.

use crate::helpers::{DaemonProcess, TestConfig, feed_file, free_port};
use std::process::{Command, Stdio};

/// The built binary, with the test's environment cleaned of admin settings.
pub fn librarywire() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_librarywire"));
    // The tests choose their config explicitly; an admin's environment must not leak in.
    command
        .env_remove("LIBRARYWIRE_CONFIG")
        .env("RUST_LOG", "warn");
    command
}

/// Runs `check-config` on `path`, which must be accepted; returns its stdout.
pub fn accepted_config(path: &std::path::Path) -> String {
    let out = librarywire()
        .arg("check-config")
        .arg("--config")
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `check-config` on `path`, which must be refused; returns its stderr.
pub fn refused_config(path: &std::path::Path) -> String {
    let out = librarywire()
        .arg("check-config")
        .arg("--config")
        .arg(path)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "check-config accepted {}",
        path.display()
    );
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn check_config_prints_the_sources_of_a_good_config() {
    let config = TestConfig::new(
        &[("ifla-news", "https://www.ifla.org/news/feed/")],
        "10m",
        "",
    );
    let stdout = accepted_config(&config.path);
    assert!(
        stdout.contains("ifla-news") && stdout.contains("https://www.ifla.org/news/feed/"),
        "{stdout}"
    );
}

#[test]
fn check_config_refuses_a_misspelt_key_and_names_it_and_the_file() {
    let config = TestConfig::new(
        &[("a", "https://example.org/feed")],
        "10m",
        "[server]\nfeed_sise = 10\n",
    );
    // The extra [server] table repeats one TestConfig writes; write a clean file instead.
    let path = config.dir.path().join("misspelt.toml");
    std::fs::write(&path, "[poll]\nintervall = \"5m\"\n\n[[sources]]\nid = \"a\"\nurl = \"https://example.org/feed\"\n").unwrap();
    let stderr = refused_config(&path);
    assert!(stderr.contains("poll.intervall"), "{stderr}");
    assert!(stderr.contains(&path.display().to_string()), "{stderr}");
}

#[test]
fn check_config_refuses_a_duplicate_source_id() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dup.toml");
    std::fs::write(
        &path,
        "[[sources]]\nid = \"loc\"\nurl = \"https://a.org/\"\n[[sources]]\nid = \"loc\"\nurl = \"https://b.org/\"\n",
    )
    .unwrap();
    let stderr = refused_config(&path);
    assert!(stderr.contains("sources[1].id"), "{stderr}");
}

#[test]
fn the_config_path_comes_from_the_environment_when_not_given() {
    let config = TestConfig::new(&[("from-env", "https://example.org/feed")], "10m", "");
    let out = librarywire()
        .arg("check-config")
        .env("LIBRARYWIRE_CONFIG", &config.path)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8(out.stdout).unwrap().contains("from-env"));
}

#[test]
fn poll_once_prints_items_as_json_lines_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("tarleb.xml");
    std::fs::write(&feed, feed_file("tarleb-rss.xml")).unwrap();
    let url = url::Url::from_file_path(&feed).unwrap().to_string();
    let config = TestConfig::new(
        &[("tarleb", &url), ("other", "file:///nonexistent/feed.xml")],
        "10m",
        "",
    );
    let out = librarywire()
        .args(["poll-once", "--source", "tarleb", "--config"])
        .arg(&config.path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let items: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let expected = feed_rs::parser::parse(&feed_file("tarleb-rss.xml")[..])
        .unwrap()
        .entries
        .len();
    assert_eq!(items.len(), expected);
    for item in &items {
        assert_eq!(item["source"]["id"], "tarleb");
        assert!(item["id"].as_str().is_some_and(|id| !id.is_empty()));
        assert!(item["published"].as_str().is_some());
    }
    assert!(
        !config.dir.path().join("store").exists(),
        "poll-once stores nothing"
    );

    // Every source: the broken one is reported, the exit code says so, the good one still prints.
    let out = librarywire()
        .arg("poll-once")
        .arg("--config")
        .arg(&config.path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("other") && stderr.contains("/nonexistent/feed.xml"),
        "{stderr}"
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().lines().count(),
        expected
    );

    let out = librarywire()
        .args(["poll-once", "--source", "nope", "--config"])
        .arg(&config.path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("no source `nope`")
    );
}

/// The daemon binary on a copy of the corpus feed, answering on `port`.
fn daemon_on(port: u16) -> (tempfile::TempDir, TestConfig, DaemonProcess) {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("feed.xml");
    std::fs::write(&feed, feed_file("dini-atom.xml")).unwrap();
    let url = url::Url::from_file_path(&feed).unwrap().to_string();
    let config = TestConfig::new(&[("dini", &url)], "1s", "");
    let daemon = DaemonProcess::spawn(
        librarywire()
            .arg("--config")
            .arg(&config.path)
            .env("LIBRARYWIRE__SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    (dir, config, daemon)
}

async fn stops_cleanly_on(signal: &str) {
    let port = free_port();
    let (_dir, _config, mut daemon) = daemon_on(port);
    daemon.wait_healthy(port, String::new).await;
    let exit = daemon.stop_with(signal).await;
    assert!(exit.success(), "exit status after {signal}: {exit:?}");
}

#[tokio::test]
async fn sigterm_stops_the_daemon_with_exit_code_0() {
    stops_cleanly_on("-TERM").await;
}

#[tokio::test]
async fn sigint_stops_the_daemon_with_exit_code_0() {
    stops_cleanly_on("-INT").await;
}

/// A test that fails after starting the binary leaves no daemon behind: its
/// [`DaemonProcess`] kills and reaps it while the failure unwinds.
#[tokio::test]
async fn a_failing_test_leaves_no_daemon_running() {
    let port = free_port();
    let (pid_tx, pid_rx) = tokio::sync::oneshot::channel();
    let failing = tokio::spawn(async move {
        let (_dir, _config, mut daemon) = daemon_on(port);
        daemon.wait_healthy(port, String::new).await;
        pid_tx.send(daemon.id()).unwrap();
        panic!("a test that fails with its daemon running");
    });
    let failed = failing.await.expect_err("the test fails");
    assert!(failed.is_panic());
    let pid = pid_rx.await.expect("the daemon was started");
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "daemon process {pid} is still there"
    );
    assert!(
        reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
            .await
            .is_err(),
        "nothing answers on the daemon's port"
    );
}

#[test]
fn check_config_refuses_an_amqp_url_the_publisher_cannot_use() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("amqp.toml");
    std::fs::write(
        &path,
        "[amqp]\nurl = \"amqp://guest:secret@127.0.0.1:5672/%2f?heartbeat=often\"\n",
    )
    .unwrap();
    let stderr = refused_config(&path);
    assert!(
        stderr.contains("amqp.url") && stderr.contains(&path.display().to_string()),
        "{stderr}"
    );
    assert!(
        !stderr.contains("secret"),
        "the error does not repeat the password: {stderr}"
    );
}

/// With its stderr a pipe whose reader has gone, the daemon's log lines go
/// nowhere: they are dropped (and counted), and SIGTERM still stops it at
/// once with exit code 0.
#[tokio::test]
async fn sigterm_stops_the_daemon_after_its_stderr_pipe_closed() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("feed.xml");
    std::fs::write(&feed, feed_file("dini-atom.xml")).unwrap();
    let url = url::Url::from_file_path(&feed).unwrap().to_string();
    let config = TestConfig::new(&[("dini", &url)], "1s", "");
    let mut daemon = DaemonProcess::spawn(
        librarywire()
            .arg("--config")
            .arg(&config.path)
            .env("LIBRARYWIRE__SERVER__LISTEN", format!("127.0.0.1:{port}"))
            // Every poll and every broker retry logs a line.
            .env("RUST_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    daemon.wait_healthy(port, String::new).await;
    // Close the read end: every later write to stderr fails with EPIPE.
    drop(daemon.child().stderr.take());
    // Let it try to log a while (polls every second, broker retries).
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let metrics = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .expect("the daemon still serves after its log broke")
        .text()
        .await
        .unwrap();
    let dropped = metrics
        .lines()
        .find(|l| l.starts_with("librarywire_log_writes_dropped_total"))
        .unwrap_or_else(|| panic!("no dropped-log counter in /metrics:\n{metrics}"));
    let count: f64 = dropped.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(count > 0.0, "{dropped}");
    daemon.signal("-TERM");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = daemon.child().try_wait().unwrap() {
            break exit;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the daemon is still running 10 s after SIGTERM with its stderr closed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "exit status after SIGTERM: {exit:?}");
}
