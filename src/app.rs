//! The daemon: builds every stage from the settings and runs them until shutdown.

use crate::config::{LiveSettings, Settings};
use crate::control::ControlSocket;
use crate::error::error_chain;
use crate::publish::{self, PublisherStats};
use crate::reload::{ReloadTriggers, Reloader};
use crate::schedule::Scheduler;
use crate::serve::{self, MergedFeed, ServeState};
use crate::store::{Retention, Store};
use anyhow::Context;
use chrono::Utc;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, info, warn};

/// How often retention runs.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// A built daemon: store open, port bound, nothing running yet.
pub struct Application {
    settings: Settings,
    /// The settings in force, replaced by reloads.
    live: watch::Sender<Arc<Settings>>,
    /// The config file to reload, and whether to watch it for changes.
    config_file: Option<(PathBuf, bool)>,
    store: Store,
    listener: TcpListener,
    /// The open-file limit in force, after raising it: the server's
    /// connection cap stays below it.
    file_limit: u64,
    feed: Arc<MergedFeed>,
    publisher_stats: Arc<PublisherStats>,
}

impl Application {
    /// Opens the store and binds the server's address.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        crate::metrics::install();
        let file_limit = serve::raise_file_limit();
        let location = settings
            .store
            .location()
            .map_err(|reason| anyhow::anyhow!("store.url: {reason}"))?;
        let store = Store::open_location(&location)
            .await
            .with_context(|| match &location {
                crate::config::StoreLocation::Sqlite(path) => {
                    format!("cannot open the store at {} (store.path)", path.display())
                }
                crate::config::StoreLocation::Postgres(_) => {
                    format!("cannot open the store at {location} (store.url)")
                }
            })?;
        let listener = TcpListener::bind(settings.server.listen)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {} (server.listen)",
                    settings.server.listen
                )
            })?;
        let feed = Arc::new(MergedFeed::new(settings.server.clone()));
        feed.set_sources(&settings.sources);
        let (live, _) = crate::config::live(settings.clone());
        Ok(Application {
            settings,
            live,
            config_file: None,
            store,
            listener,
            file_limit,
            feed,
            publisher_stats: Arc::new(PublisherStats::default()),
        })
    }

    /// Reloads the settings from `path` on SIGHUP and whenever the file
    /// changes (see [`reload`]). Without it, the settings never change.
    pub fn with_config_file(mut self, path: impl Into<PathBuf>) -> Application {
        self.config_file = Some((path.into(), true));
        self
    }

    /// Reloads only on SIGHUP, not when the file changes (for file systems
    /// that report no changes, or admins who want to say when).
    pub fn without_file_watching(mut self) -> Application {
        if let Some((_, watch)) = &mut self.config_file {
            *watch = false;
        }
        self
    }

    /// A handle that reloads the config file on demand, as SIGHUP does;
    /// `None` without [`Application::with_config_file`].
    pub fn reloader(&self) -> Option<Reloader> {
        self.config_file
            .as_ref()
            .map(|(path, _)| Reloader::new(path.clone(), self.live.clone()))
    }

    /// The settings in force, as the running daemon sees them.
    pub fn live_settings(&self) -> LiveSettings {
        self.live.subscribe()
    }

    /// The address the server listens on (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has a local address")
    }

    /// The store, for tests and admin tools.
    pub fn store(&self) -> Store {
        self.store.clone()
    }

    /// The publisher's counters.
    pub fn publisher_stats(&self) -> Arc<PublisherStats> {
        self.publisher_stats.clone()
    }

    /// Runs the scheduler, the publisher, the renderer, retention and the
    /// server until `shutdown` is cancelled, then waits for every task.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Application {
            settings,
            live,
            config_file,
            store,
            listener,
            file_limit,
            feed,
            publisher_stats,
        } = self;
        let replica = settings.cluster.replica_id();
        // Every line a task of this daemon logs names the replica.
        let span = tracing::info_span!("replica", id = %replica);
        info!(
            %replica,
            listen = %listener.local_addr()?,
            sources = settings.sources.len(),
            store = %store.describe(),
            "librarywire started"
        );
        // Render what the store holds before the first request, so a restart
        // serves the same feed at once.
        if let Err(e) = feed.refresh(&store).await {
            warn!(error = %error_chain(&e), "cannot render the merged feed at start");
        }

        // The reload triggers listen before the server answers, so a SIGHUP
        // or an edit that comes once the daemon is up is never missed.
        let triggers = match &config_file {
            Some((path, watch)) => Some(ReloadTriggers::start(
                Reloader::new(path.clone(), live.clone()),
                *watch,
            )?),
            None => None,
        };
        let tracker = TaskTracker::new();
        let scheduler = Scheduler::new(live.subscribe(), store.clone())?;
        let poll_now = scheduler.poll_now();
        tracker.spawn(scheduler.run(shutdown.clone()).instrument(span.clone()));
        // `poll-now` and SIGUSR1 listen before the server answers, so an
        // admin who sees the daemon up can ask it to poll.
        if let Some(path) = settings.control_socket() {
            match ControlSocket::bind(&path).await {
                Ok(socket) => {
                    info!(socket = %socket.path().display(), "taking poll-now on the control socket");
                    tracker.spawn(
                        socket
                            .run(live.subscribe(), poll_now.clone(), shutdown.clone())
                            .instrument(span.clone()),
                    );
                }
                Err(e) => warn!(
                    error = %crate::error::error_chain(e.as_ref()),
                    "no control socket: `librarywire poll-now` cannot reach this daemon; SIGUSR1 still polls every source"
                ),
            }
        }
        tracker.spawn(
            crate::control::poll_all_on_sigusr1(live.subscribe(), poll_now, shutdown.clone())
                .instrument(span.clone()),
        );
        if let Some(triggers) = triggers {
            tracker.spawn(triggers.run(shutdown.clone()));
        }
        // The broker settings are read once: a reload keeps them (see
        // `reload::keep_restart_only`).
        tracker.spawn(
            publish::run_under_lease(
                settings.amqp.clone(),
                replica.clone(),
                settings.cluster.lease,
                store.clone(),
                publisher_stats.clone(),
                shutdown.clone(),
            )
            .instrument(span.clone()),
        );
        tracker.spawn(
            feed.clone()
                .keep_fresh(store.clone(), live.subscribe(), shutdown.clone())
                .instrument(span.clone()),
        );
        crate::websub::spawn(&tracker, &settings, feed.changes(), shutdown.clone());
        tracker.spawn(
            prune_periodically(
                live.subscribe(),
                store.clone(),
                settings.cluster.lease,
                shutdown.clone(),
            )
            .instrument(span.clone()),
        );
        let router = serve::router(ServeState {
            feed,
            store: store.clone(),
            settings: live.subscribe(),
            publisher: publisher_stats,
        });
        let server = tracker.spawn(
            serve::serve(
                listener,
                router,
                live.subscribe(),
                file_limit,
                shutdown.clone(),
            )
            .instrument(span),
        );
        tracker.close();

        // The server is the one task whose failure ends the daemon: without
        // it, nobody can read the feed.
        let served = server.await;
        if !shutdown.is_cancelled() {
            shutdown.cancel();
        }
        tracker.wait().await;
        info!("librarywire stopped");
        match served {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e).context("the HTTP server failed"),
            Err(e) => Err(e).context("the HTTP server task failed"),
        }
    }
}

/// Applies retention every [`PRUNE_EVERY`], with the retention settings in
/// force, and at once when a reload changes them. A removed source's items
/// age out here like any others.
///
/// On a shared store only the replica holding the publisher lease runs it
/// ([`Store::runs_retention`]), so that of many replicas one deletes; the
/// others look again every `standby` (`cluster.lease`), so a replica that
/// takes the lease over soon runs it.
async fn prune_periodically(
    mut settings: LiveSettings,
    store: Store,
    standby: Duration,
    shutdown: CancellationToken,
) {
    let mut applied = Retention::of(&settings.borrow_and_update().store);
    loop {
        let wait = if store.runs_retention() {
            match store.prune(&applied, Utc::now()).await {
                Ok(0) => {}
                Ok(n) => info!(removed = n, "retention removed old items"),
                Err(e) => warn!(error = %error_chain(&e), "retention failed"),
            }
            PRUNE_EVERY
        } else {
            standby.min(PRUNE_EVERY)
        };
        let sleep = tokio::time::sleep(wait);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = &mut sleep => break,
                changed = settings.changed() => {
                    if changed.is_err() {
                        // No more reloads: plain periodic retention.
                        (&mut sleep).await;
                        break;
                    }
                    let now_in_force = Retention::of(&settings.borrow_and_update().store);
                    if now_in_force != applied {
                        break;
                    }
                }
            }
        }
        applied = Retention::of(&settings.borrow().store);
    }
}
