//! What an admin meets running the binary: `poll-now`, `discover` on feeds
//! and saved pages, errors that say what and where once, and printing
//! commands that end quietly when their reader leaves.

use crate::cli::librarywire;
use crate::helpers::{DaemonProcess, FeedServer, eventually, free_port, small_rss};
use std::path::Path;
use std::process::{Command, Output, Stdio};

const RSS: &str = "application/rss+xml";

/// A config file in `dir` for a daemon on `port` with `sources` (id, url)
/// and `poll` appended to `[poll]`; the broker is a closed port.
fn write_config(dir: &Path, port: u16, poll: &str, sources: &[(&str, &str)]) -> std::path::PathBuf {
    let mut toml = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://news.example.org/\"\n\
         [store]\npath = \"{}\"\nmax_age = \"0s\"\n\
         [poll]\ninterval = \"1h\"\njitter = 0.0\n{poll}\n\
         [amqp]\nurl = \"amqp://guest:guest@127.0.0.1:1/%2f\"\nmax_backoff = \"1s\"\n",
        dir.join("store/librarywire.db").display()
    );
    for (id, url) in sources {
        toml.push_str(&format!("[[sources]]\nid = \"{id}\"\nurl = \"{url}\"\n"));
    }
    let path = dir.join("config.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn file_url(path: &Path) -> String {
    url::Url::from_file_path(path).unwrap().to_string()
}

/// A source that fails at first (the server has no feed yet) waits for its
/// next try; once the server is fixed, `poll-now --source ID` makes the
/// daemon poll it at once (the server sees the request), and SIGUSR1 polls
/// every source.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_now_makes_a_failing_source_poll_at_once_and_sigusr1_polls_all() {
    let server = FeedServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // Retries come an hour apart: only poll-now can bring the next poll.
    let config = write_config(
        dir.path(),
        port,
        "first_retry = \"1h\"\n",
        &[("late", &server.url("/late.xml"))],
    );
    let (mut daemon, lines) = DaemonProcess::start_healthy(
        librarywire()
            .arg("run")
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "info"),
        port,
    )
    .await;
    eventually("the first, failing poll", || {
        std::future::ready(server.hits("/late.xml").len() == 1)
    })
    .await;
    server.set("/late.xml", small_rss(&[("n1", "Fixed at last")]), RSS);

    let refused = librarywire()
        .args(["poll-now", "--source", "nope", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        text(&refused).1.contains("no source `nope`"),
        "{:?}",
        text(&refused)
    );

    let asked = librarywire()
        .args(["poll-now", "--source", "late", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&asked);
    assert!(asked.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("polling now: late"), "{stdout}");
    let hits = eventually("the poll poll-now asked for", || {
        let hits = server.hits("/late.xml");
        std::future::ready((hits.len() == 2).then_some(hits))
    })
    .await;
    assert_eq!(hits[1].status, 200);
    let client = reqwest::Client::new();
    eventually("the item in the merged feed", || async {
        let feed = client
            .get(format!("http://127.0.0.1:{port}/feed.xml"))
            .send()
            .await
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        if feed.contains("Fixed at last") {
            Ok(())
        } else {
            Err(feed)
        }
    })
    .await;

    daemon.signal("-USR1");
    eventually("the poll SIGUSR1 asked for", || {
        std::future::ready(server.hits("/late.xml").len() == 3)
    })
    .await;
    let log = lines.lock().unwrap().join("\n");
    assert!(log.contains("poll-now"), "{log}");
    let status = daemon.stop_with("-TERM").await;
    assert!(status.success(), "{status:?}");
    assert!(
        !dir.path().join("store/librarywire.sock").exists(),
        "the socket is removed at shutdown"
    );
}

/// A source on a loopback port nobody listens on: its error in `/status`
/// and in the log names the URL once and "Connection refused" once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_names_the_url_and_each_cause_once() {
    let dead = format!("http://127.0.0.1:{}/feed.xml", free_port());
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), port, "", &[("dead", &dead)]);
    let (_daemon, lines) = DaemonProcess::start_healthy(
        librarywire()
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "warn"),
        port,
    )
    .await;
    let client = reqwest::Client::new();
    let error = eventually("the failure in /status", || async {
        let text = client
            .get(format!("http://127.0.0.1:{port}/status"))
            .send()
            .await
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        let status: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        status["sources"][0]["last_error"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| status.to_string())
    })
    .await;
    assert_eq!(error.matches(&dead).count(), 1, "{error}");
    assert_eq!(error.matches("Connection refused").count(), 1, "{error}");
    let line = eventually("the failure in the log", || {
        let found = lines
            .lock()
            .unwrap()
            .iter()
            .find(|l| l.contains("poll failed") && l.contains("Connection refused"))
            .cloned();
        std::future::ready(found)
    })
    .await;
    assert_eq!(line.matches(&dead).count(), 1, "{line}");
    assert_eq!(line.matches("Connection refused").count(), 1, "{line}");
}

/// `discover` on a feed's own URL proposes that feed as a feed source, with
/// its title, never a page source that scrapes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discover_on_a_feed_proposes_a_feed_source_named_by_its_title() {
    let dir = tempfile::tempdir().unwrap();
    let atom = dir.path().join("news.atom");
    std::fs::write(
        &atom,
        r#"<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>IFLA Library News</title>
<id>urn:x</id><updated>2024-01-01T00:00:00Z</updated>
<entry><id>urn:1</id><title>One</title><updated>2024-01-01T00:00:00Z</updated><link href="https://www.ifla.org/n/1"/></entry>
<entry><id>urn:2</id><title>Two</title><updated>2024-01-02T00:00:00Z</updated><link href="https://www.ifla.org/n/2"/></entry>
</feed>"#,
    )
    .unwrap();
    let server = FeedServer::start().await;
    server.set("/rss", small_rss(&[("a", "A"), ("b", "B")]), RSS);
    let json = serde_json::json!({
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Library <b>JSON</b> news",
        "items": [{"id": "1", "title": "x", "content_text": "y", "url": "https://lib.example.org/1"}],
    });
    server.set("/feed.json", json.to_string(), "application/feed+json");

    for (url, format, title) in [
        (file_url(&atom), "an Atom feed", "IFLA Library News"),
        (server.url("/rss"), "an RSS feed", ""),
        (server.url("/feed.json"), "a JSON Feed", "Library JSON news"),
    ] {
        let out = librarywire().arg("discover").arg(&url).output().unwrap();
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{url}: {stdout}{stderr}");
        assert!(stdout.contains(&format!("{url} is {format}")), "{stdout}");
        assert!(stdout.contains("kind = \"feed\""), "{stdout}");
        assert!(!stdout.contains("kind = \"page\""), "{stdout}");
        assert!(!stdout.contains("[sources.page]"), "{stdout}");
        // The proposal is a config that check-config takes.
        let config = dir.path().join("proposed.toml");
        let body: String = stdout
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect();
        let value: toml::Table = body.parse().unwrap();
        let source = &value["sources"].as_array().unwrap()[0];
        assert_eq!(source["url"].as_str(), Some(url.as_str()));
        if !title.is_empty() {
            assert_eq!(source["name"].as_str(), Some(title), "{stdout}");
        }
        std::fs::write(&config, body).unwrap();
        let check = librarywire()
            .arg("check-config")
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap();
        assert!(check.status.success(), "{:?}", text(&check));
    }
}

/// A page saved to a file: the feed links it advertises by relative URL
/// resolve against its `<link rel="canonical">` (or `og:url`, or
/// `<base href>`); without any, `discover` says they cannot be resolved,
/// and never invents `file:///feed`.
#[test]
fn discover_on_a_saved_page_resolves_feed_links_on_the_web_or_says_it_cannot() {
    let dir = tempfile::tempdir().unwrap();
    let page = |head: &str| {
        format!(
            "<html><head>{head}<link rel=\"alternate\" type=\"application/rss+xml\" title=\"News\" href=\"/feed/\"></head>\
             <body><ul><li><a href=\"/n/1\">One</a></li><li><a href=\"/n/2\">Two</a></li></ul></body></html>"
        )
    };
    let cases = [
        (
            "canonical.html",
            page(r#"<link rel="canonical" href="https://www.lib.example.org/en/news/">"#),
            Some("https://www.lib.example.org/feed/"),
        ),
        (
            "og.html",
            page(r#"<meta property="og:url" content="https://og.example.org/a/b">"#),
            Some("https://og.example.org/feed/"),
        ),
        (
            "base.html",
            page(r#"<base href="https://base.example.org/x/">"#),
            Some("https://base.example.org/feed/"),
        ),
        ("bare.html", page(""), None),
    ];
    for (name, html, expected) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, html).unwrap();
        let out = librarywire()
            .arg("discover")
            .arg(file_url(&path))
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert!(!stdout.contains("file:///feed"), "{name}: {stdout}");
        match expected {
            Some(feed) => {
                assert!(out.status.success(), "{name}: {stdout}{stderr}");
                assert!(
                    stdout.contains(&format!("{feed}\tapplication/rss+xml\tNews")),
                    "{name}: {stdout}"
                );
            }
            None => {
                assert!(
                    stdout.contains("cannot be resolved from a file"),
                    "{name}: {stdout}"
                );
                assert!(stdout.contains("#   /feed/"), "{name}: {stdout}");
            }
        }
    }
}

/// A store folder on a read-only file system: the start-up error says
/// read-only, names the folder and the key.
#[test]
fn a_read_only_store_folder_is_reported_as_read_only_with_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let mount_point = dir.path().join("ro");
    std::fs::create_dir_all(&mount_point).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "ro,size=1m", "tmpfs"])
        .arg(&mount_point)
        .output();
    match mounted {
        Ok(out) if out.status.success() => {}
        other => {
            eprintln!(
                "SKIPPED a_read_only_store_folder_is_reported_as_read_only_with_its_key: \
                 cannot mount a read-only tmpfs ({other:?}); this test needs root"
            );
            return;
        }
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&mount_point);
    // The folder itself, and a folder to be made inside it.
    for store in [
        mount_point.join("librarywire.db"),
        mount_point.join("data/librarywire.db"),
    ] {
        let config = dir.path().join("config.toml");
        std::fs::write(
            &config,
            format!(
                "[server]\nlisten = \"127.0.0.1:0\"\n[store]\npath = \"{}\"\n\
                 [amqp]\nurl = \"amqp://guest:guest@127.0.0.1:1/%2f\"\n",
                store.display()
            ),
        )
        .unwrap();
        let out = librarywire()
            .arg("run")
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null())
            .output()
            .unwrap();
        let (_, stderr) = text(&out);
        assert!(!out.status.success(), "{stderr}");
        assert!(stderr.contains("read-only"), "{stderr}");
        assert!(stderr.contains("store.path"), "{stderr}");
        assert!(
            stderr.contains(&format!("folder {} is read-only", mount_point.display())),
            "{stderr}"
        );
    }
}

/// A bad CSS selector and a bad environment override: each error names
/// what is to blame (the key and the selector; the variable), never
/// "report this to the developer" or the file for the variable's fault.
#[test]
fn check_config_names_a_bad_selector_and_a_bad_environment_variable() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[[sources]]\nid = \"nlc\"\nurl = \"https://www.nlc.cn/news/\"\nkind = \"page\"\n\
         [sources.page]\nitem = \"li:frobnicate\"\n",
    )
    .unwrap();
    let out = librarywire()
        .arg("check-config")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("sources[0].page.item"), "{stderr}");
    assert!(stderr.contains("`li:frobnicate`"), "{stderr}");
    assert!(stderr.contains("pseudo-class"), "{stderr}");
    assert!(!stderr.contains("report this to the developer"), "{stderr}");

    std::fs::write(
        &config,
        "[[sources]]\nid = \"ifla\"\nurl = \"https://www.ifla.org/news/feed/\"\n",
    )
    .unwrap();
    let out = librarywire()
        .arg("check-config")
        .arg("--config")
        .arg(&config)
        .env("LIBRARYWIRE__POLL__INTERVAL", "soon")
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stderr.contains("environment variable LIBRARYWIRE__POLL__INTERVAL"),
        "{stderr}"
    );
    assert!(!stderr.contains("config file"), "{stderr}");
}

/// `check-config | head -1` and the other printing commands: a stdout whose
/// reader has gone ends the command quietly, with success.
#[test]
fn printing_commands_end_quietly_when_their_reader_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("feed.xml");
    std::fs::write(&feed, small_rss(&[("a", "A"), ("b", "B")])).unwrap();
    let config = write_config(dir.path(), free_port(), "", &[("f", &file_url(&feed))]);
    let opml = dir.path().join("list.opml");
    std::fs::write(
        &opml,
        r#"<opml version="2.0"><head><title>t</title></head><body>
        <outline text="IFLA" type="rss" xmlUrl="https://www.ifla.org/news/feed/"/></body></opml>"#,
    )
    .unwrap();
    let commands: [Vec<String>; 4] = [
        vec!["check-config".into()],
        vec!["poll-once".into()],
        vec!["import-opml".into(), opml.display().to_string()],
        vec!["discover".into(), file_url(&feed)],
    ];
    for args in commands {
        // A pipe whose read end is closed before the command starts: its
        // first write fails with EPIPE, as under `| head -1` once head left.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = librarywire()
            .args(&args)
            .arg("--config")
            .arg(&config)
            .stdout(writer)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {:?} {stderr}", out.status);
        assert!(!stderr.contains("Broken pipe"), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
