//! The binary itself: `check-config`, `poll-once`, and stopping on signals.

use crate::helpers::{PATIENCE, TestConfig, feed_file, free_port};
use std::process::{Command, Stdio};
use std::time::Duration;

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

fn stops_cleanly_on(signal: &str) {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("feed.xml");
    std::fs::write(&feed, feed_file("dini-atom.xml")).unwrap();
    let url = url::Url::from_file_path(&feed).unwrap().to_string();
    let config = TestConfig::new(&[("dini", &url)], "1s", "");
    let port = free_port();
    let mut child = librarywire()
        .arg("--config")
        .arg(&config.path)
        .env("LIBRARYWIRE__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + PATIENCE;
    let healthy = loop {
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            stream.write_all(b"GET /healthz HTTP/1.0\r\n\r\n").unwrap();
            let mut reply = String::new();
            let _ = stream.read_to_string(&mut reply);
            if reply.starts_with("HTTP/1.0 200") || reply.starts_with("HTTP/1.1 200") {
                break true;
            }
        }
        if std::time::Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if !healthy {
        let _ = child.kill();
        panic!("the daemon never answered /healthz");
    }
    let exit = stop_with(&mut child, signal);
    assert!(exit.success(), "exit status after {signal}: {exit:?}");
}

/// Sends `signal` (`-TERM`, `-INT`) to a daemon process and waits for it to
/// exit; kills it and fails if it does not within `PATIENCE`.
pub fn stop_with(child: &mut std::process::Child, signal: &str) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        if let Some(exit) = child.try_wait().unwrap() {
            return exit;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the daemon did not stop after {signal}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sigterm_stops_the_daemon_with_exit_code_0() {
    stops_cleanly_on("-TERM");
}

#[test]
fn sigint_stops_the_daemon_with_exit_code_0() {
    stops_cleanly_on("-INT");
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
