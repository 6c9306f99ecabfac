//! `/healthz`, `/readyz` and `/metrics`: what orchestrators and Prometheus ask.

use super::ServeState;
use axum::extract::State;
use axum::response::Response;

/// `/healthz`: 200 while the daemon is serving.
pub(super) async fn healthz() -> &'static str {
    "ok\n"
}

/// `/readyz`: 200 only when the store is open and answers; broker trouble
/// does not take readiness away, since the feed still serves.
pub(super) async fn readyz(State(state): State<ServeState>) -> Response {
    let _ = state;
    todo!("readyz")
}

/// `/metrics`: Prometheus text format.
pub(super) async fn metrics(State(state): State<ServeState>) -> Response {
    crate::metrics::scrape(&state).await
}
