//! One connection to the broker, from connect to the first failure (or
//! shutdown): declare the exchange, enable confirms, then drain the outbox
//! through the confirm window.
//!
//! A session never retries anything itself: any broker error ends it, and the
//! supervisor in `mod.rs` starts a new one. Nothing is lost by ending a
//! session, because a row leaves the outbox only after the broker's ack; the
//! next session starts again from the lowest pending seq.

use super::PublisherStats;
use super::message::{properties, unpublishable};
use super::removal::Acked;
use super::returns::ReturnLog;
use super::uri::endpoint;
use super::window::{Outcome, Window};
use crate::config::AmqpSettings;
use crate::store::{OutboxMessage, Store};
use anyhow::{Context, anyhow, bail};
use futures_util::future::BoxFuture;
use futures_util::stream::{BoxStream, FuturesUnordered};
use futures_util::{FutureExt, StreamExt};
use lapin::message::BasicReturnMessage;
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::uri::AMQPUri;
use lapin::{
    Channel, Confirmation, Connection, ConnectionProperties, Event, ExchangeKind, PublisherConfirm,
};
use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

/// How often the outbox is read even without a change notice, as a fallback,
/// and how often the connection's state is checked while idle.
const FALLBACK_POLL: Duration = Duration::from_secs(1);

/// The binding of `amqp.queue`: every item event.
const ITEM_EVENTS: &str = "item.#";

/// The least time given to closing the connection at shutdown.
const CLOSE_AT_LEAST: Duration = Duration::from_millis(250);

/// The tracing target of the event logged at each broker ack, with the
/// `event_id` field.
pub const CONFIRMED_TARGET: &str = "librarywire::publish::confirmed";

/// What outlives a session: the supervisor hands it to each one in turn.
#[derive(Debug)]
pub(super) struct Kept {
    /// Confirmed rows still in the outbox; see [`Acked`].
    pub(super) acked: Acked,
    /// When each routing key's returns were last logged.
    pub(super) returns: ReturnLog,
}

/// A connection whose channel has the exchange declared and confirms enabled,
/// and the outbox rows in flight on it.
///
/// The rows in flight live beside the connection, in one struct, because
/// every wait on the broker must also take confirms and connection events:
/// a publish that waits for lapin to write it out still settles the confirms
/// of earlier publishes meanwhile.
pub(super) struct Session {
    connection: Connection,
    channel: Channel,
    events: BoxStream<'static, Event>,
    store: Store,
    stats: Arc<PublisherStats>,
    exchange: String,
    timeout: Duration,
    /// Every row taken from the outbox and not yet confirmed.
    window: Window,
    /// Confirms awaited, each tagged with the seq of its row.
    pending: FuturesUnordered<BoxFuture<'static, (i64, lapin::Result<Confirmation>)>>,
    /// Seqs acked by the broker and not yet removed from the outbox, and
    /// the removal under way.
    acked: Acked,
    /// The outbox read under way, if any.
    reader: Reader,
    /// Which routing keys had a return logged, and when.
    returns: ReturnLog,
    /// Whether the outbox may hold rows beyond those read (the window's
    /// and the reader's).
    maybe_more: bool,
    /// Whether the store's change notices still arrive.
    notices_open: bool,
    /// Whether the broker had blocked the connection (`connection.blocked`)
    /// when last looked at.
    blocked: bool,
}

/// Waits for `future` at most `timeout`, naming `what` in the error.
async fn bounded<F: Future>(timeout: Duration, what: &str, future: F) -> anyhow::Result<F::Output> {
    tokio::time::timeout(timeout, future)
        .await
        .map_err(|_| anyhow!("the broker did not answer within {timeout:?} while {what}"))
}

/// Like [`bounded`] for a step on an open connection, except that the clock
/// does not run while the broker has blocked the connection: lapin writes
/// nothing at all then, not even a channel open, and RabbitMQ blocks a
/// connection the moment it opens when an alarm is already on. Timing out
/// would only reconnect into the same block.
async fn bounded_on<F: Future>(
    connection: &Connection,
    timeout: Duration,
    what: &str,
    future: F,
) -> anyhow::Result<F::Output> {
    tokio::pin!(future);
    loop {
        match tokio::time::timeout(timeout, &mut future).await {
            Ok(output) => return Ok(output),
            Err(_) if connection.status().blocked() => {
                debug!("still {what}: the broker blocks the connection");
            }
            Err(_) => bail!("the broker did not answer within {timeout:?} while {what}"),
        }
    }
}

/// Sleeps until `at`, or forever when there is nothing to wait for.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Session {
    /// Connects, opens a channel, declares the exchange and enables confirms,
    /// each step bounded by `settings.timeout`. Counts the connection in
    /// `stats.connections` as soon as it is made.
    pub(super) async fn open(
        settings: &AmqpSettings,
        uri: &AMQPUri,
        store: &Store,
        stats: &Arc<PublisherStats>,
    ) -> anyhow::Result<Session> {
        let timeout = settings.timeout;
        let properties =
            ConnectionProperties::default().with_connection_name("librarywire publisher".into());
        let connection = bounded(
            timeout,
            "connecting",
            Connection::connect_uri(uri.clone(), properties),
        )
        .await?
        .with_context(|| format!("connecting to {}", endpoint(uri)))?;
        stats.connections.fetch_add(1, Ordering::Relaxed);
        // The events only wake the loop: a `connection.blocked` that came
        // before this subscription is still in the connection's status.
        let events = connection.events_listener().boxed();
        let channel = bounded_on(
            &connection,
            timeout,
            "opening a channel",
            connection.create_channel(),
        )
        .await?
        .context("opening a channel")?;
        // Durable topic, no arguments: exactly what DESIGN.md promises, so
        // operators and consumers can declare the same exchange without a clash.
        bounded_on(
            &connection,
            timeout,
            "declaring the exchange",
            channel.exchange_declare(
                settings.exchange.as_str().into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            ),
        )
        .await?
        .with_context(|| {
            format!(
                "declaring exchange `{}` as a durable topic exchange",
                settings.exchange
            )
        })?;
        if let Some(queue) = &settings.queue {
            declare_queue(&connection, &channel, timeout, queue, &settings.exchange).await?;
        }
        bounded_on(
            &connection,
            timeout,
            "enabling publisher confirms",
            channel.confirm_select(ConfirmSelectOptions::default()),
        )
        .await?
        .context("enabling publisher confirms")?;
        let blocked = connection.status().blocked();
        Ok(Session {
            connection,
            channel,
            events,
            store: store.clone(),
            stats: stats.clone(),
            exchange: settings.exchange.clone(),
            timeout,
            window: Window::new(settings.confirm_window, settings.max_backoff),
            pending: FuturesUnordered::new(),
            // Stand-ins until `pump` brings the supervisor's.
            acked: Acked::new(settings.max_backoff),
            reader: Reader::default(),
            returns: ReturnLog::default(),
            maybe_more: true,
            notices_open: true,
            blocked,
        })
    }

    /// Drains the outbox until `shutdown` (returns `Ok`) or the first error.
    /// On shutdown it waits a bounded time for the confirms in flight and
    /// closes the connection; anything unconfirmed stays in the outbox.
    /// `kept` is the supervisor's, given back with the outcome for the next
    /// session.
    pub(super) async fn pump(
        mut self,
        kept: Kept,
        notices: &mut watch::Receiver<u64>,
        shutdown: &CancellationToken,
    ) -> (anyhow::Result<()>, Kept) {
        self.acked = kept.acked;
        self.returns = kept.returns;
        // This session reads the outbox from its lowest pending row: what
        // the last one had acked leaves it first (or holds publishing).
        self.flush().await;
        let result = self
            .pump_inner(notices, shutdown)
            .await
            .map_err(|err| self.with_root_cause(err));
        if result.is_ok() {
            self.finish().await;
        } else {
            // The broker acked these before the failure; removing them spares
            // consumers needless duplicates. If the store cannot, the next
            // session retries before it sends anything.
            self.flush().await;
        }
        let kept = Kept {
            acked: self.acked,
            returns: self.returns,
        };
        (result, kept)
    }

    async fn pump_inner(
        &mut self,
        notices: &mut watch::Receiver<u64>,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        let mut fallback = tokio::time::interval(FALLBACK_POLL);
        fallback.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if shutdown.is_cancelled() {
                return Ok(());
            }
            let now = Instant::now();
            // lapin records `connection.blocked` in the connection status before
            // it emits the event, so the status is the truth; events only wake us.
            let blocked = self.connection.status().blocked();
            if self.blocked && !blocked {
                // While blocked nothing was written (lapin holds every frame and
                // RabbitMQ stops reading), so confirms could not come; they get
                // a full timeout again from now.
                self.window.restart_clocks(now);
            }
            self.blocked = blocked;
            self.window.promote_due(now);
            self.acked.start(&self.store);
            // While the store cannot remove what was confirmed, nothing new
            // is sent: every row sent would be one more to send again.
            if !self.blocked && !self.acked.held() {
                self.fill();
                self.send_ready(shutdown).await?;
                self.acked.start(&self.store);
            }
            // While blocked a confirm cannot be late, for the same reason.
            let deadline = if self.blocked {
                None
            } else {
                self.window.oldest_send().map(|(at, _)| at + self.timeout)
            };
            let retry = self.window.next_retry();
            let removal_retry = self.acked.retry_at();
            let removal_due = self.acked.due_at();
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                Some((seq, result)) = self.pending.next() => {
                    self.on_confirm(seq, result)?;
                }
                read = self.reader.done(), if self.reader.reading() => {
                    // A full page: there may be more (a notice that came
                    // during the read has set this already).
                    self.maybe_more |= read?;
                }
                () = self.acked.removed(&self.stats), if self.acked.removing() => {}
                changed = notices.changed(), if self.notices_open => {
                    match changed {
                        Ok(()) => self.maybe_more = true,
                        // The store is gone; the fallback poll still finds any row.
                        Err(_) => self.notices_open = false,
                    }
                }
                _ = fallback.tick() => {
                    self.maybe_more = true;
                    self.check_alive()?;
                }
                event = self.events.next() => on_event(event)?,
                _ = sleep_until(deadline) => {
                    let (event_id, routing_key) = self.oldest_in_flight();
                    bail!(
                        "the broker did not confirm event {event_id} (routing key {routing_key}) within {:?}",
                        self.timeout
                    );
                }
                _ = sleep_until(retry) => {}
                _ = sleep_until(removal_retry) => {}
                _ = sleep_until(removal_due) => {}
            }
        }
    }

    /// Adds the connection's own error to `err`, when lapin reported one.
    ///
    /// When the socket dies, the call that notices first often fails with a
    /// bare "invalid channel state"; the real cause (an I/O error, a missed
    /// heartbeat, a close by the broker) arrives as a connection event.
    fn with_root_cause(&mut self, err: anyhow::Error) -> anyhow::Error {
        if err.chain().any(is_io) {
            return err;
        }
        while let Some(Some(event)) = self.events.next().now_or_never() {
            if let Event::Error(cause) = event {
                return err.context(format!("the connection to the broker failed ({cause})"));
            }
        }
        err
    }

    /// Fills the window's room from the rows read ahead, and starts reading
    /// more when the outbox may have more and no read is under way. The read
    /// runs beside the publishes and confirms; its rows wait in the
    /// [`Reader`] until the window has room, so a confirm's place is taken
    /// at once, without a store round trip.
    ///
    /// The window and the rows ahead hold at most two windows' worth; a
    /// read starts once they hold a window and a half or less, so each read
    /// is of half a window or more while messages flow.
    fn fill(&mut self) {
        let room = self.window.room();
        if room > 0 {
            self.window.take_rows(self.reader.take(room));
        }
        if !self.maybe_more || self.reader.reading() {
            return;
        }
        let capacity = self.window.capacity();
        let held = self.window.len() + self.reader.ahead();
        if held > capacity + capacity / 2 {
            return;
        }
        // A short read means the outbox is drained up to the read; new rows
        // come with a change notice (or the fallback poll), which may come
        // while the read runs and sets this again.
        self.maybe_more = false;
        let after = self.reader.last_seq().unwrap_or(self.window.cursor());
        self.reader.start(&self.store, after, 2 * capacity - held);
    }

    /// Publishes every ready row in seq order, each publish bounded by the timeout.
    async fn send_ready(&mut self, shutdown: &CancellationToken) -> anyhow::Result<()> {
        while let Some(message) = self.window.next_ready() {
            if self.connection.status().blocked() || self.acked.held() {
                break;
            }
            let seq = message.seq;
            if let Some(problem) = unpublishable(message) {
                // The broker could never take this row, so waiting for it would
                // stall the outbox forever. It stays in the outbox (visible in its
                // depth) and is skipped in this session; the next one logs it again.
                tracing::error!(
                    seq,
                    event_id = %message.event_id,
                    "outbox message cannot be published: {problem}; skipping it"
                );
                self.window.skip(seq);
                continue;
            }
            // A copy, so the window stays free to take confirms while the publish waits.
            let message = message.clone();
            let confirm = self.publish(&message, shutdown).await?;
            self.window.mark_sent(seq, Instant::now());
            self.pending
                .push(async move { (seq, confirm.await) }.boxed());
        }
        Ok(())
    }

    /// Publishes `message` and waits for it to be written out, at most the
    /// timeout — except while the broker has blocked the connection: lapin
    /// writes nothing then, so the publish legitimately waits for the unblock,
    /// however long the broker takes (shutdown still ends the wait). Meanwhile
    /// confirms of earlier publishes and connection events are handled as usual.
    async fn publish(
        &mut self,
        message: &OutboxMessage,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<PublisherConfirm> {
        // A handle of its own, so the publish does not hold `self` while the
        // confirms that come meanwhile are settled.
        let channel = self.channel.clone();
        let publish = channel.basic_publish(
            self.exchange.as_str().into(),
            message.routing_key.as_str().into(),
            BasicPublishOptions {
                mandatory: true,
                immediate: false,
            },
            &message.body,
            properties(message),
        );
        tokio::pin!(publish);
        let timeout = self.timeout;
        let clock = tokio::time::sleep(timeout);
        tokio::pin!(clock);
        let written = loop {
            let removal_due = self.acked.due_at();
            tokio::select! {
                biased;
                output = &mut publish => break output,
                Some((seq, result)) = self.pending.next() => {
                    self.on_confirm(seq, result)?;
                    self.acked.start(&self.store);
                }
                () = self.acked.removed(&self.stats), if self.acked.removing() => {
                    self.acked.start(&self.store);
                }
                _ = sleep_until(removal_due) => self.acked.start(&self.store),
                event = self.events.next() => on_event(event)?,
                _ = &mut clock => {
                    if !self.connection.status().blocked() {
                        bail!("the broker did not answer within {timeout:?} while publishing");
                    }
                    if shutdown.is_cancelled() {
                        bail!("shutting down while the broker blocks publishing; the publish is abandoned");
                    }
                    debug!("a publish still waits for the broker to unblock the connection");
                    clock.as_mut().reset(Instant::now() + timeout);
                }
            }
        };
        written.with_context(|| {
            format!(
                "publishing event {} with routing key {}",
                message.event_id, message.routing_key
            )
        })
    }

    /// Fails when lapin reports the connection or channel closed, which it can
    /// do without an event when the close came from our side.
    fn check_alive(&self) -> anyhow::Result<()> {
        let status = self.connection.status();
        if !status.connected() {
            bail!("the connection to the broker is no longer open: {status:?}");
        }
        if !self.channel.status().connected() {
            bail!(
                "the channel to the broker is no longer open: {:?}",
                self.channel.status()
            );
        }
        Ok(())
    }

    /// On shutdown: waits for the confirms in flight and closes the
    /// connection, both within the timeout, and removes what was confirmed.
    async fn finish(&mut self) {
        let deadline = Instant::now() + self.timeout;
        while !self.pending.is_empty() {
            tokio::select! {
                Some((seq, result)) = self.pending.next() => {
                    if let Err(err) = self.on_confirm(seq, result) {
                        debug!(error = %crate::error::error_chain(err.as_ref()), "confirm lost at shutdown; the message stays in the outbox");
                        break;
                    }
                }
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        let unconfirmed = self.window.in_flight();
        if unconfirmed > 0 {
            info!(
                unconfirmed,
                "stopping with messages unconfirmed; they stay in the outbox and are sent at next start"
            );
        }
        self.acked.remove_now(&self.store, &self.stats).await;
        // The close shares the shutdown's time budget, with a little left
        // for it even when the confirms used it all.
        let budget = deadline
            .saturating_duration_since(Instant::now())
            .max(CLOSE_AT_LEAST);
        match bounded(
            budget,
            "closing the connection",
            self.connection
                .close(200, "librarywire shutting down".into()),
        )
        .await
        {
            Ok(Ok(())) => {}
            Ok(Err(err)) => debug!(error = %err, "closing the broker connection"),
            Err(err) => debug!(error = %err, "closing the broker connection"),
        }
    }

    /// Counts a message the broker returned as unroutable, and logs it
    /// unless its routing key was logged within the last minute.
    ///
    /// `mandatory` makes the broker return a message that no queue is bound
    /// for, instead of dropping it silently; it still acks it, so the row is
    /// then removed from the outbox like any confirmed row. Sending it again
    /// would only be returned again, forever, and would hold the outbox up:
    /// the message was routed nowhere because nobody subscribed to it, which
    /// is the operators' call and is made visible here and in
    /// `stats.returned`.
    ///
    /// The event id is read from the returned message itself: lapin pairs
    /// returns with confirms by arrival order, which a `multiple` ack can blur.
    fn on_returned(&mut self, returned: &BasicReturnMessage) {
        self.stats.returned.fetch_add(1, Ordering::Relaxed);
        let routing_key = returned.delivery.routing_key.as_str();
        let Some(unlogged) = self.returns.note(routing_key, Instant::now()) else {
            return;
        };
        let event_id = returned
            .delivery
            .properties
            .message_id()
            .as_ref()
            .map(|id| id.as_str().to_owned())
            .unwrap_or_default();
        warn!(
            %event_id,
            %routing_key,
            reply_code = returned.reply_code,
            reply_text = %returned.reply_text,
            returned_since_last_report = unlogged,
            "the broker returned a message as unroutable: no queue is bound for its routing key; \
             it is not sent again. Returns with this routing key are logged once a minute and \
             counted in /metrics and /status"
        );
    }

    /// Handles the broker's answer for row `seq`, and every other answer
    /// already in, so one outbox write covers them all.
    fn on_confirm(&mut self, seq: i64, result: lapin::Result<Confirmation>) -> anyhow::Result<()> {
        self.settle(seq, result)?;
        while let Some(Some((seq, result))) = self.pending.next().now_or_never() {
            self.settle(seq, result)?;
        }
        Ok(())
    }

    fn settle(&mut self, seq: i64, result: lapin::Result<Confirmation>) -> anyhow::Result<()> {
        let now = Instant::now();
        let (event_id, routing_key) = self
            .window
            .describe(seq)
            .map(|(e, r)| (e.to_owned(), r.to_owned()))
            .unwrap_or_default();
        match result {
            Ok(Confirmation::Ack(returned)) => {
                if let Some(returned) = returned {
                    self.on_returned(&returned);
                }
                if self.window.settle(seq, Outcome::Ack, now) {
                    self.acked.push(seq);
                    self.stats.confirmed.fetch_add(1, Ordering::Relaxed);
                    // The moment of the confirm, for tracing and for the
                    // publish latency benchmark (`benches/publish.rs`), which
                    // listens for this target.
                    tracing::trace!(target: CONFIRMED_TARGET, %event_id, "the broker confirmed the event");
                }
            }
            Ok(Confirmation::Nack(returned)) => {
                if let Some(returned) = returned {
                    self.on_returned(&returned);
                }
                if self.window.settle(seq, Outcome::Nack, now) {
                    self.stats.nacked.fetch_add(1, Ordering::Relaxed);
                    warn!(
                        %event_id,
                        %routing_key,
                        "the broker refused (nacked) a message; it will be sent again"
                    );
                }
            }
            Ok(Confirmation::NotRequested) => {
                bail!("the channel is not in confirm mode, so event {event_id} cannot be confirmed")
            }
            Err(err) => {
                return Err(err).with_context(|| {
                    format!("waiting for the broker to confirm event {event_id} (routing key {routing_key})")
                });
            }
        }
        Ok(())
    }

    /// Removes the rows the broker acked from the outbox, when the store
    /// lets it, and waits for it; see [`Acked`].
    async fn flush(&mut self) {
        self.acked.remove(&self.store, &self.stats).await;
    }

    /// Event id and routing key of the oldest row in flight, for a timeout message.
    fn oldest_in_flight(&mut self) -> (String, String) {
        self.window
            .oldest_send()
            .and_then(|(_, seq)| self.window.describe(seq))
            .map(|(e, r)| (e.to_owned(), r.to_owned()))
            .unwrap_or_else(|| ("?".to_owned(), "?".to_owned()))
    }
}

/// Declares `amqp.queue`: a durable quorum queue, bound to the exchange with
/// `item.#`, so every item event reaches it and survives the loss of any one
/// node of a three-node cluster.
async fn declare_queue(
    connection: &Connection,
    channel: &Channel,
    timeout: Duration,
    queue: &str,
    exchange: &str,
) -> anyhow::Result<()> {
    let mut arguments = FieldTable::default();
    arguments.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    bounded_on(
        connection,
        timeout,
        "declaring the queue",
        channel.queue_declare(
            queue.into(),
            QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            },
            arguments,
        ),
    )
    .await?
    .with_context(|| {
        format!(
            "declaring queue `{queue}` (amqp.queue) as a durable quorum queue; \
             a queue of that name declared otherwise must be deleted first"
        )
    })?;
    bounded_on(
        connection,
        timeout,
        "binding the queue",
        channel.queue_bind(
            queue.into(),
            exchange.into(),
            ITEM_EVENTS.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        ),
    )
    .await?
    .with_context(|| {
        format!("binding queue `{queue}` to exchange `{exchange}` with `{ITEM_EVENTS}`")
    })?;
    Ok(())
}

/// Handles a connection event: logs blocking and unblocking, fails on an error.
fn on_event(event: Option<Event>) -> anyhow::Result<()> {
    match event {
        Some(Event::ConnectionBlocked(reason)) => {
            warn!(%reason, "the broker blocked publishing; waiting until it unblocks");
        }
        Some(Event::ConnectionUnblocked) => info!("the broker unblocked publishing"),
        Some(Event::Error(err)) => {
            return Err(err).context("the connection to the broker failed");
        }
        Some(other) => debug!(event = ?other, "broker connection event"),
        None => bail!("the connection's event stream ended"),
    }
    Ok(())
}

/// Whether `cause` is a lapin I/O error, which already names the root cause.
fn is_io(cause: &(dyn std::error::Error + 'static)) -> bool {
    cause
        .downcast_ref::<lapin::Error>()
        .is_some_and(|e| e.is_io_error())
}

/// The outbox read under way, at most one: a task of its own, so that
/// the publishes and confirms go on while the store reads; and the rows
/// read that the window has no room for yet.
#[derive(Default)]
struct Reader {
    reading: Option<Reading>,
    /// Read and not yet in the window, in seq order, all after its cursor.
    ahead: VecDeque<OutboxMessage>,
}

struct Reading {
    limit: usize,
    task: JoinHandle<anyhow::Result<Vec<OutboxMessage>>>,
}

impl Reader {
    fn reading(&self) -> bool {
        self.reading.is_some()
    }

    /// How many rows wait for the window.
    fn ahead(&self) -> usize {
        self.ahead.len()
    }

    /// The seq of the last row read ahead, after which the next read starts.
    fn last_seq(&self) -> Option<i64> {
        self.ahead.back().map(|m| m.seq)
    }

    /// Up to `n` of the rows read ahead, the oldest first.
    fn take(&mut self, n: usize) -> Vec<OutboxMessage> {
        let n = n.min(self.ahead.len());
        self.ahead.drain(..n).collect()
    }

    /// Starts reading up to `limit` outbox rows after `after`.
    fn start(&mut self, store: &Store, after: i64, limit: usize) {
        debug_assert!(self.reading.is_none(), "one outbox read at a time");
        let store = store.clone();
        let task = tokio::spawn(async move {
            store
                .outbox_pending(after, limit)
                .await
                .with_context(|| format!("reading the outbox after seq {after}"))
        });
        self.reading = Some(Reading { limit, task });
    }

    /// Waits for the read under way (forever when there is none) and keeps
    /// its rows; says whether it filled its limit. Cancel-safe.
    async fn done(&mut self) -> anyhow::Result<bool> {
        let Some(reading) = self.reading.as_mut() else {
            return std::future::pending().await;
        };
        let joined = (&mut reading.task).await;
        let limit = reading.limit;
        self.reading = None;
        let rows = joined.context("reading the outbox")??;
        let full = rows.len() == limit;
        self.ahead.extend(rows);
        Ok(full)
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        // A session that ends drops its read; the next one reads again.
        if let Some(reading) = &self.reading {
            reading.task.abort();
        }
    }
}
