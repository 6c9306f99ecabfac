//! Metrics: counters, gauges and histograms through the `metrics` facade,
//! rendered by the Prometheus exporter on `/metrics`.
//!
//! Two kinds of figures, two recorders:
//! - what happens (polls, items, HTTP requests) is counted as it happens, by
//!   the process-wide recorder that [`install`] sets up once;
//! - what *is* (outbox depth, broker connection, publisher totals, source
//!   states) is read at scrape time from the daemon that serves the scrape,
//!   into a recorder built for that one scrape. So each daemon reports its own
//!   store and publisher even when several share a process, as tests do.
//!
//! Label values are bounded: source ids come from the config, outcomes from
//! `refresh::outcome_label`, paths from the router's route templates. This
//! module takes plain figures: it knows no stage.

use crate::publish::PublisherStats;
use crate::status::{SourceState, StatusReport};
use crate::store::{Problem, ProblemKind};
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use metrics::{
    Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tracing::warn;

/// The content type of `/metrics`: the Prometheus text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Polls by source and outcome.
pub const FETCHES: &str = "librarywire_fetches_total";
/// How long polls took, by source.
pub const FETCH_DURATION: &str = "librarywire_fetch_duration_seconds";
/// Items stored new or as a new revision, by source.
pub const ITEMS: &str = "librarywire_items_total";
/// HTTP requests served, by route and status.
pub const HTTP_REQUESTS: &str = "librarywire_http_requests_total";
/// When each source's last successful poll finished.
pub const LAST_SUCCESS: &str = "librarywire_last_success_timestamp_seconds";
/// Failures in a row, by source.
pub const CONSECUTIVE_FAILURES: &str = "librarywire_source_consecutive_failures";
/// Configured sources by state.
pub const SOURCES: &str = "librarywire_sources";
/// Messages waiting in the outbox.
pub const OUTBOX_DEPTH: &str = "librarywire_outbox_depth";
/// Age of the oldest message waiting in the outbox.
pub const OUTBOX_OLDEST_AGE: &str = "librarywire_outbox_oldest_age_seconds";
/// Publishes by broker answer.
pub const PUBLISHES: &str = "librarywire_publishes_total";
/// Whether a confirmed channel to the broker is open.
pub const BROKER_CONNECTED: &str = "librarywire_broker_connected";
/// Connections made to the broker.
pub const BROKER_CONNECTIONS: &str = "librarywire_broker_connections_total";
/// Times the publisher moved to another broker node.
pub const BROKER_FAILOVERS: &str = "librarywire_broker_failovers_total";
/// The broker node connected to, as a label.
pub const BROKER_NODE: &str = "librarywire_broker_node";
/// This replica, as a label: always 1.
pub const REPLICA: &str = "librarywire_replica";
/// Whether this replica holds the publisher lease.
pub const PUBLISHER_LEASE_HELD: &str = "librarywire_publisher_lease_held";
/// Whether publishing is paused because the store cannot remove confirmed messages.
pub const PUBLISHER_PAUSED: &str = "librarywire_publisher_paused";
/// Whether the store has a problem of each kind.
pub const STORE_PROBLEM: &str = "librarywire_store_problem";

/// Items a poll read but did not store, by source and reason: `rule` (an
/// admin's rule dropped it) or `too_old` (older than `store.max_age` when
/// first seen).
pub const ITEMS_DROPPED: &str = "librarywire_items_dropped_total";

/// Article links not followed because the outbound policy refused their
/// address, by source and range.
pub const FOLLOWS_REFUSED: &str = "librarywire_follows_refused_total";
/// Article page fetches of `full_text = true` sources, by source and outcome.
pub const FULL_TEXT: &str = "librarywire_full_text_total";

/// Log lines that could not be written (stderr closed, say) and were dropped.
pub const LOG_WRITES_DROPPED: &str = "librarywire_log_writes_dropped_total";

/// The `route` label of a request no route matched: one value, however many
/// paths scanners try.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Upper bounds of the fetch duration buckets, in seconds: from a fast local
/// answer to the slowest a poll may take.
const DURATION_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// The process-wide recorder; `None` when another recorder was installed first.
static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide Prometheus recorder, once; later calls do
/// nothing. Until it runs, the counting functions here record nothing.
pub fn install() {
    global();
}

fn global() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = match PrometheusBuilder::new().set_buckets(DURATION_BUCKETS) {
                Ok(builder) => builder,
                Err(e) => {
                    warn!(error = %e, "metrics disabled: bad histogram buckets");
                    return None;
                }
            };
            match builder.install_recorder() {
                Ok(handle) => {
                    describe_events();
                    Some(handle)
                }
                Err(e) => {
                    warn!(error = %e, "metrics of polls and requests disabled: cannot install the recorder");
                    None
                }
            }
        })
        .as_ref()
}

fn describe_events() {
    describe_counter!(
        FETCHES,
        Unit::Count,
        "Polls of a source by outcome: new_items, updated_items, no_change, \
         not_modified (HTTP 304 or an unchanged file), recovered (a malformed feed \
         whose entries were recovered), or the kind of error"
    );
    describe_histogram!(
        FETCH_DURATION,
        Unit::Seconds,
        "Time a poll of a source took, from fetch to stored items"
    );
    describe_counter!(
        ITEMS,
        Unit::Count,
        "Items a source brought that were new (change=new) or changed (change=updated)"
    );
    describe_counter!(
        ITEMS_DROPPED,
        Unit::Count,
        "Items a poll read but did not store, by source and reason: rule (dropped by a \
         [[rules]] or [[sources.rules]] rule) or too_old (older than store.max_age when first seen)"
    );
    describe_counter!(
        FOLLOWS_REFUSED,
        Unit::Count,
        "Article links not followed because they lead to a private or local address \
         (poll.allow_private_follow is off), by source and address range"
    );
    describe_counter!(
        FULL_TEXT,
        Unit::Count,
        "Article page fetches of full_text sources, by source and outcome: fetched \
         (read; taken into the item when longer than the feed's text), failed (tried \
         again on the next poll) or given_up (the item keeps what the feed gave)"
    );
    describe_counter!(
        HTTP_REQUESTS,
        Unit::Count,
        "HTTP requests served, by route template (unmatched for no route) and status"
    );
}

/// Records one finished poll of `source`: its `outcome` label (from a
/// bounded set: `refresh::outcome_label`), how long it took, and for a poll
/// that worked how many items it stored `(new, updated)`. (The time of the
/// last success is read from the store at scrape time, so it survives
/// restarts.)
pub fn poll_finished(
    source: &str,
    outcome: &'static str,
    stored: Option<(usize, usize)>,
    elapsed: Duration,
) {
    let source = source.to_owned();
    counter!(FETCHES, "source" => source.clone(), "outcome" => outcome).increment(1);
    histogram!(FETCH_DURATION, "source" => source.clone()).record(elapsed.as_secs_f64());
    if let Some((new, updated)) = stored {
        counter!(ITEMS, "source" => source.clone(), "change" => "new").increment(count(new));
        counter!(ITEMS, "source" => source, "change" => "updated").increment(count(updated));
    }
    // Fold the new duration samples into the histograms now and then, so
    // they do not pile up between scrapes. Upkeep walks every histogram, one
    // per source: doing it after every poll would make a cycle over
    // thousands of sources quadratic.
    if upkeep_due()
        && let Some(handle) = HANDLE.get().and_then(Option::as_ref)
    {
        handle.run_upkeep();
    }
}

/// Counts the items a poll of `source` read but did not store: `by_rules`
/// that the admin's rules dropped, `too_old` that retention turned away.
pub fn items_dropped(source: &str, by_rules: usize, too_old: usize) {
    for (reason, n) in [("rule", by_rules), ("too_old", too_old)] {
        if n > 0 {
            counter!(ITEMS_DROPPED, "source" => source.to_owned(), "reason" => reason)
                .increment(count(n));
        }
    }
}

/// Counts one article link of `source` that the outbound policy refused,
/// with the `range` (a bounded label: `fetch::policy::Range::label`) its
/// address is in.
pub fn follow_refused(source: &str, range: &'static str) {
    counter!(FOLLOWS_REFUSED, "source" => source.to_owned(), "range" => range).increment(1);
}

/// Counts one article page fetch of a `full_text = true` source, by its
/// `outcome`: `fetched`, `failed` or `given_up`.
pub fn full_text(source: &str, outcome: &'static str) {
    counter!(FULL_TEXT, "source" => source.to_owned(), "outcome" => outcome).increment(1);
}

/// How often the histograms' upkeep runs at most.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Whether `UPKEEP_EVERY` has passed since the last upkeep; claims the turn
/// when it has, so only one caller runs it.
fn upkeep_due() -> bool {
    static START: OnceLock<std::time::Instant> = OnceLock::new();
    static LAST_MS: AtomicU64 = AtomicU64::new(0);
    let now_ms = u64::try_from(
        START
            .get_or_init(std::time::Instant::now)
            .elapsed()
            .as_millis(),
    )
    .unwrap_or(u64::MAX);
    let last = LAST_MS.load(Ordering::Relaxed);
    now_ms.saturating_sub(last) >= UPKEEP_EVERY.as_millis() as u64
        && LAST_MS
            .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Middleware: counts HTTP requests served, by route and status.
pub async fn track_http(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED_ROUTE.to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    counter!(HTTP_REQUESTS, "route" => route, "status" => status).increment(1);
    response
}

/// The `/metrics` reply: Prometheus text, with the gauges of what *is*
/// taken from `report` (outbox depth and age, source states; `None` when
/// the store could not be read, and those figures are left out) and
/// `publisher` (broker connected, publisher counters), as the caller read
/// them at scrape time, and the store's `problems`.
pub fn scrape(
    report: Option<&StatusReport>,
    problems: &[Problem],
    publisher: &PublisherStats,
) -> Response {
    let mut body = global().map(PrometheusHandle::render).unwrap_or_default();
    body.push_str(&render_state(publisher, report, problems));
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
        body,
    )
        .into_response()
}

/// Renders what is read at scrape time, through a recorder of its own.
fn render_state(
    stats: &PublisherStats,
    report: Option<&StatusReport>,
    problems: &[Problem],
) -> String {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        describe_state();
        gauge!(BROKER_CONNECTED).set(f64::from(u8::from(stats.connected.load(Ordering::Relaxed))));
        gauge!(PUBLISHER_PAUSED).set(f64::from(u8::from(stats.paused.load(Ordering::Relaxed))));
        counter!(BROKER_CONNECTIONS).absolute(stats.connections.load(Ordering::Relaxed));
        counter!(BROKER_FAILOVERS).absolute(stats.failovers.load(Ordering::Relaxed));
        counter!(LOG_WRITES_DROPPED).absolute(crate::telemetry::dropped_writes());
        // The label comes from the config (amqp.url without credentials):
        // bounded, and never the password.
        if let Some(node) = stats.node() {
            gauge!(BROKER_NODE, "node" => node).set(1.0);
        }
        for (result, total) in [
            ("confirmed", &stats.confirmed),
            ("nacked", &stats.nacked),
            ("returned", &stats.returned),
        ] {
            counter!(PUBLISHES, "result" => result).absolute(total.load(Ordering::Relaxed));
        }
        for kind in ProblemKind::ALL {
            let on = problems.iter().any(|p| p.kind == kind);
            gauge!(STORE_PROBLEM, "kind" => kind.label()).set(f64::from(u8::from(on)));
        }
        let Some(report) = report else { return };
        // The replica id comes from the config (`cluster.replica_id`, or
        // the host name and pid): one value per process.
        gauge!(REPLICA, "replica" => report.replica.id.clone()).set(1.0);
        let holds = !report.replica.shared_store
            || report
                .replica
                .publisher_lease
                .as_ref()
                .is_some_and(|lease| lease.holder == report.replica.id);
        gauge!(PUBLISHER_LEASE_HELD).set(f64::from(u8::from(holds)));
        let publisher = &report.publisher;
        gauge!(OUTBOX_DEPTH).set(publisher.outbox_depth as f64);
        let age = publisher.oldest_pending.map_or(0.0, |oldest| {
            ((Utc::now() - oldest).num_milliseconds().max(0) as f64) / 1000.0
        });
        gauge!(OUTBOX_OLDEST_AGE).set(age);
        for state in ALL_STATES {
            let n = report.sources.iter().filter(|s| s.state == state).count();
            gauge!(SOURCES, "state" => state_label(state)).set(n as f64);
        }
        for source in &report.sources {
            if let Some(success) = source.last_success {
                let secs = success.timestamp_micros() as f64 / 1e6;
                gauge!(LAST_SUCCESS, "source" => source.id.clone()).set(secs);
            }
            gauge!(CONSECUTIVE_FAILURES, "source" => source.id.clone())
                .set(f64::from(source.consecutive_failures));
        }
    });
    handle.render()
}

fn describe_state() {
    describe_gauge!(
        BROKER_CONNECTED,
        "1 while a confirmed channel to the broker is open, else 0"
    );
    describe_counter!(
        BROKER_CONNECTIONS,
        Unit::Count,
        "Connections made to the broker since start, the first one included"
    );
    describe_counter!(
        BROKER_FAILOVERS,
        Unit::Count,
        "Times the publisher moved to another node of amqp.url since start"
    );
    describe_counter!(
        LOG_WRITES_DROPPED,
        Unit::Count,
        "Log lines that could not be written (stderr closed or full) and were dropped since start"
    );
    describe_gauge!(
        BROKER_NODE,
        "1 for the broker node the publisher is connected to (amqp://host:port/vhost); absent while disconnected"
    );
    describe_gauge!(
        REPLICA,
        "1, labelled with this replica's id (cluster.replica_id)"
    );
    describe_gauge!(
        PUBLISHER_LEASE_HELD,
        "1 while this replica holds the publisher lease and drains the outbox (always on SQLite), else 0"
    );
    describe_gauge!(
        PUBLISHER_PAUSED,
        "1 while publishing is paused because the store cannot remove confirmed messages from the outbox (a full disk, say), else 0"
    );
    describe_gauge!(
        STORE_PROBLEM,
        "1 while the store has a problem of this kind (disk_full, read_only, write_failed, corrupt, file_deleted, file_replaced), else 0; /readyz answers 503 then"
    );
    describe_counter!(
        PUBLISHES,
        Unit::Count,
        "Messages the broker answered since start: confirmed, nacked (sent again) or returned unroutable"
    );
    describe_gauge!(
        OUTBOX_DEPTH,
        Unit::Count,
        "Messages stored and waiting for the broker's confirm"
    );
    describe_gauge!(
        OUTBOX_OLDEST_AGE,
        Unit::Seconds,
        "Age of the oldest message waiting in the outbox; 0 when it is empty"
    );
    describe_gauge!(
        SOURCES,
        Unit::Count,
        "Configured sources by state, as in /status"
    );
    describe_gauge!(
        LAST_SUCCESS,
        Unit::Seconds,
        "Unix time when a poll of the source last worked"
    );
    describe_gauge!(
        CONSECUTIVE_FAILURES,
        Unit::Count,
        "Failed polls of the source since its last success"
    );
}

const ALL_STATES: [SourceState; 6] = [
    SourceState::Pending,
    SourceState::Ok,
    SourceState::Failing,
    SourceState::Flagged,
    SourceState::Gone,
    SourceState::Stale,
];

/// The `state` label: the word `/status` uses.
fn state_label(state: SourceState) -> &'static str {
    match state {
        SourceState::Pending => "pending",
        SourceState::Ok => "ok",
        SourceState::Failing => "failing",
        SourceState::Flagged => "flagged",
        SourceState::Gone => "gone",
        SourceState::Stale => "stale",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_labels_are_the_words_of_status() {
        for state in ALL_STATES {
            assert_eq!(
                serde_json::to_value(state).unwrap(),
                serde_json::Value::from(state_label(state))
            );
        }
    }
}
