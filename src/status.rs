//! `/status`: what an admin needs to see at a glance, one entry per
//! configured source plus the publisher, built from the store.

use crate::config::SourceSettings;
use crate::publish::PublisherStats;
use crate::store::{
    DuplicateCount, FullTextCount, LeaseView, Problem, SourceStatus, Store, StoreError,
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// The health of one source, in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceState {
    /// Never polled yet.
    Pending,
    /// The last poll worked.
    Ok,
    /// The last poll failed; it is retried with backoff.
    Failing,
    /// Failing without a break for longer than `poll.flag_after`: needs an admin.
    Flagged,
    /// It answered 410 Gone; polling stopped.
    Gone,
    /// Its polls work, but something about what they bring needs an admin:
    /// a page source whose selectors may be stale. `warning` says what.
    Stale,
}

/// One source in `/status`.
#[derive(Debug, Clone, Serialize)]
pub struct SourceReport {
    /// The source id.
    pub id: String,
    /// The display name.
    pub name: String,
    /// The configured URL.
    pub url: String,
    /// The URL last fetched, when a permanent redirect moved it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fetched_url: Option<String>,
    /// The one-word state.
    pub state: SourceState,
    /// When the last poll finished.
    pub last_attempt: Option<DateTime<Utc>>,
    /// When a poll last worked.
    pub last_success: Option<DateTime<Utc>>,
    /// A one-line human reason for the last failure.
    pub last_error: Option<String>,
    /// A one-line warning about a source that works but needs a look, such
    /// as "selectors may be stale: …" for a page source.
    pub warning: Option<String>,
    /// For a page source that follows its items' links: why items of its
    /// last poll that followed any kept only what the list gave, one line
    /// each, such as "not followed: <url> resolves to 127.0.0.1, a loopback
    /// address; set poll.allow_private_follow to allow". Empty otherwise.
    pub not_followed: Vec<String>,
    /// Failures in a row.
    pub consecutive_failures: u32,
    /// When the current run of failures began.
    pub failing_since: Option<DateTime<Utc>>,
    /// When it is due next; null when it is gone.
    pub next_poll: Option<DateTime<Utc>>,
    /// Items the store holds for it.
    pub item_count: u64,
    /// Which replica holds the source's lease, and until when, while one
    /// polls it (PostgreSQL only); `null` otherwise.
    pub lease: Option<LeaseView>,
    /// How many of its stored items were judged duplicates of other
    /// sources' items, and of which.
    pub duplicates: DuplicatesReport,
    /// For a `full_text = true` source: its items' article page fetches;
    /// absent for other sources.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_text: Option<FullTextReport>,
}

/// A `full_text = true` source's article fetches in `/status`, over the
/// items the store keeps article state for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FullTextReport {
    /// Items whose article page was fetched and read.
    pub fetched: u64,
    /// Items whose article page could not be fetched and was given up
    /// (after `refresh::FULL_TEXT_TRIES` tries, or at once when a retry
    /// cannot help): they keep what the source gave.
    pub failed: u64,
    /// New items whose article fetch failed and is tried again next poll.
    pub retrying: u64,
}

impl FullTextReport {
    /// The report of `source`, from the store's counts; `None` unless it
    /// has `full_text = true`.
    fn of(source: &SourceSettings, counts: &[FullTextCount]) -> Option<FullTextReport> {
        source.full_text.then(|| {
            counts
                .iter()
                .find(|c| c.source_id == source.id)
                .map(|c| FullTextReport {
                    fetched: c.fetched,
                    failed: c.failed,
                    retrying: c.retrying,
                })
                .unwrap_or_default()
        })
    }
}

/// A source's duplicates in `/status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DuplicatesReport {
    /// How many of its items duplicate another source's.
    pub count: u64,
    /// How many duplicate each other source's items, by source id.
    pub of: BTreeMap<String, u64>,
}

impl DuplicatesReport {
    /// The report of `source_id` from the store's counts.
    fn of(source_id: &str, counts: &[DuplicateCount]) -> DuplicatesReport {
        let mut report = DuplicatesReport::default();
        for c in counts.iter().filter(|c| c.source_id == source_id) {
            report.count += c.count;
            *report.of.entry(c.of_source.clone()).or_default() += c.count;
        }
        report
    }
}

/// The publisher in `/status`.
#[derive(Debug, Clone, Serialize)]
pub struct PublisherReport {
    /// Whether a confirmed channel to the broker is open.
    pub connected: bool,
    /// Messages waiting in the outbox.
    pub outbox_depth: u64,
    /// When the oldest waiting message was written.
    pub oldest_pending: Option<DateTime<Utc>>,
    /// Messages the broker confirmed since start.
    pub confirmed: u64,
    /// Messages the broker refused since start (each is sent again).
    pub nacked: u64,
    /// Messages returned unroutable since start.
    pub returned: u64,
    /// Connections made since start.
    pub connections: u64,
    /// Whether publishing is paused because the store cannot remove
    /// confirmed messages (a full disk, say); `store.problems` says why.
    pub paused: bool,
    /// The broker node connected to, as `amqp://host:port/vhost` (never
    /// the credentials); null while disconnected.
    pub node: Option<String>,
    /// Times the publisher moved to another node of `amqp.url` since start.
    pub failovers: u64,
}

/// The store in `/status`.
#[derive(Debug, Clone, Serialize)]
pub struct StoreReport {
    /// Whether nothing is wrong with it; `/readyz` answers 503 otherwise.
    pub ok: bool,
    /// What is wrong: failing writes, corruption, a file deleted or
    /// replaced under the daemon.
    pub problems: Vec<Problem>,
}

/// This replica, among those that share the store.
#[derive(Debug, Clone, Serialize)]
pub struct ReplicaReport {
    /// This replica's id (`cluster.replica_id`).
    pub id: String,
    /// Whether replicas share the store (PostgreSQL).
    pub shared_store: bool,
    /// Which replica holds the publisher lease, and until when; `null` on
    /// SQLite, where the one daemon publishes.
    pub publisher_lease: Option<LeaseView>,
}

/// The whole `/status` document.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// This replica.
    pub replica: ReplicaReport,
    /// One entry per configured source, in config order.
    pub sources: Vec<SourceReport>,
    /// The publisher.
    pub publisher: PublisherReport,
    /// The store's own health.
    pub store: StoreReport,
}

/// Builds the report from what the store holds now.
pub async fn report(
    replica: &str,
    store: &Store,
    sources: &[SourceSettings],
    publisher: &PublisherStats,
    flag_after: Duration,
    now: DateTime<Utc>,
) -> Result<StatusReport, StoreError> {
    let stored = store.source_statuses().await?;
    let duplicates = store.duplicate_counts().await?;
    let full_text = store.full_text_counts().await?;
    let sources = sources
        .iter()
        .map(|source| {
            let status = stored.iter().find(|s| s.id == source.id);
            // A warning about selectors means nothing for a source that an
            // admin has since turned from a page into a feed; a feed's only
            // warning is that it was recovered from a malformed body.
            let status = status.map(|s| match source.kind {
                crate::config::SourceKind::Page => s.clone(),
                crate::config::SourceKind::Feed => SourceStatus {
                    warning: s
                        .warning
                        .clone()
                        .filter(|w| w.starts_with(crate::parse::RECOVERED_PREFIX)),
                    not_followed: Vec::new(),
                    ..s.clone()
                },
            });
            SourceReport {
                duplicates: DuplicatesReport::of(&source.id, &duplicates),
                full_text: FullTextReport::of(source, &full_text),
                ..source_report(source, status.as_ref(), flag_after, now)
            }
        })
        .collect();
    let (outbox_depth, oldest_pending) = store.outbox_depth().await?;
    let problems = store.problems();
    Ok(StatusReport {
        replica: ReplicaReport {
            id: replica.to_owned(),
            shared_store: store.is_shared(),
            publisher_lease: store.publisher_lease().await?,
        },
        sources,
        publisher: PublisherReport {
            connected: publisher.connected.load(Ordering::Relaxed),
            outbox_depth,
            oldest_pending,
            confirmed: publisher.confirmed.load(Ordering::Relaxed),
            nacked: publisher.nacked.load(Ordering::Relaxed),
            returned: publisher.returned.load(Ordering::Relaxed),
            connections: publisher.connections.load(Ordering::Relaxed),
            paused: publisher.paused.load(Ordering::Relaxed),
            node: publisher.node(),
            failovers: publisher.failovers.load(Ordering::Relaxed),
        },
        store: StoreReport {
            ok: problems.is_empty(),
            problems,
        },
    })
}

fn source_report(
    source: &SourceSettings,
    status: Option<&SourceStatus>,
    flag_after: Duration,
    now: DateTime<Utc>,
) -> SourceReport {
    let Some(status) = status.filter(|s| s.last_attempt.is_some()) else {
        return SourceReport {
            id: source.id.clone(),
            name: source.display_name().to_owned(),
            url: source.url.public(),
            fetched_url: None,
            state: SourceState::Pending,
            last_attempt: None,
            last_success: None,
            last_error: None,
            warning: status.and_then(|s| s.warning.clone()),
            not_followed: status.map(|s| s.not_followed.clone()).unwrap_or_default(),
            consecutive_failures: 0,
            failing_since: None,
            next_poll: status.and_then(|s| s.next_poll),
            item_count: status.map_or(0, |s| s.item_count),
            lease: status.and_then(|s| s.lease.clone()),
            duplicates: DuplicatesReport::default(),
            full_text: None,
        };
    };
    let state = state_of(status, flag_after, now);
    SourceReport {
        id: source.id.clone(),
        name: source.display_name().to_owned(),
        url: source.url.public(),
        fetched_url: (!status.url.is_empty() && status.url != source.url.public())
            .then(|| status.url.clone()),
        state,
        last_attempt: status.last_attempt,
        last_success: status.last_success,
        last_error: status.last_error.clone(),
        warning: status.warning.clone(),
        not_followed: status.not_followed.clone(),
        consecutive_failures: status.consecutive_failures,
        failing_since: status.failing_since,
        next_poll: status.next_poll,
        item_count: status.item_count,
        lease: status.lease.clone(),
        duplicates: DuplicatesReport::default(),
        full_text: None,
    }
}

/// The one-word state of a polled source.
pub fn state_of(status: &SourceStatus, flag_after: Duration, now: DateTime<Utc>) -> SourceState {
    if status.gone {
        return SourceState::Gone;
    }
    if status.consecutive_failures == 0 {
        // A recovered feed works: its warning does not make it stale.
        let recovered = status
            .warning
            .as_deref()
            .is_some_and(|w| w.starts_with(crate::parse::RECOVERED_PREFIX));
        return if status.warning.is_some() && !recovered {
            SourceState::Stale
        } else {
            SourceState::Ok
        };
    }
    match status.failing_since {
        Some(since) if is_flagged(since, flag_after, now) => SourceState::Flagged,
        _ => SourceState::Failing,
    }
}

/// Whether a source that has been failing without a break since `since` is
/// flagged at `now`: after `flag_after` (`poll.flag_after`) of failures. The
/// one rule for `/status` and for the poll's loud log line.
pub fn is_flagged(since: DateTime<Utc>, flag_after: Duration, now: DateTime<Utc>) -> bool {
    let flag_after = chrono::Duration::from_std(flag_after).unwrap_or(chrono::Duration::MAX);
    now - since >= flag_after
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn status(failures: u32, since_hours: Option<i64>, gone: bool) -> SourceStatus {
        let now = Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap();
        SourceStatus {
            id: "s".into(),
            url: "https://x.org/".into(),
            last_attempt: Some(now),
            last_success: None,
            last_error: (failures > 0).then(|| "HTTP 500".to_owned()),
            consecutive_failures: failures,
            failing_since: since_hours.map(|h| now - chrono::Duration::hours(h)),
            gone,
            next_poll: None,
            item_count: 0,
            warning: None,
            not_followed: Vec::new(),
            lease: None,
        }
    }

    #[test]
    fn states_follow_failures_their_age_and_gone() {
        let now = Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap();
        let day = Duration::from_secs(86_400);
        assert_eq!(state_of(&status(0, None, false), day, now), SourceState::Ok);
        assert_eq!(
            state_of(&status(3, Some(2), false), day, now),
            SourceState::Failing
        );
        assert_eq!(
            state_of(&status(30, Some(25), false), day, now),
            SourceState::Flagged
        );
        assert_eq!(
            state_of(&status(1, Some(1), true), day, now),
            SourceState::Gone
        );
        let stale = SourceStatus {
            warning: Some("selectors may be stale: the page yielded no items".into()),
            ..status(0, None, false)
        };
        assert_eq!(state_of(&stale, day, now), SourceState::Stale);
        let stale_and_failing = SourceStatus {
            warning: stale.warning.clone(),
            ..status(3, Some(2), false)
        };
        assert_eq!(
            state_of(&stale_and_failing, day, now),
            SourceState::Failing,
            "a failure says more than a warning"
        );
        let recovered = SourceStatus {
            warning: Some(
                "recovered 3 entries from a malformed feed: the body ends inside an entry".into(),
            ),
            ..status(0, None, false)
        };
        assert_eq!(
            state_of(&recovered, day, now),
            SourceState::Ok,
            "a recovered feed works; its warning is shown, not a state"
        );
    }
}
