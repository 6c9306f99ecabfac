//! Typed settings, loaded once at start from one TOML file and the environment.
//!
//! Layers, later wins: the built-in defaults, the TOML file, then
//! `LIBRARYWIRE__SECTION__KEY` environment variables. Unknown keys are errors,
//! and every error names the key and the file.

mod rule;
mod source_url;
mod write;

pub use rule::{Pattern, RuleAction, RuleField, RuleSettings};
pub use write::{ConfigText, NewSource};

use bytesize::ByteSize;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use url::Url;

pub use source_url::{Credentials, SourceUrl, redact_url, without_credentials};

/// The settings in force while the daemon runs. Readers `borrow()` the
/// current ones; the scheduler, retention and the renderer wait on
/// `changed()`. Only a reload (`reload::Reloader`) sends new ones.
pub type LiveSettings = watch::Receiver<Arc<Settings>>;

/// A channel holding `settings` as the settings in force, and its first reader.
pub fn live(settings: Settings) -> (watch::Sender<Arc<Settings>>, LiveSettings) {
    watch::channel(Arc::new(settings))
}

/// Where the config comes from when neither `--config` nor `LIBRARYWIRE_CONFIG` says.
pub const DEFAULT_CONFIG_PATH: &str = "config/default.toml";

/// The prefix of environment overrides: `LIBRARYWIRE__AMQP__URL` sets `amqp.url`.
pub const ENV_PREFIX: &str = "LIBRARYWIRE";

/// A config that cannot be used. The message names the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read or is not valid TOML.
    #[error("config file {file}: {message}")]
    Load {
        /// The config file.
        file: PathBuf,
        /// What went wrong, from the TOML reader.
        message: String,
    },
    /// A key is unknown or its value has the wrong type or form.
    #[error("config file {file}: key `{key}`: {message}")]
    Key {
        /// The config file.
        file: PathBuf,
        /// The dotted path of the bad key, for example `sources[2].id`.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// A key set by an environment override (`LIBRARYWIRE__SECTION__KEY`)
    /// has the wrong type or form, or is unknown: the variable is to blame,
    /// not the file.
    #[error("environment variable {variable} (key `{key}`, overriding {file}): {message}")]
    Env {
        /// The variable, as it is spelt in the environment.
        variable: String,
        /// The dotted path of the bad key.
        key: String,
        /// The config file it overrides.
        file: PathBuf,
        /// What is wrong with it.
        message: String,
    },
}

impl ConfigError {
    /// The error for a bad `key`: [`ConfigError::Env`] when one of the
    /// `overrides` (variable names) sets it, else [`ConfigError::Key`].
    fn at_key(file: &Path, key: String, message: String, overrides: &[String]) -> ConfigError {
        match overriding_variable(&key, overrides) {
            Some(variable) => ConfigError::Env {
                variable,
                key,
                file: file.to_owned(),
                message,
            },
            None => ConfigError::Key {
                file: file.to_owned(),
                key,
                message,
            },
        }
    }
}

/// The environment override among `variables` that sets `key` (dotted, as
/// in `poll.interval` or `amqp.url[1]`) or a table around it.
fn overriding_variable(key: &str, variables: &[String]) -> Option<String> {
    let prefix = format!("{ENV_PREFIX}__");
    variables.iter().find_map(|variable| {
        let rest = variable.get(prefix.len()..)?;
        if !variable[..prefix.len()].eq_ignore_ascii_case(&prefix) {
            return None;
        }
        let set = rest.to_ascii_lowercase().replace("__", ".");
        let within = |outer: &str, inner: &str| {
            inner == outer
                || inner
                    .strip_prefix(outer)
                    .is_some_and(|tail| tail.starts_with(['.', '[']))
        };
        within(&set, &key.to_ascii_lowercase()).then(|| variable.clone())
    })
}

/// All settings of the daemon.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The HTTP server of the merged feed.
    #[serde(default)]
    pub server: ServerSettings,
    /// The store: the embedded SQLite file, or a shared PostgreSQL database.
    #[serde(default)]
    pub store: StoreSettings,
    /// Replicas sharing one PostgreSQL store.
    #[serde(default)]
    pub cluster: ClusterSettings,
    /// The RabbitMQ broker that new and changed items are published to.
    #[serde(default)]
    pub amqp: AmqpSettings,
    /// How sources are polled.
    #[serde(default)]
    pub poll: PollSettings,
    /// Logging.
    #[serde(default)]
    pub log: LogSettings,
    /// Cross-source duplicates: one story carried by several sources.
    #[serde(default)]
    pub dedup: DedupSettings,
    /// `[[rules]]`: the drop, keep and rewrite rules of every source, applied
    /// in order before each source's own. Default: none.
    #[serde(default)]
    pub rules: Vec<RuleSettings>,
    /// The sources to poll, in order.
    #[serde(default)]
    pub sources: Vec<SourceSettings>,
}

/// `[server]`: the HTTP server.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Address the server binds. Default `127.0.0.1:8080`. Port 0 picks a free port.
    pub listen: SocketAddr,
    /// The merged feed's channel title. Default `Library news`.
    pub title: String,
    /// The public base URL of the server, used for self links. Default `http://127.0.0.1:8080/`.
    pub public_url: Url,
    /// How many of the newest items the merged feed holds. Default 100.
    pub feed_size: usize,
    /// A WebSub hub to ping whenever the merged feed changes; the feeds
    /// advertise it with `<atom:link rel="hub">`. Default: none.
    pub websub_hub: Option<Url>,
    /// How long a client may take to send a request's head (the request
    /// line and headers), and a fresh connection its first one; past it
    /// the connection is closed. Default `10s`.
    #[serde(with = "humantime_serde")]
    pub header_timeout: Duration,
    /// How long a keep-alive connection may stay idle between requests
    /// before it is closed. Default `60s`.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// The most connections open at once. At the cap a new connection is
    /// still taken, and the one idle the longest is closed. Default: what
    /// the open-file limit leaves room for (the limit less an eighth, at
    /// least 256 kept for the rest of the daemon); a higher value is
    /// lowered to that.
    pub max_connections: Option<usize>,
    /// A few words about this planet, shown as plain text (escaped, never
    /// HTML) under the title of the news page, `/`. Default: none.
    pub about: Option<String>,
}

impl ServerSettings {
    /// The URL of `path` on this server, under `public_url`, as text: the one
    /// way the feeds, WebSub and OPML name this server's own URLs.
    pub fn url(&self, path: &str) -> String {
        self.public_url
            .join(path)
            .map_or_else(|_| format!("{}{path}", self.public_url), |u| u.to_string())
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            title: "Library news".to_owned(),
            public_url: Url::parse("http://127.0.0.1:8080/").expect("static URL"),
            feed_size: 100,
            websub_hub: None,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: None,
            about: None,
        }
    }
}

/// `[dedup]`: finding the items of one story that several sources carry
/// (see `src/dedup.rs` for the rules).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DedupSettings {
    /// Whether a new item is judged against the stored items of other
    /// sources. Default true. Off, items are still fingerprinted, so turning
    /// it on later finds duplicates of them.
    pub enabled: bool,
    /// The least estimated share of same text (above 0, at most 1) that
    /// makes two items with the same title one story. Default 0.8.
    pub threshold: f64,
    /// Two items match by title and text only when published at most this
    /// far apart. Default `14d`.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
}

impl Default for DedupSettings {
    fn default() -> DedupSettings {
        DedupSettings {
            enabled: true,
            threshold: 0.8,
            window: Duration::from_secs(14 * 86_400),
        }
    }
}

/// `[store]`: where items, the outbox and the sources' state live.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSettings {
    /// Path of the SQLite file; created with its folder on first run. Default
    /// `data/librarywire.db`. Used unless `url` is set.
    pub path: PathBuf,
    /// The store as a URL: `postgres://user:password@host:port/database` for a
    /// PostgreSQL database that several replicas share, or `sqlite://path`
    /// (the same as `path`). Default: none, `path` is used. Never shown with
    /// its password.
    pub url: Option<String>,
    /// Items older than this (by publication time) are deleted, and an item
    /// already this old when first seen is not stored or published, except a
    /// source's newest `min_items_per_source`. Default `365d`; `"0s"` keeps
    /// them forever.
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
    /// A source's newest this many items are kept whatever their age, so a
    /// library that rarely posts stays in the feeds. Default 20; at most
    /// `max_items_per_source` (unless that is 0).
    pub min_items_per_source: usize,
    /// At most this many items are kept per source, the newest. Default 1000; 0 keeps all.
    pub max_items_per_source: usize,
}

impl StoreSettings {
    /// Where the store lives: `url` when set, else the SQLite file at `path`.
    /// The error names `store.url` and never shows the password.
    pub fn location(&self) -> Result<StoreLocation, String> {
        let Some(url) = self.url.as_deref().map(str::trim) else {
            return Ok(StoreLocation::Sqlite(self.path.clone()));
        };
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(
                    "a sqlite:// URL needs a file path, as in sqlite://data/librarywire.db"
                        .to_owned(),
                );
            }
            return Ok(StoreLocation::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            if let Err(e) = url.parse::<tokio_postgres::Config>() {
                let shown = redact_url(url);
                let password = url::Url::parse(url)
                    .ok()
                    .and_then(|u| u.password().map(str::to_owned));
                let mut reason = e.to_string();
                if let Some(password) = password.filter(|p| !p.is_empty()) {
                    reason = reason.replace(&password, "***");
                }
                return Err(format!("{shown} is not a usable PostgreSQL URL: {reason}"));
            }
            return Ok(StoreLocation::Postgres(url.to_owned()));
        }
        let scheme = url.split_once("://").map_or("(none)", |(scheme, _)| scheme);
        Err(format!(
            "must start with postgres:// or sqlite://, not with the scheme {scheme}"
        ))
    }
}

impl std::fmt::Debug for StoreSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreSettings")
            .field("path", &self.path)
            .field("url", &self.url.as_deref().map(redact_url))
            .field("max_age", &self.max_age)
            .field("min_items_per_source", &self.min_items_per_source)
            .field("max_items_per_source", &self.max_items_per_source)
            .finish()
    }
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            path: PathBuf::from("data/librarywire.db"),
            url: None,
            max_age: Duration::from_secs(365 * 24 * 3600),
            min_items_per_source: 20,
            max_items_per_source: 1000,
        }
    }
}

/// Where the store lives: `store.path` (or a `sqlite://` `store.url`), or a
/// `postgres://` `store.url`.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// The SQLite file.
    Sqlite(PathBuf),
    /// The PostgreSQL URL, password and all: never shown, see [`redact_url`].
    Postgres(String),
}

impl std::fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreLocation::Sqlite(path) => write!(f, "Sqlite({})", path.display()),
            StoreLocation::Postgres(url) => write!(f, "Postgres({})", redact_url(url)),
        }
    }
}

impl std::fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreLocation::Sqlite(path) => write!(f, "{}", path.display()),
            StoreLocation::Postgres(url) => f.write_str(&redact_url(url)),
        }
    }
}

/// `[cluster]`: replicas on one PostgreSQL store. Each source is polled by
/// one replica at a time, and one replica publishes, under leases that
/// expire by the database's clock. On SQLite there is one replica.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterSettings {
    /// How long a replica's claim on a source's poll, or on the publisher,
    /// lasts unless renewed (it is renewed every third of it while the work
    /// goes on). A replica that dies holds its work this long at most.
    /// Default `60s`.
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
    /// This replica's name in logs, `/status` and `/metrics`, and in the
    /// leases it holds. Default: the host name and the process id, `host-pid`.
    pub replica_id: Option<String>,
}

impl ClusterSettings {
    /// The replica id: `replica_id`, or the host name and process id.
    pub fn replica_id(&self) -> String {
        match &self.replica_id {
            Some(id) => id.clone(),
            None => format!(
                "{}-{}",
                gethostname::gethostname().to_string_lossy(),
                std::process::id()
            ),
        }
    }
}

impl Default for ClusterSettings {
    fn default() -> Self {
        ClusterSettings {
            lease: Duration::from_secs(60),
            replica_id: None,
        }
    }
}

/// `[amqp]`: the broker.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AmqpSettings {
    /// The broker's AMQP URI, or the URIs of a cluster's nodes: a TOML
    /// string or array (the environment override takes a comma-separated
    /// list). The publisher connects to the first that answers and moves on
    /// to the next when its connection fails. Default
    /// `amqp://guest:guest@127.0.0.1:5672/%2f`. A `heartbeat` query
    /// parameter is honoured; without one, 30 seconds is used.
    #[serde(deserialize_with = "one_or_many_urls")]
    pub url: Vec<String>,
    /// A durable quorum queue the daemon declares and binds to the exchange
    /// with `item.#`, for admins who want it to own the queue its consumers
    /// read. Default: none (only the exchange is declared).
    pub queue: Option<String>,
    /// The durable topic exchange items are published to; declared at start. Default `library.news`.
    pub exchange: String,
    /// How many published messages may await the broker's confirm at once. Default 256.
    pub confirm_window: usize,
    /// How long any one wait on the broker may take before the connection is
    /// deemed broken and rebuilt. Default `15s`.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// The longest pause between two reconnection attempts. Default `30s`.
    #[serde(with = "humantime_serde")]
    pub max_backoff: Duration,
}

impl AmqpSettings {
    /// The key of node URL `i` in messages: `amqp.url` when there is one,
    /// `amqp.url[i]` in a list.
    pub fn url_key(&self, i: usize) -> String {
        if self.url.len() == 1 {
            "amqp.url".to_owned()
        } else {
            format!("amqp.url[{i}]")
        }
    }
}

/// Reads `amqp.url`: one URL as a string, or a list of them (a TOML array,
/// or the environment override split at commas).
fn one_or_many_urls<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct Urls;
    impl<'de> serde::de::Visitor<'de> for Urls {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an AMQP URL, or a list of them (one per cluster node)")
        }
        fn visit_str<E: serde::de::Error>(self, url: &str) -> Result<Vec<String>, E> {
            Ok(vec![url.trim().to_owned()])
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Vec<String>, A::Error> {
            let mut urls = Vec::new();
            while let Some(url) = seq.next_element::<String>()? {
                urls.push(url.trim().to_owned());
            }
            Ok(urls)
        }
    }
    d.deserialize_any(Urls)
}

impl Default for AmqpSettings {
    fn default() -> Self {
        AmqpSettings {
            url: vec!["amqp://guest:guest@127.0.0.1:5672/%2f".to_owned()],
            queue: None,
            exchange: "library.news".to_owned(),
            confirm_window: 256,
            timeout: Duration::from_secs(15),
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// What is wrong with `css`, which scraper refused: the parser's reason in
/// words and where it stopped. scraper's own message says only "Unexpected
/// error occurred. Please report this to the developer" for most reasons,
/// so the selector is parsed again here with scraper's parser to learn them.
fn selector_error(css: &str) -> String {
    use selectors::parser::{ParseRelative, SelectorList, SelectorParseErrorKind as Kind};
    let mut input = cssparser::Parser::new(css);
    let kind = match SelectorList::parse(&scraper::selector::Parser, &mut input, ParseRelative::No)
    {
        Ok(_) => return format!("`{css}` is not a CSS selector"),
        Err(e) => e.kind,
    };
    let reason = match kind {
        cssparser::ParseErrorKind::Basic(basic) => match basic {
            cssparser::BasicParseErrorKind::UnexpectedToken => "unexpected character or token",
            cssparser::BasicParseErrorKind::EndOfInput => {
                "it ends too early (an unclosed bracket, quote or parenthesis, or nothing after a combinator?)"
            }
            cssparser::BasicParseErrorKind::AtRuleInvalid
            | cssparser::BasicParseErrorKind::AtRuleBodyInvalid => "an @-rule is not a selector",
            cssparser::BasicParseErrorKind::QualifiedRuleInvalid => "not a selector",
            cssparser::BasicParseErrorKind::TooManyNestedBlocks => "too deeply nested",
        },
        cssparser::ParseErrorKind::Custom(custom) => match custom {
            Kind::EmptySelector => "an empty selector (a stray comma?)",
            Kind::DanglingCombinator => "a combinator (`>`, `+`, `~`) with nothing after it",
            Kind::UnsupportedPseudoClassOrElement => "an unknown or unsupported pseudo-class",
            Kind::UnexpectedIdent => "an unexpected name",
            Kind::ClassNeedsIdent => "a `.` must be followed by a class name",
            Kind::NoIdentForPseudo | Kind::PseudoElementExpectedIdent => {
                "a `:` must be followed by a pseudo-class name"
            }
            Kind::PseudoElementExpectedColon => "a pseudo-element needs `::`",
            Kind::NoQualifiedNameInAttributeSelector
            | Kind::InvalidQualNameInAttr
            | Kind::UnexpectedTokenInAttributeSelector
            | Kind::BadValueInAttr
            | Kind::ExpectedBarInAttr => {
                "a malformed attribute selector (write `[name]` or `[name=\"value\"]`)"
            }
            Kind::ExpectedNamespace | Kind::ExplicitNamespaceUnexpectedToken => {
                "namespaces are not supported"
            }
            _ => "not a selector scraper can read",
        },
    };
    // Where the parser stopped: just after the token it could not take.
    let at = input.position().byte_index();
    let column = css[..at.min(css.len())].chars().count();
    let read = &css[..at.min(css.len())];
    format!("`{css}` is not a CSS selector: {reason}, at character {column} (after `{read}`)")
}

/// `[poll]`: polling.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PollSettings {
    /// Default time between two polls of a source. Default `15m`.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// How many sources are fetched at once, over all hosts. Default 8.
    pub concurrency: usize,
    /// How many requests may be open to one host at once. Default 2.
    pub per_host: usize,
    /// Total time one fetch may take, body included. Default `20s`.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Time to set up a connection. Default `10s`.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Largest body accepted, after decompression. Default `5MB`.
    pub max_body: ByteSize,
    /// A source's `Cache-Control: max-age` or RSS `<ttl>` may stretch its
    /// interval up to this, never beyond. Default `6h`.
    #[serde(with = "humantime_serde")]
    pub max_interval: Duration,
    /// A failing source is tried again this soon after its first failure
    /// (a source that has never worked since it was added, or that just
    /// broke), the wait doubling per failure up to its interval; from there
    /// it doubles on up to `max_backoff`. A `Retry-After` is still a floor.
    /// Default `30s`.
    #[serde(with = "humantime_serde")]
    pub first_retry: Duration,
    /// The Unix socket on which the daemon takes `librarywire poll-now`.
    /// Default: beside the SQLite store, `store.path` with the extension
    /// `.sock` (`data/librarywire.sock`); none for a PostgreSQL store unless
    /// set here. SIGUSR1 asks for the same as `poll-now` without `--source`.
    pub control_socket: Option<PathBuf>,
    /// A failing source's retry delay doubles per failure up to this. Default `6h`.
    #[serde(with = "humantime_serde")]
    pub max_backoff: Duration,
    /// A source failing without a break for this long is flagged in `/status`
    /// and the log. Default `1day`.
    #[serde(with = "humantime_serde")]
    pub flag_after: Duration,
    /// Each wait is moved by a random amount up to this fraction of it, so
    /// sources spread out instead of polling in bursts. Default 0.1.
    pub jitter: f64,
    /// The User-Agent sent with every request. Default `librarywire/<version> (+https://github.com/librarywire/librarywire)`.
    pub user_agent: String,
    /// Whether URLs taken from remote content (a page's article links, and
    /// where a source redirects off its own origin) may reach loopback,
    /// private, link-local and other non-public addresses. Off, they are
    /// refused, and `/status` says why; an intranet deployment turns it on.
    /// A source's configured URL, and its origin, are always allowed.
    /// Default `false`.
    pub allow_private_follow: bool,
}

impl Default for PollSettings {
    fn default() -> Self {
        PollSettings {
            interval: Duration::from_secs(15 * 60),
            concurrency: 8,
            per_host: 2,
            timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(10),
            max_body: ByteSize::mb(5),
            max_interval: Duration::from_secs(6 * 3600),
            first_retry: Duration::from_secs(30),
            control_socket: None,
            max_backoff: Duration::from_secs(6 * 3600),
            flag_after: Duration::from_secs(24 * 3600),
            jitter: 0.1,
            user_agent: concat!(
                "librarywire/",
                env!("CARGO_PKG_VERSION"),
                " (+https://github.com/librarywire/librarywire)"
            )
            .to_owned(),
            allow_private_follow: false,
        }
    }
}

/// `[log]`: logging.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// A `tracing` filter such as `info` or `librarywire=debug`; `RUST_LOG` wins when set. Default `info`.
    pub level: String,
    /// `human` (the default): one readable line per event; `json`: one JSON
    /// object per line, for log collectors.
    pub format: LogFormat,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            level: "info".to_owned(),
            format: LogFormat::Human,
        }
    }
}

/// `log.format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Readable lines.
    #[default]
    Human,
    /// One JSON object per line.
    Json,
}

/// What kind of thing a source's URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// An RSS, Atom or JSON feed.
    #[default]
    Feed,
    /// An HTML news page read with the CSS selectors of its `[sources.page]` table.
    Page,
}

/// `[sources.page]`: how to read items out of an HTML news page.
///
/// Every selector but `item` is relative to the item. A selector may end in
/// `@attribute` (`a@href`, `time@datetime`) to read that attribute of the
/// first match instead of its text.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PageSettings {
    /// The CSS selector of each news entry on the page. Default `article`.
    pub item: String,
    /// The item's title, as text. Default `h1, h2, h3, h4, a`: the first heading or link in the item.
    pub title: String,
    /// The item's link, usually an `href`. Relative links are resolved
    /// against the page's URL. Default `a@href`.
    pub link: String,
    /// The item's date, RFC 3339 or in `date_format`. Default
    /// `time@datetime`; an item without one is dated when first seen.
    pub date: String,
    /// The item's summary, as text (its HTML, sanitized, is the item's
    /// content unless `follow` brings the article's). Default: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// A chrono `strftime` format (`%d.%m.%Y`, `%B %d, %Y %H:%M`) for dates
    /// that are not RFC 3339; read in the source's `timezone`, else UTC.
    /// Default: none, only RFC 3339 is read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_format: Option<String>,
    /// Fetch each new item's own page once, for its body (`content`) and,
    /// when the list gives none, its date (`date`, applied to the whole
    /// article page). Needs `content`. Default false.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub follow: bool,
    /// The selector of the article's body on the item's own page, for
    /// `follow`; only what it picks is kept, so a site's header and footer
    /// stay out. Default: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

impl Default for PageSettings {
    fn default() -> Self {
        PageSettings {
            item: "article".to_owned(),
            title: "h1, h2, h3, h4, a".to_owned(),
            link: "a@href".to_owned(),
            date: "time@datetime".to_owned(),
            summary: None,
            date_format: None,
            follow: false,
            content: None,
        }
    }
}

/// One selector of a `[sources.page]` table, parsed: a CSS selector,
/// optionally followed by `@attribute` to read that attribute instead of the
/// text.
///
/// `@href` alone (no CSS part) reads the attribute of the element in scope
/// itself, for pages whose item *is* the link. The syntax is the config's,
/// so it lives here and `check-config` checks it; the page stage reads
/// elements with it.
#[derive(Debug, Clone)]
pub struct FieldSelector {
    /// None: the element in scope itself.
    css: Option<scraper::Selector>,
    attribute: Option<String>,
}

impl FieldSelector {
    /// Parses `a@href`, `time@datetime`, `h2 > a`, `@href`. The message
    /// names what is wrong, for `check-config`.
    pub fn parse(text: &str) -> Result<FieldSelector, String> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err("is empty; give a CSS selector such as `h2 a`".to_owned());
        }
        // The attribute is what follows the last `@`, when that is a plain
        // attribute name: an `@` inside `[href*="@"]` is part of the CSS.
        let (css, attribute) = match trimmed.rsplit_once('@') {
            Some((css, attr)) if is_attribute_name(attr) => (css.trim(), Some(attr.to_owned())),
            Some((_, attr)) if !attr.contains([']', '"', '\'']) => {
                return Err(format!(
                    "`{trimmed}`: `{attr}` after `@` is not an attribute name (write `a@href`)"
                ));
            }
            _ => (trimmed, None),
        };
        if css.is_empty() {
            return match attribute {
                Some(attribute) => Ok(FieldSelector {
                    css: None,
                    attribute: Some(attribute),
                }),
                None => Err(format!("`{trimmed}` has no CSS selector")),
            };
        }
        let selector = scraper::Selector::parse(css).map_err(|_| selector_error(css))?;
        Ok(FieldSelector {
            css: Some(selector),
            attribute,
        })
    }

    /// The CSS part; None for `@attr` alone, which reads the element in scope.
    pub fn css(&self) -> Option<&scraper::Selector> {
        self.css.as_ref()
    }

    /// The attribute after `@`, if any; None reads the element's text.
    pub fn attribute(&self) -> Option<&str> {
        self.attribute.as_deref()
    }
}

/// A plain attribute name, as the part after a selector's last `@` must be.
fn is_attribute_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.'))
}

/// One `[[sources]]` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSettings {
    /// Unique id, `[a-z0-9-]+`; used in routing keys and item ids. Required.
    pub id: String,
    /// Display name. Defaults to the id.
    #[serde(default)]
    pub name: Option<String>,
    /// `http://`, `https://` or `file://` URL of the feed. Required. A user
    /// and password in it (`https://user:pass@host/feed`) are sent as HTTP
    /// basic auth to the source's origin, and shown nowhere.
    pub url: SourceUrl,
    /// The name of an environment variable that holds the password of the
    /// URL's user, to keep it out of the file. Default: none.
    #[serde(default)]
    pub password_env: Option<String>,
    /// Time between polls of this source; defaults to `poll.interval`.
    #[serde(default, with = "humantime_serde")]
    pub interval: Option<Duration>,
    /// `feed` (the default) or `page`, which needs a `[sources.page]` table.
    #[serde(default)]
    pub kind: SourceKind,
    /// The selectors of a `kind = "page"` source. Default: none.
    #[serde(default)]
    pub page: Option<PageSettings>,
    /// A WHATWG encoding label (`gbk`, `big5`, `windows-1251`, …) that wins over
    /// what the source declares, for sources that declare it wrongly. Default: none.
    #[serde(default)]
    pub encoding: Option<String>,
    /// An IANA time zone (`Asia/Shanghai`) for dates the source gives without
    /// one. Default: none, such dates are read as UTC.
    #[serde(default)]
    pub timezone: Option<String>,
    /// Whether the source takes part in finding cross-source duplicates
    /// (`[dedup]`). Default true; `false`: its items are never judged
    /// duplicates, and no other item is judged a duplicate of them.
    #[serde(default = "yes")]
    pub dedup: bool,
    /// Whether the article page (the item's link) of each new item is
    /// fetched and its main text put into the item's content, when longer
    /// than what the source gave. A page source's `content` selector wins
    /// over readability. Default false.
    #[serde(default)]
    pub full_text: bool,
    /// At most this many article pages are fetched in one poll of a
    /// `full_text = true` source; the other new items wait for the next
    /// poll. Default 20 ([`FULL_TEXT_PER_POLL`]).
    #[serde(default)]
    pub full_text_per_poll: Option<usize>,
    /// `[[sources.rules]]`: this source's drop, keep and rewrite rules,
    /// applied in order after the `[[rules]]` of every source. Default: none.
    #[serde(default)]
    pub rules: Vec<RuleSettings>,
}

/// The default of a source's `full_text_per_poll`.
pub const FULL_TEXT_PER_POLL: usize = 20;

/// The default of a setting that is on unless turned off.
fn yes() -> bool {
    true
}

impl SourceSettings {
    /// The display name: `name`, else the id.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }

    /// The URL, parsed, without user and password (see
    /// [`SourceSettings::credentials`]). Validation has checked it, so this
    /// only fails on a `SourceSettings` that never went through
    /// [`Settings::load`].
    pub fn parsed_url(&self) -> Result<Url, url::ParseError> {
        self.url.parsed()
    }

    /// The user and password the source's requests send: the URL's, with
    /// the password from the `password_env` variable when it is set.
    pub fn credentials(&self) -> Option<Credentials> {
        let password = self
            .password_env
            .as_deref()
            .and_then(|name| std::env::var(name).ok());
        self.url.credentials(password)
    }

    /// The `encoding` override, resolved. Validation has checked the label.
    pub fn encoding_override(&self) -> Option<&'static encoding_rs::Encoding> {
        self.encoding
            .as_deref()
            .and_then(|label| encoding_rs::Encoding::for_label(label.as_bytes()))
    }

    /// The `timezone`, resolved. Validation has checked the name.
    pub fn time_zone(&self) -> Option<chrono_tz::Tz> {
        self.timezone.as_deref().and_then(|name| name.parse().ok())
    }

    /// How many article pages one poll of the source fetches at most:
    /// `full_text_per_poll`, else [`FULL_TEXT_PER_POLL`].
    pub fn full_text_per_poll(&self) -> usize {
        self.full_text_per_poll.unwrap_or(FULL_TEXT_PER_POLL)
    }

    /// The item-level reference to this source.
    pub fn source_ref(&self) -> crate::item::SourceRef {
        crate::item::SourceRef {
            id: self.id.clone(),
            name: self.display_name().to_owned(),
            url: self.url.public(),
        }
    }
}

impl PollSettings {
    /// The interval of `source`: its own, else the default.
    pub fn interval_of(&self, source: &SourceSettings) -> Duration {
        source.interval.unwrap_or(self.interval)
    }
}

impl Settings {
    /// Where the daemon takes `poll-now`: `poll.control_socket`, else beside
    /// an SQLite store (`store.path` with the extension `.sock`), else none
    /// (a PostgreSQL store, whose replicas may share a folder).
    pub fn control_socket(&self) -> Option<PathBuf> {
        if let Some(path) = &self.poll.control_socket {
            return Some(path.clone());
        }
        match self.store.location() {
            Ok(StoreLocation::Sqlite(path)) => Some(path.with_extension("sock")),
            _ => None,
        }
    }

    /// Loads the file at `path`, applies `LIBRARYWIRE__…` overrides from the
    /// process environment, and validates the result.
    pub fn load(path: &Path) -> Result<Settings, ConfigError> {
        Settings::load_with_env(path, None)
    }

    /// Like [`Settings::load`], with the environment given as a map instead of
    /// read from the process (for tests).
    pub fn load_with_env(
        path: &Path,
        env: Option<BTreeMap<String, String>>,
    ) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Load {
            file: path.to_owned(),
            message: format!("cannot read it: {e}"),
        })?;
        // The overrides in force, so that an error in one names its variable.
        let prefix = format!("{ENV_PREFIX}__");
        let overrides: Vec<String> = match &env {
            Some(env) => env.keys().cloned().collect::<Vec<_>>(),
            None => std::env::vars_os()
                .filter_map(|(name, _)| name.into_string().ok())
                .collect::<Vec<_>>(),
        }
        .into_iter()
        .filter(|name| {
            name.get(..prefix.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(&prefix))
        })
        .collect();
        let mut environment = config::Environment::with_prefix(ENV_PREFIX)
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true)
            // `LIBRARYWIRE__AMQP__URL=amqp://a/,amqp://b/` names a cluster's nodes.
            .list_separator(",")
            .with_list_parse_key("amqp.url");
        if let Some(env) = env {
            environment = environment.source(Some(env.into_iter().collect()));
        }
        let merged = config::Config::builder()
            .add_source(config::File::from_str(&text, config::FileFormat::Toml))
            .add_source(environment)
            .build()
            .map_err(|e| match overrides.as_slice() {
                // The file alone read well: the one override is to blame.
                [variable]
                    if config::Config::builder()
                        .add_source(config::File::from_str(&text, config::FileFormat::Toml))
                        .build()
                        .is_ok() =>
                {
                    ConfigError::Env {
                        variable: variable.clone(),
                        key: variable[prefix.len()..]
                            .to_ascii_lowercase()
                            .replace("__", "."),
                        file: path.to_owned(),
                        message: e.to_string(),
                    }
                }
                _ => ConfigError::Load {
                    file: path.to_owned(),
                    message: e.to_string(),
                },
            })?;
        // serde_path_to_error turns serde's "unknown field" into one that says
        // where: `poll.intervall`, `sources[1].nmae`.
        let settings: Settings = serde_path_to_error::deserialize(merged).map_err(|e| {
            ConfigError::at_key(
                path,
                display_path(e.path()),
                without_key(e.inner()),
                &overrides,
            )
        })?;
        settings
            .validate()
            .map_err(|(key, message)| ConfigError::at_key(path, key, message, &overrides))?;
        Ok(settings)
    }

    /// Checks what serde cannot: ranges, id syntax and uniqueness, URL schemes.
    /// Returns the dotted key and what is wrong with it.
    pub fn validate(&self) -> Result<(), (String, String)> {
        fn positive(key: &str, d: Duration) -> Result<(), (String, String)> {
            if d.is_zero() {
                return Err((key.to_owned(), "must be longer than zero".to_owned()));
            }
            Ok(())
        }
        if self.server.feed_size == 0 {
            return Err(("server.feed_size".into(), "must be at least 1".into()));
        }
        if self.server.public_url.cannot_be_a_base() {
            return Err((
                "server.public_url".into(),
                "must be an absolute http(s) URL".into(),
            ));
        }
        positive("server.header_timeout", self.server.header_timeout)?;
        positive("server.idle_timeout", self.server.idle_timeout)?;
        if self.server.max_connections == Some(0) {
            return Err(("server.max_connections".into(), "must be at least 1".into()));
        }
        if self.store.path.as_os_str().is_empty() {
            return Err(("store.path".into(), "must not be empty".into()));
        }
        if let Err(reason) = self.store.location() {
            return Err(("store.url".into(), reason));
        }
        let store = &self.store;
        if store.max_items_per_source > 0 && store.min_items_per_source > store.max_items_per_source
        {
            return Err((
                "store.min_items_per_source".into(),
                format!(
                    "is {}, more than store.max_items_per_source ({}): the newest kept whatever \
                     their age cannot outnumber the most kept",
                    store.min_items_per_source, store.max_items_per_source
                ),
            ));
        }
        let threshold = self.dedup.threshold;
        if !(threshold > 0.0 && threshold <= 1.0) {
            return Err((
                "dedup.threshold".into(),
                format!("is {threshold}; it must be above 0 and at most 1 (0.8 is 80% same text)"),
            ));
        }
        positive("dedup.window", self.dedup.window)?;
        positive("cluster.lease", self.cluster.lease)?;
        if self
            .cluster
            .replica_id
            .as_deref()
            .is_some_and(|id| id.is_empty() || id.len() > 200 || id.chars().any(char::is_control))
        {
            return Err((
                "cluster.replica_id".into(),
                "must be 1 to 200 characters, none of them control characters".into(),
            ));
        }
        if self.amqp.exchange.is_empty() {
            return Err(("amqp.exchange".into(), "must not be empty".into()));
        }
        if self.amqp.url.is_empty() {
            return Err(("amqp.url".into(), "must name at least one node".into()));
        }
        for (i, url) in self.amqp.url.iter().enumerate() {
            let key = self.amqp.url_key(i);
            // Never the URL itself in the message: it may hold a password.
            if let Err(e) = Url::parse(url) {
                return Err((key, format!("is not a URL: {e}")));
            }
            if let Some(first) = self.amqp.url[..i].iter().position(|u| u == url) {
                return Err((key, format!("repeats amqp.url[{first}]")));
            }
        }
        if let Some(queue) = &self.amqp.queue {
            if queue.is_empty() || queue.len() > 255 {
                return Err(("amqp.queue".into(), "must be 1 to 255 bytes long".into()));
            }
            if queue.starts_with("amq.") {
                return Err((
                    "amqp.queue".into(),
                    "must not start with `amq.`, which RabbitMQ reserves".into(),
                ));
            }
        }
        if self.amqp.confirm_window == 0 {
            return Err(("amqp.confirm_window".into(), "must be at least 1".into()));
        }
        positive("amqp.timeout", self.amqp.timeout)?;
        positive("amqp.max_backoff", self.amqp.max_backoff)?;
        positive("poll.interval", self.poll.interval)?;
        positive("poll.timeout", self.poll.timeout)?;
        positive("poll.connect_timeout", self.poll.connect_timeout)?;
        positive("poll.max_interval", self.poll.max_interval)?;
        positive("poll.max_backoff", self.poll.max_backoff)?;
        positive("poll.first_retry", self.poll.first_retry)?;
        if self
            .poll
            .control_socket
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            return Err(("poll.control_socket".into(), "must not be empty".into()));
        }
        positive("poll.flag_after", self.poll.flag_after)?;
        if self.poll.concurrency == 0 {
            return Err(("poll.concurrency".into(), "must be at least 1".into()));
        }
        if self.poll.per_host == 0 {
            return Err(("poll.per_host".into(), "must be at least 1".into()));
        }
        if self.poll.max_body.as_u64() == 0 {
            return Err(("poll.max_body".into(), "must be larger than zero".into()));
        }
        if !(0.0..=0.5).contains(&self.poll.jitter) {
            return Err(("poll.jitter".into(), "must be between 0 and 0.5".into()));
        }
        rule::validate_rules("rules", &self.rules)?;
        let mut seen = HashSet::new();
        for (i, source) in self.sources.iter().enumerate() {
            let key = |field: &str| format!("sources[{i}].{field}");
            if !is_valid_source_id(&source.id) {
                return Err((
                    key("id"),
                    format!(
                        "`{}` is not a valid id: use 1 to 64 of a-z, 0-9 and -",
                        source.id
                    ),
                ));
            }
            if !seen.insert(source.id.as_str()) {
                return Err((
                    key("id"),
                    format!("`{}` is used by an earlier source", source.id),
                ));
            }
            match Url::parse(source.url.configured()) {
                // Never the text itself: it may hold a password.
                Err(e) => {
                    return Err((key("url"), format!("is not a URL: {e}")));
                }
                Ok(url) => match url.scheme() {
                    "http" | "https" if url.host().is_some() => {}
                    "file" => {}
                    _ => {
                        return Err((
                            key("url"),
                            format!(
                                "`{}`: only http, https and file URLs are supported",
                                source.url
                            ),
                        ));
                    }
                },
            }
            if let Some(name) = &source.password_env {
                if name.is_empty() {
                    return Err((key("password_env"), "must name a variable".into()));
                }
                if std::env::var_os(name).is_none() {
                    return Err((
                        key("password_env"),
                        format!("the environment variable {name} is not set"),
                    ));
                }
                if source
                    .url
                    .credentials(None)
                    .is_none_or(|c| c.user.is_empty())
                {
                    return Err((
                        key("password_env"),
                        "the url names no user (https://user@host/…) for the password".into(),
                    ));
                }
            }
            if let Some(interval) = source.interval {
                positive(&key("interval"), interval)?;
            }
            if let Some(label) = &source.encoding
                && encoding_rs::Encoding::for_label(label.as_bytes()).is_none()
            {
                return Err((
                    key("encoding"),
                    format!(
                        "`{label}` is not an encoding label (try utf-8, gbk, big5, windows-1251, iso-8859-1)"
                    ),
                ));
            }
            validate_page(source, &key)?;
            if let Some(bound) = source.full_text_per_poll {
                if bound == 0 {
                    return Err((
                        key("full_text_per_poll"),
                        "must be at least 1 (set full_text = false to fetch no article)".into(),
                    ));
                }
                if !source.full_text {
                    return Err((
                        key("full_text_per_poll"),
                        "has no effect without full_text = true".into(),
                    ));
                }
            }
            rule::validate_rules(&key("rules"), &source.rules)?;
            if let Some(name) = &source.timezone
                && name.parse::<chrono_tz::Tz>().is_err()
            {
                return Err((
                    key("timezone"),
                    format!(
                        "`{name}` is not an IANA time zone (such as Asia/Shanghai or Europe/London)"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The source with this id.
    pub fn source(&self, id: &str) -> Option<&SourceSettings> {
        self.sources.iter().find(|s| s.id == id)
    }
}

/// Checks a source's `kind` against its `page` table, and every selector and
/// the date format of that table.
fn validate_page(
    source: &SourceSettings,
    key: &dyn Fn(&str) -> String,
) -> Result<(), (String, String)> {
    let page = match (source.kind, &source.page) {
        (SourceKind::Feed, None) => return Ok(()),
        (SourceKind::Feed, Some(_)) => {
            return Err((
                key("page"),
                "a [sources.page] table needs kind = \"page\"".to_owned(),
            ));
        }
        (SourceKind::Page, None) => {
            return Err((
                key("kind"),
                "kind = \"page\" needs a [sources.page] table with at least `item`".to_owned(),
            ));
        }
        (SourceKind::Page, Some(page)) => page,
    };
    let selectors = [
        ("item", Some(&page.item)),
        ("title", Some(&page.title)),
        ("link", Some(&page.link)),
        ("date", Some(&page.date)),
        ("summary", page.summary.as_ref()),
        ("content", page.content.as_ref()),
    ];
    for (field, text) in selectors {
        if let Some(text) = text {
            FieldSelector::parse(text)
                .map_err(|message| (key(&format!("page.{field}")), message))?;
        }
    }
    if page.follow && page.content.is_none() {
        return Err((
            key("page.content"),
            "follow = true needs a `content` selector for the article's body".to_owned(),
        ));
    }
    if let Some(format) = &page.date_format
        && chrono::format::StrftimeItems::new(format).parse().is_err()
    {
        return Err((
            key("page.date_format"),
            format!(
                "`{format}` is not a chrono strftime format (such as %Y-%m-%d or %d.%m.%Y %H:%M)"
            ),
        ));
    }
    Ok(())
}

/// Whether `id` is a usable source id: `[a-z0-9-]{1,64}`.
pub fn is_valid_source_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// What the config crate says is wrong with a value, without the key it
/// adds (` for key `sources[0]rules[1]title``, run together): the message
/// names the key once, from the serde path.
fn without_key(error: &config::ConfigError) -> String {
    match error {
        config::ConfigError::At { error, .. } => error.to_string(),
        // Its path runs together too ("sources[0]rules[0]action"); serde's
        // path names the table, so the field's own name is enough.
        config::ConfigError::NotFound(path) => {
            let field = path.rsplit([']', '.']).next().unwrap_or(path);
            format!("missing field `{field}`")
        }
        other => other.to_string(),
    }
}

/// Renders a serde path as `a.b[2].c`.
fn display_path(path: &serde_path_to_error::Path) -> String {
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            serde_path_to_error::Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            serde_path_to_error::Segment::Map { key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            serde_path_to_error::Segment::Enum { variant } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(variant);
            }
            serde_path_to_error::Segment::Unknown => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push('?');
            }
        }
    }
    if out.is_empty() {
        "(top level)".to_owned()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shown_url_keeps_everything_but_the_credentials() {
        let shown =
            redact_url("postgres://lw:s3cret@db.example:5433/news?password=s3cret&sslmode=disable");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert_eq!(shown, "postgres://db.example:5433/news?sslmode=disable");
        assert!(shown.contains("sslmode=disable"), "{shown}");
        assert!(!redact_url("postgres://lw:s3cret@[bad").contains("s3cret"));
    }

    use std::io::Write;

    #[test]
    fn the_servers_own_urls_sit_under_its_public_url() {
        let server = ServerSettings {
            public_url: Url::parse("https://news.example.org/wire/").unwrap(),
            ..ServerSettings::default()
        };
        assert_eq!(
            server.url("feed.xml"),
            "https://news.example.org/wire/feed.xml"
        );
        assert_eq!(
            server.url("sources/ifla/feed.atom?limit=5"),
            "https://news.example.org/wire/sources/ifla/feed.atom?limit=5"
        );
    }

    fn load_str(toml: &str) -> Result<Settings, ConfigError> {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(toml.as_bytes()).unwrap();
        Settings::load_with_env(file.path(), Some(BTreeMap::new()))
    }

    const MINIMAL: &str = r#"
[[sources]]
id = "ifla-news"
url = "https://www.ifla.org/news/feed/"
"#;

    #[test]
    fn minimal_config_gets_defaults() {
        let s = load_str(MINIMAL).unwrap();
        assert_eq!(s.poll.interval, Duration::from_secs(900));
        assert_eq!(s.server.feed_size, 100);
        assert_eq!(s.poll.max_body, ByteSize::mb(5));
        assert_eq!(s.sources[0].display_name(), "ifla-news");
    }

    #[test]
    fn the_retention_floor_defaults_to_20_and_may_not_exceed_the_ceiling() {
        let s = load_str(MINIMAL).unwrap();
        assert_eq!(s.store.min_items_per_source, 20);
        assert_eq!(s.store.max_items_per_source, 1000);
        let s = load_str(&format!(
            "[store]\nmin_items_per_source = 50\nmax_items_per_source = 0\n{MINIMAL}"
        ))
        .unwrap();
        assert_eq!(s.store.min_items_per_source, 50, "0 is no ceiling");
        let err = load_str(&format!(
            "[store]\nmin_items_per_source = 30\nmax_items_per_source = 10\n{MINIMAL}"
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("store.min_items_per_source"), "{err}");
        assert!(err.contains("store.max_items_per_source (10)"), "{err}");
    }

    #[test]
    fn human_durations_and_sizes_parse() {
        let s = load_str(
            "[poll]\ninterval = \"2h\"\ntimeout = \"30s\"\nmax_body = \"512KiB\"\n[[sources]]\nid = \"a\"\nurl = \"file:///tmp/a.xml\"\ninterval = \"10m\"\n",
        )
        .unwrap();
        assert_eq!(s.poll.interval, Duration::from_secs(7200));
        assert_eq!(s.poll.timeout, Duration::from_secs(30));
        assert_eq!(s.poll.max_body.as_u64(), 512 * 1024);
        assert_eq!(s.poll.interval_of(&s.sources[0]), Duration::from_secs(600));
    }

    #[test]
    fn misspelt_key_is_named() {
        let err = load_str("[poll]\nintervall = \"5m\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("intervall"), "{err}");
        assert!(err.contains("poll"), "{err}");
    }

    #[test]
    fn misspelt_source_key_names_the_source_index() {
        let err = load_str(&format!("{MINIMAL}nmae = \"x\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("sources[0]"), "{err}");
        assert!(err.contains("nmae"), "{err}");
    }

    #[test]
    fn duplicate_and_malformed_ids_are_refused() {
        let err = load_str(&format!("{MINIMAL}{MINIMAL}"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("sources[1].id") && err.contains("earlier"),
            "{err}"
        );
        let err = load_str("[[sources]]\nid = \"IFLA News\"\nurl = \"https://x.org/\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("sources[0].id"), "{err}");
    }

    #[test]
    fn bad_urls_and_zero_intervals_are_refused() {
        let err = load_str("[[sources]]\nid = \"a\"\nurl = \"ftp://x.org/feed\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("sources[0].url"), "{err}");
        let err = load_str("[[sources]]\nid = \"a\"\nurl = \"not a url\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("sources[0].url"), "{err}");
        let err =
            load_str("[[sources]]\nid = \"a\"\nurl = \"https://x.org/\"\ninterval = \"0s\"\n")
                .unwrap_err()
                .to_string();
        assert!(err.contains("sources[0].interval"), "{err}");
        let err = load_str("[poll]\ninterval = \"0s\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("poll.interval"), "{err}");
    }

    #[test]
    fn encoding_and_timezone_overrides_are_checked() {
        let s = load_str(&format!(
            "{MINIMAL}encoding = \"GB2312\"\ntimezone = \"Asia/Shanghai\"\n"
        ))
        .unwrap();
        assert_eq!(s.sources[0].encoding_override(), Some(encoding_rs::GBK));
        assert_eq!(s.sources[0].time_zone(), Some(chrono_tz::Asia::Shanghai));
        let err = load_str(&format!("{MINIMAL}encoding = \"klingon\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("sources[0].encoding"), "{err}");
        let err = load_str(&format!("{MINIMAL}timezone = \"Mars/Olympus\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("sources[0].timezone"), "{err}");
    }

    const PAGE: &str = r#"
[[sources]]
id = "ifla-news"
url = "https://www.ifla.org/news/feed/"

[[sources]]
id = "nlc-en"
url = "https://www.nlc.cn/enweb/"
kind = "page"
timezone = "Asia/Shanghai"

[sources.page]
item = "ul.news li"
date = "span.date"
date_format = "%Y-%m-%d"
"#;

    #[test]
    fn a_page_source_loads_with_defaults_for_what_it_leaves_out() {
        let s = load_str(PAGE).unwrap();
        let page = s.sources[1].page.as_ref().unwrap();
        assert_eq!(s.sources[1].kind, SourceKind::Page);
        assert_eq!(page.item, "ul.news li");
        assert_eq!(page.link, "a@href");
        assert_eq!(page.title, "h1, h2, h3, h4, a");
        assert!(!page.follow);
        assert!(s.sources[0].page.is_none());
    }

    #[test]
    fn a_bad_selector_says_what_is_wrong_and_where_not_report_this_to_the_developer() {
        let cases = [
            ("li:frobnicate", "unknown or unsupported pseudo-class"),
            ("div.", "ends too early"),
            ("div.3col", "unexpected character or token"),
            ("h2 >", "nothing after it"),
        ];
        for (css, reason) in cases {
            let err = load_str(&PAGE.replace("span.date", css))
                .expect_err(css)
                .to_string();
            assert!(err.contains("sources[1].page.date"), "{err}");
            assert!(
                err.contains(&format!("`{css}` is not a CSS selector")),
                "{err}"
            );
            assert!(err.contains(reason), "{css}: {err}");
            assert!(err.contains("at character"), "{err}");
            assert!(!err.contains("report this to the developer"), "{err}");
        }
    }

    #[test]
    fn a_bad_selector_is_named_by_its_key() {
        let err = load_str(&PAGE.replace("span.date", "span..date"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("sources[1].page.date"), "{err}");
        assert!(err.contains("span..date"), "{err}");
        let err = load_str(&format!("{PAGE}title = \"h2 >> a\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("sources[1].page.title"), "{err}");
        let err = load_str(&format!("{PAGE}follow = true\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("sources[1].page.content"), "{err}");
        let err = load_str(&format!("{PAGE}selector = \"li\"\n"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("selector"),
            "unknown page keys are refused: {err}"
        );
        let err = load_str(&PAGE.replace("%Y-%m-%d", "%Y-%Q"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("sources[1].page.date_format"), "{err}");
    }

    #[test]
    fn kind_and_page_table_must_agree() {
        let err = load_str(&PAGE.replace("kind = \"page\"\n", ""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("sources[1].page"), "{err}");
        assert!(err.contains("kind"), "{err}");
        let no_table = PAGE.split("[sources.page]").next().unwrap();
        let err = load_str(no_table).unwrap_err().to_string();
        assert!(err.contains("sources[1].kind"), "{err}");
    }

    #[test]
    fn bad_duration_names_key() {
        let err = load_str("[poll]\ntimeout = \"soon\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("poll.timeout"), "{err}");
    }

    #[test]
    fn a_bad_environment_override_names_its_variable_not_the_file() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(MINIMAL.as_bytes()).unwrap();
        let load = |name: &str, value: &str| {
            let env = BTreeMap::from([(name.to_owned(), value.to_owned())]);
            Settings::load_with_env(file.path(), Some(env))
                .expect_err("the override is refused")
                .to_string()
        };
        // A value of the wrong form, caught by serde.
        let err = load("LIBRARYWIRE__POLL__INTERVAL", "soon");
        assert!(
            err.starts_with(
                "environment variable LIBRARYWIRE__POLL__INTERVAL (key `poll.interval`"
            ),
            "{err}"
        );
        assert!(!err.starts_with("config file"), "{err}");
        // A value caught by validate().
        let err = load("LIBRARYWIRE__SERVER__FEED_SIZE", "0");
        assert!(
            err.contains("LIBRARYWIRE__SERVER__FEED_SIZE") && err.contains("at least 1"),
            "{err}"
        );
        // A key the config does not have.
        let err = load("LIBRARYWIRE__POLL__INTERVALL", "10m");
        assert!(err.contains("LIBRARYWIRE__POLL__INTERVALL"), "{err}");
        // A bad key of the file itself is still the file's.
        let mut bad = tempfile::NamedTempFile::new().unwrap();
        bad.write_all(b"[poll]\ninterval = \"soon\"\n").unwrap();
        let env = BTreeMap::from([("LIBRARYWIRE__POLL__CONCURRENCY".to_owned(), "3".to_owned())]);
        let err = Settings::load_with_env(bad.path(), Some(env))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("config file") && err.contains("poll.interval"),
            "{err}"
        );
    }

    #[test]
    fn environment_overrides_file() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(MINIMAL.as_bytes()).unwrap();
        let env = BTreeMap::from([
            (
                "LIBRARYWIRE__AMQP__URL".to_owned(),
                "amqp://u:p@10.0.0.1:5672/%2f".to_owned(),
            ),
            ("LIBRARYWIRE__POLL__CONCURRENCY".to_owned(), "3".to_owned()),
        ]);
        let s = Settings::load_with_env(file.path(), Some(env)).unwrap();
        assert_eq!(s.amqp.url, ["amqp://u:p@10.0.0.1:5672/%2f"]);
        assert_eq!(s.poll.concurrency, 3);
    }

    #[test]
    fn amqp_url_is_one_node_or_a_list_and_the_environment_splits_at_commas() {
        let one = load_str("[amqp]\nurl = \"amqp://u:p@a:5672/%2f\"\n").unwrap();
        assert_eq!(one.amqp.url, ["amqp://u:p@a:5672/%2f"]);
        assert_eq!(one.amqp.url_key(0), "amqp.url");
        let list =
            load_str("[amqp]\nurl = [\"amqp://u:p@a:5672/%2f\", \"amqp://u:p@b:5672/%2f\"]\n")
                .unwrap();
        assert_eq!(
            list.amqp.url,
            ["amqp://u:p@a:5672/%2f", "amqp://u:p@b:5672/%2f"]
        );
        assert_eq!(list.amqp.url_key(1), "amqp.url[1]");
        assert_eq!(list.amqp.queue, None, "no queue unless asked");

        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(MINIMAL.as_bytes()).unwrap();
        let env = BTreeMap::from([
            (
                "LIBRARYWIRE__AMQP__URL".to_owned(),
                "amqp://u:p@a:5672/%2f, amqp://u:p@b:5672/%2f,amqp://u:p@c:5672/%2f".to_owned(),
            ),
            (
                "LIBRARYWIRE__AMQP__QUEUE".to_owned(),
                "library.news.all".to_owned(),
            ),
        ]);
        let s = Settings::load_with_env(file.path(), Some(env)).unwrap();
        assert_eq!(
            s.amqp.url,
            [
                "amqp://u:p@a:5672/%2f",
                "amqp://u:p@b:5672/%2f",
                "amqp://u:p@c:5672/%2f"
            ]
        );
        assert_eq!(s.amqp.queue.as_deref(), Some("library.news.all"));
    }

    #[test]
    fn a_bad_node_url_or_queue_is_named_without_the_password() {
        let err = load_str("[amqp]\nurl = []\n").unwrap_err().to_string();
        assert!(
            err.contains("amqp.url") && err.contains("at least one"),
            "{err}"
        );
        let err = load_str("[amqp]\nurl = [\"amqp://u:secret@a:5672/%2f\", \"not a url\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("amqp.url[1]") && err.contains("not a URL"),
            "{err}"
        );
        assert!(!err.contains("secret"), "{err}");
        let err = load_str(
            "[amqp]\nurl = [\"amqp://u:secret@a:5672/%2f\", \"amqp://u:secret@a:5672/%2f\"]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("amqp.url[1]") && err.contains("repeats amqp.url[0]"),
            "{err}"
        );
        assert!(!err.contains("secret"), "{err}");
        let err = load_str("[amqp]\nurl = 5\n").unwrap_err().to_string();
        assert!(
            err.contains("amqp.url") && err.contains("list of them"),
            "{err}"
        );
        let err = load_str("[amqp]\nqueue = \"amq.mine\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("amqp.queue") && err.contains("reserves"),
            "{err}"
        );
        let err = load_str("[amqp]\nqueue = \"\"\n").unwrap_err().to_string();
        assert!(err.contains("amqp.queue"), "{err}");
    }

    #[test]
    fn error_names_the_file() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(b"[server]\nfeed_size = 0\n").unwrap();
        let err = Settings::load_with_env(file.path(), Some(BTreeMap::new()))
            .unwrap_err()
            .to_string();
        assert!(err.contains(&file.path().display().to_string()), "{err}");
        assert!(err.contains("server.feed_size"), "{err}");
    }

    #[test]
    fn shipped_default_config_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_CONFIG_PATH);
        let s = Settings::load_with_env(&path, Some(BTreeMap::new())).unwrap();
        assert!(s.sources.len() >= 5);
    }

    #[test]
    fn shipped_page_examples_are_valid_once_uncommented() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_CONFIG_PATH);
        let text = std::fs::read_to_string(path).unwrap();
        let (head, examples) = text.split_once("# Page sources").unwrap();
        let mut uncommented = head.to_owned();
        for line in examples.lines() {
            let code = line.strip_prefix("# ").filter(|rest| {
                rest.starts_with('[')
                    || rest.split_once(" = ").is_some_and(|(key, _)| {
                        key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    })
            });
            uncommented.push_str(code.unwrap_or(""));
            uncommented.push('\n');
        }
        let s = load_str(&uncommented).unwrap();
        let nlc = s.source("nlc-en-news").expect("the NLC example");
        assert_eq!(nlc.kind, SourceKind::Page);
        assert!(nlc.page.as_ref().unwrap().follow);
        assert!(s.source("cilip-news").is_some());
    }
}
