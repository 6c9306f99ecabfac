//! Refresh: the one place that runs fetch → parse → normalize → store for a
//! source. The scheduler decides when; this decides nothing about time but
//! the `now` it stamps items with.

use crate::config::{SourceKind, SourceSettings};
use crate::fetch::{FetchError, FetchOutcome, FetchState, Fetched, Fetcher};
use crate::item::Item;
use crate::normalize::normalize;
use crate::parse::{ParseError, ParseOptions, parse};
use crate::store::{ApplyOutcome, Store, StoreError};
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
    if source.kind == SourceKind::Page {
        return page_poll(source, fetched, body, now).await;
    }
    let source_ref = source.source_ref();
    let final_url = fetched.final_url.clone();
    let content_type = fetched.content_type.clone();
    let encoding = source.encoding_override();
    let timezone = source.time_zone();
    // Parsing is CPU work on up to `max_body` bytes: keep it off the async
    // workers. A panic inside becomes this source's error, not the daemon's.
    let parsed = contained(move || {
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
        Err(message) => Err(RefreshError::Panic {
            url: url_text,
            message,
        }),
    }
}

/// Runs CPU work on the blocking pool, and turns a panic in it into its
/// message: parsing and extracting are the code that meets hostile bytes, and
/// a bug there must stay one source's error.
pub async fn contained<T, F>(work: F) -> Result<T, String>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| match error.try_into_panic() {
            Ok(payload) => payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned()),
            Err(e) => e.to_string(),
        })
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
    refresh_known(fetcher, store, source, None, now).await
}

/// [`refresh`], starting from `known`, the fetch state the caller recorded
/// after its last successful poll, instead of reading it from the store: a
/// source's own task is the only writer of its fetch state, so it can keep
/// it, and an all-304 cycle saves one store read per source.
pub async fn refresh_known(
    fetcher: &Fetcher,
    store: &Store,
    source: &SourceSettings,
    known: Option<FetchState>,
    now: DateTime<Utc>,
) -> Result<Refreshed, RefreshError> {
    let state = match known {
        Some(state) => state,
        None => {
            let store = store.clone();
            let id = source.id.clone();
            blocking(move || store.fetch_state(&id)).await?
        }
    };
    let mut polled = poll(fetcher, source, &state, now).await?;
    if source.kind == SourceKind::Page && matches!(polled.fetched.outcome, FetchOutcome::Body(_)) {
        page_after_poll(fetcher, store, source, &mut polled, now).await?;
    }
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

/// The page-source branch of [`poll`]: decode the HTML and read its items
/// with the source's selectors, on the blocking pool like parsing.
async fn page_poll(
    source: &SourceSettings,
    fetched: Fetched,
    body: bytes::Bytes,
    now: DateTime<Utc>,
) -> Result<Polled, RefreshError> {
    let url_text = fetched.final_url.to_string();
    let page = source.page.clone().unwrap_or_default();
    let selectors =
        crate::page::PageSelectors::compile(&page, source.time_zone()).map_err(|error| {
            RefreshError::Page {
                url: url_text.clone(),
                error,
            }
        })?;
    let (source_ref, base) = (source.source_ref(), fetched.final_url.clone());
    let (content_type, encoding) = (fetched.content_type.clone(), source.encoding_override());
    let extracted = contained(move || {
        let (html, _) = crate::page::decode_html(&body, content_type.as_deref(), encoding);
        crate::page::extract(&source_ref, &selectors, &html, &base, now)
    })
    .await
    .map_err(|message| RefreshError::Panic {
        url: url_text,
        message,
    })?;
    if let Some(first) = extracted.unreadable_dates.first() {
        tracing::warn!(
            source = %source.id,
            count = extracted.unreadable_dates.len(),
            example = %first,
            "dates the `date` selector found are neither RFC 3339 nor in `date_format`; those items are dated when first seen"
        );
    }
    Ok(Polled {
        fetched,
        items: extracted.items,
        ttl: None,
    })
}

/// What a page refresh does beyond a feed's, before the store call: fetch
/// the own pages of new items (`follow`), and judge the yield ("selectors
/// may be stale").
async fn page_after_poll(
    fetcher: &Fetcher,
    store: &Store,
    source: &SourceSettings,
    polled: &mut Polled,
    now: DateTime<Utc>,
) -> Result<(), RefreshError> {
    let found = polled.items.len();
    if source.page.as_ref().is_some_and(|p| p.follow) {
        let ids: Vec<_> = polled.items.iter().map(|i| i.id.clone()).collect();
        let known = {
            let store = store.clone();
            blocking(move || store.known_ids(&ids)).await?
        };
        let stored = {
            let store = store.clone();
            let known: Vec<_> = known.iter().cloned().collect();
            blocking(move || {
                let mut stored = std::collections::HashMap::new();
                for id in known {
                    if let Some(item) = store.item(id.as_str())? {
                        stored.insert(id, item);
                    }
                }
                Ok(stored)
            })
            .await?
        };
        for item in &mut polled.items {
            if let Some(old) = stored.get(&item.id) {
                crate::page::keep_followed(item, old);
            }
        }
        let held_back = follow_articles(fetcher, source, &mut polled.items, &known, now).await;
        if !held_back.is_empty() {
            polled.items.retain(|i| !held_back.contains(&i.id));
            // The page must be read in full next time for the held-back
            // items to come back, so no validators are kept.
            polled.fetched.state.etag = None;
            polled.fetched.state.last_modified = None;
            tracing::info!(
                source = %source.id,
                held_back = held_back.len(),
                "more new items than one poll follows; the rest wait for the next poll"
            );
        }
    }
    let previous = {
        let store = store.clone();
        let id = source.id.clone();
        blocking(move || store.page_baseline(&id)).await?
    };
    let verdict = crate::page::judge_yield(previous, found);
    if let Some(warning) = &verdict.warning {
        tracing::warn!(source = %source.id, url = %polled.fetched.final_url, "{warning}");
    }
    let store = store.clone();
    let (id, url) = (source.id.clone(), polled.fetched.final_url.to_string());
    blocking(move || {
        store.record_page_yield(&id, &url, verdict.baseline, verdict.warning.as_deref())
    })
    .await?;
    Ok(())
}

/// For a `follow = true` page source: fetches the own page of each item not
/// in `known`, one after the other (the caller holds the source's host
/// permit, so this stays within `poll.per_host`), at most
/// [`crate::page::MAX_ARTICLES_PER_POLL`] of them, and puts its body and
/// date into the item. Returns the ids of the new items it did not reach.
///
/// An article that cannot be fetched leaves its item as the list gave it:
/// the list's title and link are news enough, and the item is not fetched
/// again once stored.
pub async fn follow_articles(
    fetcher: &Fetcher,
    source: &SourceSettings,
    items: &mut [Item],
    known: &std::collections::HashSet<crate::item::ItemId>,
    now: DateTime<Utc>,
) -> Vec<crate::item::ItemId> {
    let Some(page) = source.page.as_ref().filter(|p| p.follow) else {
        return Vec::new();
    };
    let Ok(selectors) = crate::page::PageSelectors::compile(page, source.time_zone()) else {
        return Vec::new();
    };
    let mut followed = 0;
    let mut held_back = Vec::new();
    for item in items.iter_mut().filter(|i| !known.contains(&i.id)) {
        let Some(url) = item.url.as_deref().and_then(|u| Url::parse(u).ok()) else {
            continue;
        };
        if followed == crate::page::MAX_ARTICLES_PER_POLL {
            held_back.push(item.id.clone());
            continue;
        }
        followed += 1;
        let fetched = match fetcher.fetch(&url, &FetchState::default()).await {
            Ok(fetched) => fetched,
            Err(e) => {
                tracing::warn!(source = %source.id, article = %url, error = %crate::error::error_chain(&e), "cannot fetch the item's page; keeping the list's entry");
                continue;
            }
        };
        let FetchOutcome::Body(body) = fetched.outcome else {
            continue;
        };
        let (selectors, base) = (selectors.clone(), fetched.final_url);
        let (content_type, encoding) = (fetched.content_type, source.encoding_override());
        let article = contained(move || {
            let (html, _) = crate::page::decode_html(&body, content_type.as_deref(), encoding);
            crate::page::extract_article(&selectors, &html, &base)
        })
        .await;
        match article {
            Ok(article) => {
                if article.content_html.is_none() {
                    tracing::warn!(source = %source.id, article = %url, "the `content` selector picks nothing on the item's page");
                }
                crate::page::apply_article(item, article, now);
            }
            Err(e) => {
                tracing::warn!(source = %source.id, article = %url, error = %e, "reading the item's page crashed");
            }
        }
    }
    held_back
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_in_contained_work_becomes_its_message() {
        assert_eq!(contained(|| 2 + 2).await, Ok(4));
        let crashed = contained(|| -> usize { panic!("bad bytes at 42") }).await;
        assert_eq!(crashed, Err("bad bytes at 42".to_owned()));
        let formatted = contained(|| -> usize { panic!("index {} out of range", 7) }).await;
        assert_eq!(formatted, Err("index 7 out of range".to_owned()));
    }
}
