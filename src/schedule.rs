//! Schedule: when each source is polled.
//!
//! Every source has its own task and its own clock: its interval (or the
//! default), stretched by the source's `max-age`/`<ttl>` up to a bound,
//! backed off exponentially while it fails, never earlier than its
//! `Retry-After`, and jittered. A global semaphore caps fetches in flight and
//! a per-host one keeps us polite to hosts that carry several sources.
//!
//! The scheduler follows the live settings: a reload starts tasks for added
//! sources, stops those of removed ones and restarts changed ones
//! ([`SourceChanges`]); a new `[poll]` restarts them all.

use crate::config::{LiveSettings, PollSettings, Settings, SourceSettings};
use crate::error::error_chain;
use crate::fetch::{FetchState, Fetcher};
use crate::refresh::{RefreshError, Refreshed, blocking, refresh_known};
use crate::reload::SourceChanges;
use crate::store::{SourceStatus, Store};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
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

/// When a source's new task polls first.
///
/// A (re)started task resumes the stored schedule, so restarts and reloads do
/// not hammer sources; a source never polled (or gone, whose schedule was
/// cleared) is due at once. When a reload shortened a working source's
/// interval, it is due no later than its last poll plus the new interval. A
/// failing source keeps its backoff.
pub fn first_poll_at(
    stored: Option<&SourceStatus>,
    interval: Duration,
    previous_interval: Option<Duration>,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    let Some(status) = stored else { return now };
    let Some(next) = status.next_poll else {
        return now;
    };
    match (previous_interval, status.last_attempt) {
        (Some(previous), Some(last)) if interval < previous && status.consecutive_failures == 0 => {
            let sooner =
                last + chrono::Duration::from_std(interval).unwrap_or(chrono::Duration::MAX);
            next.min(sooner)
        }
        _ => next,
    }
}

/// Polls every configured source on its own schedule until cancelled, and
/// follows the live settings: a reload adds, stops and restarts source tasks.
pub struct Scheduler {
    settings: LiveSettings,
    store: Store,
    polling: Arc<Polling>,
}

/// A running source task.
struct SourceTask {
    /// Stops this task alone (a child of the shutdown token).
    cancel: CancellationToken,
    handle: JoinHandle<()>,
}

impl Scheduler {
    /// A scheduler for the sources of the live `settings`. Fails only when
    /// the HTTP client cannot be built.
    pub fn new(settings: LiveSettings, store: Store) -> anyhow::Result<Scheduler> {
        let poll = settings.borrow().poll.clone();
        let polling = Arc::new(Polling::new(poll, store.clone())?);
        Ok(Scheduler {
            settings,
            store,
            polling,
        })
    }

    /// Runs one task per source and applies every new config; returns when
    /// all tasks have stopped after `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let Scheduler {
            mut settings,
            store,
            mut polling,
        } = self;
        let mut current = settings.borrow_and_update().clone();
        let tracker = TaskTracker::new();
        let mut tasks: HashMap<String, SourceTask> = HashMap::new();
        for source in &current.sources {
            let task = spawn_source(&tracker, &polling, source.clone(), None, None, &shutdown);
            tasks.insert(source.id.clone(), task);
        }
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                changed = settings.changed() => {
                    if changed.is_err() {
                        // Nobody can send new settings any more: the ones in
                        // force stay until shutdown.
                        shutdown.cancelled().await;
                        break;
                    }
                    let new = settings.borrow_and_update().clone();
                    let changes = SourceChanges::between(&current, &new);
                    if changes.poll_changed {
                        match Polling::new(new.poll.clone(), store.clone()) {
                            Ok(rebuilt) => polling = Arc::new(rebuilt),
                            Err(e) => error!(error = %format!("{e:#}"), "cannot apply the new [poll] settings; the old ones stay"),
                        }
                    }
                    apply(&tracker, &polling, &mut tasks, &current, &new, &changes, &shutdown);
                    current = new;
                }
            }
        }
        tracker.close();
        tracker.wait().await;
    }
}

/// Starts, stops and restarts source tasks for `changes`.
fn apply(
    tracker: &TaskTracker,
    polling: &Arc<Polling>,
    tasks: &mut HashMap<String, SourceTask>,
    old: &Settings,
    new: &Settings,
    changes: &SourceChanges,
    shutdown: &CancellationToken,
) {
    for id in &changes.removed {
        if let Some(task) = tasks.remove(id) {
            // Cancelling aborts an in-flight poll: the store writes a poll
            // in one transaction, so it leaves all of it or nothing. The
            // source's items stay; retention ages them out.
            task.cancel.cancel();
            info!(source = %id, "source removed: polling stopped; its items stay until retention removes them");
        }
    }
    for id in changes.restarted(new) {
        let Some(source) = new.source(id) else {
            continue;
        };
        let previous_interval = old.source(id).map(|s| old.poll.interval_of(s));
        let before = tasks.remove(id).map(|task| {
            task.cancel.cancel();
            task.handle
        });
        info!(source = %id, "source retuned: its task restarts with the new settings");
        let task = spawn_source(
            tracker,
            polling,
            source.clone(),
            previous_interval,
            before,
            shutdown,
        );
        tasks.insert(id.to_owned(), task);
    }
    for id in &changes.added {
        let Some(source) = new.source(id) else {
            continue;
        };
        info!(source = %id, "source added");
        let task = spawn_source(tracker, polling, source.clone(), None, None, shutdown);
        tasks.insert(id.clone(), task);
    }
}

/// Spawns the task of one source. A restarted source's new task first waits
/// for the old one to finish, so one source never has two polls at once.
fn spawn_source(
    tracker: &TaskTracker,
    polling: &Arc<Polling>,
    source: SourceSettings,
    previous_interval: Option<Duration>,
    before: Option<JoinHandle<()>>,
    shutdown: &CancellationToken,
) -> SourceTask {
    let cancel = shutdown.child_token();
    let polling = polling.clone();
    let token = cancel.clone();
    let handle = tracker.spawn(async move {
        if let Some(before) = before {
            let _ = before.await;
        }
        polling.source_loop(source, previous_interval, token).await;
    });
    SourceTask { cancel, handle }
}

/// What polling needs, built from `[poll]`: rebuilt when `[poll]` changes.
struct Polling {
    poll: PollSettings,
    fetcher: Fetcher,
    store: Store,
    /// Caps fetches in flight over all sources.
    global: Arc<Semaphore>,
    /// One semaphore per host. A std mutex: it is held only to look up or
    /// insert, never across an await.
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl Polling {
    fn new(poll: PollSettings, store: Store) -> anyhow::Result<Polling> {
        let fetcher = Fetcher::new(&poll)?;
        Ok(Polling {
            global: Arc::new(Semaphore::new(poll.concurrency)),
            poll,
            fetcher,
            store,
            hosts: Mutex::new(HashMap::new()),
        })
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

    async fn source_loop(
        self: Arc<Self>,
        source: SourceSettings,
        previous_interval: Option<Duration>,
        shutdown: CancellationToken,
    ) {
        let interval = self.poll.interval_of(&source);
        let stored = self.stored_status(&source).await;
        let mut due = first_poll_at(stored.as_ref(), interval, previous_interval, Utc::now());
        // The fetch state this task last recorded: it is the only writer of
        // it, so the next poll need not read it back from the store. `None`
        // (at start, after a failure or a failed write) means read it.
        let mut known = None;
        loop {
            let wait = (due - Utc::now()).to_std().unwrap_or(Duration::ZERO);
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
            match self
                .poll_source(&source, interval, known.take(), &shutdown)
                .await
            {
                Some((Next::At(next), recorded)) => {
                    due = next;
                    known = recorded;
                }
                Some((Next::Never, _)) | None => return,
            }
        }
    }

    async fn stored_status(&self, source: &SourceSettings) -> Option<SourceStatus> {
        let store = self.store.clone();
        let id = source.id.clone();
        match blocking(move || store.source_status(&id)).await {
            Ok(status) => status,
            Err(e) => {
                warn!(source = %source.id, error = %error_chain(&e), "cannot read the stored schedule; polling now");
                None
            }
        }
    }

    /// Polls once under the limits and records the result. Returns when the
    /// source is due next and the fetch state recorded, or `None` when
    /// shutdown came first.
    async fn poll_source(
        &self,
        source: &SourceSettings,
        interval: Duration,
        known: Option<FetchState>,
        shutdown: &CancellationToken,
    ) -> Option<(Next, Option<FetchState>)> {
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
            tokio::spawn(async move { refresh_known(&fetcher, &store, &source, known, now).await })
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
    ) -> (Next, Option<FetchState>) {
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
                let recorded = state.clone();
                match blocking(move || store.record_success(&id, &url, &state, next, Utc::now()))
                    .await
                {
                    Ok(()) => (Next::At(next), Some(recorded)),
                    Err(e) => {
                        warn!(source = %source.id, error = %error_chain(&e), "cannot record the poll");
                        (Next::At(next), None)
                    }
                }
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
                    return (Next::Never, None);
                }
                (Next::At(next), None)
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

    fn status(
        last_attempt: Option<DateTime<Utc>>,
        next_poll: Option<DateTime<Utc>>,
        failures: u32,
    ) -> SourceStatus {
        SourceStatus {
            id: "a".to_owned(),
            url: "https://a.org/".to_owned(),
            last_attempt,
            last_success: last_attempt,
            last_error: None,
            consecutive_failures: failures,
            failing_since: None,
            gone: false,
            next_poll,
            item_count: 0,
            warning: None,
        }
    }

    #[test]
    fn a_new_task_resumes_the_stored_schedule_or_polls_a_new_source_at_once() {
        let now = Utc::now();
        let last = now - chrono::Duration::minutes(5);
        let next = now + chrono::Duration::minutes(55);
        assert_eq!(first_poll_at(None, 60 * MIN, None, now), now);
        let never = status(None, None, 0);
        assert_eq!(first_poll_at(Some(&never), 60 * MIN, None, now), now);
        let polled = status(Some(last), Some(next), 0);
        assert_eq!(first_poll_at(Some(&polled), 60 * MIN, None, now), next);
        // A longer interval keeps the stored time: it was set by the old rule
        // and is never later than the new one asks.
        assert_eq!(
            first_poll_at(Some(&polled), 120 * MIN, Some(60 * MIN), now),
            next
        );
    }

    #[test]
    fn a_shorter_interval_brings_the_next_poll_forward_unless_failing() {
        let now = Utc::now();
        let last = now - chrono::Duration::minutes(5);
        let next = now + chrono::Duration::minutes(55);
        let polled = status(Some(last), Some(next), 0);
        assert_eq!(
            first_poll_at(Some(&polled), 10 * MIN, Some(60 * MIN), now),
            last + chrono::Duration::minutes(10)
        );
        // Due already: the sleep before it is zero.
        assert_eq!(
            first_poll_at(Some(&polled), 2 * MIN, Some(60 * MIN), now),
            last + chrono::Duration::minutes(2)
        );
        let failing = status(Some(last), Some(next), 3);
        assert_eq!(
            first_poll_at(Some(&failing), 10 * MIN, Some(60 * MIN), now),
            next,
            "a failing source keeps its backoff"
        );
    }
}
