//! The daemon: builds every stage from the settings and runs them until shutdown.

use crate::config::Settings;
use crate::fetch::{Fetcher, error_chain};
use crate::publish::{self, PublisherStats};
use crate::refresh::blocking;
use crate::reload;
use crate::schedule::Scheduler;
use crate::serve::{self, MergedFeed, ServeState};
use crate::store::Store;
use anyhow::Context;
use chrono::Utc;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

/// How often retention runs.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// A built daemon: store open, port bound, nothing running yet.
pub struct Application {
    settings: Settings,
    store: Store,
    listener: TcpListener,
    feed: Arc<MergedFeed>,
    publisher_stats: Arc<PublisherStats>,
}

impl Application {
    /// Opens the store and binds the server's address.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let store = {
            let path = settings.store.path.clone();
            tokio::task::spawn_blocking(move || Store::open(&path))
                .await?
                .with_context(|| {
                    format!("cannot open the store at {}", settings.store.path.display())
                })?
        };
        let listener = TcpListener::bind(settings.server.listen)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {} (server.listen)",
                    settings.server.listen
                )
            })?;
        let feed = Arc::new(MergedFeed::new(settings.server.clone()));
        Ok(Application {
            settings,
            store,
            listener,
            feed,
            publisher_stats: Arc::new(PublisherStats::default()),
        })
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
            store,
            listener,
            feed,
            publisher_stats,
        } = self;
        info!(
            listen = %listener.local_addr()?,
            sources = settings.sources.len(),
            store = %settings.store.path.display(),
            "librarywire started"
        );
        // Render what the store holds before the first request, so a restart
        // serves the same feed at once.
        if let Err(e) = feed.refresh(&store).await {
            warn!(error = %error_chain(&e), "cannot render the merged feed at start");
        }

        let tracker = TaskTracker::new();
        let fetcher = Fetcher::new(&settings.poll)?;
        let scheduler = Arc::new(Scheduler::new(&settings, fetcher, store.clone()));
        tracker.spawn(scheduler.run(shutdown.clone()));
        tracker.spawn(publish::run(
            settings.amqp.clone(),
            store.clone(),
            publisher_stats.clone(),
            shutdown.clone(),
        ));
        tracker.spawn(feed.clone().keep_fresh(store.clone(), shutdown.clone()));
        crate::websub::spawn(&tracker, &settings, feed.changes(), shutdown.clone());
        tracker.spawn(prune_periodically(
            settings.clone(),
            store.clone(),
            shutdown.clone(),
        ));
        let (_settings_tx, live) = reload::channel(settings.clone());
        let router = serve::router(ServeState {
            feed,
            store: store.clone(),
            settings: live,
            publisher: publisher_stats,
        });
        let server = tracker.spawn(serve::serve(listener, router, shutdown.clone()));
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

async fn prune_periodically(settings: Settings, store: Store, shutdown: CancellationToken) {
    loop {
        let (max_age, max_items) = (settings.store.max_age, settings.store.max_items_per_source);
        let pruning = store.clone();
        match blocking(move || pruning.prune(max_age, max_items, Utc::now())).await {
            Ok(0) => {}
            Ok(n) => info!(removed = n, "retention removed old items"),
            Err(e) => warn!(error = %error_chain(&e), "retention failed"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(PRUNE_EVERY) => {}
        }
    }
}
