//! Refresh: the one place that runs fetch → parse → normalize → store for a
//! source. The scheduler decides when; this decides nothing about time but
//! the `now` it stamps items with.

use crate::config::SourceSettings;
use crate::fetch::{FetchError, FetchOutcome, Fetched, Fetcher};
use crate::item::Item;
use crate::normalize::normalize;
use crate::parse::{ParseError, ParseOptions, parse};
use crate::store::{ApplyOutcome, FetchState, Store, StoreError};
use chrono::{DateTime, Utc};
use std::time::Duration;
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
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The source's URL is not a URL (validation should have caught it).
    #[error("bad source URL: {0}")]
    Url(#[from] url::ParseError),
}

impl RefreshError {
    /// A short, stable name of the kind of failure, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            RefreshError::Fetch(e) => e.kind(),
            RefreshError::Parse { .. } => "parse",
            RefreshError::Panic { .. } => "panic",
            RefreshError::Store(_) => "store",
            RefreshError::Url(_) => "config",
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

/// A source's items, fresh from its feed: what `poll-once` prints.
#[derive(Debug)]
pub struct Polled {
    /// The fetch itself: new validators, final URL, caching hints.
    pub fetched: Fetched,
    /// The normalized items; empty when the source answered "not modified".
    pub items: Vec<Item>,
    /// The feed's `<ttl>`, when it gave one.
    pub ttl: Option<Duration>,
}

/// Fetches, parses and normalizes `source`, with `state` for a conditional
/// request. Touches no store.
pub async fn poll(
    fetcher: &Fetcher,
    source: &SourceSettings,
    state: &FetchState,
    now: DateTime<Utc>,
) -> Result<Polled, RefreshError> {
    let url = source.parsed_url()?;
    let fetched = fetcher.fetch(&url, state).await?;
    let body = match &fetched.outcome {
        FetchOutcome::NotModified => {
            return Ok(Polled {
                fetched,
                items: Vec::new(),
                ttl: None,
            });
        }
        FetchOutcome::Body(body) => body.clone(),
    };
    let source_ref = source.source_ref();
    let final_url = fetched.final_url.clone();
    let content_type = fetched.content_type.clone();
    let encoding = source.encoding_override();
    let timezone = source.time_zone();
    // Parsing is CPU work on up to `max_body` bytes: keep it off the async
    // workers. A panic inside becomes this source's error, not the daemon's.
    let parsed = tokio::task::spawn_blocking(move || {
        let options = ParseOptions {
            base_url: &final_url,
            content_type: content_type.as_deref(),
            encoding,
            timezone,
        };
        let feed = parse(&body, &options)?;
        let ttl = feed
            .ttl
            .map(|minutes| Duration::from_secs(u64::from(minutes) * 60));
        Ok::<_, ParseError>((normalize(&source_ref, &final_url, &feed, now), ttl))
    })
    .await;
    let url_text = fetched.final_url.to_string();
    match parsed {
        Ok(Ok((items, ttl))) => Ok(Polled {
            fetched,
            items,
            ttl,
        }),
        Ok(Err(error)) => Err(RefreshError::Parse {
            url: url_text,
            error,
        }),
        Err(join_error) => Err(RefreshError::Panic {
            url: url_text,
            message: panic_message(join_error),
        }),
    }
}

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

/// What one refresh of a source did.
#[derive(Debug, Clone)]
pub struct Refreshed {
    /// True when the source answered "not modified".
    pub not_modified: bool,
    /// Items seen in the feed this time.
    pub items_seen: usize,
    /// What the store did with them.
    pub applied: ApplyOutcome,
    /// The longest wait the source suggested (`max-age` or `<ttl>`), if any.
    pub suggested_interval: Option<Duration>,
    /// The validators to store.
    pub state: FetchState,
    /// The URL the body came from.
    pub final_url: Url,
}

/// Polls `source` with its stored fetch state and stores what it brings.
/// Recording success or failure is the caller's, who also decides the next poll.
pub async fn refresh(
    fetcher: &Fetcher,
    store: &Store,
    source: &SourceSettings,
    now: DateTime<Utc>,
) -> Result<Refreshed, RefreshError> {
    let state = {
        let store = store.clone();
        let id = source.id.clone();
        blocking(move || store.fetch_state(&id)).await?
    };
    let polled = poll(fetcher, source, &state, now).await?;
    let suggested_interval = match (polled.fetched.max_age, polled.ttl) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    let not_modified = matches!(polled.fetched.outcome, FetchOutcome::NotModified);
    let items_seen = polled.items.len();
    let applied = if polled.items.is_empty() {
        ApplyOutcome::default()
    } else {
        let store = store.clone();
        let source_ref = source.source_ref();
        let items = polled.items;
        blocking(move || store.apply_items(&source_ref, &items, now)).await?
    };
    Ok(Refreshed {
        not_modified,
        items_seen,
        applied,
        suggested_interval,
        state: polled.fetched.state,
        final_url: polled.fetched.final_url,
    })
}

/// Runs a synchronous store call on the blocking pool.
pub async fn blocking<T, F>(f: F) -> Result<T, StoreError>
where
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result,
        // The store's code does not panic on data; if it did, re-raise it
        // here rather than invent an error value that hides the bug.
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("a store task was cancelled: {e}"),
    }
}
