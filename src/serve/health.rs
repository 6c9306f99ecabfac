//! `/healthz`, `/readyz` and `/metrics`: what orchestrators and Prometheus ask.

use super::ServeState;
use crate::error::error_chain;
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
    let pinged = state.store.ping().await;
    let problems = state.store.problems();
    match pinged {
        Ok(()) if problems.is_empty() => (StatusCode::OK, "ready\n").into_response(),
        Ok(()) => {
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
            // A failed ping that showed a problem (corruption) adds that
            // problem's own words: what to do about it.
            let known: String = problems.iter().map(|p| format!("; {}", p.reason)).collect();
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready: the store does not answer: {reason}{known}\n"),
            )
                .into_response()
        }
    }
}

/// `/metrics`: Prometheus text format, with what the store says now.
pub(super) async fn metrics(State(state): State<ServeState>) -> Response {
    let report = match state.status_report().await {
        Ok(report) => Some(report),
        Err(e) => {
            // The rest still tells something; /readyz says the store is down.
            warn!(error = %error_chain(&e), "/metrics: cannot read the store; its figures are left out");
            None
        }
    };
    // Read apart from the report, which a corrupt store may fail to give.
    let problems = state.store.problems();
    crate::metrics::scrape(report.as_ref(), &problems, &state.publisher)
}
