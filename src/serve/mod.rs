//! Serve: the merged feed over HTTP. It reads the store, never the network.
//!
//! The feed is rendered once per store change into memory ([`MergedFeed`]),
//! and every request is answered from there: `ETag`/`If-None-Match` and
//! `Last-Modified`/`If-Modified-Since` give 304s, and gzip is negotiated by
//! tower-http.

mod health;

use crate::config::ServerSettings;
use crate::fetch::error_chain;
use crate::item::Item;
use crate::publish::PublisherStats;
use crate::refresh::blocking;
use crate::reload::LiveSettings;
use crate::store::Store;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use headers::HeaderMapExt;
use sha2::{Digest, Sha256};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::compression::CompressionLayer;
use tracing::warn;

/// The content type of `/feed.xml`.
pub const RSS_CONTENT_TYPE: &str = "application/rss+xml; charset=utf-8";

/// One rendering of the merged feed, ready to send.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The RSS document.
    pub body: Bytes,
    /// Strong validator: a hash of the body.
    pub etag: headers::ETag,
    /// When the body last changed.
    pub last_modified: SystemTime,
    /// How many items it holds.
    pub item_count: usize,
}

/// The merged feed, kept rendered in memory.
pub struct MergedFeed {
    settings: ServerSettings,
    /// A std lock: it is held only to clone or swap an `Arc`, never across an
    /// await, so readers never wait on a render.
    current: RwLock<Arc<Rendered>>,
}

impl MergedFeed {
    /// An empty merged feed; [`MergedFeed::refresh`] fills it.
    pub fn new(settings: ServerSettings) -> MergedFeed {
        let empty = render_rss(&settings, &[]);
        let rendered = Rendered {
            etag: etag_of(&empty),
            body: Bytes::from(empty),
            last_modified: whole_seconds(SystemTime::now()),
            item_count: 0,
        };
        MergedFeed {
            settings,
            current: RwLock::new(Arc::new(rendered)),
        }
    }

    /// The current rendering.
    pub fn current(&self) -> Arc<Rendered> {
        self.current
            .read()
            .expect("merged feed lock poisoned")
            .clone()
    }

    /// Renders again from the store; keeps `Last-Modified` when the body is the same.
    pub async fn refresh(&self, store: &Store) -> Result<(), crate::store::StoreError> {
        let limit = self.settings.feed_size;
        let store = store.clone();
        let items = blocking(move || store.newest_items(limit)).await?;
        let body = render_rss(&self.settings, &items);
        let etag = etag_of(&body);
        let mut current = self.current.write().expect("merged feed lock poisoned");
        if current.etag != etag {
            *current = Arc::new(Rendered {
                body: Bytes::from(body),
                etag,
                last_modified: whole_seconds(SystemTime::now()),
                item_count: items.len(),
            });
        }
        Ok(())
    }

    /// Re-renders whenever the store changes, until `shutdown`.
    pub async fn keep_fresh(self: Arc<Self>, store: Store, shutdown: CancellationToken) {
        let mut changes = store.subscribe();
        loop {
            if let Err(e) = self.refresh(&store).await {
                warn!(error = %error_chain(&e), "cannot render the merged feed; serving the last rendering");
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                changed = changes.changed() => if changed.is_err() { return },
            }
        }
    }
}

fn etag_of(body: &[u8]) -> headers::ETag {
    let digest = Sha256::digest(body);
    format!("\"{}\"", hex::encode(&digest[..12]))
        .parse()
        .expect("a quoted hex string is a valid ETag")
}

/// HTTP dates have whole seconds; comparing `If-Modified-Since` against a
/// time with nanoseconds would never match.
fn whole_seconds(t: SystemTime) -> SystemTime {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs)
}

/// Renders `items` (newest first) as an RSS 2.0 document.
pub fn render_rss(settings: &ServerSettings, items: &[Item]) -> Vec<u8> {
    use rss::extension::atom::{AtomExtension, Link};

    let self_url = settings
        .public_url
        .join("feed.xml")
        .map_or_else(|_| settings.public_url.to_string(), |u| u.to_string());
    // The newest date in the feed, not the render time: the same items give
    // the same bytes, so the ETag only changes when the content does.
    let newest = items
        .iter()
        .map(|i| i.updated.unwrap_or(i.published).max(i.published))
        .max();
    let rss_items = items.iter().map(rss_item).collect::<Vec<_>>();
    let channel = rss::Channel {
        title: settings.title.clone(),
        link: settings.public_url.to_string(),
        description: format!("{}: news merged by librarywire", settings.title),
        generator: Some(concat!("librarywire ", env!("CARGO_PKG_VERSION")).to_owned()),
        last_build_date: newest.map(rfc2822),
        docs: Some("https://www.rssboard.org/rss-specification".to_owned()),
        ttl: Some("15".to_owned()),
        atom_ext: Some(AtomExtension {
            links: vec![Link {
                href: self_url,
                rel: "self".to_owned(),
                mime_type: Some("application/rss+xml".to_owned()),
                ..Link::default()
            }],
        }),
        items: rss_items,
        ..rss::Channel::default()
    };
    // `write_to` starts with the XML declaration itself. Writing to a Vec
    // cannot fail for I/O reasons, and every string in the channel is valid
    // UTF-8 that quick-xml escapes.
    channel
        .write_to(Vec::with_capacity(4096 + items.len() * 2048))
        .expect("writing RSS to memory cannot fail")
}

fn rss_item(item: &Item) -> rss::Item {
    use rss::extension::dublincore::DublinCoreExtension;
    let description = match &item.content_html {
        Some(html) => html.clone(),
        None => html_escape(&item.summary),
    };
    rss::Item {
        title: Some(item.title.clone()),
        link: item.url.clone(),
        description: Some(description).filter(|d| !d.is_empty()),
        guid: Some(rss::Guid {
            value: format!("urn:librarywire:{}", item.id),
            permalink: false,
        }),
        pub_date: Some(rfc2822(item.published)),
        categories: item
            .categories
            .iter()
            .map(|c| rss::Category {
                name: c.clone(),
                domain: None,
            })
            .collect(),
        source: Some(rss::Source {
            url: item.source.url.clone(),
            title: Some(item.source.name.clone()),
        }),
        // RSS's own <author> must be an e-mail address; names go in dc:creator.
        dublin_core_ext: (!item.authors.is_empty()).then(|| DublinCoreExtension {
            creators: item.authors.clone(),
            ..DublinCoreExtension::default()
        }),
        ..rss::Item::default()
    }
}

fn rfc2822(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// What the handlers share.
#[derive(Clone)]
pub struct ServeState {
    /// The rendered merged feed.
    pub feed: Arc<MergedFeed>,
    /// The store, read by `/status`, `/readyz` and `/metrics`.
    pub store: Store,
    /// The settings in force; live reload replaces them.
    pub settings: LiveSettings,
    /// The publisher's counters, for `/status` and `/metrics`.
    pub publisher: Arc<PublisherStats>,
}

/// The HTTP routes.
pub fn router(state: ServeState) -> Router {
    Router::new()
        .route("/feed.xml", get(feed_xml))
        .route("/opml", get(opml))
        .route("/status", get(status))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .layer(CompressionLayer::new().gzip(true))
        .layer(axum::middleware::from_fn(crate::metrics::track_http))
        .with_state(state)
}

/// `/opml`: the configured sources as an OPML 2.0 subscription list.
async fn opml(State(state): State<ServeState>) -> Response {
    let settings = state.settings.borrow().clone();
    let body = crate::opml::render(&settings);
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/x-opml; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

async fn status(State(state): State<ServeState>) -> Response {
    let ServeState {
        store,
        settings,
        publisher,
        ..
    } = state;
    let settings = settings.borrow().clone();
    let report = blocking(move || {
        crate::status::report(
            &store,
            &settings.sources,
            &publisher,
            settings.poll.flag_after,
            Utc::now(),
        )
    })
    .await;
    match report {
        Ok(report) => axum::Json(report).into_response(),
        Err(e) => {
            warn!(error = %error_chain(&e), "cannot build /status");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot read the store: {e}\n"),
            )
                .into_response()
        }
    }
}

async fn feed_xml(State(state): State<ServeState>, request_headers: HeaderMap) -> Response {
    let rendered = state.feed.current();
    let mut headers = HeaderMap::new();
    headers.typed_insert(rendered.etag.clone());
    headers.typed_insert(headers::LastModified::from(rendered.last_modified));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if is_fresh(&request_headers, &rendered) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(RSS_CONTENT_TYPE),
    );
    (StatusCode::OK, headers, rendered.body.clone()).into_response()
}

/// Whether the client's copy is current. `If-None-Match` wins over
/// `If-Modified-Since` when both are sent (RFC 9110, 13.2.2).
fn is_fresh(request: &HeaderMap, rendered: &Rendered) -> bool {
    if let Some(if_none_match) = request.typed_get::<headers::IfNoneMatch>() {
        return !if_none_match.precondition_passes(&rendered.etag);
    }
    if let Some(since) = request.typed_get::<headers::IfModifiedSince>() {
        return !since.is_modified(rendered.last_modified);
    }
    false
}

/// Serves `router` on `listener` until `shutdown`, then finishes open requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}
