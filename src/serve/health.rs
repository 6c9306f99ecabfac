//! `/healthz`, `/readyz` and `/metrics`: what orchestrators and Prometheus ask.

use super::ServeState;
use crate::fetch::error_chain;
use crate::refresh::blocking;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tracing::warn;

/// `/healthz`: 200 while the daemon is serving.
pub(super) async fn healthz() -> &'static str {
    "ok\n"
}

/// `/readyz`: 200 only when the store answers and nothing is wrong with it
/// (its writes work, it reports no corruption, its file is the one opened).
/// Broker trouble does not take readiness away, since the feed still serves.
/// The store logs each of its problems once when it begins; a probe asking
/// every few seconds adds nothing to the log.
pub(super) async fn readyz(State(state): State<ServeState>) -> Response {
    let store = state.store.clone();
    match blocking(move || store.ping().map(|()| store.problems())).await {
        Ok(problems) if problems.is_empty() => (StatusCode::OK, "ready\n").into_response(),
        Ok(problems) => {
            let reasons: Vec<&str> = problems.iter().map(|p| p.reason.as_str()).collect();
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready: {}\n", reasons.join("; ")),
            )
                .into_response()
        }
        Err(e) => {
            let reason = error_chain(&e);
            warn!(error = %reason, "/readyz: the store does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready: the store does not answer: {reason}\n"),
            )
                .into_response()
        }
    }
}

/// `/metrics`: Prometheus text format.
pub(super) async fn metrics(State(state): State<ServeState>) -> Response {
    crate::metrics::scrape(&state).await
}
