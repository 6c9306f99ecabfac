//! How a replica hears of items the others stored: every commit that
//! changes items sends a notification on [`CHANNEL`] (see
//! `items::changed_in`), which a connection of this replica's own listens
//! to; each one heard moves the store's `changes` watch, and the merged
//! feed is rendered again from the shared store.
//!
//! A notification sent while the listening connection is down is lost, so
//! the listener also reads the `item_changes` sequence every
//! [`FALLBACK_EVERY`] (and once after every reconnection): when it moved,
//! something changed. The sequence moves before its commit is visible, so a
//! move is told twice, on this check and the next, and a commit that became
//! visible just after the first telling is not missed.

use deadpool_postgres::Pool;
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_postgres::AsyncMessage;
use tokio_postgres_rustls::MakeRustlsConnect;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// The notification channel of item changes.
pub(super) const CHANNEL: &str = "librarywire_items";

/// How often the listener checks the sequence, in case a notification was
/// missed: slow, since notifications are the normal way.
const FALLBACK_EVERY: Duration = Duration::from_secs(30);

/// The pause before the listener connects again after losing its connection.
const RECONNECT_AFTER: Duration = Duration::from_secs(2);

/// Starts the listener: it runs until `stop`.
pub(super) fn spawn_listener(
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    pool: Pool,
    changes: Arc<watch::Sender<u64>>,
    instance: String,
    shown: String,
    stop: CancellationToken,
) {
    tokio::spawn(async move {
        let bump = || changes.send_modify(|v| *v = v.wrapping_add(1));
        let mut seen = None;
        let mut moved_last_time = false;
        let mut check = tokio::time::interval(FALLBACK_EVERY);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut was_lost = false;
        loop {
            let (client, mut connection) = match config.connect(tls.clone()).await {
                Ok(pair) => pair,
                Err(e) => {
                    warn!(store = %shown, error = %e, "cannot listen for the other replicas' changes; trying again");
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(RECONNECT_AFTER) => continue,
                    }
                }
            };
            // The connection is driven by a task of its own, which hands
            // its messages over; it ends when the connection does.
            let (sender, mut messages) = tokio::sync::mpsc::unbounded_channel();
            let _driver = tokio_util::task::AbortOnDropHandle::new(tokio::spawn(async move {
                let mut stream =
                    futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
                while let Some(message) = stream.next().await {
                    if sender.send(message).is_err() {
                        break;
                    }
                }
            }));
            let listen = format!("LISTEN {CHANNEL}");
            let listened = tokio::select! {
                _ = stop.cancelled() => return,
                done = client.batch_execute(&listen) => done,
            };
            if let Err(e) = listened {
                warn!(store = %shown, error = %e, "cannot listen for the other replicas' changes; trying again");
                continue;
            }
            if was_lost {
                info!(store = %shown, "listening for the other replicas' changes again");
                // Whatever was sent meanwhile is lost: render afresh.
                bump();
            }
            was_lost = true;
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    message = messages.recv() => match message {
                        Some(Ok(AsyncMessage::Notification(n))) => {
                            if n.payload() != instance {
                                bump();
                            }
                        }
                        Some(Ok(_)) => {}
                        Some(Err(e)) => {
                            warn!(store = %shown, error = %e, "lost the connection that listens for the other replicas' changes");
                            break;
                        }
                        None => break,
                    },
                    _ = check.tick() => {
                        let value = read_sequence(&pool).await;
                        let moved = value.is_some() && seen.is_some() && value != seen;
                        if moved || moved_last_time {
                            bump();
                        }
                        moved_last_time = moved;
                        if value.is_some() {
                            seen = value;
                        }
                    }
                }
            }
            drop(client);
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(RECONNECT_AFTER) => {}
            }
        }
    });
}

/// The `item_changes` sequence's last value, or `None` when it cannot be read now.
async fn read_sequence(pool: &Pool) -> Option<i64> {
    let conn = pool.get().await.ok()?;
    let row = conn
        .query_one("SELECT last_value, is_called FROM item_changes", &[])
        .await
        .ok()?;
    let (value, called): (i64, bool) = (row.try_get(0).ok()?, row.try_get(1).ok()?);
    Some(if called { value } else { 0 })
}
