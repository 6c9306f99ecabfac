//! The command line: `run`, `check-config`, `poll-once`, `poll-now`, `migrate-store`,
//! `discover` and `import-opml`.

use crate::app::Application;
use crate::config::{DEFAULT_CONFIG_PATH, Settings, StoreLocation};
use crate::error::error_chain;
use crate::fetch::{FetchState, Fetcher};
use crate::refresh::SourcePoller;
use crate::rules::{Ruled, Rules};
use crate::telemetry;
use anyhow::{Context, bail};
use chrono::Utc;
use clap::{Parser, Subcommand};
use futures_util::StreamExt;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

/// librarywire: syndicates library news into one feed and one exchange.
#[derive(Debug, Parser)]
#[command(name = "librarywire", version, about)]
pub struct Cli {
    /// The config file. Default: $LIBRARYWIRE_CONFIG, else config/default.toml.
    #[arg(long, global = true, env = "LIBRARYWIRE_CONFIG")]
    pub config: Option<PathBuf>,
    /// What to do; `run` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon (the default). It reloads its config file on SIGHUP
    /// and when the file changes.
    Run {
        /// Reload only on SIGHUP, not when the file changes.
        #[arg(long)]
        no_watch: bool,
    },
    /// Load and validate the config, and print the sources.
    CheckConfig,
    /// Poll every source (or one) once and print the normalized items as JSON
    /// lines. Stores and publishes nothing.
    PollOnce {
        /// Only this source id.
        #[arg(long)]
        source: Option<String>,
    },
    /// Ask the running daemon (through its control socket,
    /// `poll.control_socket`) to poll every source, or one, at once.
    PollNow {
        /// Only this source id.
        #[arg(long)]
        source: Option<String>,
    },
    /// Fetch a page (http, https or file URL) and list the feeds it
    /// advertises; when it advertises none, print a suggested page-source
    /// config with guessed selectors, and what they pick.
    Discover {
        /// The page's URL.
        url: String,
    },
    /// Copy the configured SQLite store (`store.path`) into an empty
    /// PostgreSQL database, to run replicas on it: items, revisions,
    /// outbox, fetch state, schedules and retired ids. Refuses a target
    /// that already holds data.
    MigrateStore {
        /// The target: `postgres://user@host:port/database`.
        #[arg(long)]
        to: String,
    },
    /// Read an OPML subscription list and print `[[sources]]` TOML for its
    /// feeds, to review and paste into the config.
    ImportOpml {
        /// The OPML file.
        file: PathBuf,
    },
}

impl Cli {
    /// The config path: `--config`, else `LIBRARYWIRE_CONFIG`, else the default.
    pub fn config_path(&self) -> PathBuf {
        self.config
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH))
    }
}

/// Runs the parsed command line; the exit code says how it went.
pub async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let path = cli.config_path();
    if let Some(Command::Discover { url }) = &cli.command {
        // Discovering is how a config gets written, so it needs none; the
        // poll settings (User-Agent, limits) come from it when there is one.
        let poll = Settings::load(&path).map(|s| s.poll).unwrap_or_default();
        return discover(&poll, url, &mut std::io::stdout().lock()).await;
    }
    if let Some(Command::ImportOpml { file }) = &cli.command {
        // Importing is how a config gets written, so it needs none.
        return import_opml(file, &mut std::io::stdout().lock());
    }
    // The same checks a reload makes, so check-config tells what a reload would do.
    let settings = crate::reload::load_checked(&path)?;
    match cli.command.unwrap_or(Command::Run { no_watch: false }) {
        Command::Run { no_watch } => {
            telemetry::init(&settings.log.level, settings.log.format);
            let shutdown = shutdown_on_signal()?;
            let mut app = Application::build(settings).await?.with_config_file(&path);
            if no_watch {
                app = app.without_file_watching();
            }
            app.run_until_stopped(shutdown).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckConfig => {
            print_sources(&path, &settings, &mut std::io::stdout().lock())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::MigrateStore { to } => {
            telemetry::init("warn", settings.log.format);
            migrate_store(&settings, &to, &mut std::io::stdout().lock()).await
        }
        Command::PollOnce { source } => {
            telemetry::init("warn", settings.log.format);
            poll_once(&settings, source.as_deref(), &mut std::io::stdout().lock()).await
        }
        Command::PollNow { source } => {
            poll_now(&settings, source.as_deref(), &mut std::io::stdout().lock()).await
        }
        // Handled above, before a config is needed; kept for exhaustiveness.
        Command::Discover { url } => {
            discover(&settings.poll, &url, &mut std::io::stdout().lock()).await
        }
        Command::ImportOpml { file } => import_opml(&file, &mut std::io::stdout().lock()),
    }
}

/// Whether `error` is a write to a closed stdout (a pipe whose reader left,
/// as in `librarywire check-config | head -1`): the printing commands then
/// end quietly, with success, as `cat` does.
pub fn is_closed_output(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        let kind = cause
            .downcast_ref::<std::io::Error>()
            .map(std::io::Error::kind)
            .or_else(|| {
                cause
                    .downcast_ref::<serde_json::Error>()
                    .and_then(serde_json::Error::io_error_kind)
            });
        kind == Some(std::io::ErrorKind::BrokenPipe)
    })
}

/// `import-opml`: prints `[[sources]]` TOML for the feeds of the OPML file at
/// `file`. A file that is not OPML is an error naming it.
pub fn import_opml(file: &std::path::Path, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let origin = file.display().to_string();
    let imported = crate::opml::import(&bytes, &origin)?;
    write!(out, "{}", imported.to_toml(&origin))?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `migrate-store`: copies the SQLite store of `settings` into the empty
/// PostgreSQL database at `to`, and says what it copied.
pub async fn migrate_store(
    settings: &Settings,
    to: &str,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let from = match settings.store.location() {
        Ok(StoreLocation::Sqlite(path)) => path,
        Ok(StoreLocation::Postgres(_)) => {
            bail!(
                "migrate-store copies an SQLite store, and store.url already names a PostgreSQL one"
            )
        }
        Err(e) => bail!("{e}"),
    };
    let shown = crate::config::redact_url(to);
    let copied = crate::store::migrate_store(&from, to)
        .await
        .with_context(|| format!("migrate-store from {} to {shown}", from.display()))?;
    writeln!(
        out,
        "copied {} sources, {} items, {} revisions, {} retired item ids, {} article states and \
         {} outbox messages (and {} poll outcomes of the last two days) from {} into {shown}",
        copied.sources,
        copied.items,
        copied.revisions,
        copied.retired,
        copied.full_text,
        copied.outbox,
        copied.fetch_outcomes,
        from.display()
    )?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Builds and runs the daemon until `shutdown`, with settings that never
/// change (`librarywire run` also reloads its config file).
pub async fn run(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    let app = Application::build(settings).await?;
    app.run_until_stopped(shutdown).await
}

/// A token cancelled by the first SIGTERM or SIGINT.
pub fn shutdown_on_signal() -> anyhow::Result<CancellationToken> {
    use tokio::signal::unix::{SignalKind, signal};
    let token = CancellationToken::new();
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    let cancel = token.clone();
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        // Shutdown starts before anything is logged: whatever becomes of the
        // log line, the daemon stops.
        cancel.cancel();
        tracing::info!(signal = name, "stopping: finishing in-flight work");
    });
    Ok(token)
}

/// `poll-now`: asks the daemon running with `settings` to poll `only` (or
/// every source) at once, and prints its answer.
pub async fn poll_now(
    settings: &Settings,
    only: Option<&str>,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    if let Some(id) = only
        && settings.source(id).is_none()
    {
        let known: Vec<_> = settings.sources.iter().map(|s| s.id.as_str()).collect();
        bail!(
            "no source `{id}` in the config; the sources are: {}",
            known.join(", ")
        );
    }
    let Some(path) = settings.control_socket() else {
        bail!(
            "this config has no control socket (a PostgreSQL store has none unless \
             poll.control_socket is set); send the daemon SIGUSR1 to poll every source"
        );
    };
    let answer = crate::control::request_poll_now(&path, only).await?;
    writeln!(out, "{answer}")?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// What `check-config` prints: the file and one line per source.
pub fn print_sources(
    path: &std::path::Path,
    settings: &Settings,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    writeln!(
        out,
        "{}: OK, {} sources",
        path.display(),
        settings.sources.len()
    )?;
    if !settings.rules.is_empty() {
        writeln!(
            out,
            "  {}",
            rule_count(settings.rules.len(), "for every source")
        )?;
    }
    for source in &settings.sources {
        writeln!(
            out,
            "  {:<24} {:<5} every {:<8} {}",
            source.id,
            format!("{:?}", source.kind).to_lowercase(),
            humantime::format_duration(settings.poll.interval_of(source)).to_string(),
            source.url
        )?;
        if let Some(page) = &source.page {
            writeln!(
                out,
                "  {:<24} item {:?}, title {:?}, link {:?}, date {:?}{}",
                "",
                page.item,
                page.title,
                page.link,
                page.date,
                if page.follow {
                    format!(
                        ", follow with content {:?}",
                        page.content.as_deref().unwrap_or("")
                    )
                } else {
                    String::new()
                }
            )?;
        }
        if source.full_text {
            writeln!(
                out,
                "  {:<24} full text, at most {} article pages a poll",
                "",
                source.full_text_per_poll()
            )?;
        }
        if !source.rules.is_empty() {
            writeln!(
                out,
                "  {:<24} {}",
                "",
                rule_count(source.rules.len(), "of its own")
            )?;
        }
    }
    Ok(())
}

/// `1 rule of its own`, `3 rules for every source`.
fn rule_count(n: usize, whose: &str) -> String {
    let noun = if n == 1 { "rule" } else { "rules" };
    format!("{n} {noun} {whose}")
}

/// Polls the sources once, prints their items as JSON lines on `out` in
/// config order, and reports failures on stderr. Exit code 1 if any failed.
pub async fn poll_once(
    settings: &Settings,
    only: Option<&str>,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let sources: Vec<_> = match only {
        Some(id) => match settings.source(id) {
            Some(source) => vec![source.clone()],
            None => {
                let known: Vec<_> = settings.sources.iter().map(|s| s.id.as_str()).collect();
                bail!(
                    "no source `{id}` in the config; the sources are: {}",
                    known.join(", ")
                );
            }
        },
        None => settings.sources.clone(),
    };
    let fetcher = Fetcher::new(&settings.poll)?;
    let now = Utc::now();
    let results: Vec<_> = futures_util::stream::iter(sources.iter())
        .map(|source| {
            let fetcher = &fetcher;
            async move {
                // Nothing is stored, so every item is new: the admin sees
                // what `content` picks on each followed page.
                let mut poller = SourcePoller::new(source.clone(), settings.poll.flag_after);
                poller.apply_rules(Rules::of(settings, source));
                (source, poller.preview(fetcher, now).await)
            }
        })
        .buffered(settings.poll.concurrency)
        .collect()
        .await;
    let mut failed = 0;
    for (source, result) in results {
        match result {
            Ok(polled) => {
                for item in &polled.items {
                    serde_json::to_writer(&mut *out, item)?;
                    out.write_all(b"\n")?;
                }
                // What the rules did, item by item, for the admin tuning them.
                for ruled in &polled.ruled {
                    eprintln!("{}: {}", source.id, ruled_line(ruled));
                }
                match polled.dropped_by_rules() {
                    0 => eprintln!("{}: {} items", source.id, polled.items.len()),
                    dropped => eprintln!(
                        "{}: {} items ({dropped} dropped by rules)",
                        source.id,
                        polled.items.len()
                    ),
                }
            }
            Err(e) => {
                failed += 1;
                eprintln!("{}: error: {}", source.id, error_chain(&e));
            }
        }
    }
    out.flush()?;
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// One line of `poll-once` about an item the rules touched: what they did,
/// then the item as its source gave it (its title quoted, so that one line
/// it stays whatever it holds, and its link).
fn ruled_line(ruled: &Ruled) -> String {
    let title = &ruled.title;
    match &ruled.url {
        Some(url) => format!("{}: {title:?} {url}", ruled.verdict),
        None => format!("{}: {title:?}", ruled.verdict),
    }
}

/// What `discover` prints for a URL that is itself a feed: a feed source for
/// it, named by the feed's title.
fn print_feed_source(
    url: &url::Url,
    feed: &feed_rs::model::Feed,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    use crate::config::{ConfigText, NewSource};
    let format = match feed.feed_type {
        feed_rs::model::FeedType::Atom => "an Atom feed",
        feed_rs::model::FeedType::JSON => "a JSON Feed",
        feed_rs::model::FeedType::RSS0
        | feed_rs::model::FeedType::RSS1
        | feed_rs::model::FeedType::RSS2 => "an RSS feed",
    };
    let title = feed
        .title
        .as_ref()
        .map(|t| crate::normalize::plain_title(&t.content))
        .filter(|t| !t.is_empty());
    let id = crate::page::discover::id_from_url(url);
    let mut text = ConfigText::new();
    text.comment(&format!(
        "{url} is {format}, not a page: use it as a feed source (kind = \"feed\", the default):"
    ))
    .source(&NewSource {
        id: &id,
        name: title.as_deref(),
        url: url.as_str(),
        page: None,
        hints: &["interval = \"30m\"   # when the default [poll] interval does not suit it"],
        page_hints: &[],
    });
    write!(out, "{}", text.finish())?;
    writeln!(
        out,
        "\n# It holds {} entries; check them with `librarywire poll-once --source {id}`.",
        feed.entries.len()
    )?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `discover`: for a feed, a feed source for it; for a page, the feeds it
/// advertises, one per line, or, when it advertises none, a suggested
/// page-source config and the first items it picks. Exit code 1 when there
/// is none of these.
pub async fn discover(
    poll: &crate::config::PollSettings,
    url: &str,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    use crate::fetch::FetchOutcome;
    use crate::page::discover::{id_from_url, suggest_page, suggestion_toml};
    use crate::parse::discover_feeds;
    let url = url::Url::parse(url).with_context(|| format!("`{url}` is not a URL"))?;
    let fetcher = Fetcher::new(poll)?;
    let fetched = fetcher
        .fetch(&url, &FetchState::default())
        .await
        .map_err(|e| anyhow::anyhow!("{}", error_chain(&e)))?;
    let FetchOutcome::Body(body) = &fetched.outcome else {
        bail!("{url}: the server answered 304 to an unconditional request");
    };
    let base = fetched.final_url.clone();
    // A feed is a feed source, never a page to scrape.
    let mut options = crate::parse::ParseOptions::new(&base);
    options.content_type = fetched.content_type.as_deref();
    if let Ok(parsed) = crate::parse::parse_feed(body, &options) {
        return print_feed_source(&url, &parsed.feed, out);
    }
    let (html, _) = crate::page::decode_html(body, fetched.content_type.as_deref(), None);
    let advertised = discover_feeds(&html, &base);
    let feeds = advertised.feeds;
    if !advertised.unresolved.is_empty() {
        writeln!(
            out,
            "# {base} advertises {} feed(s) by a relative link, which cannot be resolved from a \
             file: the page gives no <base href>, <link rel=\"canonical\"> or og:url saying \
             where it lives on the web. Run discover on the page's web address instead. The links:",
            advertised.unresolved.len()
        )?;
        for href in &advertised.unresolved {
            writeln!(out, "#   {}", href.replace(|c: char| c.is_control(), " "))?;
        }
    }
    if !feeds.is_empty() {
        writeln!(
            out,
            "# {base} advertises {} feed(s); use one as a feed source:",
            feeds.len()
        )?;
        for feed in &feeds {
            writeln!(
                out,
                "{}\t{}\t{}",
                feed.url,
                feed.media_type,
                feed.title.as_deref().unwrap_or("")
            )?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let Some(page) = suggest_page(&html) else {
        writeln!(
            out,
            "# {base} advertises no feed, and no repeated structure with links was found: write the selectors by hand"
        )?;
        return Ok(ExitCode::FAILURE);
    };
    let id = id_from_url(&base);
    writeln!(
        out,
        "# {base} advertises no feed. A guess at a page source; check it with\n# `librarywire poll-once --source {id}` and adjust the selectors:\n"
    )?;
    write!(out, "{}", suggestion_toml(&id, &url, &page))?;
    let selectors = crate::page::PageSelectors::compile(&page, None)?;
    let source = crate::item::SourceRef {
        id: id.clone(),
        name: id,
        url: url.to_string(),
    };
    let extracted = crate::page::extract(&source, &selectors, &html, &base, Utc::now());
    writeln!(
        out,
        "\n# It picks {} items; the first ones:",
        extracted.items.len()
    )?;
    for item in extracted.items.iter().take(5) {
        let date = if item.published_from_source {
            item.published.to_rfc3339()
        } else {
            "(no date)".to_owned()
        };
        writeln!(
            out,
            "#   {} | {} | {}",
            item.title,
            item.url.as_deref().unwrap_or("(no link)"),
            date
        )?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
