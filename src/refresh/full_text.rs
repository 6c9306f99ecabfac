//! Full text for `full_text = true` sources (feeds and pages alike): after
//! the source's items are read, the article page of each new item is
//! fetched and its main text put into the item, before the poll's one store
//! write. The fetching is here; reading the page is the page stage's
//! (`page::read_full_text`), and what the item takes normalize's
//! (`normalize::apply_full_text`).
//!
//! Politeness: the pages go through the one [`Fetcher`] and its outbound
//! policy, one after the other while the scheduler holds the source's host
//! permit and a global one, at most `full_text_per_poll` of them per poll;
//! the lease is checked before each request.

use super::page::read_article_page;
use super::{Polled, RefreshError};
use crate::config::SourceSettings;
use crate::fetch::Fetcher;
use crate::item::ItemId;
use crate::page::PageSelectors;
use crate::store::{FullTextAttempt, FullTextState, LeaseDeadline};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use url::Url;

/// How many times an item's article page is tried, one try per poll,
/// before the item is stored with what its source gave. A failure that a
/// retry cannot mend (a refused link, a page over the size limit, a 404 or
/// 410) is the last at once.
pub const FULL_TEXT_TRIES: u32 = 3;

/// What the store knows of a poll's items, for [`fetch_full_text`].
#[derive(Debug, Default)]
pub(super) struct Known {
    /// The items the store holds (or retired): their pages are not fetched.
    pub items: HashSet<ItemId>,
    /// The article state of those items that have one.
    pub states: HashMap<ItemId, FullTextState>,
}

/// What [`fetch_full_text`] did besides filling in items.
#[derive(Debug, Default)]
pub(super) struct FullText {
    /// The article fetches, for the store.
    pub attempts: Vec<FullTextAttempt>,
    /// New items left out of this poll: past the per-poll bound, or whose
    /// fetch failed and is tried again; they come back on the next poll.
    pub held_back: Vec<ItemId>,
}

/// Fetches the article page of each new item of `polled` (not in
/// `known.items`), at most `full_text_per_poll` of them, and puts the text
/// into the item. A stored item whose article was fetched before gets the
/// stored article text again (so an edit of the source's entry keeps it).
///
/// With `hold_back` (a poll that stores), a new item not reached, or whose
/// fetch failed with tries left, is taken out of `polled` for the next poll,
/// and the source's validators are dropped so that the next poll reads it in
/// full; without it (`poll-once`), such items stay as the source gave them.
///
/// No article is requested once `deadline` has passed:
/// [`RefreshError::LeaseRanOut`].
#[allow(clippy::too_many_arguments)]
pub(super) async fn fetch_full_text(
    fetcher: &Fetcher,
    source: &SourceSettings,
    selectors: Option<&Arc<PageSelectors>>,
    polled: &mut Polled,
    known: &Known,
    hold_back: bool,
    now: DateTime<Utc>,
    deadline: &LeaseDeadline,
) -> Result<FullText, RefreshError> {
    let mut done = FullText::default();
    let Ok(source_url) = source.url.parsed() else {
        return Ok(done);
    };
    let bound = source.full_text_per_poll();
    let mut tried = 0;
    for item in polled.items.iter_mut() {
        let state = known.states.get(&item.id);
        if known.items.contains(&item.id) {
            if let Some(stored) = state.and_then(|s| s.content_html.as_deref()) {
                crate::normalize::keep_full_text(item, stored);
            }
            continue;
        }
        if state.is_some_and(|s| s.fetched || s.given_up) {
            continue;
        }
        let Some(url) = item.url.as_deref().and_then(|u| Url::parse(u).ok()) else {
            continue;
        };
        if tried == bound {
            done.held_back.push(item.id.clone());
            continue;
        }
        if deadline.passed() {
            return Err(RefreshError::LeaseRanOut {
                source_id: source.id.clone(),
            });
        }
        tried += 1;
        let selectors = selectors.cloned();
        let read = move |html: &str, base: &Url| {
            crate::page::read_full_text(selectors.as_deref(), html, base)
        };
        match read_article_page(fetcher, source, &url, &source_url, read).await {
            Ok(article) => {
                let article = article.unwrap_or_default();
                let taken = article.content_html.clone();
                let taken = crate::normalize::apply_full_text(item, article, now)
                    .then_some(taken)
                    .flatten();
                if taken.is_none() {
                    tracing::info!(source = %source.id, article = %url, "the article page has no text longer than the source's; keeping the source's");
                }
                crate::metrics::full_text(&source.id, "fetched");
                done.attempts.push(FullTextAttempt::Fetched {
                    item_id: item.id.clone(),
                    content_html: taken,
                });
            }
            Err(e) => {
                let failures = state.map_or(0, |s| s.failures) + 1;
                let last = failures >= FULL_TEXT_TRIES || e.is_permanent();
                let reason = e.reason();
                tracing::warn!(
                    source = %source.id,
                    article = %url,
                    failures,
                    error = %reason,
                    "cannot fetch the item's article page{}",
                    if last { "; keeping what the source gave" } else { "; trying again next poll" }
                );
                crate::metrics::full_text(&source.id, if last { "given_up" } else { "failed" });
                if !last {
                    done.held_back.push(item.id.clone());
                }
                done.attempts.push(FullTextAttempt::Failed {
                    item_id: item.id.clone(),
                    reason,
                    last,
                });
            }
        }
    }
    if hold_back && !done.held_back.is_empty() {
        polled.items.retain(|i| !done.held_back.contains(&i.id));
        // The source must be read in full next time for the held-back items
        // to come back, so no validators are kept.
        polled.fetched.state.etag = None;
        polled.fetched.state.last_modified = None;
        tracing::info!(
            source = %source.id,
            held_back = done.held_back.len(),
            "new items wait for their article page until the next poll"
        );
    }
    Ok(done)
}
