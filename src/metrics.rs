//! Metrics: counters, gauges and histograms through the `metrics` facade,
//! rendered by the Prometheus exporter on `/metrics`.

use crate::refresh::{RefreshError, Refreshed};
use crate::serve::ServeState;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use std::time::Duration;

/// Records one finished poll of `source`: its outcome, how long it took, the
/// items it brought and, on success, the time of the last success.
pub fn poll_finished(source: &str, result: &Result<Refreshed, RefreshError>, elapsed: Duration) {
    let _ = (source, result, elapsed);
}

/// Middleware: counts HTTP requests served, by route and status.
pub async fn track_http(request: Request, next: Next) -> Response {
    next.run(request).await
}

/// The `/metrics` reply: Prometheus text, with the gauges read at scrape time
/// (outbox depth and age, broker connected, publisher counters).
pub async fn scrape(state: &ServeState) -> Response {
    let _ = state;
    todo!("metrics scrape")
}
