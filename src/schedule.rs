//! Schedule: when each source is polled.
//!
//! Every source has its own task and its own clock: its interval (or the
//! default), stretched by the source's `max-age`/`<ttl>` up to a bound,
//! backed off exponentially while it fails, never earlier than its
//! `Retry-After`, and jittered. A global semaphore caps fetches in flight and
//! a per-host one keeps us polite to hosts that carry several sources.

use crate::config::{PollSettings, Settings, SourceSettings};
use crate::fetch::{Fetcher, error_chain};
use crate::refresh::{RefreshError, Refreshed, blocking, refresh};
use crate::store::Store;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

/// How one poll went, as far as timing the next one is concerned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PollResult {
    /// The poll worked; the source may have suggested a longer wait.
    Success {
        /// The source's `Cache-Control: max-age` or `<ttl>`, whichever is longer.
        suggested: Option<Duration>,
    },
    /// The poll failed.
    Failure {
        /// Failures in a row, this one included (1 or more).
        failures: u32,
        /// The source's `Retry-After`, if it sent one.
        retry_after: Option<Duration>,
    },
}

/// How long to wait before the next poll of a source with `interval`.
///
/// `unit_random` is a number in `[0, 1)`; it is a parameter so the rule is a
/// pure function that tests can pin.
pub fn next_delay(
    poll: &PollSettings,
    interval: Duration,
    result: PollResult,
    unit_random: f64,
) -> Duration {
    let base = match result {
        PollResult::Success { suggested } => match suggested {
            // A source may ask us to come back later than configured, but not
            // so much later that news goes stale: `max_interval` bounds it.
            Some(s) if s > interval => s.min(poll.max_interval.max(interval)),
            _ => interval,
        },
        PollResult::Failure { failures, .. } => {
            let doublings = failures.saturating_sub(1).min(20);
            let backoff = interval.saturating_mul(1u32 << doublings);
            backoff.min(poll.max_backoff.max(interval))
        }
    };
    let factor = 1.0 + poll.jitter * (2.0 * unit_random - 1.0);
    let jittered = base.mul_f64(factor.max(0.0));
    match result {
        // Retry-After is a floor, never shortened by jitter. A week bounds a
        // server that asks for years.
        PollResult::Failure {
            retry_after: Some(after),
            ..
        } => jittered.max(after.min(Duration::from_secs(7 * 24 * 3600))),
        _ => jittered,
    }
}

/// What comes after a poll.
enum Next {
    /// Poll again at this time.
    At(DateTime<Utc>),
    /// Stop polling this source (it is gone).
    Never,
}

/// Polls every configured source on its own schedule until cancelled.
pub struct Scheduler {
    poll: PollSettings,
    sources: Vec<SourceSettings>,
    fetcher: Fetcher,
    store: Store,
    /// Caps fetches in flight over all sources.
    global: Arc<Semaphore>,
    /// One semaphore per host. A std mutex: it is held only to look up or
    /// insert, never across an await.
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl Scheduler {
    /// A scheduler for `settings.sources`.
    pub fn new(settings: &Settings, fetcher: Fetcher, store: Store) -> Scheduler {
        Scheduler {
            poll: settings.poll.clone(),
            sources: settings.sources.clone(),
            fetcher,
            store,
            global: Arc::new(Semaphore::new(settings.poll.concurrency)),
            hosts: Mutex::new(HashMap::new()),
        }
    }

    /// Runs one task per source; returns when all have stopped after `shutdown`.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let tracker = TaskTracker::new();
        for source in self.sources.clone() {
            tracker.spawn(self.clone().source_loop(source, shutdown.clone()));
        }
        tracker.close();
        tracker.wait().await;
    }

    fn host_semaphore(&self, source: &SourceSettings) -> Option<Arc<Semaphore>> {
        let url = source.parsed_url().ok()?;
        let host = url.host_str()?.to_ascii_lowercase();
        let mut hosts = self.hosts.lock().expect("host map lock poisoned");
        Some(
            hosts
                .entry(host)
                .or_insert_with(|| Arc::new(Semaphore::new(self.poll.per_host)))
                .clone(),
        )
    }

    async fn source_loop(self: Arc<Self>, source: SourceSettings, shutdown: CancellationToken) {
        let interval = self.poll.interval_of(&source);
        // A restart resumes the stored schedule, so restarting often does not
        // hammer sources; a source never polled is due at once.
        let mut due = match self.stored_next_poll(&source).await {
            Some(next) => next,
            None => Utc::now(),
        };
        loop {
            let wait = (due - Utc::now()).to_std().unwrap_or(Duration::ZERO);
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
            match self.poll_source(&source, interval, &shutdown).await {
                Some(Next::At(next)) => due = next,
                Some(Next::Never) | None => return,
            }
        }
    }

    async fn stored_next_poll(&self, source: &SourceSettings) -> Option<DateTime<Utc>> {
        let store = self.store.clone();
        let id = source.id.clone();
        match blocking(move || store.source_status(&id)).await {
            Ok(status) => status.and_then(|s| s.next_poll),
            Err(e) => {
                warn!(source = %source.id, error = %error_chain(&e), "cannot read the stored schedule; polling now");
                None
            }
        }
    }

    /// Polls once under the limits and records the result. Returns when the
    /// source is due next, or `None` when shutdown came first.
    async fn poll_source(
        &self,
        source: &SourceSettings,
        interval: Duration,
        shutdown: &CancellationToken,
    ) -> Option<Next> {
        let _global = tokio::select! {
            _ = shutdown.cancelled() => return None,
            permit = self.global.clone().acquire_owned() => permit.ok()?,
        };
        let _host = match self.host_semaphore(source) {
            Some(semaphore) => tokio::select! {
                _ = shutdown.cancelled() => return None,
                permit = semaphore.acquire_owned() => Some(permit.ok()?),
            },
            None => None,
        };
        let now = Utc::now();
        let started = std::time::Instant::now();
        // The refresh runs as its own task so that a panic in it is caught
        // here as that source's error, and so that shutdown can abort it: the
        // store writes a poll in one transaction, so an aborted poll leaves
        // either all of it or none.
        let task = {
            let (fetcher, store, source) =
                (self.fetcher.clone(), self.store.clone(), source.clone());
            tokio::spawn(async move { refresh(&fetcher, &store, &source, now).await })
        };
        let abort = task.abort_handle();
        let result = tokio::select! {
            _ = shutdown.cancelled() => {
                abort.abort();
                return None;
            }
            joined = task => match joined {
                Ok(result) => result,
                Err(e) => Err(RefreshError::Panic {
                    url: source.url.clone(),
                    message: e.to_string(),
                }),
            },
        };
        crate::metrics::poll_finished(&source.id, &result, started.elapsed());
        Some(self.record(source, interval, now, result).await)
    }

    async fn record(
        &self,
        source: &SourceSettings,
        interval: Duration,
        now: DateTime<Utc>,
        result: Result<Refreshed, RefreshError>,
    ) -> Next {
        let store = self.store.clone();
        let id = source.id.clone();
        match result {
            Ok(refreshed) => {
                let delay = next_delay(
                    &self.poll,
                    interval,
                    PollResult::Success {
                        suggested: refreshed.suggested_interval,
                    },
                    rand::random(),
                );
                let next = now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
                info!(
                    source = %source.id,
                    not_modified = refreshed.not_modified,
                    seen = refreshed.items_seen,
                    new = refreshed.applied.new,
                    updated = refreshed.applied.updated,
                    next_in = %humantime::format_duration(round_secs(delay)),
                    "polled"
                );
                let url = refreshed.final_url.to_string();
                let state = refreshed.state;
                if let Err(e) =
                    blocking(move || store.record_success(&id, &url, &state, next, Utc::now()))
                        .await
                {
                    warn!(source = %source.id, error = %error_chain(&e), "cannot record the poll");
                }
                Next::At(next)
            }
            Err(error) => {
                let reason = error_chain(&error);
                let retry_after = error.retry_after();
                let gone = error.is_gone();
                // The failure count lives in the store, so backoff survives restarts.
                let previous = {
                    let store = store.clone();
                    let id = id.clone();
                    blocking(move || store.source_status(&id))
                        .await
                        .ok()
                        .flatten()
                };
                let failures = previous.as_ref().map_or(0, |s| s.consecutive_failures) + 1;
                let failing_since = previous.and_then(|s| s.failing_since).unwrap_or(now);
                let delay = next_delay(
                    &self.poll,
                    interval,
                    PollResult::Failure {
                        failures,
                        retry_after,
                    },
                    rand::random(),
                );
                let next = now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
                warn!(
                    source = %source.id,
                    kind = error.kind(),
                    failures,
                    retry_in = %humantime::format_duration(round_secs(delay)),
                    error = %reason,
                    "poll failed"
                );
                // A source that has failed for longer than `flag_after` is
                // flagged in /status; say so loudly in the log too, on every
                // failure, so it cannot go unnoticed.
                let failing_for = (now - failing_since).to_std().unwrap_or_default();
                if failing_for >= self.poll.flag_after {
                    error!(
                        source = %source.id,
                        failing_for = %humantime::format_duration(round_secs(failing_for)),
                        error = %reason,
                        "source flagged: it has been failing without a break"
                    );
                }
                let url = source.url.clone();
                if let Err(e) =
                    blocking(move || store.record_failure(&id, &url, &reason, next, Utc::now()))
                        .await
                {
                    warn!(source = %source.id, error = %error_chain(&e), "cannot record the failure");
                }
                if gone {
                    // 410 says the feed was removed on purpose: asking again
                    // is noise. The source stays listed, flagged, with its
                    // items, until the admin edits the config or restarts.
                    error!(source = %source.id, "the source answered 410 Gone; polling stopped");
                    let store = self.store.clone();
                    let id = source.id.clone();
                    if let Err(e) = blocking(move || store.mark_gone(&id)).await {
                        warn!(source = %source.id, error = %error_chain(&e), "cannot record the source as gone");
                    }
                    return Next::Never;
                }
                Next::At(next)
            }
        }
    }
}

fn round_secs(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll() -> PollSettings {
        PollSettings {
            jitter: 0.1,
            max_interval: Duration::from_secs(6 * 3600),
            max_backoff: Duration::from_secs(6 * 3600),
            ..PollSettings::default()
        }
    }
    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn success_waits_the_interval_with_jitter_both_ways() {
        let p = poll();
        let ok = PollResult::Success { suggested: None };
        assert_eq!(next_delay(&p, 10 * MIN, ok, 0.5), 10 * MIN);
        assert_eq!(next_delay(&p, 10 * MIN, ok, 0.0), 9 * MIN);
        assert!(next_delay(&p, 10 * MIN, ok, 0.999_999) > 10 * MIN);
        assert!(next_delay(&p, 10 * MIN, ok, 0.999_999) <= 11 * MIN);
    }

    #[test]
    fn max_age_and_ttl_lengthen_up_to_the_bound_never_shorten() {
        let p = poll();
        let longer = PollResult::Success {
            suggested: Some(60 * MIN),
        };
        assert_eq!(next_delay(&p, 10 * MIN, longer, 0.5), 60 * MIN);
        let huge = PollResult::Success {
            suggested: Some(48 * 60 * MIN),
        };
        assert_eq!(next_delay(&p, 10 * MIN, huge, 0.5), 6 * 60 * MIN);
        let shorter = PollResult::Success {
            suggested: Some(MIN),
        };
        assert_eq!(next_delay(&p, 10 * MIN, shorter, 0.5), 10 * MIN);
    }

    #[test]
    fn failures_back_off_exponentially_to_a_cap() {
        let p = poll();
        let fail = |failures| PollResult::Failure {
            failures,
            retry_after: None,
        };
        assert_eq!(next_delay(&p, 10 * MIN, fail(1), 0.5), 10 * MIN);
        assert_eq!(next_delay(&p, 10 * MIN, fail(2), 0.5), 20 * MIN);
        assert_eq!(next_delay(&p, 10 * MIN, fail(3), 0.5), 40 * MIN);
        assert_eq!(next_delay(&p, 10 * MIN, fail(30), 0.5), 6 * 60 * MIN);
    }

    #[test]
    fn retry_after_is_a_floor_that_jitter_cannot_cut() {
        let p = poll();
        let r = PollResult::Failure {
            failures: 1,
            retry_after: Some(30 * MIN),
        };
        assert_eq!(next_delay(&p, 10 * MIN, r, 0.0), 30 * MIN);
        let small = PollResult::Failure {
            failures: 1,
            retry_after: Some(MIN),
        };
        assert_eq!(next_delay(&p, 10 * MIN, small, 0.5), 10 * MIN);
    }
}
