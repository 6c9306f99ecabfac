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
//!
//! It decides when, and supervises the tasks; what a poll does and stores
//! is refresh's ([`SourcePoller`]), which asks [`next_delay`] when the
//! source is due next.

use crate::config::{LiveSettings, PollSettings, Settings, SourceSettings};
use crate::dedup::DedupRule;
use crate::error::error_chain;
use crate::fetch::Fetcher;
pub use crate::refresh::PollResult;
use crate::refresh::{NextDelay, PollReport, SourcePoller};
use crate::reload::SourceChanges;
use crate::rules::Rules;
use crate::store::{BroughtForward, Claim, Lease, LeaseDeadline, Retention, SourceStatus, Store};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, error, info, warn};

/// Where the scheduler reads the time of day.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    /// The system's clock: what the daemon runs on.
    System,
    /// The time of day that follows tokio's clock from `wall` at `at`: a
    /// test that pauses tokio's time and lets it run moves this clock too,
    /// so that the scheduler's sleeps and the times it stores agree.
    Tokio {
        /// The time of day at `at`.
        wall: DateTime<Utc>,
        /// The tokio instant `wall` was read at.
        at: tokio::time::Instant,
    },
}

impl Clock {
    /// A clock that reads `wall` now and then moves with tokio's time.
    pub fn following_tokio(wall: DateTime<Utc>) -> Clock {
        Clock::Tokio {
            wall,
            at: tokio::time::Instant::now(),
        }
    }

    /// The time of day.
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Tokio { wall, at } => {
                *wall + chrono::Duration::from_std(at.elapsed()).unwrap_or(chrono::Duration::MAX)
            }
        }
    }
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
        PollResult::Failure { failures, .. } => failure_backoff(poll, interval, failures),
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

/// The wait after the `failures`-th failure in a row, before jitter.
///
/// A source that just broke, or has never worked, is tried again soon:
/// `poll.first_retry`, doubling per failure while it is shorter than the
/// interval (30 s, 1 min, 2 min, … for a 15-minute source). From the
/// interval on, the wait keeps doubling, up to `poll.max_backoff`.
fn failure_backoff(poll: &PollSettings, interval: Duration, failures: u32) -> Duration {
    let nth = failures.saturating_sub(1);
    let mut short = poll.first_retry.min(interval);
    let mut short_steps = 0u32;
    while short < interval {
        if short_steps == nth {
            return short;
        }
        short = short.saturating_mul(2);
        short_steps += 1;
    }
    let doublings = (nth - short_steps).min(20);
    interval
        .saturating_mul(1u32 << doublings)
        .min(poll.max_backoff.max(interval))
}

/// Asks the scheduler to poll sources at once: what `librarywire poll-now`
/// (through the control socket) and SIGUSR1 do. Cheap to clone.
#[derive(Clone)]
pub struct PollNow {
    store: Store,
    /// The source tasks listen here for the ids asked for.
    wake: tokio::sync::broadcast::Sender<Arc<Vec<String>>>,
}

impl PollNow {
    fn new(store: Store) -> PollNow {
        PollNow {
            store,
            wake: tokio::sync::broadcast::channel(16).0,
        }
    }

    /// Makes the sources `ids` due now and wakes their tasks. The due time
    /// goes to the store first, through the one schedule API both backends
    /// share, so that on a shared store whichever replica holds a source
    /// takes it; this daemon's tasks are woken at once. A source in the
    /// middle of a poll is polled again right after it.
    pub async fn request(&self, ids: Vec<String>) -> Result<(), crate::store::StoreError> {
        let now = Utc::now();
        for id in &ids {
            self.store.set_next_poll(id, now).await?;
        }
        // No task listening (none started yet, or all stopped) is fine: the
        // stored due time stands.
        let _ = self.wake.send(Arc::new(ids));
        Ok(())
    }
}

/// Returns once `id` is asked for on `wake` (or requests were missed, in
/// which case it may have been); never when nobody can ask any more.
async fn asked_for(wake: &mut tokio::sync::broadcast::Receiver<Arc<Vec<String>>>, id: &str) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        match wake.recv().await {
            Ok(ids) if ids.iter().any(|asked| asked == id) => return,
            Ok(_) => {}
            Err(RecvError::Lagged(_)) => return,
            Err(RecvError::Closed) => std::future::pending().await,
        }
    }
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
    clock: Clock,
    polling: Arc<Polling>,
    poll_now: PollNow,
}

/// A running source task.
struct SourceTask {
    /// Stops this task alone (a child of the shutdown token).
    cancel: CancellationToken,
    handle: JoinHandle<()>,
}

impl Scheduler {
    /// A scheduler for the sources of the live `settings`, on the system
    /// clock. Fails only when the HTTP client cannot be built.
    pub fn new(settings: LiveSettings, store: Store) -> anyhow::Result<Scheduler> {
        let (poll, cluster) = {
            let s = settings.borrow();
            (s.poll.clone(), Cluster::of(&s))
        };
        let clock = Clock::System;
        let poll_now = PollNow::new(store.clone());
        let polling = Arc::new(Polling::new(
            poll,
            cluster,
            store.clone(),
            clock,
            poll_now.wake.clone(),
            settings.clone(),
        )?);
        Ok(Scheduler {
            settings,
            store,
            clock,
            polling,
            poll_now,
        })
    }

    /// The handle that makes sources due at once (`poll-now`, SIGUSR1).
    pub fn poll_now(&self) -> PollNow {
        self.poll_now.clone()
    }

    /// The same scheduler on `clock` (tests: [`Clock::following_tokio`]).
    pub fn with_clock(mut self, clock: Clock) -> Scheduler {
        self.clock = clock;
        Arc::get_mut(&mut self.polling)
            .expect("only a scheduler that has not started holds its polling")
            .clock = clock;
        self
    }

    /// Runs one task per source and applies every new config; returns when
    /// all tasks have stopped after `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let Scheduler {
            mut settings,
            store,
            clock,
            mut polling,
            poll_now: _,
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
                        match Polling::new(new.poll.clone(), polling.cluster.clone(), store.clone(), clock, polling.wake.clone(), settings.clone()) {
                            Ok(rebuilt) => polling = Arc::new(rebuilt),
                            Err(e) => error!(error = %crate::error::error_chain(e.as_ref()), "cannot apply the new [poll] settings; the old ones stay"),
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
    let handle = tracker.spawn(
        async move {
            if let Some(before) = before {
                let _ = before.await;
            }
            polling.source_loop(source, previous_interval, token).await;
        }
        .in_current_span(),
    );
    SourceTask { cancel, handle }
}

/// This replica, as its source tasks claim their polls: its id and the
/// length of its leases (`[cluster]`, read once at start).
#[derive(Debug, Clone)]
struct Cluster {
    replica: String,
    lease: Duration,
}

impl Cluster {
    fn of(settings: &Settings) -> Cluster {
        Cluster {
            replica: settings.cluster.replica_id(),
            lease: settings.cluster.lease,
        }
    }
}

/// The shortest pause before a source whose claim failed is asked about
/// again, so that replicas whose clocks run a little ahead of the
/// database's do not ask in a tight loop.
const MIN_CLAIM_RETRY: Duration = Duration::from_millis(100);

/// How long a poll whose renewal found the lease gone may still take to
/// report: enough for one that already committed its write (which gave the
/// lease back), far too little for a fetch. A poll that truly lost its
/// lease and finishes within it had its write refused by the fencing.
const WRITE_GRACE: Duration = Duration::from_millis(250);

/// How a source task's turn went.
enum Turn {
    /// The source was polled; the report says when it is due next.
    Polled(Box<PollReport>),
    /// Not this replica's turn (not due by the database's clock, or another
    /// replica holds it), or the lease was lost mid-poll: ask again after this.
    Later(Duration),
    /// Shutdown came first.
    Stopped,
}

/// What polling needs, built from `[poll]`: rebuilt when `[poll]` changes.
struct Polling {
    poll: PollSettings,
    /// The settings in force, for the retention each poll's write applies
    /// (a reload that changes `[store]` retention applies from the next poll).
    settings: LiveSettings,
    cluster: Cluster,
    fetcher: Fetcher,
    store: Store,
    clock: Clock,
    /// Caps fetches in flight over all sources.
    global: Arc<Semaphore>,
    /// One semaphore per host. A std mutex: it is held only to look up or
    /// insert, never across an await.
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// Where [`PollNow`] wakes the source tasks.
    wake: tokio::sync::broadcast::Sender<Arc<Vec<String>>>,
}

impl Polling {
    fn new(
        poll: PollSettings,
        cluster: Cluster,
        store: Store,
        clock: Clock,
        wake: tokio::sync::broadcast::Sender<Arc<Vec<String>>>,
        settings: LiveSettings,
    ) -> anyhow::Result<Polling> {
        let fetcher = Fetcher::new(&poll)?;
        Ok(Polling {
            wake,
            settings,
            global: Arc::new(Semaphore::new(poll.concurrency)),
            poll,
            cluster,
            fetcher,
            store,
            clock,
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

    /// One source's task: waits until the source is due, polls it under the
    /// limits, and goes on with the time the poll stored, until the source
    /// is gone or `shutdown`.
    async fn source_loop(
        self: Arc<Self>,
        source: SourceSettings,
        previous_interval: Option<Duration>,
        shutdown: CancellationToken,
    ) {
        let interval = self.poll.interval_of(&source);
        let stored = self.stored_status(&source).await;
        let mut due = first_poll_at(
            stored.as_ref(),
            interval,
            previous_interval,
            self.clock.now(),
        );
        let next: NextDelay = {
            let poll = self.poll.clone();
            Arc::new(move |result| next_delay(&poll, interval, result, rand::random()))
        };
        // A reload that shortened the interval brought the source forward:
        // the claims say so until a poll (by any replica) replaces the
        // stored next poll the reload saw.
        let mut brought_forward = stored
            .as_ref()
            .and_then(|s| s.next_poll)
            .filter(|stored| due < *stored)
            .map(|stored| BroughtForward { stored, due });
        // Subscribed before the first wait, so no request after the task
        // started is missed.
        let mut wake = self.wake.subscribe();
        let mut poller = SourcePoller::new(source, self.poll.flag_after);
        loop {
            let wait = (due - self.clock.now()).to_std().unwrap_or(Duration::ZERO);
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
                () = asked_for(&mut wake, &poller.settings().id) => {
                    info!(source = %poller.settings().id, "polling now, as asked");
                }
            }
            match self
                .poll_source(&mut poller, &next, brought_forward, &shutdown)
                .await
            {
                Turn::Polled(report) if report.next_poll.is_some() => {
                    due = report.next_poll.unwrap_or(due);
                    brought_forward = None;
                }
                Turn::Later(wait) => {
                    due = self.clock.now()
                        + chrono::Duration::from_std(wait.max(MIN_CLAIM_RETRY))
                            .unwrap_or(chrono::Duration::MAX);
                }
                // Gone (a 410), or shutdown came first.
                Turn::Polled(_) | Turn::Stopped => return,
            }
        }
    }

    async fn stored_status(&self, source: &SourceSettings) -> Option<SourceStatus> {
        match self.store.source_status(&source.id).await {
            Ok(status) => status,
            Err(e) => {
                warn!(source = %source.id, error = %error_chain(&e), "cannot read the stored schedule; polling now");
                None
            }
        }
    }

    /// Polls once under the limits and this replica's lease on the source;
    /// refresh records it. Dropping the refresh (shutdown, or a lease lost
    /// while it ran) aborts it.
    async fn poll_source(
        &self,
        poller: &mut SourcePoller,
        next: &NextDelay,
        brought_forward: Option<BroughtForward>,
        shutdown: &CancellationToken,
    ) -> Turn {
        let _global = tokio::select! {
            _ = shutdown.cancelled() => return Turn::Stopped,
            permit = self.global.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return Turn::Stopped,
            },
        };
        let _host = match self.host_semaphore(poller.settings()) {
            Some(semaphore) => tokio::select! {
                _ = shutdown.cancelled() => return Turn::Stopped,
                permit = semaphore.acquire_owned() => match permit {
                    Ok(permit) => Some(permit),
                    Err(_) => return Turn::Stopped,
                },
            },
            None => None,
        };
        let id = poller.settings().id.clone();
        // Taken before the claim is sent: the lease the database grants
        // starts later than this, so a deadline counted from here comes
        // before its end.
        let asked = tokio::time::Instant::now();
        let claim = self
            .store
            .claim_source(
                &id,
                &poller.settings().url.public(),
                &self.cluster.replica,
                self.cluster.lease,
                brought_forward,
            )
            .await;
        let lease = match claim {
            Ok(Claim::Held(lease)) => lease,
            Ok(Claim::Busy { wait }) => return Turn::Later(wait),
            Err(e) => {
                warn!(source = %id, error = %error_chain(&e), "cannot claim the source's poll; trying again");
                return Turn::Later(self.cluster.lease / 10);
            }
        };
        let deadline = if self.store.is_shared() {
            LeaseDeadline::claimed(asked, self.cluster.lease)
        } else {
            LeaseDeadline::never()
        };
        if deadline.passed() {
            // The claim's answer took longer than the lease (a pause, a
            // stall): no request is sent under it.
            warn!(source = %id, replica = %lease.holder, epoch = lease.epoch,
                "the lease on the source ran out before its poll began; nothing was sent, another replica takes it over");
            return Turn::Later(Duration::ZERO);
        }
        poller.hold(lease.clone(), deadline.clone());
        {
            let settings = self.settings.borrow();
            poller.keep(Retention::of(&settings.store));
            poller.judge_duplicates(DedupRule::of(&settings.dedup, poller.settings()));
            // Read at each poll, like retention: a reload's new `[[rules]]`
            // apply from the next poll on, and never to what is stored.
            let rules = Rules::of(&settings, poller.settings());
            poller.apply_rules(rules);
        }
        let now = self.clock.now();
        let mut refresh = Box::pin(poller.refresh(&self.fetcher, &self.store, now, next));
        tokio::select! {
            _ = shutdown.cancelled() => {
                // Stopped mid-poll (shutdown, or a reload restarting the
                // source): the poll is dropped first (a write under way
                // rolls back), then the lease goes back, so that the next
                // claim, this replica's restarted task or another replica's,
                // need not wait for it to expire.
                drop(refresh);
                if let Err(e) = self.store.release_source(&id, &lease).await {
                    warn!(source = %id, error = %error_chain(&e), "cannot give the source's lease back; it expires by itself");
                }
                Turn::Stopped
            }
            report = &mut refresh => ran_out_or_polled(&id, &lease, report),
            () = renew_until_lost(&self.store, &id, &lease, &deadline, self.cluster.lease) => {
                // The poll's own write gives the lease back when it commits,
                // and a renewal just after that finds it gone: such a poll
                // is done but for its report, which comes at once. (It sends
                // no request meanwhile: its deadline has passed, or the
                // lease is gone because its write gave it back.)
                if let Ok(report) = tokio::time::timeout(WRITE_GRACE, &mut refresh).await {
                    return ran_out_or_polled(&id, &lease, report);
                }
                warn!(source = %id, replica = %lease.holder, epoch = lease.epoch,
                    "lost the lease on the source mid-poll; the poll is dropped, another replica takes it over");
                Turn::Later(Duration::ZERO)
            }
        }
    }
}

/// The turn a finished refresh makes: polled, or dropped because its lease
/// ran out before a request.
fn ran_out_or_polled(id: &str, lease: &Lease, report: PollReport) -> Turn {
    if report.lease_ran_out() {
        warn!(source = %id, replica = %lease.holder, epoch = lease.epoch,
            "the lease on the source ran out mid-poll (this replica was paused or stalled); the poll is dropped before its next request, another replica takes it over");
        return Turn::Later(Duration::ZERO);
    }
    Turn::Polled(Box::new(report))
}

/// Renews `lease` on `source_id` every third of its length while a poll
/// runs, so a slow poll is never taken over, and moves its `deadline` on
/// with each renewal; returns once a renewal finds it lost (it expired, say
/// because this process was paused), or the deadline passed first. A failed
/// renewal is tried again at the next turn: the lease still runs meanwhile.
async fn renew_until_lost(
    store: &Store,
    source_id: &str,
    lease: &Lease,
    deadline: &LeaseDeadline,
    length: Duration,
) {
    loop {
        tokio::time::sleep(length / 3).await;
        if deadline.passed() {
            // Renewing now could only extend a lease this replica no
            // longer counts on.
            return;
        }
        let asked = tokio::time::Instant::now();
        match store.renew_source(source_id, lease, length).await {
            Ok(true) => deadline.renewed(asked, length),
            Ok(false) => return,
            Err(e) => {
                warn!(source = %source_id, error = %error_chain(&e), "cannot renew the source's lease");
            }
        }
    }
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
        // The short first retries are the next test's; here they are off.
        let p = PollSettings {
            first_retry: 10 * MIN,
            ..p
        };
        assert_eq!(next_delay(&p, 10 * MIN, fail(1), 0.5), 10 * MIN);
        assert_eq!(next_delay(&p, 10 * MIN, fail(2), 0.5), 20 * MIN);
        assert_eq!(next_delay(&p, 10 * MIN, fail(3), 0.5), 40 * MIN);
        assert_eq!(next_delay(&p, 10 * MIN, fail(30), 0.5), 6 * 60 * MIN);
    }

    #[test]
    fn a_first_failure_is_retried_soon_doubling_to_the_interval_then_backing_off() {
        let p = poll();
        assert_eq!(p.first_retry, Duration::from_secs(30), "the default");
        let fail = |failures| PollResult::Failure {
            failures,
            retry_after: None,
        };
        let secs = Duration::from_secs;
        let waits: Vec<_> = (1..=9)
            .map(|n| next_delay(&p, 10 * MIN, fail(n), 0.5))
            .collect();
        assert_eq!(
            waits,
            [
                secs(30),
                secs(60),
                secs(120),
                secs(240),
                secs(480),
                10 * MIN,
                20 * MIN,
                40 * MIN,
                80 * MIN
            ]
        );
        assert_eq!(next_delay(&p, 10 * MIN, fail(40), 0.5), 6 * 60 * MIN);
        // Never longer than the interval while short: a 1-minute source.
        assert_eq!(next_delay(&p, MIN, fail(2), 0.5), MIN);
        // A first retry longer than the interval is the interval.
        let slow = PollSettings {
            first_retry: 60 * MIN,
            ..poll()
        };
        assert_eq!(next_delay(&slow, 10 * MIN, fail(1), 0.5), 10 * MIN);
        // Retry-After is still the floor.
        let asked = PollResult::Failure {
            failures: 1,
            retry_after: Some(5 * MIN),
        };
        assert_eq!(next_delay(&p, 10 * MIN, asked, 0.5), 5 * MIN);
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
        // Longer than the 30 s first retry, so it is the wait.
        assert_eq!(next_delay(&p, 10 * MIN, small, 0.5), MIN);
        let second = PollResult::Failure {
            failures: 7,
            retry_after: Some(MIN),
        };
        assert_eq!(next_delay(&p, 10 * MIN, second, 0.5), 20 * MIN);
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
            not_followed: Vec::new(),
            lease: None,
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

/// The scheduler's loop on tokio's paused clock: file sources (read on the
/// blocking pool, which holds paused time still while it works, and with no
/// socket timeout to fire), a real store, and [`Clock::following_tokio`], so
/// every stored time is exact.
#[cfg(test)]
mod loop_tests {
    use super::*;
    use crate::config::SourceKind;
    use chrono::TimeZone;

    const MIN: Duration = Duration::from_secs(60);

    fn wall() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    fn at(minutes: i64) -> Option<DateTime<Utc>> {
        Some(wall() + chrono::Duration::minutes(minutes))
    }

    fn rss(guids: &[&str]) -> String {
        let items: String = guids
            .iter()
            .map(|g| format!("<item><guid>{g}</guid><title>Item {g}</title></item>"))
            .collect();
        format!("<rss version=\"2.0\"><channel><title>t</title>{items}</channel></rss>")
    }

    fn settings(url: String, interval: Duration) -> Settings {
        Settings {
            server: Default::default(),
            store: Default::default(),
            cluster: Default::default(),
            amqp: Default::default(),
            poll: PollSettings {
                interval,
                jitter: 0.0,
                max_backoff: 60 * MIN,
                ..PollSettings::default()
            },
            log: Default::default(),
            dedup: Default::default(),
            rules: Vec::new(),
            sources: vec![SourceSettings {
                id: "f".to_owned(),
                name: None,
                url: url.into(),
                password_env: None,
                interval: None,
                kind: SourceKind::Feed,
                page: None,
                encoding: None,
                timezone: None,
                dedup: true,
                full_text: false,
                full_text_per_poll: None,
                rules: Vec::new(),
            }],
        }
    }

    /// A scheduler over `settings` on the paused clock, running.
    fn spawn_scheduler(
        settings: Settings,
        store: &Store,
    ) -> (CancellationToken, tokio::task::JoinHandle<()>) {
        let (_sender, live) = crate::config::live(settings);
        let scheduler = Scheduler::new(live, store.clone())
            .unwrap()
            .with_clock(Clock::following_tokio(wall()));
        let shutdown = CancellationToken::new();
        let run = tokio::spawn(scheduler.run(shutdown.clone()));
        (shutdown, run)
    }

    /// Lets tokio's paused time run until `minutes` after `start`.
    async fn until(start: tokio::time::Instant, minutes: u32) {
        tokio::time::sleep_until(start + minutes * MIN).await;
    }

    async fn status(store: &Store) -> SourceStatus {
        store
            .source_status("f")
            .await
            .unwrap()
            .expect("the source was polled")
    }

    #[tokio::test(start_paused = true)]
    async fn a_working_source_is_polled_once_per_interval() {
        let start = tokio::time::Instant::now();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feed.xml");
        std::fs::write(&path, rss(&["a"])).unwrap();
        let url = url::Url::from_file_path(&path).unwrap().to_string();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        let (shutdown, run) = spawn_scheduler(settings(url, 10 * MIN), &store);

        until(start, 5).await;
        let first = status(&store).await;
        assert_eq!(first.last_success, at(0), "due at once, polled at once");
        assert_eq!(first.next_poll, at(10));
        assert_eq!(first.item_count, 1);
        // The file gains an item between two polls: the next poll, and
        // not an earlier one, brings it.
        std::fs::write(&path, rss(&["a", "b"])).unwrap();
        until(start, 9).await;
        assert_eq!(
            status(&store).await.item_count,
            1,
            "not polled before it is due"
        );
        until(start, 15).await;
        assert_eq!(status(&store).await.item_count, 2);
        assert_eq!(status(&store).await.last_success, at(10));

        until(start, 35).await;
        let later = status(&store).await;
        assert_eq!(later.last_attempt, at(30));
        assert_eq!(later.next_poll, at(40));
        assert_eq!(later.consecutive_failures, 0);
        shutdown.cancel();
        run.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_source_backs_off_and_comes_back_on_its_interval() {
        let start = tokio::time::Instant::now();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feed.xml");
        let url = url::Url::from_file_path(&path).unwrap().to_string();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        // The long backoff alone: no short first retries.
        let mut settings = settings(url, 10 * MIN);
        settings.poll.first_retry = 10 * MIN;
        let (shutdown, run) = spawn_scheduler(settings, &store);

        // Missing: polled at 0, 10, 30 and 70 minutes (10, 20, 40 and then
        // the 60-minute cap between tries).
        until(start, 100).await;
        let failing = status(&store).await;
        assert_eq!(failing.consecutive_failures, 4);
        assert_eq!(failing.last_attempt, at(70));
        assert_eq!(failing.failing_since, at(0));
        assert_eq!(failing.next_poll, at(130));
        assert_eq!(failing.last_success, None);

        std::fs::write(&path, rss(&["a"])).unwrap();
        until(start, 135).await;
        let back = status(&store).await;
        assert_eq!(back.consecutive_failures, 0);
        assert_eq!(back.last_success, at(130));
        assert_eq!(back.next_poll, at(140), "back on its interval");
        assert_eq!(back.item_count, 1);
        shutdown.cancel();
        run.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_source_that_never_worked_is_retried_soon_and_polled_at_once_when_asked() {
        let start = tokio::time::Instant::now();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feed.xml");
        let url = url::Url::from_file_path(&path).unwrap().to_string();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        let (_sender, live) = crate::config::live(settings(url, 60 * MIN));
        let scheduler = Scheduler::new(live, store.clone())
            .unwrap()
            .with_clock(Clock::following_tokio(wall()));
        let poll_now = scheduler.poll_now();
        let shutdown = CancellationToken::new();
        let run = tokio::spawn(scheduler.run(shutdown.clone()));

        // Missing from the start: tried at 0, then 30 s, 1 min and 2 min
        // later (at 0:30, 1:30 and 3:30), not an hour later.
        until(start, 5).await;
        let failing = status(&store).await;
        assert_eq!(failing.consecutive_failures, 4);
        let secs = |s: i64| Some(wall() + chrono::Duration::seconds(s));
        assert_eq!(failing.last_attempt, secs(210));
        assert_eq!(failing.next_poll, secs(210 + 240));

        // Fixed; asked for at 6 minutes: polled then, not at 7:30.
        std::fs::write(&path, rss(&["a"])).unwrap();
        until(start, 6).await;
        poll_now.request(vec!["f".to_owned()]).await.unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let back = status(&store).await;
        assert_eq!(back.consecutive_failures, 0);
        assert_eq!(back.last_success, at(6));
        assert_eq!(back.item_count, 1);
        // Another source's request wakes nobody here.
        poll_now.request(vec!["other".to_owned()]).await.unwrap();
        until(start, 8).await;
        assert_eq!(status(&store).await.last_attempt, at(6));
        shutdown.cancel();
        run.await.unwrap();
    }

    /// The scheduler passes a source's `Retry-After` (here an HTTP date) on
    /// to the next poll's time. Real time and a real server: a socket's
    /// timeouts must not fire on a paused clock.
    #[tokio::test]
    async fn a_retry_after_date_puts_the_next_poll_after_it() {
        let later = std::time::SystemTime::now() + Duration::from_secs(2 * 3600);
        let date = httpdate::fmt_http_date(later);
        let app = axum::Router::new().route(
            "/feed.xml",
            axum::routing::get(move || {
                let date = date.clone();
                async move {
                    (
                        axum::http::StatusCode::SERVICE_UNAVAILABLE,
                        [("retry-after", date)],
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/feed.xml", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        let (_sender, live) = crate::config::live(settings(url, Duration::from_secs(1)));
        let shutdown = CancellationToken::new();
        let run = tokio::spawn(
            Scheduler::new(live, store.clone())
                .unwrap()
                .run(shutdown.clone()),
        );
        let failed = tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                match store.source_status("f").await.unwrap() {
                    Some(status) if status.consecutive_failures > 0 => break status,
                    _ => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
        })
        .await
        .expect("the source's failure is recorded");
        let next = failed.next_poll.expect("a failing source is due again");
        let floor = chrono::DateTime::<Utc>::from(later) - chrono::Duration::seconds(5);
        assert!(
            next >= floor,
            "due at {next}, before the Retry-After of {}",
            chrono::DateTime::<Utc>::from(later)
        );
        shutdown.cancel();
        run.await.unwrap();
    }
}
