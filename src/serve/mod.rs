//! Serve: the feeds over HTTP. It reads the store, never the network.
//!
//! Every feed is rendered into memory ([`MergedFeed`], `cache.rs`) and every
//! request is answered from there: the merged feed in RSS, Atom and JSON Feed
//! once per store change, filtered and per-source feeds on first request
//! until the next change. Each rendering is gzipped once; a request picks
//! the identity or gzip bytes (`respond.rs`), and `ETag`/`If-None-Match` and
//! `Last-Modified`/`If-Modified-Since` give 304s. The other routes are
//! compressed by tower-http.

mod cache;
mod connections;
mod health;
mod html;
mod items;
mod render;
mod request;
mod respond;

pub use cache::{
    FILTERED_AT_ONCE, FILTERED_BYTES, FILTERED_CAPACITY, FILTERED_WAIT, FeedError, MergedFeed,
    Rendered, Variant,
};
pub use connections::{Limits, MAX_BODY_BYTES, MAX_HEAD_BYTES, connection_cap, raise_file_limit};
pub use html::{HTML_CONTENT_TYPE, STYLE, SourceLink, day_words};
pub use items::{ItemDocument, RevisionDocument};
pub use render::{FeedFormat, FeedMeta, RSS_CONTENT_TYPE, render, render_rss};
pub use request::{BadParameter, FeedRequest, MAX_LIMIT, MAX_SOURCES, MAX_WORDS, cursor_text};
pub use respond::accepts_gzip;

use crate::config::{LiveSettings, ServerSettings};
use crate::error::error_chain;
use crate::publish::PublisherStats;
use crate::status::StatusReport;
use crate::store::{Store, StoreError};
use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::compression::CompressionLayer;
use tracing::warn;

/// What the handlers share.
#[derive(Clone)]
pub struct ServeState {
    /// Every feed, kept rendered: the merged feeds and the filtered ones.
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
    // The feeds carry their own gzip, made once at render; tower-http
    // compresses the rest. (It would also leave a response alone that has a
    // Content-Encoding already, but a feed sent as identity to a client that
    // only takes br would be compressed per request under the identity ETag.)
    let feeds = Router::new()
        .route("/feed.xml", get(merged_rss))
        .route("/feed.atom", get(merged_atom))
        .route("/feed.json", get(merged_json))
        .route("/sources/{id}/{file}", get(source_feed))
        // The news and source pages carry their own gzip too, made once
        // per rendering as the feeds'.
        .route("/", get(news_page))
        .route("/sources/{id}", get(source_page))
        .route("/style.css", get(style));
    Router::new()
        .route("/status.html", get(status_page))
        .route("/opml", get(opml))
        .route("/status", get(status))
        .route("/items/{id}", get(items::item))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .layer(CompressionLayer::new().gzip(true))
        .merge(feeds)
        // No route takes a body: a large one is refused before anything
        // reads it (413), rather than drained.
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            MAX_BODY_BYTES,
        ))
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

impl ServeState {
    /// The `/status` report for the sources in force, read from the store.
    pub async fn status_report(&self) -> Result<StatusReport, StoreError> {
        let settings = self.settings.borrow().clone();
        crate::status::report(
            &settings.cluster.replica_id(),
            &self.store,
            &settings.sources,
            &self.publisher,
            settings.poll.flag_after,
            Utc::now(),
        )
        .await
    }
}

async fn status(State(state): State<ServeState>) -> Response {
    match state.status_report().await {
        Ok(report) => axum::Json(report).into_response(),
        Err(e) => {
            warn!(error = %error_chain(&e), "cannot build /status");
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot read the store: {e}\n"),
            )
        }
    }
}

async fn merged_rss(State(state): State<ServeState>, request: Request) -> Response {
    feed(&state, FeedFormat::Rss, None, request.into_parts().0).await
}

async fn merged_atom(State(state): State<ServeState>, request: Request) -> Response {
    feed(&state, FeedFormat::Atom, None, request.into_parts().0).await
}

async fn merged_json(State(state): State<ServeState>, request: Request) -> Response {
    feed(&state, FeedFormat::Json, None, request.into_parts().0).await
}

/// `/sources/{id}/feed.xml`, `.atom` and `.json`: one source's items.
async fn source_feed(
    State(state): State<ServeState>,
    Path((id, file)): Path<(String, String)>,
    request: Request,
) -> Response {
    let Some(format) = FeedFormat::from_file_name(&file) else {
        return text(
            StatusCode::NOT_FOUND,
            format!(
                "no such feed: a source's feeds are feed.xml, feed.atom and feed.json, not {file:?}\n"
            ),
        );
    };
    feed(&state, format, Some(&id), request.into_parts().0).await
}

/// Any feed endpoint. The plain merged feed takes the shortest path: no
/// parsing, one `Arc` clone, and the request's headers are read in place
/// (the `Request` extractor moves them; `HeaderMap` would copy them).
/// The body is dropped first: it is not `Sync`, and the future must be `Send`.
async fn feed(
    state: &ServeState,
    format: FeedFormat,
    path_source: Option<&str>,
    request: Parts,
) -> Response {
    let query = request.uri.query();
    let headers = &request.headers;
    if path_source.is_none() && query.is_none_or(str::is_empty) {
        return respond::feed_response(&state.feed.merged(format), headers);
    }
    let request =
        match FeedRequest::parse(format, path_source, query, state.feed.settings().feed_size) {
            Ok(request) => request,
            Err(BadParameter(message)) => {
                return text(StatusCode::BAD_REQUEST, format!("{message}\n"));
            }
        };
    let settings = state.settings.borrow().clone();
    let configured = |id: &str| settings.source(id).is_some();
    let name = |id: &str| settings.source(id).map(|s| s.display_name().to_owned());
    match state
        .feed
        .filtered(&request, &state.store, configured, name)
        .await
    {
        Ok(rendered) => respond::feed_response(&rendered, headers),
        Err(FeedError::UnknownSource(id)) if request.path_source.as_deref() == Some(&id) => text(
            StatusCode::NOT_FOUND,
            format!("no source {id:?}: it is neither configured nor in the store\n"),
        ),
        Err(FeedError::UnknownSource(id)) => text(
            StatusCode::BAD_REQUEST,
            format!(
                "parameter `source`: no source {id:?}; it is neither configured nor in the store\n"
            ),
        ),
        // Busy, or the read ran past its time budget or found no free
        // reader: it may well work if tried again soon.
        Err(
            e @ (FeedError::Busy
            | FeedError::Store(StoreError::TimeBudget { .. } | StoreError::Readers(_))),
        ) => {
            let mut response = text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("{}; try again in a moment\n", error_chain(&e)),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
        Err(FeedError::Store(e)) => {
            warn!(error = %error_chain(&e), "cannot render a filtered feed");
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot read the store: {e}\n"),
            )
        }
    }
}

/// `/`: the news page. The unfiltered one is served as rendered at the
/// last store change; a filtered or older page goes through the render
/// cache as a filtered feed does.
async fn news_page(State(state): State<ServeState>, request: Request) -> Response {
    let parts = request.into_parts().0;
    let headers = &parts.headers;
    let query = parts.uri.query();
    if query.is_none_or(str::is_empty) {
        return respond::feed_response(&state.feed.home(), headers);
    }
    let settings = state.feed.settings();
    let request = match FeedRequest::parse_page(FeedFormat::Rss, None, query, settings.feed_size) {
        Ok(request) => request,
        Err(BadParameter(message)) => {
            return html_error(&settings, StatusCode::BAD_REQUEST, "", &message);
        }
    };
    if request.is_merged() {
        return respond::feed_response(&state.feed.home(), headers);
    }
    let live = state.settings.borrow().clone();
    let sources = state.feed.sources();
    let key = request.canonical();
    let shown = request.clone();
    let page_settings = settings.clone();
    let rendered = state
        .feed
        .page(
            &key,
            &request,
            &state.store,
            |id| live.source(id).is_some(),
            move |feed| html::news(&page_settings, &sources, &shown, &feed),
        )
        .await;
    page_response(&settings, rendered, headers, "", None)
}

/// `/sources/{id}`: one source's health, feeds and items; 404 for a source
/// neither configured nor in the store. Rendered again when its items or
/// its health change.
async fn source_page(
    State(state): State<ServeState>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    let parts = request.into_parts().0;
    let settings = state.feed.settings();
    let request = match FeedRequest::parse_page(
        FeedFormat::Rss,
        Some(&id),
        parts.uri.query(),
        settings.feed_size,
    ) {
        Ok(request) => request,
        Err(BadParameter(message)) => {
            return html_error(&settings, StatusCode::BAD_REQUEST, "../", &message);
        }
    };
    let report = match state.status_report().await {
        Ok(report) => report,
        Err(e) => {
            warn!(error = %error_chain(&e), "cannot build a source's page");
            return html_error(
                &settings,
                StatusCode::INTERNAL_SERVER_ERROR,
                "../",
                &format!("cannot read the store: {e}"),
            );
        }
    };
    let source = report.sources.into_iter().find(|s| s.id == id);
    let key = format!(
        "{}|{}",
        request.canonical(),
        html::health_key(source.as_ref())
    );
    let live = state.settings.borrow().clone();
    let shown = request.clone();
    let page_settings = settings.clone();
    let rendered = state
        .feed
        .page(
            &key,
            &request,
            &state.store,
            |known| live.source(known).is_some(),
            move |feed| {
                let name = source.as_ref().map_or_else(
                    || {
                        feed.items.first().map_or_else(
                            || shown.path_source.clone().unwrap_or_default(),
                            |i| i.source.name.clone(),
                        )
                    },
                    |s| s.name.clone(),
                );
                html::source(&page_settings, &name, source.as_ref(), &shown, &feed)
            },
        )
        .await;
    page_response(&settings, rendered, &parts.headers, "../", Some(&id))
}

/// A rendered page, or the page that says why there is none.
fn page_response(
    settings: &ServerSettings,
    rendered: Result<Arc<Rendered>, FeedError>,
    headers: &axum::http::HeaderMap,
    root: &'static str,
    path_source: Option<&str>,
) -> Response {
    match rendered {
        Ok(rendered) => respond::feed_response(&rendered, headers),
        Err(FeedError::UnknownSource(id)) if path_source == Some(id.as_str()) => html_error(
            settings,
            StatusCode::NOT_FOUND,
            root,
            &format!("There is no source {id:?}: it is neither configured nor in the store."),
        ),
        Err(FeedError::UnknownSource(id)) => html_error(
            settings,
            StatusCode::BAD_REQUEST,
            root,
            &format!(
                "parameter `source`: no source {id:?}; it is neither configured nor in the store"
            ),
        ),
        Err(
            e @ (FeedError::Busy
            | FeedError::Store(StoreError::TimeBudget { .. } | StoreError::Readers(_))),
        ) => {
            let mut response = html_error(
                settings,
                StatusCode::SERVICE_UNAVAILABLE,
                root,
                &format!("{}; try again in a moment", error_chain(&e)),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
        Err(FeedError::Store(e)) => {
            warn!(error = %error_chain(&e), "cannot render a page");
            html_error(
                settings,
                StatusCode::INTERNAL_SERVER_ERROR,
                root,
                &format!("cannot read the store: {e}"),
            )
        }
    }
}

/// An HTML page with `status` that says `message`.
fn html_error(
    settings: &ServerSettings,
    status: StatusCode,
    root: &'static str,
    message: &str,
) -> Response {
    let heading = match status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::BAD_REQUEST => "This page cannot show that",
        StatusCode::SERVICE_UNAVAILABLE => "Busy",
        _ => "Something went wrong",
    };
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(HTML_CONTENT_TYPE),
        )],
        html::error(settings, root, heading, message),
    )
        .into_response()
}

/// `/style.css`: the one stylesheet, with its ETag and gzip made once.
async fn style(request: Request) -> Response {
    static STYLESHEET: std::sync::LazyLock<Rendered> = std::sync::LazyLock::new(|| {
        Rendered::of_body(
            "text/css; charset=utf-8",
            STYLE.as_bytes().to_vec(),
            std::time::SystemTime::now(),
        )
    });
    respond::feed_response(&STYLESHEET, request.headers())
}

/// `/status.html`: `/status` for a person, with its charts. Rendered for
/// each request, as `/status` is: the states move with the clock.
async fn status_page(State(state): State<ServeState>) -> Response {
    let settings = state.feed.settings();
    let now = Utc::now();
    let read = async {
        let report = state.status_report().await?;
        let first_day = (now.date_naive() - chrono::TimeDelta::days(html::CHART_DAYS - 1))
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc())
            .unwrap_or(now);
        let days = state.store.items_per_day(first_day).await?;
        let hour = now.timestamp().div_euclid(3600) * 3600 - 23 * 3600;
        let since = chrono::DateTime::from_timestamp(hour, 0).unwrap_or(now);
        let outcomes = state.store.fetch_outcomes(since).await?;
        Ok::<_, StoreError>((report, days, outcomes))
    };
    match read.await {
        Ok((report, days, outcomes)) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(HTML_CONTENT_TYPE),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            ],
            html::status(&settings, &report, &days, &outcomes, now),
        )
            .into_response(),
        Err(e) => {
            warn!(error = %error_chain(&e), "cannot build /status.html");
            html_error(
                &settings,
                StatusCode::INTERNAL_SERVER_ERROR,
                "",
                &format!("cannot read the store: {e}"),
            )
        }
    }
}

fn text(status: StatusCode, message: String) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        message,
    )
        .into_response()
}

/// Serves `router` on `listener` until `shutdown`, then finishes open
/// requests, under the `[server]` connection limits (`connections.rs`):
/// header and idle timeouts, and a cap below `file_limit`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    settings: LiveSettings,
    file_limit: u64,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    connections::serve(listener, router, settings, file_limit, shutdown).await
}
