//! The control socket: how `librarywire poll-now` reaches a running daemon.
//!
//! A Unix socket beside the store (`Settings::control_socket`), readable
//! and writable by the daemon's user only. One request per connection, one
//! line each way: `poll-now` or `poll-now <source id>`, answered by
//! `ok: …` or `error: …`. SIGUSR1 asks for the same as `poll-now` without
//! a source. Both go through the scheduler's [`PollNow`].

use crate::config::LiveSettings;
use crate::error::error_chain;
use crate::schedule::PollNow;
use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// The longest request line read; a request is a command and a source id.
const MAX_REQUEST: u64 = 1024;

/// How long one client may take to send its request or read the answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// The bound control socket of a daemon.
pub struct ControlSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ControlSocket {
    /// Binds the socket at `path`. A socket file that nobody answers on
    /// (left by a daemon that is gone) is replaced; one that answers belongs
    /// to another running daemon, and is refused.
    pub async fn bind(path: &Path) -> anyhow::Result<ControlSocket> {
        if path.exists() {
            if UnixStream::connect(path).await.is_ok() {
                bail!(
                    "{} answers already: another librarywire daemon uses it (set poll.control_socket)",
                    path.display()
                );
            }
            std::fs::remove_file(path)
                .with_context(|| format!("cannot remove the stale socket {}", path.display()))?;
        }
        let listener = UnixListener::bind(path)
            .with_context(|| format!("cannot listen on {}", path.display()))?;
        // Only the daemon's user may ask it to poll.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot restrict {} to its owner", path.display()))?;
        Ok(ControlSocket {
            listener,
            path: path.to_owned(),
        })
    }

    /// Where it listens.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Answers requests until `shutdown`, then removes the socket file.
    /// One client at a time, each within [`CLIENT_TIMEOUT`]: a request
    /// is a few bytes and a store write per source.
    pub async fn run(self, settings: LiveSettings, poll_now: PollNow, shutdown: CancellationToken) {
        loop {
            let stream = tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        warn!(error = %e, socket = %self.path.display(), "cannot accept on the control socket");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let answered =
                tokio::time::timeout(CLIENT_TIMEOUT, answer(stream, &settings, &poll_now)).await;
            if let Ok(Err(e)) = answered {
                warn!(error = %crate::error::error_chain(e.as_ref()), "a control socket request failed");
            }
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Reads one request from `stream` and answers it.
async fn answer(
    stream: UnixStream,
    settings: &LiveSettings,
    poll_now: &PollNow,
) -> anyhow::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    BufReader::new(read.take(MAX_REQUEST))
        .read_line(&mut line)
        .await?;
    let reply = match line.trim().split_once(' ').unwrap_or((line.trim(), "")) {
        ("poll-now", only) => {
            let ids = match sources_asked(settings, only.trim()) {
                Ok(ids) => ids,
                Err(e) => {
                    write.write_all(format!("error: {e}\n").as_bytes()).await?;
                    return Ok(());
                }
            };
            match poll_now.request(ids.clone()).await {
                Ok(()) => {
                    info!(sources = %ids.join(", "), "poll-now: polling at once");
                    format!("ok: polling now: {}\n", ids.join(", "))
                }
                Err(e) => format!("error: cannot schedule the poll: {}\n", error_chain(&e)),
            }
        }
        _ => "error: unknown request; this socket takes `poll-now [SOURCE-ID]`\n".to_owned(),
    };
    write.write_all(reply.as_bytes()).await?;
    write.shutdown().await?;
    Ok(())
}

/// The ids `only` names: that one source, or every one when empty.
fn sources_asked(settings: &LiveSettings, only: &str) -> anyhow::Result<Vec<String>> {
    let settings = settings.borrow();
    let ids: Vec<String> = settings.sources.iter().map(|s| s.id.clone()).collect();
    if only.is_empty() {
        return Ok(ids);
    }
    if settings.source(only).is_none() {
        bail!(
            "no source `{}` in the running daemon's config; its sources are: {}",
            only.replace(|c: char| c.is_control(), " "),
            ids.join(", ")
        );
    }
    Ok(vec![only.to_owned()])
}

/// Makes every source due now on each SIGUSR1, until `shutdown`.
pub async fn poll_all_on_sigusr1(
    settings: LiveSettings,
    poll_now: PollNow,
    shutdown: CancellationToken,
) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut usr1 = match signal(SignalKind::user_defined1()) {
        Ok(usr1) => usr1,
        Err(e) => {
            warn!(error = %e, "cannot listen for SIGUSR1; poll-now works through the control socket only");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            received = usr1.recv() => if received.is_none() { return },
        }
        let ids = sources_asked(&settings, "").unwrap_or_default();
        match poll_now.request(ids).await {
            Ok(()) => info!("SIGUSR1: polling every source at once"),
            Err(e) => warn!(error = %error_chain(&e), "SIGUSR1: cannot schedule the polls"),
        }
    }
}

/// Asks the daemon listening at `path` to poll `source` (or every source)
/// now; its answer, or an error that says why it could not be asked.
pub async fn request_poll_now(path: &Path, source: Option<&str>) -> anyhow::Result<String> {
    let mut stream = UnixStream::connect(path).await.with_context(|| {
        format!(
            "cannot reach the daemon's control socket {} (poll.control_socket): is it running with this config?",
            path.display()
        )
    })?;
    let request = match source {
        Some(id) => format!("poll-now {id}\n"),
        None => "poll-now\n".to_owned(),
    };
    let exchange = async {
        stream.write_all(request.as_bytes()).await?;
        let mut reply = String::new();
        BufReader::new(stream.take(64 * 1024))
            .read_line(&mut reply)
            .await?;
        anyhow::Ok(reply)
    };
    let reply = tokio::time::timeout(CLIENT_TIMEOUT * 2, exchange)
        .await
        .with_context(|| format!("{} did not answer in time", path.display()))??;
    let reply = reply.trim_end();
    match reply.strip_prefix("ok: ") {
        Some(ok) => Ok(ok.to_owned()),
        None => bail!(
            "the daemon refused: {}",
            reply.strip_prefix("error: ").unwrap_or(reply)
        ),
    }
}
