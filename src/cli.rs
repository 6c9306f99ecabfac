//! The command line: `run`, `check-config` and `poll-once`.

use crate::app::Application;
use crate::config::{DEFAULT_CONFIG_PATH, Settings};
use crate::fetch::{Fetcher, error_chain};
use crate::refresh::poll;
use crate::store::FetchState;
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
    /// Run the daemon (the default).
    Run,
    /// Load and validate the config, and print the sources.
    CheckConfig,
    /// Poll every source (or one) once and print the normalized items as JSON
    /// lines. Stores and publishes nothing.
    PollOnce {
        /// Only this source id.
        #[arg(long)]
        source: Option<String>,
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
    let settings = Settings::load(&path)?;
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => {
            telemetry::init(&settings.log.level);
            run(settings, shutdown_on_signal()?).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckConfig => {
            print_sources(&path, &settings, &mut std::io::stdout().lock())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::PollOnce { source } => {
            telemetry::init("warn");
            poll_once(&settings, source.as_deref(), &mut std::io::stdout().lock()).await
        }
    }
}

/// Builds and runs the daemon until `shutdown`.
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
        tracing::info!(signal = name, "stopping: finishing in-flight work");
        cancel.cancel();
    });
    Ok(token)
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
    for source in &settings.sources {
        writeln!(
            out,
            "  {:<24} {:<5} every {:<8} {}",
            source.id,
            format!("{:?}", source.kind).to_lowercase(),
            humantime::format_duration(settings.poll.interval_of(source)).to_string(),
            source.url
        )?;
    }
    Ok(())
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
                (
                    source,
                    poll(fetcher, source, &FetchState::default(), now).await,
                )
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
                eprintln!("{}: {} items", source.id, polled.items.len());
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
