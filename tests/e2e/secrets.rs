//! Credentials in a source URL: sent to the source as basic auth, and shown
//! nowhere else: not in the feeds, `/opml`, `/status`, `/metrics`, the log,
//! `check-config`'s output, errors, or the messages on the broker.

use crate::broker::{BROKER, TestQueue, amqp_toml, test_exchange};
use crate::cli::librarywire;
use crate::helpers::{DaemonProcess, FeedServer, eventually, free_port, small_rss};

const RSS: &str = "application/rss+xml";
/// In the config file's URL.
const URL_PASSWORD: &str = "s3cret-Url-Pa55";
/// In the environment, named by `password_env`.
const ENV_PASSWORD: &str = "s3cret-Env-Pa55";

/// Basic auth as a client sends it: `Basic base64(user:password)`.
fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

#[tokio::test]
async fn a_source_password_reaches_the_source_and_no_output() {
    let server = FeedServer::start().await;
    server.set(
        "/private.xml",
        small_rss(&[("p1", "First"), ("p2", "Second")]),
        RSS,
    );
    let host = server.url("/").trim_start_matches("http://").to_owned();
    let exchange = test_exchange("secrets");
    let mut queue = TestQueue::bind(&exchange, "item.#").await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store/librarywire.db");
    let port = free_port();
    // One source with the password in its URL, one that fails (a 404, so
    // its URL is in an error) with the password from the environment.
    let config = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://news.example.org/\"\n\
         [store]\npath = \"{}\"\nmax_age = \"0s\"\n\
         [poll]\ninterval = \"1h\"\njitter = 0.0\n\
         {}\
         [[sources]]\nid = \"private\"\nurl = \"http://reader:{URL_PASSWORD}@{host}private.xml\"\n\
         [[sources]]\nid = \"missing\"\nurl = \"http://reader@{host}missing.xml\"\npassword_env = \"LW_TEST_MISSING_PASSWORD\"\n",
        store.display(),
        amqp_toml(BROKER, &exchange),
    );
    let path = dir.path().join("config.toml");
    std::fs::write(&path, config).unwrap();

    let check = librarywire()
        .arg("check-config")
        .arg("--config")
        .arg(&path)
        .env("LW_TEST_MISSING_PASSWORD", ENV_PASSWORD)
        .output()
        .unwrap();
    let check_output = format!(
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(check.status.success(), "{check_output}");
    assert!(check_output.contains("private.xml"), "{check_output}");

    let (mut daemon, lines) = DaemonProcess::start_healthy(
        librarywire()
            .arg("--config")
            .arg(&path)
            .env("RUST_LOG", "debug")
            .env("LW_TEST_MISSING_PASSWORD", ENV_PASSWORD),
        port,
    )
    .await;
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let messages = queue.take(2).await;
    let status = eventually("both sources polled", || async {
        let text = body(&client, &format!("{base}/status")).await?;
        let status: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        let states: Vec<_> = status["sources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["state"].as_str().unwrap_or("").to_owned())
            .collect();
        if states == ["ok", "failing"] {
            Ok(status.to_string())
        } else {
            Err(format!("states {states:?}"))
        }
    })
    .await;
    assert!(
        status.contains("missing.xml"),
        "the error names the URL: {status}"
    );

    // The source saw both users' basic auth.
    let private = server.hits("/private.xml");
    assert_eq!(
        private[0].authorization.as_deref(),
        Some(basic("reader", URL_PASSWORD).as_str())
    );
    let missing = server.hits("/missing.xml");
    assert_eq!(
        missing[0].authorization.as_deref(),
        Some(basic("reader", ENV_PASSWORD).as_str())
    );

    // The merged feed is rendered a moment after the store changes.
    eventually("the items in the merged feed", || async {
        let feed = body(&client, &format!("{base}/feed.json")).await?;
        if feed.contains("Second") {
            Ok(())
        } else {
            Err(feed)
        }
    })
    .await;
    let mut outputs = vec![
        ("check-config".to_owned(), check_output),
        ("/status".to_owned(), status),
    ];
    for path in [
        "/feed.xml",
        "/feed.atom",
        "/feed.json",
        "/sources/private/feed.xml",
        "/opml",
        "/metrics",
    ] {
        let text = body(&client, &format!("{base}{path}")).await.unwrap();
        outputs.push((path.to_owned(), text));
    }
    assert!(outputs[2].1.contains("First"), "{}", outputs[2].1);
    for (i, message) in messages.iter().enumerate() {
        let body = message.body.to_string();
        assert!(
            body.contains("private.xml"),
            "the event names its source: {body}"
        );
        outputs.push((format!("message {i}"), body));
    }
    assert_eq!(daemon.stop_with("-TERM").await.code(), Some(0));
    // The reader thread sees the end of the pipe once the daemon is gone.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let log = lines.lock().unwrap().join("\n");
    assert!(log.contains("poll failed"), "{log}");
    outputs.push(("the log".to_owned(), log));

    let leaks: Vec<String> = outputs
        .iter()
        .flat_map(|(name, text)| {
            [URL_PASSWORD, ENV_PASSWORD]
                .into_iter()
                .filter_map(move |password| {
                    let n = text.matches(password).count();
                    (n > 0).then(|| format!("{name}: {n}"))
                })
        })
        .collect();
    assert!(
        leaks.is_empty(),
        "a password shows in outputs (times): {}",
        leaks.join(", ")
    );
    queue.delete_exchange().await;
}

/// The body of a GET of `url`, or what went wrong, for `eventually`.
async fn body(client: &reqwest::Client, url: &str) -> Result<String, String> {
    let response = client.get(url).send().await.map_err(|e| e.to_string())?;
    response.text().await.map_err(|e| e.to_string())
}
