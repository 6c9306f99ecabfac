//! Publish: drains the store's outbox to RabbitMQ with publisher confirms.
//! The only module that knows lapin.

use crate::config::AmqpSettings;
use crate::store::Store;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};
use tokio_util::sync::CancellationToken;

/// Counters of the publisher, read by `/status` and `/metrics`.
#[derive(Debug, Default)]
pub struct PublisherStats {
    /// Whether a channel to the broker is open and ready.
    pub connected: AtomicBool,
    /// Messages the broker confirmed (ack).
    pub confirmed: AtomicU64,
    /// Messages the broker refused (nack); each is sent again.
    pub nacked: AtomicU64,
    /// Messages returned as unroutable (`mandatory` with no bound queue).
    pub returned: AtomicU64,
    /// Connections made, the first one included.
    pub connections: AtomicU64,
}

/// Runs the publisher until `shutdown` is cancelled: connects (and reconnects
/// with capped, jittered backoff), declares the exchange, and publishes every
/// outbox message in order, removing each only once the broker confirms it.
pub async fn run(
    settings: AmqpSettings,
    store: Store,
    stats: Arc<PublisherStats>,
    shutdown: CancellationToken,
) {
    let _ = (settings, store, stats, shutdown);
    todo!()
}
