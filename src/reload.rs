//! Live reload: the settings in force, replaced on SIGHUP or when the config
//! file changes, once the new file loads and validates.
//!
//! A refused file is logged with the message `check-config` would print and
//! changes nothing. An accepted one is sent on the watch channel, which the
//! scheduler, retention, `/status` and `/opml` read. What cannot change in a
//! running process (the listening address, the store file, the broker, the
//! log setup) keeps its running value, with a warning.

use crate::config::Settings;
use anyhow::Context;
use notify::Watcher;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

/// A burst of file events (an editor's save, `mv`, a long write) is one
/// change: the file is read once the folder has been quiet this long.
pub const DEBOUNCE: Duration = Duration::from_millis(300);

/// A burst that never goes quiet is read after this long anyway.
const DEBOUNCE_CAP: Duration = Duration::from_secs(3);

/// Loads and validates a config file exactly as `check-config` does: the
/// settings with their own checks, then the broker URL as the publisher reads
/// it. The error names the file and the key.
pub fn load_checked(path: &Path) -> anyhow::Result<Settings> {
    let settings = Settings::load(path)?;
    // The config module checks that amqp.url is a URL; only the publisher
    // knows what lapin accepts (vhost, heartbeat, TLS options).
    crate::publish::validate_urls(&settings.amqp)
        .map_err(|e| anyhow::anyhow!("config file {}: {e}", path.display()))?;
    Ok(settings)
}

/// Keeps the settings that a running daemon cannot change at their running
/// values in `new`, and returns the keys whose new value was set aside: they
/// take effect at the next restart.
///
/// The listening socket is bound, the store file is open, the publisher holds
/// its broker session, the WebSub pinger knows its hub and the log subscriber
/// is installed. Everything else is put in force: sources and `[poll]` (the
/// scheduler), retention, the feeds' title, self links and size, and what
/// `/status` and `/opml` show.
pub fn keep_restart_only(running: &Settings, new: &mut Settings) -> Vec<&'static str> {
    let mut pending = Vec::new();
    let mut keep = |key: &'static str, differs: bool| {
        if differs {
            pending.push(key);
        }
    };
    keep("server.listen", running.server.listen != new.server.listen);
    keep("store.path", running.store.path != new.store.path);
    keep("store.url", running.store.url != new.store.url);
    keep("cluster.lease", running.cluster.lease != new.cluster.lease);
    keep(
        "cluster.replica_id",
        running.cluster.replica_id != new.cluster.replica_id,
    );
    keep("amqp.url", running.amqp.url != new.amqp.url);
    keep("amqp.exchange", running.amqp.exchange != new.amqp.exchange);
    keep("amqp.queue", running.amqp.queue != new.amqp.queue);
    keep(
        "amqp.confirm_window",
        running.amqp.confirm_window != new.amqp.confirm_window,
    );
    keep("amqp.timeout", running.amqp.timeout != new.amqp.timeout);
    keep(
        "amqp.max_backoff",
        running.amqp.max_backoff != new.amqp.max_backoff,
    );
    keep(
        "server.websub_hub",
        running.server.websub_hub != new.server.websub_hub,
    );
    keep("log.level", running.log.level != new.log.level);
    keep("log.format", running.log.format != new.log.format);
    new.server.listen = running.server.listen;
    new.server.websub_hub = running.server.websub_hub.clone();
    new.store.path = running.store.path.clone();
    new.store.url = running.store.url.clone();
    new.cluster = running.cluster.clone();
    new.amqp = running.amqp.clone();
    new.log = running.log.clone();
    pending
}

/// What a new config changes for the scheduler, source by source. A pure
/// comparison of two settings, so the reload rules can be tested alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceChanges {
    /// Sources only the new config has, in its order: they get a task.
    pub added: Vec<String>,
    /// Sources only the old config had, in its order: their tasks stop; their
    /// items stay in the store until retention removes them.
    pub removed: Vec<String>,
    /// Sources in both whose own settings differ, in the new order: their
    /// tasks restart with the new settings.
    pub changed: Vec<String>,
    /// `[poll]` differs: every source's task restarts, on a new fetcher and
    /// new limits.
    pub poll_changed: bool,
    /// `[[rules]]` differs. No task restarts: each source's next poll reads
    /// the rules in force (a source's own rules are its settings, so a change
    /// there restarts it), and stored items stay as they are.
    pub rules_changed: bool,
}

impl SourceChanges {
    /// The changes from `old` to `new`.
    pub fn between(old: &Settings, new: &Settings) -> SourceChanges {
        let added = new
            .sources
            .iter()
            .filter(|s| old.source(&s.id).is_none())
            .map(|s| s.id.clone())
            .collect();
        let removed = old
            .sources
            .iter()
            .filter(|s| new.source(&s.id).is_none())
            .map(|s| s.id.clone())
            .collect();
        let changed = new
            .sources
            .iter()
            .filter(|s| old.source(&s.id).is_some_and(|o| o != *s))
            .map(|s| s.id.clone())
            .collect();
        SourceChanges {
            added,
            removed,
            changed,
            poll_changed: old.poll != new.poll,
            rules_changed: old.rules != new.rules,
        }
    }

    /// Whether nothing changes for the scheduler.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.changed.is_empty()
            && !self.poll_changed
    }

    /// The sources of `new` whose running task restarts: the changed ones,
    /// or, when `[poll]` changed, every source that was already there.
    pub fn restarted<'a>(&'a self, new: &'a Settings) -> Vec<&'a str> {
        if self.poll_changed {
            new.sources
                .iter()
                .map(|s| s.id.as_str())
                .filter(|id| !self.added.iter().any(|a| a == id))
                .collect()
        } else {
            self.changed.iter().map(String::as_str).collect()
        }
    }
}

/// What one accepted reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloaded {
    /// The sources added, removed and retuned.
    pub changes: SourceChanges,
    /// Keys that changed in the file but take effect only at restart.
    pub at_restart: Vec<&'static str>,
    /// Whether the settings in force changed.
    pub changed: bool,
}

/// Reloads one config file into the live settings.
#[derive(Debug, Clone)]
pub struct Reloader {
    path: PathBuf,
    sender: watch::Sender<Arc<Settings>>,
}

impl Reloader {
    /// A reloader of `path` into the settings `sender` holds.
    pub fn new(path: impl Into<PathBuf>, sender: watch::Sender<Arc<Settings>>) -> Reloader {
        Reloader {
            path: path.into(),
            sender,
        }
    }

    /// The config file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the file again, and if it is valid, puts it in force and logs
    /// what changed. A refused file is logged at error level, with the message
    /// `check-config` prints, and the running settings stay. `trigger` says
    /// why, for the log.
    pub async fn reload(&self, trigger: &str) -> anyhow::Result<Reloaded> {
        let path = self.path.clone();
        let loaded = tokio::task::spawn_blocking(move || load_checked(&path))
            .await
            .context("the config loading task failed")?;
        let mut new = match loaded {
            Ok(settings) => settings,
            Err(e) => {
                error!(
                    file = %self.path.display(),
                    trigger,
                    error = %crate::error::error_chain(e.as_ref()),
                    "config refused; the running config stays"
                );
                return Err(e);
            }
        };
        // Compared and replaced under the channel's lock, so two reloads at
        // once (a signal during an edit) cannot interleave.
        let mut outcome = None;
        self.sender.send_if_modified(|current| {
            let at_restart = keep_restart_only(current, &mut new);
            let changes = SourceChanges::between(current, &new);
            let changed = **current != new;
            if changed {
                *current = Arc::new(new.clone());
            }
            outcome = Some((changes, at_restart, changed));
            changed
        });
        let (changes, at_restart, changed) =
            outcome.expect("send_if_modified runs the closure once");
        if !at_restart.is_empty() {
            warn!(
                file = %self.path.display(),
                keys = %at_restart.join(", "),
                "these settings take effect at the next restart; their running values stay"
            );
        }
        if changed {
            info!(
                file = %self.path.display(),
                trigger,
                sources = new.sources.len(),
                added = %list(&changes.added),
                removed = %list(&changes.removed),
                retuned = %list(&changes.changed),
                poll_retuned = changes.poll_changed,
                rules_retuned = changes.rules_changed,
                "config reloaded"
            );
        } else {
            info!(file = %self.path.display(), trigger, "config reloaded: nothing to change");
        }
        Ok(Reloaded {
            changes,
            at_restart,
            changed,
        })
    }
}

fn list(ids: &[String]) -> String {
    if ids.is_empty() {
        "-".to_owned()
    } else {
        ids.join(",")
    }
}

/// What sets off a reload: SIGHUP always, and changes to the config file
/// unless watching is off. Built before the daemon serves, so a signal or an
/// edit that comes once it answers is never missed.
pub struct ReloadTriggers {
    reloader: Reloader,
    hangup: tokio::signal::unix::Signal,
    /// Keeps the file watcher alive; dropped when the triggers stop.
    watcher: Option<notify::RecommendedWatcher>,
    file_events: Option<mpsc::UnboundedReceiver<()>>,
}

impl ReloadTriggers {
    /// Listens for SIGHUP and, when `watch_file`, for changes to the config
    /// file. The file's folder is watched, not the file: editors and `mv`
    /// replace the file, which would end a watch on the file itself. When
    /// the folder cannot be watched, SIGHUP still works, and a warning says so.
    pub fn start(reloader: Reloader, watch_file: bool) -> anyhow::Result<ReloadTriggers> {
        use tokio::signal::unix::{SignalKind, signal};
        let hangup = signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?;
        let (watcher, file_events) = if watch_file {
            match watch_folder(reloader.path()) {
                Ok((watcher, events)) => (Some(watcher), Some(events)),
                Err(e) => {
                    warn!(
                        file = %reloader.path().display(),
                        error = %crate::error::error_chain(e.as_ref()),
                        "cannot watch the config file; reload it with SIGHUP"
                    );
                    (None, None)
                }
            }
        } else {
            (None, None)
        };
        Ok(ReloadTriggers {
            reloader,
            hangup,
            watcher,
            file_events,
        })
    }

    /// Reloads on every trigger until `shutdown`.
    pub async fn run(mut self, shutdown: CancellationToken) {
        loop {
            let trigger = tokio::select! {
                _ = shutdown.cancelled() => break,
                signal = self.hangup.recv() => match signal {
                    Some(()) => "SIGHUP",
                    None => break,
                },
                event = next_event(&mut self.file_events) => match event {
                    Some(()) => {
                        if let Some(events) = &mut self.file_events {
                            settle(events).await;
                        }
                        "file change"
                    }
                    None => {
                        self.file_events = None;
                        continue;
                    }
                },
            };
            // A refused config has been logged; the running one stays.
            let _ = self.reloader.reload(trigger).await;
        }
        drop(self.watcher.take());
    }
}

/// The next file event, or never when the file is not watched.
async fn next_event(events: &mut Option<mpsc::UnboundedReceiver<()>>) -> Option<()> {
    match events {
        Some(events) => events.recv().await,
        None => std::future::pending().await,
    }
}

/// Waits until no event has come for [`DEBOUNCE`] (at most [`DEBOUNCE_CAP`]).
async fn settle(events: &mut mpsc::UnboundedReceiver<()>) {
    let cap = tokio::time::Instant::now() + DEBOUNCE_CAP;
    while tokio::time::Instant::now() < cap {
        match tokio::time::timeout(DEBOUNCE, events.recv()).await {
            Ok(Some(())) => continue,
            Ok(None) | Err(_) => break,
        }
    }
}

/// Watches the folder of `path` and sends `()` for every event that creates,
/// changes, renames or removes a file of that name.
fn watch_folder(
    path: &Path,
) -> anyhow::Result<(notify::RecommendedWatcher, mpsc::UnboundedReceiver<()>)> {
    let path =
        std::path::absolute(path).with_context(|| format!("cannot resolve {}", path.display()))?;
    let folder = path
        .parent()
        .map(Path::to_owned)
        .unwrap_or_else(|| PathBuf::from("/"));
    let name = path
        .file_name()
        .map(|n| n.to_owned())
        .with_context(|| format!("{} names no file", path.display()))?;
    let (tx, rx) = mpsc::unbounded_channel();
    let mut watcher =
        notify::recommended_watcher(move |event: notify::Result<notify::Event>| match event {
            Ok(event) => {
                let relevant = !matches!(event.kind, notify::EventKind::Access(_))
                    && event
                        .paths
                        .iter()
                        .any(|p| p.file_name() == Some(name.as_os_str()));
                if relevant {
                    let _ = tx.send(());
                }
            }
            Err(e) => warn!(error = %e, "the config file watcher reported an error"),
        })
        .context("cannot start a file watcher")?;
    watcher
        .watch(&folder, notify::RecursiveMode::NonRecursive)
        .with_context(|| format!("cannot watch {}", folder.display()))?;
    Ok((watcher, rx))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{PollSettings, SourceSettings};

    const MIN: Duration = Duration::from_secs(60);

    fn source(id: &str, url: &str) -> SourceSettings {
        SourceSettings {
            id: id.to_owned(),
            name: None,
            url: url.into(),
            password_env: None,
            interval: None,
            kind: crate::config::SourceKind::Feed,
            page: None,
            encoding: None,
            timezone: None,
            dedup: true,
            full_text: false,
            full_text_per_poll: None,
            rules: Vec::new(),
        }
    }

    fn settings(sources: Vec<SourceSettings>) -> Settings {
        Settings {
            server: Default::default(),
            store: Default::default(),
            cluster: Default::default(),
            amqp: Default::default(),
            poll: PollSettings::default(),
            log: Default::default(),
            dedup: Default::default(),
            rules: Vec::new(),
            sources,
        }
    }

    #[test]
    fn the_same_config_changes_nothing() {
        let a = settings(vec![
            source("a", "https://a.org/"),
            source("b", "https://b.org/"),
        ]);
        let changes = SourceChanges::between(&a, &a.clone());
        assert!(changes.is_empty(), "{changes:?}");
        assert!(changes.restarted(&a).is_empty());
    }

    #[test]
    fn added_removed_and_changed_sources_are_told_apart() {
        let old = settings(vec![
            source("kept", "https://k.org/"),
            source("gone", "https://g.org/"),
            source("moved", "https://m.org/old"),
            source("renamed", "https://r.org/"),
        ]);
        let mut renamed = source("renamed", "https://r.org/");
        renamed.name = Some("Renamed".to_owned());
        let new = settings(vec![
            source("fresh", "https://f.org/"),
            source("kept", "https://k.org/"),
            source("moved", "https://m.org/new"),
            renamed,
        ]);
        let changes = SourceChanges::between(&old, &new);
        assert_eq!(changes.added, ["fresh"]);
        assert_eq!(changes.removed, ["gone"]);
        assert_eq!(changes.changed, ["moved", "renamed"]);
        assert!(!changes.poll_changed);
        assert_eq!(changes.restarted(&new), ["moved", "renamed"]);
    }

    /// Turning full text on, or changing its bound, restarts the source's
    /// task with the new settings: the following polls use them.
    #[test]
    fn a_full_text_change_restarts_the_source() {
        let old = settings(vec![
            source("a", "https://a.org/"),
            source("b", "https://b.org/"),
        ]);
        let mut on = source("a", "https://a.org/");
        on.full_text = true;
        let mut bound = source("b", "https://b.org/");
        bound.full_text = true;
        bound.full_text_per_poll = Some(5);
        let new = settings(vec![on, bound]);
        let changes = SourceChanges::between(&old, &new);
        assert_eq!(changes.restarted(&new), ["a", "b"]);
        assert_eq!(new.sources[1].full_text_per_poll(), 5);
        assert_eq!(
            new.sources[0].full_text_per_poll(),
            crate::config::FULL_TEXT_PER_POLL
        );
    }

    #[test]
    fn a_reordered_config_changes_nothing() {
        let old = settings(vec![
            source("a", "https://a.org/"),
            source("b", "https://b.org/"),
        ]);
        let new = settings(vec![
            source("b", "https://b.org/"),
            source("a", "https://a.org/"),
        ]);
        assert!(SourceChanges::between(&old, &new).is_empty());
    }

    #[test]
    fn a_new_poll_section_restarts_every_kept_source_but_not_the_added_ones() {
        let old = settings(vec![
            source("a", "https://a.org/"),
            source("b", "https://b.org/"),
        ]);
        let mut new = settings(vec![
            source("a", "https://a.org/"),
            source("c", "https://c.org/"),
            source("b", "https://b.org/"),
        ]);
        new.poll.concurrency = 3;
        let changes = SourceChanges::between(&old, &new);
        assert!(changes.poll_changed);
        assert_eq!(changes.added, ["c"]);
        assert!(changes.changed.is_empty());
        assert_eq!(changes.restarted(&new), ["a", "b"]);
    }

    #[test]
    fn new_rules_for_every_source_restart_nothing_and_a_sources_own_restart_it() {
        let rule = |title: &str| crate::config::RuleSettings {
            action: crate::config::RuleAction::Drop,
            title: Some(crate::config::Pattern::parse(title).unwrap()),
            summary: None,
            content: None,
            category: None,
            author: None,
            link: None,
            older_than: None,
            field: None,
            pattern: None,
            replace: None,
        };
        let old = settings(vec![
            source("a", "https://a.org/"),
            source("b", "https://b.org/"),
        ]);
        let mut new = old.clone();
        new.rules.push(rule("^Vacancy"));
        let changes = SourceChanges::between(&old, &new);
        assert!(changes.rules_changed);
        assert!(changes.restarted(&new).is_empty(), "{changes:?}");
        let mut own = new.clone();
        own.sources[1].rules.push(rule("^Closed"));
        let changes = SourceChanges::between(&new, &own);
        assert!(!changes.rules_changed);
        assert_eq!(changes.restarted(&own), ["b"]);
        // The same expression again is no change.
        let mut same = own.clone();
        same.sources[1].rules[0] = rule("^Closed");
        assert!(SourceChanges::between(&own, &same).is_empty());
    }

    #[test]
    fn a_new_interval_is_a_change_of_that_source() {
        let old = settings(vec![source("a", "https://a.org/")]);
        let mut faster = source("a", "https://a.org/");
        faster.interval = Some(MIN);
        let new = settings(vec![faster]);
        assert_eq!(SourceChanges::between(&old, &new).changed, ["a"]);
    }

    #[test]
    fn restart_only_keys_keep_their_running_values_and_are_named() {
        let running = Settings {
            server: Default::default(),
            store: Default::default(),
            cluster: Default::default(),
            amqp: Default::default(),
            poll: Default::default(),
            log: Default::default(),
            dedup: Default::default(),
            rules: Vec::new(),
            sources: Vec::new(),
        };
        let mut new = running.clone();
        new.server.listen = "127.0.0.1:9999".parse().unwrap();
        new.server.title = "New title".to_owned();
        new.store.path = PathBuf::from("/elsewhere.db");
        new.store.max_items_per_source = 5;
        new.amqp.exchange = "other".to_owned();
        new.poll.concurrency = 1;
        let pending = keep_restart_only(&running, &mut new);
        assert_eq!(pending, ["server.listen", "store.path", "amqp.exchange"]);
        assert_eq!(new.server.listen, running.server.listen);
        assert_eq!(new.store.path, running.store.path);
        assert_eq!(new.amqp, running.amqp);
        // What can change live does.
        assert_eq!(new.server.title, "New title");
        assert_eq!(new.store.max_items_per_source, 5);
        assert_eq!(new.poll.concurrency, 1);
    }

    #[tokio::test]
    async fn a_refused_file_leaves_the_settings_and_a_good_one_replaces_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let one = "[[sources]]\nid = \"a\"\nurl = \"https://a.org/feed\"\n";
        std::fs::write(&path, one).unwrap();
        let first = load_checked(&path).unwrap();
        let (tx, live) = crate::config::live(first.clone());
        let reloader = Reloader::new(&path, tx);

        std::fs::write(&path, format!("{one}bogus = 1\n")).unwrap();
        let err = format!("{:#}", reloader.reload("test").await.unwrap_err());
        assert!(err.contains("sources[0].bogus"), "{err}");
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert_eq!(**live.borrow(), first);

        let two = format!("{one}[[sources]]\nid = \"b\"\nurl = \"https://b.org/feed\"\n");
        std::fs::write(&path, two).unwrap();
        let reloaded = reloader.reload("test").await.unwrap();
        assert!(reloaded.changed);
        assert_eq!(reloaded.changes.added, ["b"]);
        assert_eq!(live.borrow().sources.len(), 2);

        let again = reloader.reload("test").await.unwrap();
        assert!(!again.changed && again.changes.is_empty());
    }
}
