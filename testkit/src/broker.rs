//! The real broker as a test sees it: a connection that says how to start
//! RabbitMQ when none answers, names no two tests share, and a test's own
//! exchange and queue with a consumer.

use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, ExchangeDeclareOptions, ExchangeDeleteOptions,
    QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ConnectionProperties, Consumer, ExchangeKind};
use std::time::Duration;

/// The broker every test uses, directly or through a [`crate::Proxy`].
pub const BROKER_ADDR: &str = "127.0.0.1:5672";

/// How long a test waits for a message that should come well before.
/// Only a guard against hanging: no test asserts how fast anything is.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// The URL of the broker (guest/guest, the default vhost).
pub fn broker_url() -> String {
    format!("amqp://guest:guest@{BROKER_ADDR}/%2f")
}

/// Connects to `url`, or fails the test saying how to start a broker.
pub async fn connect(url: &str) -> Connection {
    let attempt = tokio::time::timeout(
        Duration::from_secs(10),
        Connection::connect(url, ConnectionProperties::default()),
    )
    .await;
    let why = match attempt {
        Ok(Ok(connection)) => return connection,
        Ok(Err(err)) => err.to_string(),
        Err(_) => "no answer within 10 s".to_owned(),
    };
    panic!(
        "RabbitMQ is not answering at {url} ({why}). These tests need a real broker \
         (guest/guest): start one with `rabbitmq-server -detached`, or run the tests with \
         scripts/test, which starts it."
    )
}

/// A name no other test (or earlier run) uses, for an exchange or a queue.
pub fn unique(tag: &str) -> String {
    format!("librarywire-test-{tag}-{:016x}", rand::random::<u64>())
}

/// One test's exchange and queue on the real broker, and the connection that owns them.
pub struct TestQueue {
    connection: Connection,
    channel: Channel,
    /// The exchange the code under test publishes to.
    pub exchange: String,
    /// The queue bound to it, `{exchange}-q`.
    pub queue: String,
}

impl TestQueue {
    /// A fresh exchange named after `tag` with a queue bound with `binding`.
    pub async fn new(tag: &str, binding: &str, queue_args: FieldTable) -> TestQueue {
        TestQueue::declare(&unique(tag), binding, queue_args).await
    }

    /// Declares `exchange` exactly as the daemon does (durable topic, no
    /// arguments) and an exclusive queue with `queue_args`, bound with `binding`.
    pub async fn declare(exchange: &str, binding: &str, queue_args: FieldTable) -> TestQueue {
        let options = QueueDeclareOptions {
            exclusive: true,
            auto_delete: true,
            ..QueueDeclareOptions::default()
        };
        TestQueue::declare_at(&broker_url(), exchange, binding, options, queue_args).await
    }

    /// Through the node at `url`: `exchange` as the daemon declares it, and
    /// `{exchange}-q` as the daemon declares `amqp.queue` (a durable quorum
    /// queue), bound with `binding`. It outlives the connection: [`TestQueue::delete`] it.
    pub async fn quorum(url: &str, exchange: &str, binding: &str) -> TestQueue {
        let options = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        let mut arguments = FieldTable::default();
        arguments.insert(
            "x-queue-type".into(),
            AMQPValue::LongString("quorum".into()),
        );
        TestQueue::declare_at(url, exchange, binding, options, arguments).await
    }

    async fn declare_at(
        url: &str,
        exchange: &str,
        binding: &str,
        options: QueueDeclareOptions,
        queue_args: FieldTable,
    ) -> TestQueue {
        let connection = connect(url).await;
        let channel = connection.create_channel().await.expect("a test channel");
        let queue = format!("{exchange}-q");
        channel
            .exchange_declare(
                exchange.into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("declaring the test exchange");
        channel
            .queue_declare(queue.as_str().into(), options, queue_args)
            .await
            .expect("declaring the test queue");
        let test_queue = TestQueue {
            connection,
            channel,
            exchange: exchange.to_owned(),
            queue,
        };
        test_queue.bind(binding).await;
        test_queue
    }

    /// Binds the queue to the exchange (again) with `binding`.
    pub async fn bind(&self, binding: &str) {
        self.channel
            .queue_bind(
                self.queue.as_str().into(),
                self.exchange.as_str().into(),
                binding.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("binding the test queue");
    }

    /// Starts consuming the queue; each message is acked as it is taken.
    pub async fn consume(&self) -> Deliveries {
        let consumer = self
            .channel
            .basic_consume(
                self.queue.as_str().into(),
                "librarywire-test".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("consuming the test queue");
        Deliveries { consumer }
    }

    /// Deletes the exchange only, as an operator's mistake would; the
    /// queue's binding goes with it. Durable exchanges outlive the test
    /// otherwise, and would pile up in the broker run after run.
    pub async fn delete_exchange(&self) {
        self.channel
            .exchange_delete(
                self.exchange.as_str().into(),
                ExchangeDeleteOptions::default(),
            )
            .await
            .expect("deleting the test exchange");
    }

    /// Deletes the queue and the exchange, and closes the connection.
    pub async fn delete(self) {
        let _ = self
            .channel
            .queue_delete(self.queue.as_str().into(), QueueDeleteOptions::default())
            .await;
        let _ = self
            .channel
            .exchange_delete(
                self.exchange.as_str().into(),
                ExchangeDeleteOptions::default(),
            )
            .await;
        let _ = self.connection.close(200, "test done".into()).await;
    }
}

/// Messages arriving in a [`TestQueue`].
pub struct Deliveries {
    consumer: Consumer,
}

impl Deliveries {
    /// The next message, or `None` when none comes within `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Delivery> {
        let delivery = tokio::time::timeout(wait, self.consumer.next())
            .await
            .ok()?
            .expect("the test consumer was cancelled")
            .expect("the test consumer failed");
        delivery
            .ack(BasicAckOptions::default())
            .await
            .expect("acking a test message");
        Some(delivery)
    }

    /// The next message, failing the test if none comes within [`PATIENCE`].
    pub async fn next(&mut self) -> Delivery {
        match self.next_within(PATIENCE).await {
            Some(delivery) => delivery,
            None => panic!("no message from the broker within {PATIENCE:?}"),
        }
    }

    /// Exactly the next `n` messages, each within [`PATIENCE`].
    pub async fn take(&mut self, n: usize) -> Vec<Delivery> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            match self.next_within(PATIENCE).await {
                Some(delivery) => out.push(delivery),
                None => panic!("got {} of {n} messages within {PATIENCE:?}", out.len()),
            }
        }
        out
    }

    /// Everything that arrives within `wait`.
    pub async fn drain_for(&mut self, wait: Duration) -> Vec<Delivery> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut out = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return out;
            }
            match self.next_within(left).await {
                Some(delivery) => out.push(delivery),
                None => return out,
            }
        }
    }
}

/// The `message_id` of a delivery; fails the test when it has none.
pub fn message_id(delivery: &Delivery) -> String {
    delivery
        .properties
        .message_id()
        .as_ref()
        .map(|id| id.as_str().to_owned())
        .unwrap_or_else(|| panic!("a delivery without message_id: {delivery:?}"))
}
