//! The outbound policy through the daemon binary: a page source on one
//! loopback server whose article links (in every spelling of a loopback
//! address, and through a redirect on the page's own origin) point at a
//! second, "internal" server. The internal server must see no request, the
//! page's own article is followed, and `/status` says why each other one
//! was not. A source whose configured URL redirects to the internal server
//! is refused too. With `poll.allow_private_follow` the links are followed.

use crate::cli::librarywire;
use crate::helpers::{DaemonProcess, FeedServer, eventually, free_port};

const HTML: &str = "text/html; charset=utf-8";
const SECRET: &str = "INTERNAL-ONLY-7f3a";

fn page(links: &[String]) -> String {
    let mut html = String::from(r#"<html><body><ul class="news">"#);
    for (n, link) in links.iter().enumerate() {
        html.push_str(&format!(
            r#"<li><a href="{link}">News {n}</a><span class="date">2021-08-19</span></li>"#
        ));
    }
    html.push_str("</ul></body></html>");
    html
}

fn article(text: &str) -> String {
    format!(r#"<html><body><div class="content"><p>{text}</p></div></body></html>"#)
}

/// The two servers: `public` serves the page, its own article and a
/// redirect; `internal` (on 127.0.0.1 and on ::1) holds what must not leak.
struct Servers {
    public: FeedServer,
    internal: FeedServer,
    internal_v6: FeedServer,
}

impl Servers {
    async fn start() -> Servers {
        let servers = Servers {
            public: FeedServer::start().await,
            internal: FeedServer::start().await,
            internal_v6: FeedServer::start_on("::1").await,
        };
        let (b, b6) = (servers.internal.port(), servers.internal_v6.port());
        let links = vec![
            format!("http://127.0.0.1:{b}/secret/1"),
            format!("http://localhost:{b}/secret/2"),
            format!("http://2130706433:{b}/secret/3"),
            format!("http://0x7f000001:{b}/secret/4"),
            format!("http://[::1]:{b6}/secret/5"),
            format!("http://[::ffff:127.0.0.1]:{b}/secret/6"),
            "/go".to_owned(),
            "/article.html".to_owned(),
        ];
        servers.public.set("/news/", page(&links), HTML);
        servers
            .public
            .redirect("/go", &format!("http://127.0.0.1:{b}/secret/7"));
        servers
            .public
            .set("/article.html", article("The public article"), HTML);
        servers
            .public
            .redirect("/moved.html", &format!("http://127.0.0.1:{b}/news/"));
        for server in [&servers.internal, &servers.internal_v6] {
            for n in 1..=7 {
                server.set(&format!("/secret/{n}"), article(SECRET), HTML);
            }
            server.set("/news/", page(&["/secret/1".to_owned()]), HTML);
        }
        servers
    }

    fn internal_hits(&self) -> usize {
        self.internal.all_hits().len() + self.internal_v6.all_hits().len()
    }
}

fn config(servers: &Servers, port: u16, store: &std::path::Path, allow: bool) -> String {
    let source = |id: &str, url: String| {
        format!(
            "[[sources]]\nid = \"{id}\"\nurl = \"{url}\"\nkind = \"page\"\n\
             [sources.page]\nitem = \".news li\"\ntitle = \"a\"\nlink = \"a@href\"\n\
             date = \".date\"\ndate_format = \"%Y-%m-%d\"\nfollow = true\ncontent = \".content\"\n"
        )
    };
    format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://news.example.org/\"\n\
         [store]\npath = \"{}\"\nmax_age = \"0s\"\n\
         [poll]\ninterval = \"1h\"\njitter = 0.0\nallow_private_follow = {allow}\n\
         [amqp]\nurl = \"amqp://guest:guest@127.0.0.1:1/%2f\"\nmax_backoff = \"1s\"\n{}{}",
        store.display(),
        source("links", servers.public.url("/news/")),
        source("moved", servers.public.url("/moved.html")),
    )
}

async fn get_text(url: &str) -> String {
    reqwest::get(url).await.unwrap().text().await.unwrap()
}

/// Starts the binary on a config; the daemon, its port and its log.
async fn start(
    servers: &Servers,
    dir: &std::path::Path,
    allow: bool,
) -> (
    DaemonProcess,
    u16,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    let port = free_port();
    let path = dir.join(format!("config-{allow}.toml"));
    let store = dir.join(format!("store-{allow}/librarywire.db"));
    std::fs::write(&path, config(servers, port, &store, allow)).unwrap();
    let (daemon, lines) =
        DaemonProcess::start_healthy(librarywire().arg("--config").arg(&path), port).await;
    (daemon, port, lines)
}

/// `/feed.xml` once `ready` holds of it.
async fn rendered_feed(port: u16, ready: impl Fn(&str) -> bool) -> String {
    eventually("the merged feed to be rendered", || async {
        let feed = get_text(&format!("http://127.0.0.1:{port}/feed.xml")).await;
        if ready(&feed) { Ok(feed) } else { Err(feed) }
    })
    .await
}

/// `/status`'s two sources once both have been polled.
async fn polled_sources(port: u16) -> (serde_json::Value, serde_json::Value) {
    eventually("both sources to be polled", || async {
        let status: serde_json::Value =
            serde_json::from_str(&get_text(&format!("http://127.0.0.1:{port}/status")).await)
                .unwrap();
        let sources = status["sources"].as_array().unwrap().clone();
        if sources.iter().all(|s| s["last_attempt"].is_string()) {
            Ok((sources[0].clone(), sources[1].clone()))
        } else {
            Err(format!("{sources:?}"))
        }
    })
    .await
}

#[tokio::test]
async fn links_to_internal_addresses_are_not_followed_unless_allowed() {
    let servers = Servers::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (b, b6) = (servers.internal.port(), servers.internal_v6.port());

    let (mut daemon, port, lines) = start(&servers, dir.path(), false).await;
    let (links, moved) = polled_sources(port).await;
    let log = || lines.lock().unwrap().join("\n");

    assert_eq!(
        servers.internal_hits(),
        0,
        "the internal servers saw requests: {:?} {:?}",
        servers.internal.all_hits(),
        servers.internal_v6.all_hits()
    );
    assert_eq!(links["state"], "ok", "{links}");
    assert_eq!(
        servers.public.hits("/article.html").len(),
        1,
        "the page's own article is followed"
    );
    assert_eq!(
        servers.public.hits("/go").len(),
        1,
        "a link on the page's own origin is fetched; its redirect is refused"
    );
    let reasons: Vec<String> = links["not_followed"]
        .as_array()
        .unwrap_or_else(|| panic!("no not_followed in {links}"))
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect();
    let expected = [
        format!(
            "not followed: http://127.0.0.1:{b}/secret/1 resolves to 127.0.0.1, a loopback address; set poll.allow_private_follow to allow"
        ),
        format!("not followed: http://localhost:{b}/secret/2 resolves to "),
        format!(
            "not followed: http://127.0.0.1:{b}/secret/3 resolves to 127.0.0.1, a loopback address"
        ),
        format!(
            "not followed: http://127.0.0.1:{b}/secret/4 resolves to 127.0.0.1, a loopback address"
        ),
        format!("not followed: http://[::1]:{b6}/secret/5 resolves to ::1, a loopback address"),
        format!(
            "not followed: http://[::ffff:7f00:1]:{b}/secret/6 resolves to ::ffff:127.0.0.1, a loopback address"
        ),
        format!(
            "not followed: {} redirects to http://127.0.0.1:{b}/secret/7, which resolves to 127.0.0.1, a loopback address; set poll.allow_private_follow to allow",
            servers.public.url("/go")
        ),
    ];
    assert_eq!(reasons.len(), expected.len(), "{reasons:#?}");
    for want in &expected {
        assert!(
            reasons.iter().any(|r| r.starts_with(want.as_str())),
            "no reason starting with {want:?} in {reasons:#?}"
        );
    }
    // The feed is rendered after the poll's write, a moment after /status
    // shows it.
    let feed = rendered_feed(port, |feed| feed.contains("<item>")).await;
    assert!(feed.contains("The public article"), "{feed}");
    assert!(!feed.contains(SECRET), "{feed}");
    assert_eq!(
        feed.matches("<item>").count(),
        8,
        "every item is kept with what the page gave: {feed}"
    );

    // The configured URL may be the admin's loopback, but its redirect to
    // another origin on loopback is refused the same way.
    assert_eq!(moved["state"], "failing", "{moved}");
    let error = moved["last_error"].as_str().unwrap();
    assert!(
        error.contains(&format!(
            "redirects to http://127.0.0.1:{b}/news/, which resolves to 127.0.0.1, a loopback address; set poll.allow_private_follow to allow"
        )),
        "{error}"
    );
    let metrics = get_text(&format!("http://127.0.0.1:{port}/metrics")).await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("librarywire_follows_refused_total")
                && l.contains("source=\"links\"")
                && l.contains("range=\"loopback\"")
                && l.ends_with(" 7")),
        "{metrics}"
    );
    assert_eq!(servers.internal_hits(), 0, "{}", log());
    daemon.stop_with("-TERM").await;

    // An intranet deployment opts in: the same links are followed.
    let (_daemon, port, _lines) = start(&servers, dir.path(), true).await;
    let (links, moved) = polled_sources(port).await;
    assert_eq!(moved["state"], "ok", "{moved}");
    assert_eq!(links["not_followed"], serde_json::json!([]), "{links}");
    for n in [1, 2, 3, 4, 6, 7] {
        assert!(
            !servers.internal.hits(&format!("/secret/{n}")).is_empty(),
            "secret {n}"
        );
    }
    assert!(!servers.internal_v6.hits("/secret/5").is_empty());
    rendered_feed(port, |feed| feed.contains(SECRET)).await;
}
