//! `/metrics`, `/readyz` and the JSON log format, against the real daemon.
//!
//! The poll and request counters live in one process-wide recorder, which the
//! tests of this binary share: each test uses source ids of its own, and
//! counts the requests of its own server only in a daemon process of its own.

use crate::broker::{BROKER, TestQueue, amqp_toml, test_exchange};
use crate::cli::librarywire;
use crate::helpers::collect_lines;
use crate::helpers::{
    DaemonProcess, FeedServer, TestApp, TestConfig, eventually, free_port, rand_suffix, small_rss,
    wait_until,
};
use std::collections::{BTreeMap, HashMap};
use std::process::Stdio;

const RSS: &str = "application/rss+xml";

/// The labels of a series, sorted.
type Labels = Vec<(String, String)>;

/// One sample line of a scrape.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A scrape, checked line by line against the text exposition format 0.0.4.
#[derive(Debug)]
struct Scrape {
    types: HashMap<String, String>,
    helps: HashMap<String, String>,
    samples: Vec<Sample>,
}

impl Scrape {
    /// Parses `text`, panicking with the line number at the first line that
    /// breaks the format: bad names, label syntax or escapes, values, a
    /// `TYPE` after its samples or twice, a family split in two groups, or a
    /// histogram whose buckets are not cumulative or disagree with `_count`.
    fn parse(text: &str) -> Scrape {
        assert!(
            text.is_empty() || text.ends_with('\n'),
            "the exposition ends with a newline"
        );
        let mut types = HashMap::new();
        let mut helps = HashMap::new();
        let mut samples = Vec::new();
        let mut finished_families: Vec<String> = Vec::new();
        let mut current_family: Option<String> = None;
        for (n, line) in text.lines().enumerate() {
            let n = n + 1;
            if line.trim().is_empty() {
                continue;
            }
            if let Some(comment) = line.strip_prefix('#') {
                let comment = comment.trim_start();
                let mut words = comment.splitn(3, ' ');
                let keyword = words.next().unwrap_or("");
                if keyword != "HELP" && keyword != "TYPE" {
                    continue; // another comment
                }
                let name = words.next().unwrap_or("");
                assert!(
                    is_metric_name(name),
                    "line {n}: bad metric name in {line:?}"
                );
                let rest = words.next().unwrap_or("");
                enter_family(name, &mut current_family, &mut finished_families, n);
                if keyword == "TYPE" {
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&rest),
                        "line {n}: unknown type in {line:?}"
                    );
                    assert!(
                        !samples
                            .iter()
                            .any(|s: &Sample| family_of(&s.name, &types) == name),
                        "line {n}: TYPE after samples of {name}"
                    );
                    assert!(
                        types.insert(name.to_owned(), rest.to_owned()).is_none(),
                        "line {n}: second TYPE for {name}"
                    );
                } else {
                    assert!(
                        helps
                            .insert(name.to_owned(), unescape_help(rest, n))
                            .is_none(),
                        "line {n}: second HELP for {name}"
                    );
                }
                continue;
            }
            let sample = parse_sample(line, n);
            let family = family_of(&sample.name, &types);
            enter_family(&family, &mut current_family, &mut finished_families, n);
            samples.push(sample);
        }
        let scrape = Scrape {
            types,
            helps,
            samples,
        };
        scrape.check_histograms();
        scrape
    }

    /// Buckets of each histogram series are cumulative, end with `+Inf`, and
    /// the `+Inf` bucket equals `_count`.
    fn check_histograms(&self) {
        for (family, kind) in &self.types {
            if kind != "histogram" {
                continue;
            }
            let mut series: BTreeMap<Labels, Vec<(f64, f64)>> = BTreeMap::new();
            for s in self
                .samples
                .iter()
                .filter(|s| s.name == format!("{family}_bucket"))
            {
                let le = s.labels.get("le").expect("a bucket has an le label");
                let bound = parse_value(le).unwrap_or_else(|| panic!("bad le {le:?}"));
                let key = s
                    .labels
                    .iter()
                    .filter(|(k, _)| *k != "le")
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                series.entry(key).or_default().push((bound, s.value));
            }
            for (labels, buckets) in series {
                let mut sorted = buckets.clone();
                sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
                assert!(
                    sorted.windows(2).all(|w| w[0].1 <= w[1].1),
                    "{family} {labels:?}: buckets are cumulative: {sorted:?}"
                );
                let last = sorted.last().unwrap();
                assert!(last.0.is_infinite(), "{family} {labels:?}: ends with +Inf");
                let wanted: BTreeMap<String, String> = labels.into_iter().collect();
                let count = self
                    .samples
                    .iter()
                    .find(|s| s.name == format!("{family}_count") && s.labels == wanted)
                    .unwrap_or_else(|| panic!("{family} {wanted:?} has a _count"));
                assert_eq!(count.value, last.1, "{family} {wanted:?}: +Inf == _count");
            }
        }
    }

    /// The value of the one sample named `name` whose labels include `labels`.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let found: Vec<_> = self
            .samples
            .iter()
            .filter(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .collect();
        assert!(found.len() <= 1, "{name} {labels:?} matches {found:?}");
        found.first().map(|s| s.value)
    }
}

/// The family a sample belongs to: its own name, or the histogram or summary
/// it is a `_bucket`, `_sum` or `_count` of.
fn family_of(name: &str, types: &HashMap<String, String>) -> String {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix)
            && matches!(
                types.get(base).map(String::as_str),
                Some("histogram" | "summary")
            )
        {
            return base.to_owned();
        }
    }
    name.to_owned()
}

/// All lines of one family form one group.
fn enter_family(family: &str, current: &mut Option<String>, finished: &mut Vec<String>, n: usize) {
    if current.as_deref() == Some(family) {
        return;
    }
    assert!(
        !finished.iter().any(|f| f == family),
        "line {n}: {family} continues after another family"
    );
    if let Some(previous) = current.take() {
        finished.push(previous);
    }
    *current = Some(family.to_owned());
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn parse_value(text: &str) -> Option<f64> {
    match text {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => text.parse().ok(),
    }
}

/// HELP text escapes only `\\` and `\n`.
fn unescape_help(text: &str, n: usize) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('\\') => out.push('\\'),
                Some('n') => out.push('\n'),
                other => panic!("line {n}: bad escape \\{other:?} in HELP"),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `name{label="value",...} value [timestamp]`.
fn parse_sample(line: &str, n: usize) -> Sample {
    let name_end = line
        .find(['{', ' '])
        .unwrap_or_else(|| panic!("line {n}: no value in {line:?}"));
    let name = &line[..name_end];
    assert!(
        is_metric_name(name),
        "line {n}: bad metric name in {line:?}"
    );
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(after) = rest.strip_prefix('{') {
        let mut chars = after.char_indices().peekable();
        loop {
            // A label name, `=`, a quoted value, then `,` or `}`.
            let start = chars.peek().map(|(i, _)| *i).unwrap_or(after.len());
            if after[start..].starts_with('}') {
                chars.next();
                break;
            }
            let eq = after[start..]
                .find('=')
                .unwrap_or_else(|| panic!("line {n}: label without = in {line:?}"));
            let label = &after[start..start + eq];
            assert!(is_label_name(label), "line {n}: bad label name {label:?}");
            while chars.peek().is_some_and(|(i, _)| *i <= start + eq) {
                chars.next();
            }
            assert_eq!(
                chars.next().map(|(_, c)| c),
                Some('"'),
                "line {n}: label value not quoted in {line:?}"
            );
            let mut value = String::new();
            loop {
                match chars.next() {
                    Some((_, '"')) => break,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, '\\')) => value.push('\\'),
                        Some((_, '"')) => value.push('"'),
                        Some((_, 'n')) => value.push('\n'),
                        other => panic!("line {n}: bad escape {other:?} in {line:?}"),
                    },
                    Some((_, c)) => value.push(c),
                    None => panic!("line {n}: unterminated label value in {line:?}"),
                }
            }
            assert!(
                labels.insert(label.to_owned(), value).is_none(),
                "line {n}: label {label} twice"
            );
            match chars.next() {
                Some((_, ',')) => {}
                Some((_, '}')) => break,
                other => panic!("line {n}: expected , or }} after a label, got {other:?}"),
            }
        }
        let consumed = chars.peek().map(|(i, _)| *i).unwrap_or(after.len());
        rest = &after[consumed..];
    }
    let rest = rest
        .strip_prefix(' ')
        .unwrap_or_else(|| panic!("line {n}: no space before the value in {line:?}"));
    let mut fields = rest.split(' ');
    let value = fields.next().unwrap_or("");
    let value = parse_value(value).unwrap_or_else(|| panic!("line {n}: bad value in {line:?}"));
    if let Some(timestamp) = fields.next() {
        assert!(
            timestamp.parse::<i64>().is_ok(),
            "line {n}: bad timestamp in {line:?}"
        );
    }
    assert!(
        fields.next().is_none(),
        "line {n}: trailing text in {line:?}"
    );
    Sample {
        name: name.to_owned(),
        labels,
        value,
    }
}

#[test]
fn the_parser_of_these_tests_refuses_what_the_format_forbids() {
    let good = "# HELP a_total Things.\n# TYPE a_total counter\na_total{x=\"q\\\"\\\\\",y=\"2\"} 3\n\
                # TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 1.5\nh_count 2\n";
    let scrape = Scrape::parse(good);
    assert_eq!(scrape.value("a_total", &[("x", "q\"\\")]), Some(3.0));
    assert_eq!(scrape.helps["a_total"], "Things.");
    for bad in [
        "1abc 3\n",
        "a{x=1} 3\n",
        "a{x=\"1\" 3\n",
        "a three\n",
        "a 3",
        "# TYPE a counter\n# TYPE a counter\na 1\n",
        "a 1\n# TYPE a counter\n",
        "a 1\nb 2\na 3\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 3\nh_bucket{le=\"+Inf\"} 2\nh_count 2\n",
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 3\n",
    ] {
        let refused = std::panic::catch_unwind(|| Scrape::parse(bad)).is_err();
        assert!(refused, "accepted {bad:?}");
    }
}

async fn scrape_at(client: &reqwest::Client, url: &str) -> Scrape {
    let response = client.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    Scrape::parse(&response.text().await.unwrap())
}

/// Scrapes until `check` holds, and returns that scrape.
async fn wait_for_scrape(
    client: &reqwest::Client,
    url: &str,
    what: &str,
    check: impl Fn(&Scrape) -> bool,
) -> Scrape {
    eventually(what, || async {
        let scrape = scrape_at(client, url).await;
        if check(&scrape) {
            Ok(scrape)
        } else {
            Err(format!("{scrape:#?}"))
        }
    })
    .await
}

/// A source id no other test uses.
fn unique_id(prefix: &str) -> String {
    format!("{prefix}-{}", rand_suffix())
}

#[tokio::test]
async fn metrics_count_each_sources_polls_items_and_errors() {
    let server = FeedServer::start().await;
    server.set(
        "/m.xml",
        small_rss(&[("a", "A"), ("b", "B"), ("c", "C")]),
        RSS,
    );
    let (good, missing, dead) = (unique_id("good"), unique_id("missing"), unique_id("dead"));
    let config = TestConfig::new(
        &[
            (&good, &server.url("/m.xml")),
            (&missing, &server.url("/not-there.xml")),
            (&dead, "http://127.0.0.1:1/feed.xml"),
        ],
        "1s",
        "",
    );
    let app = TestApp::spawn(config.settings()).await;
    let url = app.url("/metrics");

    let s = wait_for_scrape(
        app.client(),
        &url,
        "a 304 for the good source and both failures recorded",
        |s| {
            let fetches = |id: &str, outcome: &str| {
                s.value(
                    "librarywire_fetches_total",
                    &[("source", id), ("outcome", outcome)],
                )
                .unwrap_or(0.0)
            };
            fetches(&good, "not_modified") >= 1.0
                && fetches(&missing, "http_status") >= 1.0
                && fetches(&dead, "connect") >= 1.0
                && s.value("librarywire_sources", &[("state", "failing")]) == Some(2.0)
                && s.value("librarywire_sources", &[("state", "ok")]) == Some(1.0)
        },
    )
    .await;

    for (name, kind) in [
        ("librarywire_fetches_total", "counter"),
        ("librarywire_fetch_duration_seconds", "histogram"),
        ("librarywire_items_total", "counter"),
        ("librarywire_outbox_depth", "gauge"),
        ("librarywire_outbox_oldest_age_seconds", "gauge"),
        ("librarywire_publishes_total", "counter"),
        ("librarywire_broker_connected", "gauge"),
        ("librarywire_last_success_timestamp_seconds", "gauge"),
        ("librarywire_sources", "gauge"),
        ("librarywire_http_requests_total", "counter"),
    ] {
        assert_eq!(
            s.types.get(name).map(String::as_str),
            Some(kind),
            "{name} is a {kind}"
        );
        assert!(
            s.helps.get(name).is_some_and(|h| !h.is_empty()),
            "{name} has help text"
        );
    }

    // The good source: one poll brought the three items, the next ones a 304.
    let fetches = |id: &str, outcome: &str| {
        s.value(
            "librarywire_fetches_total",
            &[("source", id), ("outcome", outcome)],
        )
    };
    assert_eq!(fetches(&good, "new_items"), Some(1.0));
    assert_eq!(fetches(&good, "http_status"), None);
    let items = |id: &str, change: &str| {
        s.value(
            "librarywire_items_total",
            &[("source", id), ("change", change)],
        )
    };
    assert_eq!(items(&good, "new"), Some(3.0), "the feed's three items");
    assert_eq!(items(&good, "updated"), Some(0.0));
    assert_eq!(items(&missing, "new"), None, "a failure brings no items");
    assert_eq!(fetches(&missing, "new_items"), None);
    assert_eq!(
        fetches(&dead, "http_status"),
        None,
        "a dead port is not a 404"
    );

    // Every poll is timed, good or bad.
    let polls_of = |id: &str| {
        s.samples
            .iter()
            .filter(|x| x.name == "librarywire_fetches_total" && x.labels["source"] == id)
            .map(|x| x.value)
            .sum::<f64>()
    };
    for id in [&good, &missing, &dead] {
        let count = s
            .value(
                "librarywire_fetch_duration_seconds_count",
                &[("source", id)],
            )
            .unwrap_or(0.0);
        // Polls go on while the scrape is read, so the two may differ by one.
        assert!(count >= 1.0 && polls_of(id) >= 1.0, "{id}: polls are timed");
    }

    // The time of the last success is the store's, for the good source only.
    let stored = app.store.source_status(&good).await.unwrap().unwrap();
    let last_success = s
        .value(
            "librarywire_last_success_timestamp_seconds",
            &[("source", &good)],
        )
        .unwrap();
    let stored_success = stored.last_success.unwrap().timestamp_micros() as f64 / 1e6;
    assert!(
        last_success <= stored_success && last_success > 1.6e9,
        "{last_success} is a success time no later than the store's latest, {stored_success}"
    );
    assert_eq!(
        s.value(
            "librarywire_last_success_timestamp_seconds",
            &[("source", &missing)]
        ),
        None
    );
    assert!(
        s.value(
            "librarywire_source_consecutive_failures",
            &[("source", &missing)]
        )
        .unwrap()
            >= 1.0
    );
    assert_eq!(
        s.value(
            "librarywire_source_consecutive_failures",
            &[("source", &good)]
        ),
        Some(0.0)
    );

    // The broker is a closed port: nothing is published, the three items
    // wait in the outbox, and the daemon is still ready.
    assert_eq!(s.value("librarywire_broker_connected", &[]), Some(0.0));
    assert_eq!(s.value("librarywire_outbox_depth", &[]), Some(3.0));
    assert!(
        s.value("librarywire_outbox_oldest_age_seconds", &[])
            .unwrap()
            >= 0.0
    );
    assert_eq!(
        s.value("librarywire_publishes_total", &[("result", "confirmed")]),
        Some(0.0)
    );
    let ready = app.client().get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.text().await.unwrap(), "ready\n");

    app.stop().await;
}

#[tokio::test]
async fn with_the_broker_up_metrics_show_it_connected_and_confirms_rising() {
    let exchange = test_exchange("metrics");
    let mut queue = TestQueue::bind(&exchange, "item.#").await;
    let server = FeedServer::start().await;
    server.set("/b.xml", small_rss(&[("x", "X"), ("y", "Y")]), RSS);
    let id = unique_id("brokered");
    let config = TestConfig::new(
        &[(&id, &server.url("/b.xml"))],
        "1s",
        &amqp_toml(BROKER, &exchange),
    );
    let app = TestApp::spawn(config.settings()).await;

    assert_eq!(queue.take(2).await.len(), 2);
    let s = wait_for_scrape(
        app.client(),
        &app.url("/metrics"),
        "two confirms and an empty outbox",
        |s| {
            s.value("librarywire_publishes_total", &[("result", "confirmed")]) == Some(2.0)
                && s.value("librarywire_outbox_depth", &[]) == Some(0.0)
        },
    )
    .await;
    assert_eq!(s.value("librarywire_broker_connected", &[]), Some(1.0));
    assert_eq!(
        s.value("librarywire_outbox_oldest_age_seconds", &[]),
        Some(0.0)
    );
    assert_eq!(
        s.value("librarywire_publishes_total", &[("result", "nacked")]),
        Some(0.0)
    );
    assert_eq!(
        s.value("librarywire_publishes_total", &[("result", "returned")]),
        Some(0.0),
        "a bound queue took them"
    );
    assert!(
        s.value("librarywire_broker_connections_total", &[])
            .unwrap()
            >= 1.0
    );
    assert_eq!(
        s.value(
            "librarywire_items_total",
            &[("source", &id), ("change", "new")]
        ),
        Some(2.0)
    );

    // One more item: one more confirm.
    server.set(
        "/b.xml",
        small_rss(&[("x", "X"), ("y", "Y"), ("z", "Z")]),
        RSS,
    );
    assert_eq!(queue.take(1).await.len(), 1);
    let s = wait_for_scrape(app.client(), &app.url("/metrics"), "a third confirm", |s| {
        s.value("librarywire_publishes_total", &[("result", "confirmed")]) == Some(3.0)
    })
    .await;
    assert_eq!(
        s.value(
            "librarywire_items_total",
            &[("source", &id), ("change", "new")]
        ),
        Some(3.0)
    );

    app.stop().await;
    queue.delete_exchange().await;
}

#[tokio::test]
async fn readyz_answers_503_with_the_reason_when_the_store_file_is_destroyed() {
    let config = TestConfig::new(&[], "1h", "");
    let settings = config.settings();
    let db = settings.store.path.clone();
    let app = TestApp::spawn(settings).await;
    let ready = app.client().get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.text().await.unwrap(), "ready\n");

    // Something outside overwrites the database and its WAL index with junk.
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", db.display());
        if let Ok(meta) = std::fs::metadata(&path) {
            let junk = vec![0x5a_u8; usize::try_from(meta.len()).unwrap().max(4096)];
            std::fs::write(&path, junk).unwrap();
        }
    }
    let ready = app.client().get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let reason = ready.text().await.unwrap();
    assert!(
        reason.starts_with("not ready: the store does not answer: "),
        "{reason}"
    );
    let health = app.client().get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200, "/healthz stays as it is");
    app.stop().await;
}

/// The binary running `config` on `port`, logging at info level to a pipe,
/// with `env` set.
fn logging_daemon(config: &TestConfig, port: u16, env: &[(&str, &str)]) -> DaemonProcess {
    let mut command = librarywire();
    command
        .arg("run")
        .arg("--config")
        .arg(&config.path)
        .env("LIBRARYWIRE__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "info")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    DaemonProcess::spawn(&mut command)
}

#[tokio::test]
async fn with_log_format_json_every_log_line_is_a_json_object_and_http_requests_are_counted() {
    let server = FeedServer::start().await;
    server.set("/j.xml", small_rss(&[("j", "J")]), RSS);
    let config = TestConfig::new(
        &[
            ("good", &server.url("/j.xml")),
            ("dead", "http://127.0.0.1:1/feed.xml"),
        ],
        "1h",
        "",
    );
    let port = free_port();
    let mut daemon = logging_daemon(&config, port, &[("LIBRARYWIRE__LOG__FORMAT", "json")]);
    let lines = collect_lines(daemon.child().stderr.take().unwrap());
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");

    // Started once it answers.
    daemon
        .wait_healthy(port, || format!("{:?}", lines.lock().unwrap()))
        .await;
    // A daemon process of its own: its HTTP counters are its own too.
    let s = wait_for_scrape(
        &client,
        &format!("{base}/metrics"),
        "both sources polled",
        |s| {
            s.value("librarywire_fetches_total", &[("source", "good")]) == Some(1.0)
                && s.value("librarywire_fetches_total", &[("source", "dead")]) >= Some(1.0)
        },
    )
    .await;
    assert_eq!(
        s.value("librarywire_http_requests_total", &[("route", "/feed.xml")]),
        None,
        "no feed request yet"
    );
    let mut etag = String::new();
    for _ in 0..3 {
        let response = client.get(format!("{base}/feed.xml")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        etag = response.headers()["etag"].to_str().unwrap().to_owned();
    }
    let not_modified = client
        .get(format!("{base}/feed.xml"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(not_modified.status(), 304);
    for path in ["/wp-login.php", "/feed.xml/../../etc"] {
        let response = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(response.status(), 404);
    }
    let s = scrape_at(&client, &format!("{base}/metrics")).await;
    let requests = |route: &str, status: &str| {
        s.value(
            "librarywire_http_requests_total",
            &[("route", route), ("status", status)],
        )
    };
    assert_eq!(requests("/feed.xml", "200"), Some(3.0));
    assert_eq!(requests("/feed.xml", "304"), Some(1.0));
    assert_eq!(
        requests("unmatched", "404"),
        Some(2.0),
        "paths no route knows share one label"
    );
    assert!(
        !s.samples.iter().any(|x| x
            .labels
            .get("route")
            .is_some_and(|r| r.contains("wp-login"))),
        "a stray path never becomes a label"
    );
    assert!(requests("/metrics", "200").unwrap() >= 1.0);
    assert_eq!(requests("/healthz", "200"), Some(1.0));

    let exit = daemon.stop_with("-TERM").await;
    assert!(exit.success(), "{exit:?}");
    // The reader thread ends at EOF, which the exit brings.
    wait_until("the last line", || {
        lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("librarywire stopped"))
    })
    .await;

    let lines = lines.lock().unwrap().clone();
    let events: Vec<serde_json::Value> = lines
        .iter()
        .map(|line| {
            let event: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
            assert!(event.is_object(), "{line}");
            for field in ["timestamp", "level", "message", "target"] {
                assert!(event.get(field).is_some(), "no {field}: {line}");
            }
            event
        })
        .collect();
    let started = events
        .iter()
        .find(|e| e["message"] == "librarywire started")
        .expect("the start is logged");
    assert_eq!(started["level"], "INFO");
    assert_eq!(started["listen"], format!("127.0.0.1:{port}"));
    let failed = events
        .iter()
        .find(|e| e["message"] == "poll failed")
        .expect("the dead source's failure is logged");
    assert_eq!(failed["level"], "WARN");
    assert_eq!(failed["source"], "dead", "fields are keys of their own");
    assert_eq!(failed["kind"], "connect");
    assert!(events.iter().any(|e| e["message"] == "librarywire stopped"));
}

#[tokio::test]
async fn logs_are_human_lines_by_default() {
    let config = TestConfig::new(&[("dead", "http://127.0.0.1:1/feed.xml")], "1h", "");
    let port = free_port();
    let mut daemon = logging_daemon(&config, port, &[]);
    let lines = collect_lines(daemon.child().stderr.take().unwrap());
    let failed = eventually("a failure in the log", || {
        let lines = lines.lock().unwrap();
        let found = lines.iter().find(|l| l.contains("poll failed")).cloned();
        std::future::ready(found.ok_or_else(|| format!("{lines:?}")))
    })
    .await;
    drop(daemon);
    assert!(
        serde_json::from_str::<serde_json::Value>(&failed).is_err(),
        "not JSON: {failed}"
    );
    assert!(
        failed.contains("WARN") && failed.contains("source=dead"),
        "a readable line with the level and the source: {failed}"
    );
    assert!(
        !failed.contains('\x1b'),
        "no colour codes when stderr is not a terminal: {failed:?}"
    );
}
