//! Publish: drains the store's outbox to RabbitMQ with publisher confirms.
//! The only module that knows lapin.
//!
//! - `mod.rs` (this file): the supervisor. It keeps one [`session`] alive at a
//!   time, reconnecting with capped, jittered backoff, and owns the stats.
//! - `session.rs`: one connection and the rows in flight on it: declare,
//!   confirm mode, publish, confirms, `connection.blocked`.
//! - `message.rs`: the AMQP side of the message contract (properties, the
//!   limits on routing keys and ids). No I/O.
//! - `uri.rs`: `amqp.url` parsed, and shown without credentials. No I/O.
//! - `window.rs`: the bounded set of rows in flight, with nack retries. No I/O.
//! - `backoff.rs`: the reconnection pauses. No I/O.
//!
//! Architecture invariant: a row leaves the outbox only after the broker acked
//! it. Everything else (errors, timeouts, shutdown, crashes) leaves it in
//! place, so delivery is at least once and consumers drop duplicates by
//! `message_id`, which is the same on every send of a row.

mod backoff;
mod message;
mod removal;
mod returns;
mod session;
mod uri;
mod window;

#[cfg(test)]
mod tests;

use crate::config::AmqpSettings;
use crate::error::error_chain;
use crate::store::{Claim, Lease, Store};
use backoff::Backoff;
use lapin::uri::AMQPUri;
use removal::Acked;
pub use session::CONFIRMED_TARGET;
use session::{Kept, Session};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};
use uri::redact;

/// A session that stayed up this long before failing counts as a success: the
/// next reconnection starts again from the shortest pause.
const STABLE_SESSION: Duration = Duration::from_secs(10);

/// Counters of the publisher, read by `/status` and `/metrics`.
#[derive(Debug, Default)]
pub struct PublisherStats {
    /// Whether a channel to the broker is open and ready.
    pub connected: AtomicBool,
    /// Messages the broker confirmed (ack).
    pub confirmed: AtomicU64,
    /// Messages the broker refused (nack); each is sent again.
    pub nacked: AtomicU64,
    /// Messages returned as unroutable (`mandatory` with no bound queue).
    pub returned: AtomicU64,
    /// Connections made, the first one included.
    pub connections: AtomicU64,
    /// Whether publishing is paused because the store cannot remove
    /// confirmed messages from the outbox (a full disk, say); it resumes by
    /// itself once the store writes again.
    pub paused: AtomicBool,
    /// Times the publisher connected to another node than the one it was
    /// last connected to (a cluster's node went away).
    pub failovers: AtomicU64,
    /// The node connected to now, as `amqp://host:port/vhost` (never the
    /// credentials); `None` while disconnected.
    node: Mutex<Option<String>>,
}

impl PublisherStats {
    /// The node connected to now, without credentials.
    pub fn node(&self) -> Option<String> {
        self.node
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_node(&self, endpoint: Option<&str>) {
        *self.node.lock().unwrap_or_else(PoisonError::into_inner) = endpoint.map(str::to_owned);
    }
}

/// Checks that every `amqp.url` is an AMQP URL the publisher can use, for
/// `check-config`. The error names the key (`amqp.url`, or `amqp.url[i]` in
/// a list) and what is wrong; it never repeats the URL, which may hold a password.
pub fn validate_urls(settings: &AmqpSettings) -> Result<(), String> {
    nodes(settings).map(|_| ())
}

/// One broker node the publisher may connect to.
struct Node {
    uri: AMQPUri,
    /// Its address for logs and `/status`, without credentials.
    endpoint: String,
}

/// The configured nodes, in config order.
fn nodes(settings: &AmqpSettings) -> Result<Vec<Node>, String> {
    settings
        .url
        .iter()
        .enumerate()
        .map(|(i, url)| match uri::parse_uri(url) {
            Ok(uri) => Ok(Node {
                endpoint: uri::endpoint(&uri),
                uri,
            }),
            Err(e) => Err(format!(
                "{} is not a valid AMQP URL: {}",
                settings.url_key(i),
                redact(&e, url)
            )),
        })
        .collect()
}

/// The shortest pause before a replica asks for the publisher lease again.
const MIN_LEASE_RETRY: Duration = Duration::from_millis(100);

/// Runs the publisher on one replica at a time: waits until this replica
/// (`replica`) holds the publisher lease, then runs [`run`] while it renews
/// the lease every third of `lease`; when a renewal finds the lease lost
/// (taken over after this process stalled, say), publishing stops, and the
/// replica waits for the lease again. The store deletes confirmed rows only
/// under the lease it holds, so a publisher that lost it removes nothing;
/// what it sent meanwhile is sent again by the new holder with the same
/// `message_id`. On SQLite the lease is always held. A clean stop gives the
/// lease up, so another replica takes over at once.
pub async fn run_under_lease(
    settings: AmqpSettings,
    replica: String,
    lease: Duration,
    store: Store,
    stats: Arc<PublisherStats>,
    shutdown: CancellationToken,
) {
    loop {
        let Some(held) = wait_for_lease(&store, &replica, lease, &shutdown).await else {
            return;
        };
        if store.is_shared() {
            info!(%replica, epoch = held.epoch, "this replica holds the publisher lease: it drains the outbox");
        }
        let session = shutdown.child_token();
        let publishing = run(
            settings.clone(),
            store.clone(),
            stats.clone(),
            session.clone(),
        );
        tokio::pin!(publishing);
        tokio::select! {
            () = &mut publishing => {
                // Only shutdown ends `run`.
                if let Err(e) = store.release_publisher(&held).await {
                    warn!(error = %error_chain(&e), "cannot give up the publisher lease; it expires by itself");
                }
                return;
            }
            () = renew_until_lost(&store, &replica, &held, lease) => {
                warn!(%replica, epoch = held.epoch, "lost the publisher lease; publishing stops here and another replica takes over");
                session.cancel();
                publishing.await;
            }
        }
    }
}

/// Claims the publisher lease, asking again as the holder's runs out;
/// `None` on shutdown.
async fn wait_for_lease(
    store: &Store,
    replica: &str,
    lease: Duration,
    shutdown: &CancellationToken,
) -> Option<Lease> {
    let mut told = false;
    loop {
        let wait = match store.claim_publisher(replica, lease).await {
            Ok(Claim::Held(held)) => return Some(held),
            Ok(Claim::Busy { wait }) => {
                if !told {
                    info!(%replica, "another replica holds the publisher lease; this one stands by");
                    told = true;
                }
                wait.clamp(MIN_LEASE_RETRY, lease)
            }
            Err(e) => {
                warn!(error = %error_chain(&e), "cannot claim the publisher lease; trying again");
                lease / 10
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Renews the publisher lease every third of its length; returns once it
/// is lost: another replica holds it, or no renewal got through before it
/// ran out.
async fn renew_until_lost(store: &Store, replica: &str, held: &Lease, lease: Duration) {
    let mut renewed = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(lease / 3).await;
        match store.claim_publisher(replica, lease).await {
            Ok(Claim::Held(now)) if now.epoch == held.epoch => {
                renewed = tokio::time::Instant::now();
            }
            Ok(_) => return,
            Err(e) => {
                warn!(error = %error_chain(&e), "cannot renew the publisher lease");
                if renewed.elapsed() >= lease {
                    return;
                }
            }
        }
    }
}

/// Runs the publisher until `shutdown` is cancelled: connects to a node (and
/// reconnects, moving on to the next node of `amqp.url` each time a
/// connection fails, with capped, jittered backoff once every node has
/// failed), declares the exchange (and `amqp.queue`), and publishes every
/// outbox message in order, removing each only once the broker confirms it.
pub async fn run(
    settings: AmqpSettings,
    store: Store,
    stats: Arc<PublisherStats>,
    shutdown: CancellationToken,
) {
    let nodes = match nodes(&settings) {
        Ok(nodes) if !nodes.is_empty() => nodes,
        Ok(_) => {
            error!("publisher not started: amqp.url names no node");
            shutdown.cancelled().await;
            return;
        }
        Err(e) => {
            // Nothing can be published with this URL, and retrying will not fix
            // it. Items keep piling up safely in the outbox; the publisher waits
            // for shutdown so the daemon still polls and serves.
            error!("publisher not started: {e}");
            shutdown.cancelled().await;
            return;
        }
    };
    let mut notices = store.subscribe();
    let mut backoff = Backoff::new(settings.max_backoff);
    let mut kept = Kept {
        acked: Acked::new(settings.max_backoff),
        returns: returns::ReturnLog::default(),
    };
    // The node tried next, and how many tries failed in a row since a
    // session last worked: once each node has failed, the backoff pauses.
    let mut at = 0;
    let mut failed_in_row = 0;
    let mut last_node: Option<usize> = None;
    loop {
        let node = &nodes[at];
        let endpoint = &node.endpoint;
        let opened = tokio::select! {
            _ = shutdown.cancelled() => break,
            opened = Session::open(&settings, &node.uri, &store, &stats) => opened,
        };
        let was_connected = opened.is_ok();
        let failure = match opened {
            Ok(session) => {
                stats.connected.store(true, Ordering::Relaxed);
                stats.set_node(Some(endpoint));
                match last_node {
                    Some(previous) if previous != at => {
                        stats.failovers.fetch_add(1, Ordering::Relaxed);
                        warn!(
                            %endpoint,
                            from = %nodes[previous].endpoint,
                            exchange = %settings.exchange,
                            failovers = stats.failovers.load(Ordering::Relaxed),
                            "publisher failed over to another broker node; what was unconfirmed is sent again"
                        );
                    }
                    _ => info!(
                        %endpoint,
                        exchange = %settings.exchange,
                        connections = stats.connections.load(Ordering::Relaxed),
                        "publisher connected to the broker"
                    ),
                }
                last_node = Some(at);
                let started = tokio::time::Instant::now();
                let confirmed_before = stats.confirmed.load(Ordering::Relaxed);
                // The session is dropped (with its channel and connection)
                // when `pump` returns.
                let (result, given_back) = session.pump(kept, &mut notices, &shutdown).await;
                kept = given_back;
                stats.connected.store(false, Ordering::Relaxed);
                stats.set_node(None);
                match result {
                    Ok(()) => break,
                    Err(err) if shutdown.is_cancelled() => {
                        info!(error = %crate::error::error_chain(err.as_ref()), "publisher stopped before its session ended cleanly; unconfirmed messages stay in the outbox");
                        break;
                    }
                    Err(err) => {
                        // A session that did real work was healthy; it should not
                        // inherit the long pauses of an earlier outage. A session
                        // that fails at once, again and again, keeps backing off.
                        let worked = stats.confirmed.load(Ordering::Relaxed) > confirmed_before;
                        if worked || started.elapsed() >= STABLE_SESSION {
                            backoff.reset();
                            failed_in_row = 0;
                        }
                        err
                    }
                }
            }
            Err(err) => err,
        };
        failed_in_row += 1;
        at = (at + 1) % nodes.len();
        let error = crate::error::error_chain(failure.as_ref());
        // Another node may be up: it is tried at once, until each has failed.
        let delay = if failed_in_row >= nodes.len() {
            failed_in_row = 0;
            backoff.next_delay()
        } else {
            Duration::ZERO
        };
        let next = &nodes[at].endpoint;
        if was_connected {
            warn!(%endpoint, %error, %next, retry_in = ?delay,
                "publisher disconnected from the broker; unconfirmed messages stay in the outbox");
        } else {
            warn!(%endpoint, %error, %next, retry_in = ?delay,
                "publisher could not connect to the broker; messages wait in the outbox");
        }
        if !delay.is_zero() {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }
    stats.connected.store(false, Ordering::Relaxed);
    // A stop between sessions while the store could not write: one last try.
    kept.acked.remove_now(&store, &stats).await;
    kept.acked.report_left();
    info!("publisher stopped");
}
