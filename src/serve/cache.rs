//! The render cache: every feed the server answers with, rendered and
//! gzipped once, with its headers ready.
//!
//! A [`Generation`] holds what was rendered for one state of the store: the
//! merged feed in each format, rendered by [`MergedFeed::refresh`] as soon as
//! the store changes, and the filtered and per-source feeds, rendered on
//! their first request and kept (at most [`FILTERED_CAPACITY`] of them, and
//! at most [`FILTERED_BYTES`] of bodies) until
//! the next change. A store change starts a new generation, so nothing stale
//! is ever served from it.

use super::html::{self, SourceLink};
use super::render::{FeedFormat, FeedMeta, render};
use super::request::FeedRequest;
use crate::config::{LiveSettings, ServerSettings, SourceSettings};
use crate::error::error_chain;
use crate::item::Item;
use crate::store::{FeedItems, ItemFilter, Store, StoreError};
use axum::http::HeaderValue;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use flate2::Compression;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};
use tokio::sync::{OnceCell, watch};
use tokio_util::sync::CancellationToken;
use tracing::warn;

/// How many filtered or per-source renderings one generation keeps. Past
/// that, the oldest is dropped (and rendered again if asked for again).
pub const FILTERED_CAPACITY: usize = 256;

/// How many bytes of bodies (identity and gzip) the filtered renderings of
/// one generation may hold. A thousand-item rendering can be a few
/// megabytes, so the entry count alone would not bound the memory.
pub const FILTERED_BYTES: usize = 64 * 1024 * 1024;

/// How many filtered or per-source feeds are read and rendered at once. The
/// store keeps more reader connections than this, so a flood of filters
/// always leaves some for `/readyz`, `/status`, `/metrics`, the renderer
/// and the publisher; and a request waiting for its turn waits here, in
/// the async runtime, not on a thread of the blocking pool.
pub const FILTERED_AT_ONCE: usize = 2;

/// How long a filtered request waits for its turn before it is refused with
/// [`FeedError::Busy`].
pub const FILTERED_WAIT: Duration = Duration::from_secs(2);

/// The shortest time between two renderings of the merged feed. A first
/// cycle over thousands of sources changes the store many times a second;
/// rendering three formats (and their gzip) after each change would spend
/// more CPU than the polls. Changes within this window share one rendering.
pub const RENDER_EVERY: Duration = Duration::from_millis(250);

/// One body of a rendering, identity or gzip, with its validator.
#[derive(Debug, Clone)]
pub struct Variant {
    /// The bytes sent.
    pub body: Bytes,
    /// The strong validator of these bytes, as parsed for comparisons.
    pub etag: headers::ETag,
    /// The same, ready to send.
    pub etag_header: HeaderValue,
}

/// One rendering of a feed, ready to send: both encodings and the headers.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The `Content-Type` it is sent with: a feed format's, or an HTML
    /// page's.
    pub content_type: &'static str,
    /// The document.
    pub identity: Variant,
    /// The document, gzipped. Its ETag is the identity's with `-gz`
    /// appended: the two are different representations (RFC 9110, 8.8.3).
    pub gzip: Variant,
    /// When the newest version of its items was stored (the Unix epoch for
    /// no items): from the data, so every replica that renders the same
    /// items sends the same.
    pub last_modified: SystemTime,
    /// `last_modified`, ready to send.
    pub last_modified_header: HeaderValue,
    /// How many items it holds.
    pub item_count: usize,
}

impl Rendered {
    /// Renders `items` in `format` and gzips the result. `stored_at` is
    /// when the newest version of the items was stored
    /// ([`FeedItems::stored_at`]): the `Last-Modified`. Nothing of the
    /// moment or the replica that renders goes into the bytes or the headers.
    pub fn new(
        format: FeedFormat,
        meta: &FeedMeta,
        items: &[Item],
        stored_at: Option<DateTime<Utc>>,
    ) -> Rendered {
        Rendered::of_feed(
            format,
            meta,
            &FeedItems {
                items: items.to_vec(),
                stored_at,
                also_in: Default::default(),
            },
        )
    }

    /// Renders `feed` in `format` as [`Rendered::new`] does, each item
    /// naming the other sources that carried it (`feed.also_in`).
    pub fn of_feed(format: FeedFormat, meta: &FeedMeta, feed: &FeedItems) -> Rendered {
        let (items, stored_at) = (&feed.items, feed.stored_at);
        // An empty feed has nothing stored to date it by: it says when it
        // was rendered (Atom needs a date; the Last-Modified agrees), never
        // the epoch. The one thing of the moment in a rendering.
        let dated = whole_seconds(stored_at.unwrap_or_else(Utc::now).into());
        let body = render(format, meta, items, &feed.also_in, dated.into());
        Rendered::of_body(format.content_type(), body, dated).counting(items.len())
    }

    /// `body`, sent as `content_type`, gzipped, with its validators:
    /// `last_modified` must come from the data, as [`Rendered::of_feed`]'s.
    pub fn of_body(
        content_type: &'static str,
        body: Vec<u8>,
        last_modified: SystemTime,
    ) -> Rendered {
        let last_modified = whole_seconds(last_modified);
        let digest = hex::encode(&Sha256::digest(&body)[..12]);
        let gzip = variant(Bytes::from(gzip(&body)), &format!("{digest}-gz"));
        let identity = variant(Bytes::from(body), &digest);
        Rendered {
            content_type,
            identity,
            gzip,
            last_modified,
            last_modified_header: HeaderValue::from_str(&httpdate::fmt_http_date(last_modified))
                .expect("an HTTP date is a valid header value"),
            item_count: 0,
        }
    }

    /// The same, saying it holds `item_count` items.
    pub(super) fn counting(mut self, item_count: usize) -> Rendered {
        self.item_count = item_count;
        self
    }

    /// The identity body.
    pub fn body(&self) -> &Bytes {
        &self.identity.body
    }

    /// The bytes it keeps in memory.
    pub fn size(&self) -> usize {
        self.identity.body.len() + self.gzip.body.len()
    }
}

fn variant(body: Bytes, tag: &str) -> Variant {
    let quoted = format!("\"{tag}\"");
    Variant {
        body,
        etag: quoted.parse().expect("a quoted hex string is a valid ETag"),
        etag_header: HeaderValue::from_str(&quoted).expect("a quoted hex string is a header"),
    }
}

fn gzip(body: &[u8]) -> Vec<u8> {
    // Compressed once per rendering, so the best level costs nothing per request.
    let mut encoder = GzEncoder::new(Vec::with_capacity(body.len() / 4), Compression::default());
    encoder
        .write_all(body)
        .and_then(|()| encoder.finish())
        .expect("gzip into memory cannot fail")
}

/// HTTP dates have whole seconds; comparing `If-Modified-Since` against a
/// time with nanoseconds would never match.
fn whole_seconds(t: SystemTime) -> SystemTime {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs)
}

/// What was rendered for one state of the store.
struct Generation {
    /// The merged feed, indexed by [`FeedFormat::index`].
    merged: [Arc<Rendered>; 3],
    /// The news page, `/`, unfiltered.
    home: Arc<Rendered>,
    /// Whether `merged` came from the store (and not from the empty
    /// placeholder built before the first read).
    from_store: bool,
    /// Filtered and per-source renderings.
    filtered: Mutex<Filtered>,
}

/// The filtered renderings of one generation, keyed by
/// [`FeedRequest::canonical`].
///
/// Each entry is a cell that the first request fills; concurrent requests
/// for the same feed wait on that one render instead of each rendering.
/// Eviction is first-in first-out: simple, and with a few hundred entries
/// and a fresh generation on every store change, good enough.
#[derive(Default)]
struct Filtered {
    entries: HashMap<String, Arc<OnceCell<Arc<Rendered>>>>,
    order: VecDeque<String>,
}

impl Filtered {
    fn cell(&mut self, key: &str) -> Arc<OnceCell<Arc<Rendered>>> {
        if let Some(cell) = self.entries.get(key) {
            return cell.clone();
        }
        let mut bytes: usize = self
            .entries
            .values()
            .filter_map(|c| c.get())
            .map(|r| r.size())
            .sum();
        while self.order.len() >= FILTERED_CAPACITY || bytes > FILTERED_BYTES {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if let Some(rendered) = self
                .entries
                .remove(&oldest)
                .as_deref()
                .and_then(OnceCell::get)
            {
                // Saturating: a cell may have been filled since the sum.
                bytes = bytes.saturating_sub(rendered.size());
            }
        }
        let cell = Arc::new(OnceCell::new());
        self.entries.insert(key.to_owned(), cell.clone());
        self.order.push_back(key.to_owned());
        cell
    }
}

/// Why a filtered feed could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// A source id named by the path or `?source=` is neither configured
    /// nor in the store.
    #[error("{0}")]
    UnknownSource(String),
    /// Too many filtered feeds were being read: this one waited
    /// [`FILTERED_WAIT`] for its turn.
    #[error("the server is busy reading other filtered feeds")]
    Busy,
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Every feed the server answers with, kept rendered in memory.
pub struct MergedFeed {
    /// The server settings the feeds are rendered with; a reload may swap
    /// them (title, `public_url`, `feed_size`). Held only to clone or swap.
    settings: RwLock<Arc<ServerSettings>>,
    /// A std lock: it is held only to clone or swap an `Arc`, never across an
    /// await, so readers never wait on a render.
    current: RwLock<Arc<Generation>>,
    /// Bumped when the merged feed's content changes: what WebSub pings on.
    changes: watch::Sender<u64>,
    /// Turns for filtered reads: [`FILTERED_AT_ONCE`] of them.
    filtering: tokio::sync::Semaphore,
    /// The configured sources, which the news page offers as filters; a
    /// reload may change them.
    sources: RwLock<Arc<Vec<SourceLink>>>,
}

impl MergedFeed {
    /// An empty merged feed; [`MergedFeed::refresh`] fills it.
    pub fn new(settings: ServerSettings) -> MergedFeed {
        let merged = FeedFormat::ALL.map(|format| {
            Arc::new(Rendered::new(
                format,
                &FeedMeta::merged(&settings, format),
                &[],
                None,
            ))
        });
        let (changes, _) = watch::channel(0);
        let home = Arc::new(html::news(
            &settings,
            &[],
            &FeedRequest::home(settings.feed_size),
            &FeedItems::default(),
        ));
        MergedFeed {
            settings: RwLock::new(Arc::new(settings)),
            sources: RwLock::new(Arc::default()),
            current: RwLock::new(Arc::new(Generation {
                merged,
                home,
                from_store: false,
                filtered: Mutex::default(),
            })),
            changes,
            filtering: tokio::sync::Semaphore::new(FILTERED_AT_ONCE),
        }
    }

    /// The server settings the feeds are rendered with.
    pub fn settings(&self) -> Arc<ServerSettings> {
        self.settings
            .read()
            .expect("server settings lock poisoned")
            .clone()
    }

    /// The configured sources the news page offers as filters.
    pub fn sources(&self) -> Arc<Vec<SourceLink>> {
        self.sources.read().expect("sources lock poisoned").clone()
    }

    /// Takes the configured sources (at start, and after a reload);
    /// returns whether they differ from the ones in use.
    pub fn set_sources(&self, sources: &[SourceSettings]) -> bool {
        let links: Vec<SourceLink> = sources
            .iter()
            .map(|s| SourceLink {
                id: s.id.clone(),
                name: s.display_name().to_owned(),
            })
            .collect();
        let mut current = self.sources.write().expect("sources lock poisoned");
        if **current == links {
            return false;
        }
        *current = Arc::new(links);
        true
    }

    /// Takes reloaded server settings; returns whether they differ from the
    /// ones in use (the caller then renders again).
    fn retune(&self, settings: &ServerSettings) -> bool {
        let mut current = self
            .settings
            .write()
            .expect("server settings lock poisoned");
        if **current == *settings {
            return false;
        }
        *current = Arc::new(settings.clone());
        true
    }

    fn generation(&self) -> Arc<Generation> {
        self.current
            .read()
            .expect("merged feed lock poisoned")
            .clone()
    }

    /// The current RSS rendering of the merged feed.
    pub fn current(&self) -> Arc<Rendered> {
        self.merged(FeedFormat::Rss)
    }

    /// The current rendering of the merged feed in `format`.
    pub fn merged(&self, format: FeedFormat) -> Arc<Rendered> {
        self.current
            .read()
            .expect("merged feed lock poisoned")
            .merged[format.index()]
        .clone()
    }

    /// The current rendering of the news page, `/`, unfiltered.
    pub fn home(&self) -> Arc<Rendered> {
        self.generation().home.clone()
    }

    /// Notified with a new value whenever the merged feed's content changes
    /// (not on a store change that leaves it the same, nor on the first
    /// rendering at start).
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Renders the merged feed again from the store, in every format, and
    /// starts a new generation.
    pub async fn refresh(&self, store: &Store) -> Result<(), StoreError> {
        let previous = self.generation();
        let settings = self.settings();
        let feed = store
            .feed(&ItemFilter::default(), settings.feed_size)
            .await?;
        // The page reads one more item, to know whether there are older
        // ones; the feeds' read stays theirs (its Last-Modified is theirs).
        let home_request = FeedRequest::home(settings.feed_size);
        let page = store
            .feed(&home_request.filter, home_request.limit + 1)
            .await?;
        let sources = self.sources();
        let (next, home) = rendered_off_the_runtime(move || {
            let home = Arc::new(html::news(&settings, &sources, &home_request, &page));
            let merged = FeedFormat::ALL.map(|format| {
                Arc::new(Rendered::of_feed(
                    format,
                    &FeedMeta::merged(&settings, format),
                    &feed,
                ))
            });
            (merged, home)
        })
        .await;
        let changed = previous.from_store
            && next
                .iter()
                .zip(&previous.merged)
                .any(|(new, old)| new.identity.etag != old.identity.etag);
        *self.current.write().expect("merged feed lock poisoned") = Arc::new(Generation {
            merged: next,
            home,
            from_store: true,
            filtered: Mutex::default(),
        });
        if changed {
            self.changes.send_modify(|n| *n = n.wrapping_add(1));
        }
        Ok(())
    }

    /// Re-renders whenever the store changes, or a reload changes the
    /// `[server]` settings the feeds show, until `shutdown`.
    pub async fn keep_fresh(
        self: Arc<Self>,
        store: Store,
        live: LiveSettings,
        shutdown: CancellationToken,
    ) {
        let mut changes = store.subscribe();
        // `None` once the settings' sender is gone: store changes still count.
        let mut live = Some(live);
        loop {
            let rendered_at = tokio::time::Instant::now();
            if let Err(e) = self.refresh(&store).await {
                warn!(error = %error_chain(&e), "cannot render the merged feed; serving the last rendering");
            }
            loop {
                let reloaded = async {
                    match live.as_mut() {
                        Some(live) => live.changed().await.is_ok(),
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    changed = changes.changed() => match changed {
                        Ok(()) => break,
                        Err(_) => return,
                    },
                    open = reloaded => match (open, live.as_mut()) {
                        (true, Some(live)) => {
                            let settings = live.borrow_and_update().clone();
                            let retuned = self.retune(&settings.server);
                            if self.set_sources(&settings.sources) || retuned {
                                break;
                            }
                        }
                        _ => live = None,
                    },
                }
            }
            // Let a burst of changes settle into one rendering.
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep_until(rendered_at + RENDER_EVERY) => {}
            }
            changes.borrow_and_update();
        }
    }

    /// The rendering for a filtered or per-source `request`, from the cache
    /// or rendered now. `known_source` says whether a source id is
    /// configured; ids it denies are looked up in the store.
    pub async fn filtered(
        &self,
        request: &FeedRequest,
        store: &Store,
        known_source: impl Fn(&str) -> bool,
        source_name: impl Fn(&str) -> Option<String>,
    ) -> Result<Arc<Rendered>, FeedError> {
        if request.is_merged() {
            return Ok(self.merged(request.format));
        }
        let generation = self.generation();
        let key = request.canonical();
        let cell = generation
            .filtered
            .lock()
            .expect("render cache lock poisoned")
            .cell(&key);
        let unknown: Vec<String> = request
            .filter
            .sources
            .iter()
            .filter(|id| !known_source(id))
            .cloned()
            .collect();
        let path_name = request
            .path_source
            .as_deref()
            .map(|id| source_name(id).unwrap_or_else(|| id.to_owned()));
        let settings = self.settings();
        let mut meta = FeedMeta::merged(&settings, request.format);
        meta.self_url = settings.url(&key);
        // Only the merged feeds are pinged, so only they name the hub:
        // a reader subscribed through a hub to a feed that is never
        // published there would never hear of a new item.
        meta.hub = None;
        if let Some(name) = path_name {
            meta.title = format!("{}: {name}", meta.title);
        }
        let format = request.format;
        self.cached(
            cell,
            store,
            unknown,
            &request.filter,
            request.limit,
            move |feed| Rendered::of_feed(format, &meta, &feed),
        )
        .await
    }

    /// The rendering of an HTML page of `request`'s items (the news page
    /// filtered or paged, or a source's page) from the cache, or rendered
    /// now by `render` from `request.limit + 1` items (the one more tells
    /// whether there is an older page). `key` names the page in the cache,
    /// with whatever besides the items it shows (a source's health).
    /// The same turns, caps and errors as [`MergedFeed::filtered`].
    pub async fn page(
        &self,
        key: &str,
        request: &FeedRequest,
        store: &Store,
        known_source: impl Fn(&str) -> bool,
        render: impl FnOnce(FeedItems) -> Rendered + Send + 'static,
    ) -> Result<Arc<Rendered>, FeedError> {
        let generation = self.generation();
        let cell = generation
            .filtered
            .lock()
            .expect("render cache lock poisoned")
            .cell(&format!("html:{key}"));
        let unknown: Vec<String> = request
            .filter
            .sources
            .iter()
            .filter(|id| !known_source(id))
            .cloned()
            .collect();
        let limit = request.limit.saturating_add(1);
        self.cached(cell, store, unknown, &request.filter, limit, render)
            .await
    }

    /// Fills `cell` (once, however many wait on it) with `render` of the
    /// items `filter` and `limit` read, in a filtering turn, after checking
    /// that the `unknown` source ids are at least in the store.
    async fn cached(
        &self,
        cell: Arc<OnceCell<Arc<Rendered>>>,
        store: &Store,
        unknown: Vec<String>,
        filter: &ItemFilter,
        limit: usize,
        render: impl FnOnce(FeedItems) -> Rendered + Send + 'static,
    ) -> Result<Arc<Rendered>, FeedError> {
        let rendered = cell
            .get_or_try_init(|| async {
                let _turn = tokio::time::timeout(FILTERED_WAIT, self.filtering.acquire())
                    .await
                    .map_err(|_| FeedError::Busy)?
                    .expect("the filtering semaphore is never closed");
                for id in &unknown {
                    if !store.has_source(id).await? {
                        return Err(FeedError::UnknownSource(id.clone()));
                    }
                }
                let feed = store.feed(filter, limit).await?;
                let rendered = rendered_off_the_runtime(move || render(feed)).await;
                Ok(Arc::new(rendered))
            })
            .await?;
        Ok(rendered.clone())
    }
}

/// Runs `render` on the blocking pool: rendering and compressing a feed of
/// a thousand items is milliseconds of CPU that must not hold an async
/// worker. A panic in it is raised again here: it is a bug.
async fn rendered_off_the_runtime<T: Send + 'static>(
    render: impl FnOnce() -> T + Send + 'static,
) -> T {
    match tokio::task::spawn_blocking(render).await {
        Ok(rendered) => rendered,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("a rendering was cancelled: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::{ItemId, SourceRef};
    use chrono::{TimeZone, Utc};

    #[test]
    fn an_empty_feed_is_never_dated_1970() {
        let settings = ServerSettings::default();
        let before = whole_seconds(SystemTime::now());
        for format in FeedFormat::ALL {
            let empty = Rendered::new(format, &FeedMeta::merged(&settings, format), &[], None);
            let body = String::from_utf8_lossy(empty.body());
            assert!(!body.contains("1970"), "{format:?}: {body}");
            assert!(empty.last_modified >= before, "{format:?}");
            let header = empty.last_modified_header.to_str().unwrap();
            assert!(!header.contains("1970"), "{header}");
        }
        let atom = Rendered::new(
            FeedFormat::Atom,
            &FeedMeta::merged(&settings, FeedFormat::Atom),
            &[],
            None,
        );
        let feed = feed_rs::parser::parse(atom.body().as_ref()).unwrap();
        let updated = feed.updated.expect("an Atom feed is dated");
        assert!(updated >= DateTime::<Utc>::from(before), "{updated}");
    }

    fn item(source: &SourceRef, key: &str, day: u32) -> Item {
        let mut item = Item {
            id: ItemId::derive(&source.id, key),
            source: source.clone(),
            guid: key.into(),
            url: Some(format!("https://example.org/{key}")),
            title: format!("Item {key}"),
            summary: String::new(),
            content_html: None,
            authors: vec![],
            categories: vec![],
            language: None,
            published: Utc.with_ymd_and_hms(2024, 1, day, 0, 0, 0).unwrap(),
            updated: None,
            revision: 1,
            published_from_source: true,
            content_hash: String::new(),
        };
        item.content_hash = item.compute_content_hash();
        item
    }

    /// A fresh store, and the source whose items the tests store in it.
    fn store_of_one_source() -> (tempfile::TempDir, Store, SourceRef) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        let source = SourceRef {
            id: "a".into(),
            name: "A".into(),
            url: "https://a.example.org/".into(),
        };
        (dir, store, source)
    }

    /// WebSub pings follow `changes()`: it must move when the merged feed
    /// does, and only then.
    #[tokio::test]
    async fn changes_move_only_when_the_merged_feed_does() {
        let (_dir, store, source) = store_of_one_source();
        let settings = ServerSettings {
            feed_size: 1,
            ..ServerSettings::default()
        };
        let feed = MergedFeed::new(settings);
        let changes = feed.changes();
        store
            .apply_items(&source, &[item(&source, "new", 10)], Utc::now())
            .await
            .unwrap();

        // The first rendering from the store is the start, not a change.
        feed.refresh(&store).await.unwrap();
        assert!(!changes.has_changed().unwrap());
        let first = feed.current();

        // An older item is stored, but the one-item feed stays the same.
        store
            .apply_items(&source, &[item(&source, "old", 1)], Utc::now())
            .await
            .unwrap();
        feed.refresh(&store).await.unwrap();
        assert!(!changes.has_changed().unwrap());
        assert_eq!(feed.current().identity.etag, first.identity.etag);
        assert_eq!(feed.current().last_modified, first.last_modified);

        store
            .apply_items(&source, &[item(&source, "newer", 11)], Utc::now())
            .await
            .unwrap();
        feed.refresh(&store).await.unwrap();
        assert!(changes.has_changed().unwrap());
        assert_ne!(feed.current().identity.etag, first.identity.etag);
        for format in FeedFormat::ALL {
            let rendered = feed.merged(format);
            assert_eq!(rendered.item_count, 1);
            assert_ne!(rendered.identity.etag, rendered.gzip.etag);
        }
    }

    /// Store changes within [`RENDER_EVERY`] of a rendering share the next
    /// one, which comes when the window ends: on tokio's paused clock (the
    /// store's work on the blocking pool holds it still), so the pacing is
    /// exact.
    #[tokio::test(start_paused = true)]
    async fn changes_within_the_render_window_share_one_rendering() {
        let (_dir, store, source) = store_of_one_source();
        let feed = Arc::new(MergedFeed::new(ServerSettings::default()));
        let renderings = feed.changes();
        let (_sender, live) = crate::config::live(crate::config::Settings {
            server: ServerSettings::default(),
            store: Default::default(),
            cluster: Default::default(),
            amqp: Default::default(),
            poll: Default::default(),
            log: Default::default(),
            dedup: Default::default(),
            rules: Vec::new(),
            sources: Vec::new(),
        });
        let shutdown = CancellationToken::new();
        let fresh = tokio::spawn(
            feed.clone()
                .keep_fresh(store.clone(), live, shutdown.clone()),
        );
        let start = tokio::time::Instant::now();
        // The first rendering, of the empty store, is not a change.
        tokio::time::sleep_until(start + Duration::from_secs(1)).await;
        assert_eq!(*renderings.borrow(), 0);

        // Five polls 20 ms apart: the first renders at once (the window since
        // the last rendering is long over), the other four wait for the
        // window to end and are rendered together.
        let burst = start + Duration::from_secs(1);
        for day in 1..=5 {
            store
                .apply_items(
                    &source,
                    &[item(&source, &format!("i{day}"), day)],
                    Utc::now(),
                )
                .await
                .unwrap();
            tokio::time::sleep_until(burst + Duration::from_millis(20) * day).await;
        }
        assert_eq!(*renderings.borrow(), 1, "the first change rendered at once");
        assert_eq!(feed.current().item_count, 1);
        tokio::time::sleep_until(burst + RENDER_EVERY - Duration::from_millis(10)).await;
        assert_eq!(
            feed.current().item_count,
            1,
            "no rendering inside the window"
        );
        tokio::time::sleep_until(burst + RENDER_EVERY + Duration::from_millis(10)).await;
        assert_eq!(feed.current().item_count, 5);
        tokio::time::sleep_until(burst + Duration::from_secs(5)).await;
        assert_eq!(*renderings.borrow(), 2, "one rendering for the other four");
        shutdown.cancel();
        fresh.await.unwrap();
    }

    /// Filtered reads take turns: while [`FILTERED_AT_ONCE`] are under way,
    /// another waits [`FILTERED_WAIT`] and is then refused as busy, and it
    /// is served once a turn comes free. (Paused time: the wait is exact.)
    #[tokio::test(start_paused = true)]
    async fn filtered_reads_take_turns_and_a_long_wait_is_refused() {
        let (_dir, store, source) = store_of_one_source();
        store
            .apply_items(&source, &[item(&source, "x", 1)], Utc::now())
            .await
            .unwrap();
        let feed = MergedFeed::new(ServerSettings::default());
        let request = |q: &str| {
            super::super::request::FeedRequest::parse(FeedFormat::Rss, None, Some(q), 100).unwrap()
        };
        let busy = feed
            .filtering
            .acquire_many(FILTERED_AT_ONCE as u32)
            .await
            .unwrap();
        let started = tokio::time::Instant::now();
        let refused = feed
            .filtered(&request("q=item"), &store, |_| true, |_| None)
            .await;
        assert!(matches!(refused, Err(FeedError::Busy)), "{refused:?}");
        assert_eq!(started.elapsed(), FILTERED_WAIT);
        drop(busy);
        let served = feed
            .filtered(&request("q=item"), &store, |_| true, |_| None)
            .await
            .unwrap();
        assert_eq!(served.item_count, 1);
    }

    /// A rendering of `size` zero bytes (allocated lazily by the system).
    fn sized(size: usize) -> Arc<Rendered> {
        let settings = ServerSettings::default();
        let mut rendered = Rendered::new(
            FeedFormat::Rss,
            &FeedMeta::merged(&settings, FeedFormat::Rss),
            &[],
            None,
        );
        rendered.identity.body = Bytes::from(vec![0u8; size]);
        Arc::new(rendered)
    }

    #[test]
    fn filtered_renderings_are_bounded_by_count_and_by_bytes() {
        let mut filtered = Filtered::default();
        for n in 0..FILTERED_CAPACITY + 10 {
            filtered.cell(&format!("k{n}")).set(sized(10)).unwrap();
        }
        assert_eq!(filtered.entries.len(), FILTERED_CAPACITY);
        assert!(!filtered.entries.contains_key("k0"));
        assert!(
            filtered
                .entries
                .contains_key(&format!("k{}", FILTERED_CAPACITY + 9))
        );

        let mut filtered = Filtered::default();
        let big = FILTERED_BYTES / 2 + 1;
        filtered.cell("a").set(sized(big)).unwrap();
        filtered.cell("b").set(sized(big)).unwrap();
        // Two big ones are over the budget: the next miss drops the oldest.
        filtered.cell("c");
        assert!(!filtered.entries.contains_key("a"));
        assert!(filtered.entries.contains_key("b") && filtered.entries.contains_key("c"));
        // A hit drops nothing.
        filtered.cell("b");
        assert_eq!(filtered.entries.len(), 2);
    }
}
