//! Refresh: the one owner of a poll. It runs fetch → parse → normalize for a
//! feed source (fetch → page for a page source, `page.rs`), then hands the
//! poll's whole outcome (items, fetch state, success or failure, next poll,
//! page yield) to one store call, [`Store::record_poll`].
//!
//! The scheduler decides when; refresh decides nothing about time but the
//! `now` it stamps items with, and asks the scheduler's rule ([`NextDelay`])
//! when the source is due next.

mod full_text;
mod page;

pub use full_text::FULL_TEXT_TRIES;

use crate::config::{PollSettings, SourceKind, SourceSettings};
use crate::dedup::DedupRule;
use crate::error::error_chain;
use crate::fetch::{FetchError, FetchOutcome, FetchState, Fetched, Fetcher};
use crate::item::{Item, SourceRef};
use crate::normalize::normalize;
use crate::parse::{ParseError, ParseOptions, Recovered, parse_feed};
use crate::rules::{Ruled, Rules};
use crate::store::{
    ApplyOutcome, FullTextAttempt, Lease, LeaseDeadline, PageYield, PollOutcome, PollRecord,
    Retention, Store, StoreError,
};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::task::AbortOnDropHandle;
use tracing::{Instrument, debug, error, info, warn};
use url::Url;

/// Why a refresh failed. A failed refresh is the source's state, never the daemon's.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// The fetch failed.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The body is not a usable feed.
    #[error("{url}: {error}")]
    Parse {
        /// Where the body came from.
        url: String,
        /// Why it is not a feed.
        error: ParseError,
    },
    /// Parsing or normalizing panicked: a bug, contained to this source.
    #[error("{url}: the parser crashed on this body ({message}); please report it")]
    Panic {
        /// Where the body came from.
        url: String,
        /// The panic message.
        message: String,
    },
    /// A page source's selectors cannot be used (validation should have caught it).
    #[error("{url}: {error}")]
    Page {
        /// The page.
        url: String,
        /// Which selector, and why.
        error: crate::page::PageError,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The source's URL is not a URL (validation should have caught it).
    #[error("bad source URL: {0}")]
    Url(#[from] url::ParseError),
    /// The lease the poll ran under ran out by this process's clock before
    /// its next request (the process was paused or stalled): nothing was
    /// sent, and nothing is recorded; another replica polls the source.
    #[error("source {source_id}: the lease ran out before the next request; nothing was sent")]
    LeaseRanOut {
        /// The source.
        source_id: String,
    },
}

impl RefreshError {
    /// A short, stable name of the kind of failure, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            RefreshError::Fetch(e) => e.kind(),
            RefreshError::Parse { .. } => "parse",
            RefreshError::Panic { .. } => "panic",
            RefreshError::Page { .. } => "config",
            RefreshError::Store(_) => "store",
            RefreshError::Url(_) => "config",
            RefreshError::LeaseRanOut { .. } => "lease",
        }
    }

    /// Whether the source said it is gone for good (HTTP 410).
    pub fn is_gone(&self) -> bool {
        matches!(
            self,
            RefreshError::Fetch(FetchError::Status { status: 410, .. })
        )
    }

    /// How long the source asked us to wait before the next try, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            RefreshError::Fetch(e) => e.retry_after(),
            _ => None,
        }
    }
}

/// How one poll went, as far as timing the next one is concerned: what the
/// scheduler's rule ([`NextDelay`]) is asked about.
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

/// The rule that says how long after a poll its source is due again: the
/// scheduler's, handed in, so that the time of the next poll is written in
/// the same store call as the poll itself.
pub type NextDelay = Arc<dyn Fn(PollResult) -> Duration + Send + Sync>;

/// A source's items, fresh from its feed: what `poll-once` prints.
#[derive(Debug)]
pub struct Polled {
    /// The fetch itself: new validators, final URL, caching hints.
    pub fetched: Fetched,
    /// The normalized items; empty when the source answered "not modified".
    pub items: Vec<Item>,
    /// The feed's `<ttl>`, when it gave one.
    pub ttl: Option<Duration>,
    /// Set when feed-rs refused the feed and its entries were recovered.
    pub recovered: Option<Recovered>,
    /// What the admin's rules did to the items they touched, in feed order:
    /// the dropped ones (no longer in `items`) too.
    pub ruled: Vec<Ruled>,
}

impl Polled {
    /// How many items the rules dropped.
    pub fn dropped_by_rules(&self) -> usize {
        self.ruled.iter().filter(|r| r.verdict.fate.drops()).count()
    }
}

/// What one refresh of a source did.
#[derive(Debug, Clone)]
pub struct Refreshed {
    /// True when the source answered "not modified".
    pub not_modified: bool,
    /// Items seen in the feed this time, those the rules dropped included.
    pub items_seen: usize,
    /// Items the admin's rules dropped: not stored.
    pub dropped_by_rules: usize,
    /// What the store did with them.
    pub applied: ApplyOutcome,
    /// The longest wait the source suggested (`max-age` or `<ttl>`), if any.
    pub suggested_interval: Option<Duration>,
    /// The validators stored for the next poll.
    pub state: FetchState,
    /// The URL the body came from.
    pub final_url: Url,
    /// feed-rs refused the feed; its entries were recovered.
    pub recovered: bool,
}

/// The `outcome` label of one poll in the metrics: what it brought, or the
/// kind of error. A bounded set of values.
pub fn outcome_label(result: &Result<Refreshed, RefreshError>) -> &'static str {
    match result {
        Ok(r) if r.not_modified => "not_modified",
        Ok(r) if r.recovered => "recovered",
        Ok(r) if r.applied.new > 0 => "new_items",
        Ok(r) if r.applied.updated > 0 => "updated_items",
        Ok(_) => "no_change",
        Err(e) => e.kind(),
    }
}

/// What one [`SourcePoller::refresh`] did, as the source's task needs it.
#[derive(Debug)]
pub struct PollReport {
    /// What the poll brought, or why it failed.
    pub result: Result<Refreshed, RefreshError>,
    /// When the source is due next; `None` when it is gone and its polling stops.
    pub next_poll: Option<DateTime<Utc>>,
}

impl PollReport {
    /// Whether the poll was dropped because its lease ran out before a
    /// request ([`RefreshError::LeaseRanOut`]): nothing was recorded, and
    /// `next_poll` means nothing.
    pub fn lease_ran_out(&self) -> bool {
        matches!(self.result, Err(RefreshError::LeaseRanOut { .. }))
    }
}

/// One source as its task polls it: its settings, its page selectors
/// (compiled once, when the task starts), and what the task remembers
/// between polls. Cheap to clone.
#[derive(Clone)]
pub struct SourcePoller {
    source: Arc<Source>,
    /// What the last recorded poll left in the store. A source's own task is
    /// the only writer of its state, so it need not read it back: an all-304
    /// cycle saves a store read per source. `None` (at start, or after a
    /// write that failed) means read it.
    memory: Option<Memory>,
    /// The lease the next poll runs under (a shared store), and the one
    /// before it.
    lease: Option<Lease>,
    /// That lease's end by this process's clock: no request is sent after it.
    deadline: LeaseDeadline,
    /// What the store keeps of the polls' items ([`SourcePoller::keep`]).
    retention: Retention,
    /// How the store judges the polls' new items as duplicates
    /// ([`SourcePoller::judge_duplicates`]).
    dedup: DedupRule,
    /// The admin's rules the polls' items go through ([`SourcePoller::apply_rules`]).
    rules: Rules,
}

/// What a [`SourcePoller`] knows of its source, and never changes.
struct Source {
    settings: SourceSettings,
    source_ref: SourceRef,
    /// The page selectors of a page source; `None` for a feed.
    selectors: Option<page::Compiled>,
    /// After failing this long without a break, the source is flagged.
    flag_after: Duration,
}

/// The source's state as the last recorded poll left it.
#[derive(Debug, Clone)]
struct Memory {
    state: FetchState,
    failures: u32,
}

/// One poll under way: when it started, and what the task knew before it.
struct Attempt {
    /// The poll's `now`: items are stamped with it.
    now: DateTime<Utc>,
    /// The same moment on tokio's clock, to time the poll.
    started: tokio::time::Instant,
    /// The fetch state it started from, once known.
    start_state: Option<FetchState>,
    /// The failures in a row before it, when the task kept them.
    known_failures: Option<u32>,
    /// The lease it runs under; its write commits only while it is held.
    lease: Option<Lease>,
    /// What the store keeps of its items.
    retention: Retention,
    /// How the store judges its new items as duplicates.
    dedup: DedupRule,
}

/// What a poll read, before it is stored.
struct Collected {
    polled: Polled,
    page_yield: Option<PageYield>,
    /// The article fetches of a `full_text = true` source.
    full_text: Vec<FullTextAttempt>,
}

impl SourcePoller {
    /// A poller of `source`, flagged in the log after failing for `flag_after`
    /// (`poll.flag_after`). A page source's selectors are compiled here.
    pub fn new(source: SourceSettings, flag_after: Duration) -> SourcePoller {
        let selectors = (source.kind == SourceKind::Page).then(|| page::compile(&source));
        SourcePoller {
            source: Arc::new(Source {
                source_ref: source.source_ref(),
                settings: source,
                selectors,
                flag_after,
            }),
            memory: None,
            lease: None,
            deadline: LeaseDeadline::never(),
            retention: Retention::default(),
            dedup: DedupRule::default(),
            rules: Rules::default(),
        }
    }

    /// Stores the next polls' items under `retention` (the daemon's
    /// `[store]` settings in force): a new item already older than its
    /// `max_age` and below the source's newest `min_per_source` is not
    /// stored. Without it, a poller stores every item (tools and tests).
    pub fn keep(&mut self, retention: Retention) {
        self.retention = retention;
    }

    /// Has the store judge the next polls' new items under `rule` (the
    /// daemon's `[dedup]` and the source's `dedup` in force). Without it, a
    /// poller's items are fingerprinted but not judged (tools and tests).
    pub fn judge_duplicates(&mut self, rule: DedupRule) {
        self.dedup = rule;
    }

    /// Puts the next polls' items through `rules` (the `[[rules]]` and the
    /// source's own in force) before the store: what they drop is never
    /// stored. Without it, a poller keeps every item as normalized.
    pub fn apply_rules(&mut self, rules: Rules) {
        self.rules = rules;
    }

    /// Runs the next polls under `lease`, the claim the scheduler made,
    /// sending no request once `deadline` has passed (the scheduler's
    /// renewals move it on). When another replica held the source since
    /// this one's last claim, what this poller remembers of the source's
    /// state may be out of date, so it is read from the store again.
    pub fn hold(&mut self, lease: Lease, deadline: LeaseDeadline) {
        if !lease.follows(self.lease.as_ref()) {
            self.memory = None;
        }
        self.lease = Some(lease);
        self.deadline = deadline;
    }

    /// The source's settings.
    pub fn settings(&self) -> &SourceSettings {
        &self.source.settings
    }

    /// Fetches the source with `state` for a conditional request, and reads
    /// its items, through the rules. Touches no store.
    pub async fn poll(
        &self,
        fetcher: &Fetcher,
        state: &FetchState,
        now: DateTime<Utc>,
    ) -> Result<Polled, RefreshError> {
        self.source.poll(fetcher, state, &self.rules, now).await
    }

    /// What `poll-once` shows: [`SourcePoller::poll`] without validators,
    /// and for a `follow = true` page source every item's own page, since
    /// nothing is stored and so every item is new.
    pub async fn preview(
        &self,
        fetcher: &Fetcher,
        now: DateTime<Utc>,
    ) -> Result<Polled, RefreshError> {
        let mut polled = self.poll(fetcher, &FetchState::default(), now).await?;
        if self.source.settings.full_text {
            full_text::fetch_full_text(
                fetcher,
                &self.source.settings,
                self.source.page_selectors(),
                &mut polled,
                &full_text::Known::default(),
                false,
                now,
                &LeaseDeadline::never(),
            )
            .await?;
        } else if let Some(Ok(selectors)) = &self.source.selectors {
            let none_known = std::collections::HashSet::new();
            page::follow_articles(
                fetcher,
                &self.source.settings,
                selectors,
                &mut polled.items,
                &none_known,
                now,
                &LeaseDeadline::never(),
            )
            .await;
        }
        Ok(polled)
    }

    /// Runs one poll started at `now` and records all of it in one store
    /// call; `next` says how long until the next poll. A poll whose lease
    /// runs out before one of its requests stops there and records nothing
    /// ([`PollReport::lease_ran_out`]).
    ///
    /// The poll runs as a task of its own, so that a panic anywhere in it
    /// stays this source's error (recorded as a failure), and dropping this
    /// future aborts it: the store writes a poll in one transaction, so an
    /// aborted poll leaves all of it or none.
    pub async fn refresh(
        &mut self,
        fetcher: &Fetcher,
        store: &Store,
        now: DateTime<Utc>,
        next: &NextDelay,
    ) -> PollReport {
        let started = tokio::time::Instant::now();
        let memory = self.memory.take();
        let known_failures = memory.as_ref().map(|m| m.failures);
        let lease = self.lease.clone();
        let retention = self.retention;
        let dedup = self.dedup;
        let task = {
            let (source, fetcher, store, next, lease, deadline, rules) = (
                self.source.clone(),
                fetcher.clone(),
                store.clone(),
                next.clone(),
                lease.clone(),
                self.deadline.clone(),
                self.rules.clone(),
            );
            AbortOnDropHandle::new(tokio::spawn(
                async move {
                    let known = memory.map(|m| m.state);
                    let (start_state, collected) = source
                        .collect(&fetcher, &store, known, &rules, now, &deadline)
                        .await;
                    let attempt = Attempt {
                        now,
                        started,
                        start_state,
                        known_failures,
                        lease,
                        retention,
                        dedup,
                    };
                    source.record(&store, collected, attempt, &next).await
                }
                .in_current_span(),
            ))
        };
        let (report, memory) = match task.await {
            Ok(done) => done,
            Err(e) => {
                let error = RefreshError::Panic {
                    url: self.source.settings.url.public(),
                    message: panic_message(e),
                };
                let attempt = Attempt {
                    now,
                    started,
                    start_state: None,
                    known_failures,
                    lease,
                    retention,
                    dedup,
                };
                self.source.record(store, Err(error), attempt, next).await
            }
        };
        self.memory = memory;
        report
    }
}

impl Source {
    /// Fetches and reads the source, and puts its items through `rules`
    /// (on the blocking pool, with the parsing), before any article of a
    /// page source is followed: an item the rules drop costs no request.
    async fn poll(
        &self,
        fetcher: &Fetcher,
        state: &FetchState,
        rules: &Rules,
        now: DateTime<Utc>,
    ) -> Result<Polled, RefreshError> {
        let url = self.settings.parsed_url()?;
        let credentials = self.settings.credentials();
        let fetched = fetcher.fetch_as(&url, credentials.as_ref(), state).await?;
        let body = match &fetched.outcome {
            FetchOutcome::NotModified => {
                return Ok(Polled {
                    fetched,
                    items: Vec::new(),
                    ttl: None,
                    recovered: None,
                    ruled: Vec::new(),
                });
            }
            FetchOutcome::Body(body) => body.clone(),
        };
        if let Some(selectors) = &self.selectors {
            return page::read(&self.settings, selectors, rules, fetched, body, now).await;
        }
        let source_ref = self.source_ref.clone();
        let final_url = fetched.final_url.clone();
        let content_type = fetched.content_type.clone();
        let encoding = self.settings.encoding_override();
        let timezone = self.settings.time_zone();
        let rules = rules.clone();
        // Parsing is CPU work on up to `max_body` bytes: keep it off the async
        // workers. A panic inside becomes this source's error, not the daemon's.
        let parsed = contained(move || {
            let options = ParseOptions {
                base_url: &final_url,
                content_type: content_type.as_deref(),
                encoding,
                timezone,
            };
            let parsed = parse_feed(&body, &options)?;
            let ttl = parsed
                .feed
                .ttl
                .map(|minutes| Duration::from_secs(u64::from(minutes) * 60));
            let mut items = normalize(&source_ref, &parsed.base, &parsed.feed, now);
            let ruled = rules.apply(&mut items, now);
            Ok::<_, ParseError>((items, ruled, ttl, parsed.recovered))
        })
        .await;
        let url_text = fetched.final_url.to_string();
        match parsed {
            Ok(Ok((items, ruled, ttl, recovered))) => Ok(Polled {
                fetched,
                items,
                ttl,
                recovered,
                ruled,
            }),
            Ok(Err(error)) => Err(RefreshError::Parse {
                url: url_text,
                error,
            }),
            Err(message) => Err(RefreshError::Panic {
                url: url_text,
                message,
            }),
        }
    }

    /// Everything a poll does before its store write: the fetch state when
    /// the task did not keep it, the fetch and the bytes-to-items stage, and
    /// for a page source that sent a page, its followed articles and its
    /// yield. Returns the fetch state it started from too, when it got that far.
    /// No request goes out once `deadline` has passed.
    async fn collect(
        &self,
        fetcher: &Fetcher,
        store: &Store,
        known: Option<FetchState>,
        rules: &Rules,
        now: DateTime<Utc>,
        deadline: &LeaseDeadline,
    ) -> (Option<FetchState>, Result<Collected, RefreshError>) {
        let state = match known {
            Some(state) => state,
            None => match store.fetch_state(&self.settings.id).await {
                Ok(state) => state,
                Err(e) => return (None, Err(e.into())),
            },
        };
        let collected = async {
            if deadline.passed() {
                return Err(self.lease_ran_out());
            }
            let mut polled = self.poll(fetcher, &state, rules, now).await?;
            let page_yield = match &self.selectors {
                Some(Ok(selectors)) if matches!(polled.fetched.outcome, FetchOutcome::Body(_)) => {
                    Some(
                        page::after_read(
                            fetcher,
                            store,
                            &self.settings,
                            selectors,
                            &mut polled,
                            now,
                            deadline,
                        )
                        .await?,
                    )
                }
                _ => None,
            };
            let full_text = if self.settings.full_text
                && matches!(polled.fetched.outcome, FetchOutcome::Body(_))
            {
                let ids: Vec<_> = polled.items.iter().map(|i| i.id.clone()).collect();
                let known = full_text::Known {
                    items: store.known_ids(&ids).await?,
                    states: store.full_text_states(&ids).await?,
                };
                full_text::fetch_full_text(
                    fetcher,
                    &self.settings,
                    self.page_selectors(),
                    &mut polled,
                    &known,
                    true,
                    now,
                    deadline,
                )
                .await?
                .attempts
            } else {
                Vec::new()
            };
            Ok(Collected {
                polled,
                page_yield,
                full_text,
            })
        }
        .await;
        (Some(state), collected)
    }

    /// The compiled selectors of a page source whose selectors compiled.
    fn page_selectors(&self) -> Option<&Arc<crate::page::PageSelectors>> {
        match &self.selectors {
            Some(Ok(selectors)) => Some(selectors),
            _ => None,
        }
    }

    fn lease_ran_out(&self) -> RefreshError {
        RefreshError::LeaseRanOut {
            source_id: self.settings.id.clone(),
        }
    }

    /// Hands the poll's outcome to the store in one call, logs it and counts
    /// it. Returns the report, and what the task may remember of the stored
    /// state (`None` when the write failed, so the next poll reads it).
    ///
    /// A poll whose lease ran out writes nothing: the lease is another
    /// replica's now, and the source's state is as it was.
    async fn record(
        &self,
        store: &Store,
        collected: Result<Collected, RefreshError>,
        attempt: Attempt,
        next: &NextDelay,
    ) -> (PollReport, Option<Memory>) {
        if let Err(error @ RefreshError::LeaseRanOut { .. }) = collected {
            let memory = attempt
                .start_state
                .zip(attempt.known_failures)
                .map(|(state, failures)| Memory { state, failures });
            let report = PollReport {
                result: Err(error),
                next_poll: None,
            };
            return (report, memory);
        }
        let error = match collected {
            Ok(collected) => match self.record_success(store, collected, &attempt, next).await {
                Ok(done) => return done,
                Err(e) => {
                    // The poll's items are not stored either: the poll failed.
                    warn!(source = %self.settings.id, error = %error_chain(&e), "cannot record the poll");
                    RefreshError::Store(e)
                }
            },
            Err(error) => error,
        };
        self.record_failure(store, error, attempt, next).await
    }

    async fn record_success(
        &self,
        store: &Store,
        collected: Collected,
        attempt: &Attempt,
        next: &NextDelay,
    ) -> Result<(PollReport, Option<Memory>), StoreError> {
        let Attempt { now, started, .. } = *attempt;
        let Collected {
            polled,
            page_yield,
            full_text,
        } = collected;
        let not_modified = matches!(polled.fetched.outcome, FetchOutcome::NotModified);
        let recovered = polled.recovered.is_some();
        // A feed's warning is that it was recovered from a malformed body;
        // each feed it sends sets or clears it (the store keeps it where it
        // keeps a page source's yield warning).
        let page_yield = match page_yield {
            Some(page_yield) => Some(page_yield),
            None if self.selectors.is_none() && !not_modified => Some(PageYield {
                baseline: None,
                warning: polled.recovered.as_ref().map(Recovered::warning),
                not_followed: None,
            }),
            None => None,
        };
        if let Some(recovered) = &polled.recovered {
            warn!(source = %self.settings.id, warning = %recovered.warning(), "feed recovered");
        }
        let suggested_interval = match (polled.fetched.max_age, polled.ttl) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let delay = next(PollResult::Success {
            suggested: suggested_interval,
        });
        let next_poll = after(now, delay);
        let dropped_by_rules = polled.dropped_by_rules();
        let items_seen = polled.items.len() + dropped_by_rules;
        for ruled in &polled.ruled {
            debug!(source = %self.settings.id, item = %ruled.id, title = %ruled.title, rules = %ruled.verdict, "rules applied");
        }
        let state = polled.fetched.state;
        let final_url = polled.fetched.final_url;
        let record = PollRecord {
            source: self.source_ref.clone(),
            url: final_url.to_string(),
            started: now,
            finished: finished(now, started),
            next_poll,
            outcome: PollOutcome::Success {
                state: state.clone(),
                items: polled.items,
                page_yield,
                full_text,
            },
            retention: attempt.retention,
            dedup: attempt.dedup,
            lease: attempt.lease.clone(),
        };
        let recorded = store.record_poll(record).await?;
        let applied = recorded.applied;
        info!(
            source = %self.settings.id,
            not_modified,
            seen = items_seen,
            new = applied.new,
            updated = applied.updated,
            too_old = applied.retired,
            dropped_by_rules,
            next_in = %humantime::format_duration(round_secs(delay)),
            "polled"
        );
        crate::metrics::items_dropped(&self.settings.id, dropped_by_rules, applied.retired);
        let result = Ok(Refreshed {
            not_modified,
            items_seen,
            dropped_by_rules,
            applied,
            suggested_interval,
            state: state.clone(),
            final_url,
            recovered,
        });
        self.count(&result, started);
        let memory = Memory { state, failures: 0 };
        Ok((
            PollReport {
                result,
                next_poll: Some(next_poll),
            },
            Some(memory),
        ))
    }

    async fn record_failure(
        &self,
        store: &Store,
        error: RefreshError,
        attempt: Attempt,
        next: &NextDelay,
    ) -> (PollReport, Option<Memory>) {
        let Attempt {
            now,
            started,
            start_state,
            known_failures,
            lease,
            retention,
            dedup,
        } = attempt;
        let id = self.settings.id.clone();
        let reason = error_chain(&error);
        // The failure count lives in the store, so backoff survives restarts.
        let previous = match known_failures {
            Some(failures) => failures,
            None => store
                .source_status(&id)
                .await
                .ok()
                .flatten()
                .map_or(0, |s| s.consecutive_failures),
        };
        let failures = previous + 1;
        let delay = next(PollResult::Failure {
            failures,
            retry_after: error.retry_after(),
        });
        let next_poll = after(now, delay);
        let gone = error.is_gone();
        warn!(
            source = %id,
            kind = error.kind(),
            failures,
            retry_in = %humantime::format_duration(round_secs(delay)),
            error = %reason,
            "poll failed"
        );
        let record = PollRecord {
            source: self.source_ref.clone(),
            url: self.settings.url.public(),
            started: now,
            finished: finished(now, started),
            next_poll,
            outcome: PollOutcome::Failure {
                reason: reason.clone(),
                gone,
            },
            retention,
            dedup,
            lease,
        };
        let memory = match store.record_poll(record).await {
            Ok(recorded) => {
                // A source that has failed for longer than `flag_after` is
                // flagged in /status; say so loudly in the log too, on every
                // failure, so it cannot go unnoticed.
                if let Some(since) = recorded.failing_since
                    && crate::status::is_flagged(since, self.flag_after, now)
                {
                    let failing_for = (now - since).to_std().unwrap_or_default();
                    error!(
                        source = %id,
                        failing_for = %humantime::format_duration(round_secs(failing_for)),
                        error = %reason,
                        "source flagged: it has been failing without a break"
                    );
                }
                start_state.map(|state| Memory {
                    state,
                    failures: recorded.consecutive_failures,
                })
            }
            Err(e) => {
                warn!(source = %id, error = %error_chain(&e), "cannot record the failure");
                None
            }
        };
        if gone {
            // 410 says the feed was removed on purpose: asking again is
            // noise. The source stays listed, flagged, with its items, until
            // the admin edits the config or restarts.
            error!(source = %id, "the source answered 410 Gone; polling stopped");
        }
        let result = Err(error);
        self.count(&result, started);
        (
            PollReport {
                result,
                next_poll: (!gone).then_some(next_poll),
            },
            memory,
        )
    }

    /// Counts the finished poll in the metrics.
    fn count(&self, result: &Result<Refreshed, RefreshError>, started: tokio::time::Instant) {
        crate::metrics::poll_finished(
            &self.settings.id,
            outcome_label(result),
            result
                .as_ref()
                .ok()
                .map(|r| (r.applied.new, r.applied.updated)),
            started.elapsed(),
        );
    }
}

/// Fetches, parses and normalizes `source` (or reads its page), with `state`
/// for a conditional request. Touches no store.
pub async fn poll(
    fetcher: &Fetcher,
    source: &SourceSettings,
    state: &FetchState,
    now: DateTime<Utc>,
) -> Result<Polled, RefreshError> {
    SourcePoller::new(source.clone(), PollSettings::default().flag_after)
        .poll(fetcher, state, now)
        .await
}

/// Polls `source` once from its stored fetch state, and records the poll in
/// the store with the source due again at once. For tools and tests; the
/// daemon's source tasks keep a [`SourcePoller`] each.
pub async fn refresh(
    fetcher: &Fetcher,
    store: &Store,
    source: &SourceSettings,
    now: DateTime<Utc>,
) -> Result<Refreshed, RefreshError> {
    let due_now: NextDelay = Arc::new(|_| Duration::ZERO);
    SourcePoller::new(source.clone(), PollSettings::default().flag_after)
        .refresh(fetcher, store, now, &due_now)
        .await
        .result
}

/// Runs CPU work on the poll threads (of lower priority than the server's,
/// [`crate::background`]), and turns a panic in it into its message:
/// parsing and extracting are the code that meets hostile bytes, and a bug
/// there must stay one source's error.
pub async fn contained<T, F>(work: F) -> Result<T, String>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    crate::background::run(work).await.map_err(panic_message)
}

/// The message of a task's panic, or why it did not finish.
fn panic_message(error: tokio::task::JoinError) -> String {
    match error.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned()),
        Err(e) => e.to_string(),
    }
}

/// `delay` after `now`; a delay past chrono's range is the end of time.
fn after(now: DateTime<Utc>, delay: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(delay)
        .ok()
        .and_then(|delay| now.checked_add_signed(delay))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// When a poll that started at `now` (and at `started` on tokio's clock)
/// finished: measured on tokio's clock, so a test that pauses time gets
/// exact times.
fn finished(now: DateTime<Utc>, started: tokio::time::Instant) -> DateTime<Utc> {
    now + chrono::Duration::from_std(started.elapsed()).unwrap_or_default()
}

fn round_secs(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs())
}

#[cfg(test)]
mod tests;
