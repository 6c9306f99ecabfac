//! WebSub publishing: tells the configured hub (`server.websub_hub`) that
//! the merged feeds changed, so it can push them to its subscribers.
//!
//! A ping is `POST hub` with `hub.mode=publish&hub.url=<topic>`
//! (form-encoded), once per merged feed URL (`feed.xml`, `feed.atom`,
//! `feed.json` under `server.public_url`). It runs in its own task, woken by
//! [`MergedFeed::changes`](crate::serve::MergedFeed::changes), so serving
//! never waits on the hub. A failed ping is logged with the hub, the topic
//! and the status, and retried with doubling pauses.
//!
//! This module and `fetch.rs` are the daemon's two HTTP clients.

use crate::config::{ServerSettings, Settings};
use crate::serve::FeedFormat;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};
use url::Url;

/// How many times one topic is pinged before the change is given up on
/// (the next change pings again).
pub const ATTEMPTS: u32 = 4;

/// The pause before the first retry; it doubles with each one.
pub const FIRST_RETRY: Duration = Duration::from_secs(1);

/// How long one ping may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Pings one hub about a fixed set of topics.
#[derive(Debug, Clone)]
pub struct Publisher {
    client: reqwest::Client,
    hub: Url,
    topics: Vec<String>,
    /// The pause before the first retry ([`FIRST_RETRY`]).
    first_retry: Duration,
}

impl Publisher {
    /// A publisher for `settings`, or `None` when no hub is configured.
    pub fn from_settings(settings: &Settings) -> reqwest::Result<Option<Publisher>> {
        let Some(hub) = settings.server.websub_hub.clone() else {
            return Ok(None);
        };
        Publisher::new(hub, &settings.server, &settings.poll.user_agent).map(Some)
    }

    /// A publisher that pings `hub` about the merged feeds of `server`
    /// (under its `public_url`), sending `user_agent`.
    pub fn new(hub: Url, server: &ServerSettings, user_agent: &str) -> reqwest::Result<Publisher> {
        let topics = FeedFormat::ALL
            .iter()
            .map(|format| server.url(format.file_name()))
            .collect();
        let client = reqwest::Client::builder()
            .user_agent(user_agent)
            .timeout(TIMEOUT)
            .build()?;
        Ok(Publisher {
            client,
            hub,
            topics,
            first_retry: FIRST_RETRY,
        })
    }

    /// The topic URLs it pings for.
    pub fn topics(&self) -> &[String] {
        &self.topics
    }

    /// Pings the hub about every topic, each with its retries, at once.
    /// Returns early when `shutdown` is cancelled.
    pub async fn publish(&self, shutdown: &CancellationToken) {
        let pings = self.topics.iter().map(|topic| self.ping(topic, shutdown));
        futures_util::future::join_all(pings).await;
    }

    /// Pings the hub about `topic` until it accepts, gives a final refusal,
    /// or [`ATTEMPTS`] are used up.
    async fn ping(&self, topic: &str, shutdown: &CancellationToken) {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("hub.mode", "publish")
            .append_pair("hub.url", topic)
            .finish();
        let mut pause = self.first_retry;
        for attempt in 1..=ATTEMPTS {
            let sent = self
                .client
                .post(self.hub.clone())
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(body.clone())
                .send()
                .await;
            let retry = match sent {
                Ok(response) if response.status().is_success() => {
                    debug!(hub = %self.hub, topic, status = %response.status(), "WebSub hub pinged");
                    return;
                }
                Ok(response) => {
                    let status = response.status();
                    // A 4xx other than 429 is the hub refusing this request
                    // for good (an unknown topic, say); sending it again
                    // would get the same answer.
                    let retry = status.is_server_error()
                        || status == reqwest::StatusCode::TOO_MANY_REQUESTS;
                    warn!(hub = %self.hub, topic, %status, attempt, retry, "WebSub hub refused the publish ping");
                    retry
                }
                Err(e) => {
                    warn!(hub = %self.hub, topic, error = %crate::error::error_chain(&e), attempt, "cannot reach the WebSub hub");
                    true
                }
            };
            if !retry || attempt == ATTEMPTS {
                break;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(pause) => {}
            }
            pause *= 2;
        }
        warn!(hub = %self.hub, topic, "WebSub ping given up; the next change pings again");
    }
}

/// Pings `publisher`'s hub every time `changes` moves, until `shutdown`.
/// Changes that come while a ping is under way are pinged once, after it.
pub async fn run(
    publisher: Publisher,
    mut changes: watch::Receiver<u64>,
    shutdown: CancellationToken,
) {
    info!(hub = %publisher.hub, topics = ?publisher.topics, "WebSub publishing on");
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = changes.changed() => if changed.is_err() { return },
        }
        changes.borrow_and_update();
        // Shutdown does not wait for a hub that is slow to answer.
        tokio::select! {
            _ = shutdown.cancelled() => return,
            () = publisher.publish(&shutdown) => {}
        }
    }
}

/// Starts [`run`] on `tracker` when `settings` name a hub. A client that
/// cannot be built is logged, and the daemon runs without pings.
pub fn spawn(
    tracker: &TaskTracker,
    settings: &Settings,
    changes: watch::Receiver<u64>,
    shutdown: CancellationToken,
) {
    match Publisher::from_settings(settings) {
        Ok(Some(publisher)) => {
            tracker.spawn(run(publisher, changes, shutdown));
        }
        Ok(None) => {}
        Err(e) => {
            warn!(error = %crate::error::error_chain(&e), "cannot build the WebSub client; the hub will not be pinged");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A hub on loopback that answers every request with `status`, and
    /// counts them.
    async fn hub(status: StatusCode) -> (Url, Arc<AtomicUsize>) {
        let count = Arc::new(AtomicUsize::new(0));
        let counted = count.clone();
        let app = axum::Router::new().route(
            "/",
            axum::routing::post(move || {
                counted.fetch_add(1, Ordering::SeqCst);
                async move { status }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url.parse().unwrap(), count)
    }

    fn publisher(hub: Url) -> Publisher {
        let server = ServerSettings {
            public_url: "http://127.0.0.1:8080/".parse().unwrap(),
            ..ServerSettings::default()
        };
        let mut publisher = Publisher::new(hub, &server, "librarywire-test").unwrap();
        publisher.first_retry = Duration::from_millis(10);
        publisher
    }

    #[tokio::test]
    async fn server_errors_are_retried_and_refusals_are_not() {
        let (url, count) = hub(StatusCode::SERVICE_UNAVAILABLE).await;
        publisher(url).publish(&CancellationToken::new()).await;
        assert_eq!(count.load(Ordering::SeqCst), 3 * ATTEMPTS as usize);

        let (url, count) = hub(StatusCode::BAD_REQUEST).await;
        publisher(url).publish(&CancellationToken::new()).await;
        assert_eq!(count.load(Ordering::SeqCst), 3);

        let (url, count) = hub(StatusCode::ACCEPTED).await;
        let publisher = publisher(url);
        assert_eq!(
            publisher.topics(),
            [
                "http://127.0.0.1:8080/feed.xml",
                "http://127.0.0.1:8080/feed.atom",
                "http://127.0.0.1:8080/feed.json"
            ]
        );
        publisher.publish(&CancellationToken::new()).await;
        assert_eq!(count.load(Ordering::SeqCst), 3);
    }

    /// A hub that takes each connection and closes it before any answer:
    /// every ping fails in transport, is tried `ATTEMPTS` times, and then
    /// given up, well within the deadline.
    #[tokio::test]
    async fn an_unreachable_hub_is_given_up_on() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = connections.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        let closing = publisher(url.parse().unwrap());
        tokio::time::timeout(
            Duration::from_secs(30),
            closing.publish(&CancellationToken::new()),
        )
        .await
        .expect("the pings are given up, not retried forever");
        assert_eq!(
            connections.load(Ordering::SeqCst),
            3 * ATTEMPTS as usize,
            "each of the three topics is tried ATTEMPTS times"
        );

        // Nothing listens at all: also given up.
        let refused = publisher("http://127.0.0.1:1/".parse().unwrap());
        tokio::time::timeout(
            Duration::from_secs(30),
            refused.publish(&CancellationToken::new()),
        )
        .await
        .expect("a refused connection is given up too");
    }
}
