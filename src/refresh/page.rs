//! The page-source branch of a poll: the bytes-to-items stage swapped for
//! the page stage's selectors, and what a page poll does beyond a feed's
//! before the store call (follow the new items' own pages, judge the yield).
//! The fetching of followed articles is here, not in `page`, which does no I/O.

use super::{Polled, RefreshError, contained};
use crate::config::SourceSettings;
use crate::error::error_chain;
use crate::fetch::{FetchError, FetchOutcome, Fetched, Fetcher};
use crate::item::{Item, ItemId};
use crate::normalize::Article;
use crate::page::{PageError, PageSelectors};
use crate::rules::Rules;
use crate::store::{LeaseDeadline, PageYield, Store};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use url::Url;

/// A page source's selectors, compiled once per source task; or why they
/// cannot be (validation should have caught that), which each poll reports.
pub(super) type Compiled = Result<Arc<PageSelectors>, PageError>;

/// Compiles the `[sources.page]` selectors of `source`.
pub(super) fn compile(source: &SourceSettings) -> Compiled {
    let page = source.page.clone().unwrap_or_default();
    PageSelectors::compile(&page, source.time_zone()).map(Arc::new)
}

/// Decodes the page and reads its items with the source's selectors, and
/// puts them through `rules`, on the blocking pool like parsing.
pub(super) async fn read(
    source: &SourceSettings,
    selectors: &Compiled,
    rules: &Rules,
    fetched: Fetched,
    body: bytes::Bytes,
    now: DateTime<Utc>,
) -> Result<Polled, RefreshError> {
    let url_text = fetched.final_url.to_string();
    let selectors = match selectors {
        Ok(selectors) => selectors.clone(),
        Err(error) => {
            return Err(RefreshError::Page {
                url: url_text,
                error: PageError {
                    field: error.field,
                    message: error.message.clone(),
                },
            });
        }
    };
    let (source_ref, base) = (source.source_ref(), fetched.final_url.clone());
    let (content_type, encoding) = (fetched.content_type.clone(), source.encoding_override());
    let rules = rules.clone();
    let (extracted, ruled) = contained(move || {
        let (html, _) = crate::page::decode_html(&body, content_type.as_deref(), encoding);
        let mut extracted = crate::page::extract(&source_ref, &selectors, &html, &base, now);
        let ruled = rules.apply(&mut extracted.items, now);
        (extracted, ruled)
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
        recovered: None,
        ruled,
    })
}

/// What a page poll that brought a page does beyond a feed's, before the
/// store call: for `follow = true`, fetch the own pages of new items; then
/// judge the yield ("selectors may be stale"). Returns the yield to store
/// with the poll; [`RefreshError::LeaseRanOut`] when `deadline` passed
/// before an article's request.
pub(super) async fn after_read(
    fetcher: &Fetcher,
    store: &Store,
    source: &SourceSettings,
    selectors: &Arc<PageSelectors>,
    polled: &mut Polled,
    now: DateTime<Utc>,
    deadline: &LeaseDeadline,
) -> Result<PageYield, RefreshError> {
    // The yield is the selectors', so what the rules dropped counts.
    let found = polled.items.len() + polled.dropped_by_rules();
    // `full_text = true` fetches the new items' pages itself (with the
    // `content` selector first), so `follow` does not fetch them again.
    let follow = source.page.as_ref().is_some_and(|p| p.follow) && !source.full_text;
    // Which items the store knows (and, to follow, their stored versions),
    // and the yield later polls are compared with.
    let (known, stored, previous) = {
        let ids: Vec<_> = if follow {
            polled.items.iter().map(|i| i.id.clone()).collect()
        } else {
            Vec::new()
        };
        let known = store.known_ids(&ids).await?;
        let mut stored = HashMap::new();
        for id in &known {
            if let Some(item) = store.item(id.as_str()).await? {
                stored.insert(id.clone(), item);
            }
        }
        (known, stored, store.page_baseline(&source.id).await?)
    };
    let mut followed_lines = None;
    if follow {
        for item in &mut polled.items {
            if let Some(old) = stored.get(&item.id) {
                crate::normalize::keep_followed(item, old);
            }
        }
        let Followed {
            held_back,
            not_followed,
            ran_out,
        } = follow_articles(
            fetcher,
            source,
            selectors,
            &mut polled.items,
            &known,
            now,
            deadline,
        )
        .await;
        if ran_out {
            return Err(RefreshError::LeaseRanOut {
                source_id: source.id.clone(),
            });
        }
        followed_lines = not_followed;
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
    let verdict = crate::page::judge_yield(previous, found);
    if let Some(warning) = &verdict.warning {
        tracing::warn!(source = %source.id, url = %polled.fetched.final_url, "{warning}");
    }
    Ok(PageYield {
        baseline: verdict.baseline,
        warning: verdict.warning,
        not_followed: followed_lines,
    })
}

/// What [`follow_articles`] did besides filling in items.
#[derive(Debug, Default)]
pub(super) struct Followed {
    /// The new items it did not reach this poll.
    pub held_back: Vec<ItemId>,
    /// When it tried at least one article: one line per article it could
    /// not fetch, saying why ("not followed: …"), for `/status`.
    pub not_followed: Option<Vec<String>>,
    /// It stopped because the poll's lease ran out before an article's
    /// request: the poll is dropped.
    pub ran_out: bool,
}

/// For a `follow = true` page source: fetches the own page of each item not
/// in `known`, one after the other (the caller holds the source's host
/// permit, so this stays within `poll.per_host`), at most
/// [`crate::page::MAX_ARTICLES_PER_POLL`] of them, and puts its body and
/// date into the item.
///
/// An article link is remote content: it is fetched through the outbound
/// policy ([`Fetcher::fetch_followed`]), so off the source's own origin it
/// reaches no private or local address. An article that cannot be fetched,
/// or is refused, leaves its item as the list gave it: the list's title and
/// link are news enough, and the item is not fetched again once stored.
///
/// No article is requested once `deadline` (the poll's lease, by this
/// process's clock) has passed: it stops there, with `ran_out` set.
pub(super) async fn follow_articles(
    fetcher: &Fetcher,
    source: &SourceSettings,
    selectors: &Arc<PageSelectors>,
    items: &mut [Item],
    known: &HashSet<ItemId>,
    now: DateTime<Utc>,
    deadline: &LeaseDeadline,
) -> Followed {
    let Some(source_url) = source
        .page
        .as_ref()
        .filter(|p| p.follow)
        .and_then(|_| source.url.parsed().ok())
    else {
        return Followed::default();
    };
    let mut followed = 0;
    let mut held_back = Vec::new();
    let mut not_followed = Vec::new();
    for item in items.iter_mut().filter(|i| !known.contains(&i.id)) {
        let Some(url) = item.url.as_deref().and_then(|u| Url::parse(u).ok()) else {
            continue;
        };
        if followed == crate::page::MAX_ARTICLES_PER_POLL {
            held_back.push(item.id.clone());
            continue;
        }
        if deadline.passed() {
            return Followed {
                ran_out: true,
                ..Followed::default()
            };
        }
        followed += 1;
        let selectors = selectors.clone();
        let read =
            move |html: &str, base: &Url| crate::page::extract_article(&selectors, html, base);
        match read_article_page(fetcher, source, &url, &source_url, read).await {
            Ok(Some(article)) => {
                if article.content_html.is_none() {
                    tracing::warn!(source = %source.id, article = %url, "the `content` selector picks nothing on the item's page");
                }
                crate::normalize::apply_article(item, article, now);
            }
            Ok(None) => {}
            Err(ArticleError::Fetch { reason, .. }) => {
                tracing::warn!(source = %source.id, article = %url, error = %reason, "not following the item's page; keeping the list's entry");
                not_followed.push(format!("not followed: {reason}"));
            }
            Err(ArticleError::Crashed(e)) => {
                tracing::warn!(source = %source.id, article = %url, error = %e, "reading the item's page crashed");
            }
        }
    }
    Followed {
        held_back,
        not_followed: (followed > 0).then_some(not_followed),
        ran_out: false,
    }
}

/// Why an article page gave nothing.
#[derive(Debug)]
pub(super) enum ArticleError {
    /// The fetch failed or the outbound policy refused it.
    Fetch {
        /// The whole cause chain, on one line.
        reason: String,
        /// Trying again cannot help: the policy refused the link, the page
        /// is over the size limit, or its server said it is not there.
        permanent: bool,
    },
    /// Reading the page panicked (a bug, contained).
    Crashed(String),
}

impl ArticleError {
    /// Whether trying again on a later poll cannot help.
    pub(super) fn is_permanent(&self) -> bool {
        matches!(
            self,
            ArticleError::Fetch {
                permanent: true,
                ..
            }
        )
    }

    /// A one-line human reason.
    pub(super) fn reason(&self) -> String {
        match self {
            ArticleError::Fetch { reason, .. } => reason.clone(),
            ArticleError::Crashed(message) => format!("reading the page crashed ({message})"),
        }
    }
}

/// Fetches the article page at `url`, a link the page or feed at
/// `source_url` gave, through the outbound policy
/// ([`Fetcher::fetch_followed`]: the feeds' size limit, timeout, redirect
/// rules and guarded client for every hop off the source's origin), decodes
/// it as a page (BOM, HTTP charset, `<meta charset>`, the source's
/// `encoding`), and reads it with `read` on the blocking pool, against the
/// page's final URL. `None` when the page sent no body.
pub(super) async fn read_article_page<F>(
    fetcher: &Fetcher,
    source: &SourceSettings,
    url: &Url,
    source_url: &Url,
    read: F,
) -> Result<Option<Article>, ArticleError>
where
    F: FnOnce(&str, &Url) -> Article + Send + 'static,
{
    let fetched = match fetcher.fetch_followed(url, source_url).await {
        Ok(fetched) => fetched,
        Err(e) => {
            if let FetchError::Refused { refused, .. } = &e {
                crate::metrics::follow_refused(&source.id, refused.range.label());
            }
            let permanent = match &e {
                FetchError::Refused { .. }
                | FetchError::TooLarge { .. }
                | FetchError::Unsupported(_) => true,
                FetchError::Status { status, .. } => matches!(status, 404 | 410),
                _ => false,
            };
            return Err(ArticleError::Fetch {
                reason: error_chain(&e),
                permanent,
            });
        }
    };
    let FetchOutcome::Body(body) = fetched.outcome else {
        return Ok(None);
    };
    let base = fetched.final_url;
    let (content_type, encoding) = (fetched.content_type, source.encoding_override());
    contained(move || {
        let (html, _) = crate::page::decode_html(&body, content_type.as_deref(), encoding);
        read(&html, &base)
    })
    .await
    .map(Some)
    .map_err(ArticleError::Crashed)
}
