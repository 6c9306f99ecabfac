//! Fetch: gets a source's bytes over HTTP(S) or from a `file://` path.
//! The only module that knows the HTTP client.
//!
//! It sends conditional requests from the stored [`FetchState`], follows
//! redirects itself (so it can tell permanent ones apart and stop loops),
//! caps the body after decompression, and reads the caching hints
//! (`Cache-Control: max-age`, `Retry-After`) the scheduler needs. A URL
//! that remote content gave (a page's article link) is fetched through the
//! outbound [`policy`], on every hop, unless it stays on the origin of the
//! source that gave it.

pub mod policy;

use crate::config::{Credentials, PollSettings, without_credentials};
use crate::error::error_chain;
use bytes::{Bytes, BytesMut};
use headers::HeaderMapExt;
use policy::{GuardedResolver, OutboundPolicy, Refused};
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap, HeaderValue};
use std::collections::HashSet;
use std::time::{Duration, SystemTime};
use url::Url;

/// Redirects followed before a fetch gives up.
pub const MAX_REDIRECTS: usize = 10;

/// A fetch that brought nothing usable. Each says what was wrong and where.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The server answered with an error status.
    #[error("HTTP {status} from {url}{}", retry_after_text(.retry_after))]
    Status {
        /// The URL that answered.
        url: String,
        /// The status code.
        status: u16,
        /// The server's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
    },
    /// The whole fetch took longer than `poll.timeout`.
    #[error("timed out after {timeout:?} fetching {url}")]
    Timeout {
        /// The URL.
        url: String,
        /// The limit.
        timeout: Duration,
    },
    /// No connection could be made, or it broke.
    #[error("cannot reach {url}: {reason}")]
    Connect {
        /// The URL.
        url: String,
        /// The cause chain, on one line.
        reason: String,
    },
    /// The body is larger than `poll.max_body`, after decompression.
    #[error("the body of {url} is larger than the {limit}-byte limit")]
    TooLarge {
        /// The URL.
        url: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// Redirects went on for too long, or came back to a URL already visited.
    #[error("redirect {kind} at {url}")]
    Redirect {
        /// The URL where it was noticed.
        url: String,
        /// `loop` or `limit exceeded`.
        kind: &'static str,
    },
    /// A redirect without a usable `Location`.
    #[error("bad redirect from {url}: {reason}")]
    BadRedirect {
        /// The URL that redirected.
        url: String,
        /// What was wrong with its `Location`.
        reason: String,
    },
    /// A `file://` source could not be read.
    #[error("cannot read {path}: {source}")]
    File {
        /// The file path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The URL's scheme is not one we fetch.
    #[error("unsupported URL {0}")]
    Unsupported(String),
    /// A URL from remote content (or a redirect away from the source's
    /// origin) leads to an address the outbound policy refuses.
    #[error("{}", refused_text(.url, .from.as_deref(), .refused))]
    Refused {
        /// The URL refused.
        url: String,
        /// The URL that redirected to it, when it was a redirect hop.
        from: Option<String>,
        /// The address and its range.
        refused: Refused,
    },
}

fn refused_text(url: &str, from: Option<&str>, refused: &Refused) -> String {
    let target = match from {
        Some(from) => format!("{from} redirects to {url}, which"),
        None => url.to_owned(),
    };
    format!(
        "{target} resolves to {}, {}; set {} to allow",
        refused.addr,
        refused.range.described(),
        policy::ALLOW_KEY
    )
}

fn retry_after_text(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(d) => format!(" (retry after {})", humantime::format_duration(*d)),
        None => String::new(),
    }
}

impl FetchError {
    /// How long the server asked us to wait, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FetchError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// A short, stable name of the kind of failure, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            FetchError::Status { .. } => "http_status",
            FetchError::Timeout { .. } => "timeout",
            FetchError::Connect { .. } => "connect",
            FetchError::TooLarge { .. } => "too_large",
            FetchError::Redirect { .. } | FetchError::BadRedirect { .. } => "redirect",
            FetchError::File { .. } => "file",
            FetchError::Unsupported(_) => "unsupported",
            FetchError::Refused { .. } => "refused",
        }
    }
}

/// What the fetcher remembers about a source between polls; the store keeps
/// it, and the next fetch sends it back as a conditional request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchState {
    /// The last `ETag` the source sent.
    pub etag: Option<String>,
    /// The last `Last-Modified` the source sent, verbatim.
    pub last_modified: Option<String>,
    /// Where a permanent redirect (301/308) last sent us; fetched instead of the configured URL.
    pub permanent_url: Option<String>,
}

/// What one fetch brought.
#[derive(Debug, Clone)]
pub enum FetchOutcome {
    /// The source said nothing changed since the stored validators (HTTP 304, or
    /// a `file://` source whose file is as it was).
    NotModified,
    /// A new body.
    Body(Bytes),
}

/// A successful fetch: the outcome and what to remember for the next one.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The body, or that nothing changed.
    pub outcome: FetchOutcome,
    /// The validators and permanent redirect to store for the next poll.
    pub state: FetchState,
    /// The URL the body came from, after redirects: the base for relative links.
    pub final_url: Url,
    /// The `Content-Type` the server sent.
    pub content_type: Option<String>,
    /// The server's `Cache-Control: max-age`, when it sent one.
    pub max_age: Option<Duration>,
}

/// The fetcher: the HTTP clients with the daemon's limits, shared by all sources.
#[derive(Clone)]
pub struct Fetcher {
    /// For the admin's URLs: a source's configured URL and its origin.
    client: reqwest::Client,
    /// For every other URL: the same client, resolving through
    /// [`GuardedResolver`]; the plain one when `poll.allow_private_follow`.
    guarded: reqwest::Client,
    policy: OutboundPolicy,
    max_body: u64,
    timeout: Duration,
}

impl Fetcher {
    /// Builds the clients: User-Agent, timeouts, gzip and brotli, no automatic redirects.
    pub fn new(settings: &PollSettings) -> anyhow::Result<Fetcher> {
        let builder = || {
            reqwest::Client::builder()
                .user_agent(settings.user_agent.clone())
                .timeout(settings.timeout)
                .connect_timeout(settings.connect_timeout)
                // We follow redirects ourselves: reqwest's policy cannot tell
                // us whether every hop was permanent, which decides what we
                // store; and each hop goes through the outbound policy as a
                // request of its own, so no reqwest redirect policy is needed.
                .redirect(reqwest::redirect::Policy::none())
                .gzip(true)
                .brotli(true)
        };
        let policy = OutboundPolicy {
            allow_private: settings.allow_private_follow,
        };
        let client = builder().build()?;
        let guarded = if policy.allow_private {
            client.clone()
        } else {
            // No proxy: a proxy would resolve the names itself, out of the
            // guard's sight.
            builder().dns_resolver(GuardedResolver).no_proxy().build()?
        };
        Ok(Fetcher {
            client,
            guarded,
            policy,
            max_body: settings.max_body.as_u64(),
            timeout: settings.timeout,
        })
    }

    /// Fetches `url`, a link that remote content gave (an article link of
    /// the page at `source_url`), through the outbound policy: unless it is
    /// on `source_url`'s origin, neither it nor any redirect hop may reach
    /// a private or local address (`poll.allow_private_follow` aside).
    /// Only http(s); no credentials are sent, not even ones in `url`.
    pub async fn fetch_followed(&self, url: &Url, source_url: &Url) -> Result<Fetched, FetchError> {
        let url = without_credentials(url);
        if !matches!(url.scheme(), "http" | "https") {
            return Err(FetchError::Unsupported(url.to_string()));
        }
        let anchor = without_credentials(source_url).origin();
        self.fetch_http(url, anchor, None, &FetchState::default())
            .await
    }

    /// The client for one request to `url` on behalf of a source whose
    /// configured origin is `anchor`: the plain one on that origin, else
    /// the guarded one, after the literal check no resolver would make.
    fn client_for(
        &self,
        url: &Url,
        anchor: &url::Origin,
        from: Option<&Url>,
    ) -> Result<&reqwest::Client, FetchError> {
        if url.origin() == *anchor {
            return Ok(&self.client);
        }
        self.policy
            .check_literal(url)
            .map_err(|refused| FetchError::Refused {
                url: url.to_string(),
                from: from.map(Url::to_string),
                refused,
            })?;
        Ok(&self.guarded)
    }

    /// Fetches `configured_url` (or the permanent redirect target remembered in
    /// `state`), conditionally on `state`'s validators. A user and password
    /// in the URL are sent as basic auth, as [`Fetcher::fetch_as`] does.
    pub async fn fetch(
        &self,
        configured_url: &Url,
        state: &FetchState,
    ) -> Result<Fetched, FetchError> {
        let credentials = Credentials::from_url(configured_url);
        self.fetch_as(configured_url, credentials.as_ref(), state)
            .await
    }

    /// Like [`Fetcher::fetch`], sending `credentials` as HTTP basic auth to
    /// the configured URL's origin (scheme, host and port) and to no other:
    /// a redirect elsewhere goes without them. No URL in what it returns or
    /// in its errors carries a user or password.
    pub async fn fetch_as(
        &self,
        configured_url: &Url,
        credentials: Option<&Credentials>,
        state: &FetchState,
    ) -> Result<Fetched, FetchError> {
        let configured = without_credentials(configured_url);
        let anchor = configured.origin();
        let credentials = credentials.map(|c| (configured.origin(), c));
        let start = state
            .permanent_url
            .as_deref()
            .and_then(|u| Url::parse(u).ok())
            .map(|u| without_credentials(&u))
            .unwrap_or_else(|| configured.clone());
        match start.scheme() {
            "http" | "https" => self.fetch_http(start, anchor, credentials, state).await,
            "file" => self.fetch_file(start, state).await,
            _ => Err(FetchError::Unsupported(start.to_string())),
        }
    }

    async fn fetch_http(
        &self,
        start: Url,
        anchor: url::Origin,
        credentials: Option<(url::Origin, &Credentials)>,
        state: &FetchState,
    ) -> Result<Fetched, FetchError> {
        let mut url = start;
        let mut visited = HashSet::new();
        // A permanent redirect is remembered only when every hop to the final
        // URL was permanent; one temporary hop means "ask the original again".
        let mut all_permanent = true;
        let mut redirected = false;
        let mut from: Option<Url> = None;
        let response = loop {
            if !visited.insert(url.to_string()) {
                return Err(FetchError::Redirect {
                    url: url.to_string(),
                    kind: "loop",
                });
            }
            if visited.len() > MAX_REDIRECTS + 1 {
                return Err(FetchError::Redirect {
                    url: url.to_string(),
                    kind: "limit exceeded",
                });
            }
            let client = self.client_for(&url, &anchor, from.as_ref())?;
            let mut request = client.get(url.clone());
            if let Some((origin, credentials)) = &credentials
                && url.origin() == *origin
            {
                request = request.basic_auth(&credentials.user, credentials.password.as_ref());
            }
            if let Some(etag) = &state.etag {
                request = request.header(header::IF_NONE_MATCH, etag);
            }
            if let Some(last_modified) = &state.last_modified {
                request = request.header(header::IF_MODIFIED_SINCE, last_modified);
            }
            let response = request
                .send()
                .await
                .map_err(|e| self.request_error(&url, from.as_ref(), e))?;
            let status = response.status();
            if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
                let location = response
                    .headers()
                    .get(header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| FetchError::BadRedirect {
                        url: url.to_string(),
                        reason: format!("HTTP {} without a Location", status.as_u16()),
                    })?;
                let next = url.join(location).map_err(|e| FetchError::BadRedirect {
                    url: url.to_string(),
                    reason: format!("Location `{location}`: {e}"),
                })?;
                // A user and password in a Location are the remote's, not
                // ours to send or to show.
                let next = without_credentials(&next);
                if !matches!(next.scheme(), "http" | "https") {
                    return Err(FetchError::BadRedirect {
                        url: url.to_string(),
                        reason: format!("Location `{location}` is not http(s)"),
                    });
                }
                all_permanent &= matches!(
                    status,
                    StatusCode::MOVED_PERMANENTLY | StatusCode::PERMANENT_REDIRECT
                );
                redirected = true;
                from = Some(std::mem::replace(&mut url, next));
                continue;
            }
            break response;
        };

        let status = response.status();
        let headers = response.headers().clone();
        let max_age = headers
            .typed_get::<headers::CacheControl>()
            .and_then(|cc| cc.max_age());
        let permanent_url = if redirected && all_permanent {
            Some(url.to_string())
        } else if redirected {
            None
        } else {
            state.permanent_url.clone()
        };

        if status == StatusCode::NOT_MODIFIED {
            // A 304 may refresh the validators; keep the old ones otherwise.
            let new_state = FetchState {
                etag: header_text(&headers, header::ETAG).or_else(|| state.etag.clone()),
                last_modified: header_text(&headers, header::LAST_MODIFIED)
                    .or_else(|| state.last_modified.clone()),
                permanent_url,
            };
            return Ok(Fetched {
                outcome: FetchOutcome::NotModified,
                state: new_state,
                final_url: url,
                content_type: None,
                max_age,
            });
        }
        if !status.is_success() {
            return Err(FetchError::Status {
                url: url.to_string(),
                status: status.as_u16(),
                retry_after: parse_retry_after(&headers, SystemTime::now()),
            });
        }

        let body = self.read_capped(&url, response).await?;
        Ok(Fetched {
            outcome: FetchOutcome::Body(body),
            state: FetchState {
                etag: header_text(&headers, header::ETAG),
                last_modified: header_text(&headers, header::LAST_MODIFIED),
                permanent_url,
            },
            content_type: header_text(&headers, header::CONTENT_TYPE),
            final_url: url,
            max_age,
        })
    }

    /// Reads the body chunk by chunk, so a body that grows past the cap while
    /// being decompressed is stopped before it is all in memory.
    async fn read_capped(
        &self,
        url: &Url,
        mut response: reqwest::Response,
    ) -> Result<Bytes, FetchError> {
        if response
            .content_length()
            .is_some_and(|len| len > self.max_body)
        {
            // Content-Length is the compressed length when the body is encoded,
            // so this only rejects early what would surely be too large.
            return Err(self.too_large(url));
        }
        let mut body = BytesMut::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport_error(url, e))?
        {
            if body.len() as u64 + chunk.len() as u64 > self.max_body {
                return Err(self.too_large(url));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    }

    async fn fetch_file(&self, url: Url, state: &FetchState) -> Result<Fetched, FetchError> {
        let path = url
            .to_file_path()
            .map_err(|()| FetchError::Unsupported(url.to_string()))?;
        let file_error = |source| FetchError::File {
            path: path.display().to_string(),
            source,
        };
        let meta = tokio::fs::metadata(&path).await.map_err(file_error)?;
        if meta.len() > self.max_body {
            return Err(self.too_large(&url));
        }
        // A file's validator is its modification time and length: cheap to
        // read, and it changes whenever an admin or a test rewrites the file.
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let validator = format!("file:{modified}-{}", meta.len());
        let new_state = FetchState {
            etag: Some(validator.clone()),
            last_modified: None,
            permanent_url: None,
        };
        if state.etag.as_deref() == Some(validator.as_str()) {
            return Ok(Fetched {
                outcome: FetchOutcome::NotModified,
                state: new_state,
                final_url: url,
                content_type: None,
                max_age: None,
            });
        }
        let body = tokio::fs::read(&path).await.map_err(file_error)?;
        Ok(Fetched {
            outcome: FetchOutcome::Body(Bytes::from(body)),
            state: new_state,
            final_url: url,
            content_type: None,
            max_age: None,
        })
    }

    fn too_large(&self, url: &Url) -> FetchError {
        FetchError::TooLarge {
            url: url.to_string(),
            limit: self.max_body,
        }
    }

    /// A failed request's error: the policy's refusal when the guarded
    /// resolver is why, else as [`Fetcher::transport_error`].
    fn request_error(&self, url: &Url, from: Option<&Url>, error: reqwest::Error) -> FetchError {
        match policy::refusal_in(&error) {
            Some(refused) => FetchError::Refused {
                url: url.to_string(),
                from: from.map(Url::to_string),
                refused,
            },
            None => self.transport_error(url, error),
        }
    }

    fn transport_error(&self, url: &Url, error: reqwest::Error) -> FetchError {
        if error.is_timeout() {
            return FetchError::Timeout {
                url: url.to_string(),
                timeout: self.timeout,
            };
        }
        // The URL is ours to name, once: reqwest's text would repeat it.
        FetchError::Connect {
            url: url.to_string(),
            reason: error_chain(&error.without_url()),
        }
    }
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v: &HeaderValue| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// `Retry-After` as a delay from `now`: either delta-seconds or an HTTP date.
pub fn parse_retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = header_text(headers, header::RETRY_AFTER)?;
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(&text).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::http::HeaderMap as AxumHeaders;
    use axum::response::IntoResponse;
    use axum::routing::get;
    use bytesize::ByteSize;

    const FEED: &str = "<rss version=\"2.0\"><channel><title>t</title></channel></rss>";

    async fn serve(router: Router) -> Url {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        Url::parse(&format!("http://{addr}/")).unwrap()
    }

    fn fetcher(max_body: u64, timeout: Duration) -> Fetcher {
        Fetcher::new(&PollSettings {
            max_body: ByteSize::b(max_body),
            timeout,
            ..PollSettings::default()
        })
        .unwrap()
    }

    fn body(fetched: &Fetched) -> &[u8] {
        match &fetched.outcome {
            FetchOutcome::Body(b) => b,
            FetchOutcome::NotModified => panic!("expected a body"),
        }
    }

    #[tokio::test]
    async fn sends_validators_and_treats_304_as_nothing_new() {
        let router = Router::new().route(
            "/feed",
            get(|headers: AxumHeaders| async move {
                if headers.get("if-none-match").is_some_and(|v| v == "\"v1\"")
                    && headers.get("if-modified-since").is_some()
                {
                    return (StatusCode::NOT_MODIFIED, [("etag", "\"v1\"")]).into_response();
                }
                (
                    [
                        ("etag", "\"v1\""),
                        ("last-modified", "Wed, 21 Oct 2015 07:28:00 GMT"),
                        ("cache-control", "max-age=3600"),
                    ],
                    FEED,
                )
                    .into_response()
            }),
        );
        let base = serve(router).await;
        let f = fetcher(1 << 20, Duration::from_secs(5));
        let first = f
            .fetch(&base.join("feed").unwrap(), &FetchState::default())
            .await
            .unwrap();
        assert_eq!(body(&first), FEED.as_bytes());
        assert_eq!(first.state.etag.as_deref(), Some("\"v1\""));
        assert_eq!(
            first.state.last_modified.as_deref(),
            Some("Wed, 21 Oct 2015 07:28:00 GMT")
        );
        assert_eq!(first.max_age, Some(Duration::from_secs(3600)));
        let second = f
            .fetch(&base.join("feed").unwrap(), &first.state)
            .await
            .unwrap();
        assert!(matches!(second.outcome, FetchOutcome::NotModified));
        assert_eq!(second.state, first.state);
    }

    #[tokio::test]
    async fn permanent_redirects_are_remembered_and_temporary_ones_are_not() {
        let router = Router::new()
            .route(
                "/old",
                get(|| async { (StatusCode::MOVED_PERMANENTLY, [("location", "/new")]) }),
            )
            .route(
                "/hop",
                get(|| async { (StatusCode::FOUND, [("location", "/new")]) }),
            )
            .route("/new", get(|| async { FEED }));
        let base = serve(router).await;
        let f = fetcher(1 << 20, Duration::from_secs(5));
        let moved = f
            .fetch(&base.join("old").unwrap(), &FetchState::default())
            .await
            .unwrap();
        assert_eq!(body(&moved), FEED.as_bytes());
        assert_eq!(moved.final_url, base.join("new").unwrap());
        assert_eq!(
            moved.state.permanent_url.as_deref(),
            Some(base.join("new").unwrap().as_str())
        );
        let temporary = f
            .fetch(&base.join("hop").unwrap(), &FetchState::default())
            .await
            .unwrap();
        assert_eq!(temporary.final_url, base.join("new").unwrap());
        assert_eq!(temporary.state.permanent_url, None);
    }

    #[tokio::test]
    async fn redirect_loops_and_chains_stop_with_a_clear_error() {
        let router = Router::new()
            .route(
                "/a",
                get(|| async { (StatusCode::FOUND, [("location", "/b")]) }),
            )
            .route(
                "/b",
                get(|| async { (StatusCode::FOUND, [("location", "/a")]) }),
            )
            .route(
                "/chain/{n}",
                get(
                    |axum::extract::Path(n): axum::extract::Path<u32>| async move {
                        (
                            StatusCode::FOUND,
                            [("location", format!("/chain/{}", n + 1))],
                        )
                    },
                ),
            );
        let base = serve(router).await;
        let f = fetcher(1 << 20, Duration::from_secs(5));
        let err = f
            .fetch(&base.join("a").unwrap(), &FetchState::default())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("redirect loop"), "{err}");
        let err = f
            .fetch(&base.join("chain/0").unwrap(), &FetchState::default())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("limit exceeded"), "{err}");
    }

    #[tokio::test]
    async fn gzip_and_brotli_bodies_are_decoded() {
        let brotli_only = Router::new()
            .route("/br", get(|| async { FEED.repeat(50) }))
            .layer(
                tower_http::compression::CompressionLayer::new()
                    .gzip(false)
                    .br(true),
            );
        let router = Router::new()
            .route(
                "/gz",
                get(|| async {
                    use std::io::Write;
                    let mut gz =
                        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                    gz.write_all(FEED.repeat(50).as_bytes()).unwrap();
                    ([("content-encoding", "gzip")], gz.finish().unwrap())
                }),
            )
            .merge(brotli_only);
        let base = serve(router).await;
        let f = fetcher(1 << 20, Duration::from_secs(5));
        for path in ["gz", "br"] {
            let fetched = f
                .fetch(&base.join(path).unwrap(), &FetchState::default())
                .await
                .unwrap();
            assert_eq!(body(&fetched), FEED.repeat(50).as_bytes(), "{path}");
        }
    }

    #[tokio::test]
    async fn the_body_cap_holds_after_decompression() {
        let router = Router::new()
            .route("/big", get(|| async { vec![b' '; 3 << 20] }))
            .route(
                "/bomb",
                get(|| async {
                    use std::io::Write;
                    let mut gz =
                        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
                    gz.write_all(&vec![b' '; 8 << 20]).unwrap();
                    let small = gz.finish().unwrap();
                    ([("content-encoding", "gzip")], small)
                }),
            );
        let base = serve(router).await;
        let f = fetcher(1 << 20, Duration::from_secs(10));
        let err = f
            .fetch(&base.join("big").unwrap(), &FetchState::default())
            .await
            .unwrap_err();
        assert!(matches!(err, FetchError::TooLarge { .. }), "{err}");
        let err = f
            .fetch(&base.join("bomb").unwrap(), &FetchState::default())
            .await
            .unwrap_err();
        assert!(matches!(err, FetchError::TooLarge { .. }), "{err}");
    }

    #[tokio::test]
    async fn error_statuses_carry_retry_after_and_slow_servers_time_out() {
        let router = Router::new()
            .route(
                "/busy",
                get(|| async { (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "120")]) }),
            )
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    FEED
                }),
            );
        let base = serve(router).await;
        let f = fetcher(1 << 20, Duration::from_millis(300));
        let err = f
            .fetch(&base.join("busy").unwrap(), &FetchState::default())
            .await
            .unwrap_err();
        assert_eq!(err.retry_after(), Some(Duration::from_secs(120)));
        assert!(err.to_string().contains("HTTP 429"), "{err}");
        let err = f
            .fetch(&base.join("slow").unwrap(), &FetchState::default())
            .await
            .unwrap_err();
        assert!(matches!(err, FetchError::Timeout { .. }), "{err}");
    }

    #[tokio::test]
    async fn file_sources_use_their_modification_time_as_validator() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feed.xml");
        std::fs::write(&path, FEED).unwrap();
        let url = Url::from_file_path(&path).unwrap();
        let f = fetcher(1 << 20, Duration::from_secs(5));
        let first = f.fetch(&url, &FetchState::default()).await.unwrap();
        assert_eq!(body(&first), FEED.as_bytes());
        let again = f.fetch(&url, &first.state).await.unwrap();
        assert!(matches!(again.outcome, FetchOutcome::NotModified));
        std::fs::write(&path, format!("{FEED}\n")).unwrap();
        let changed = f.fetch(&url, &first.state).await.unwrap();
        assert!(matches!(changed.outcome, FetchOutcome::Body(_)));
        let missing = Url::from_file_path(dir.path().join("gone.xml")).unwrap();
        let err = f.fetch(&missing, &FetchState::default()).await.unwrap_err();
        assert!(err.to_string().contains("gone.xml"), "{err}");
    }

    #[test]
    fn retry_after_accepts_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        let mut headers = HeaderMap::new();
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("120"));
        assert_eq!(
            parse_retry_after(&headers, now),
            Some(Duration::from_secs(120))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(300));
        headers.insert(header::RETRY_AFTER, HeaderValue::from_str(&later).unwrap());
        assert_eq!(
            parse_retry_after(&headers, now),
            Some(Duration::from_secs(300))
        );
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(parse_retry_after(&headers, now), None);
    }
}
