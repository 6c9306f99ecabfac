//! The real broker, seen from a test: a consumer queue bound to a test's own
//! exchange. The queue and the proxy that stages outages come from the broker
//! test kit (`librarywire_testkit`), which the publisher's unit tests share;
//! this file only turns a delivery into what these tests assert on.

use lapin::message::Delivery;
use lapin::types::FieldTable;
use librarywire_testkit::Deliveries;
pub use librarywire_testkit::Proxy;
use std::time::Duration;

/// The broker every publishing test talks to.
pub const BROKER: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// One message as a consumer sees it.
#[derive(Debug, Clone)]
pub struct Received {
    pub routing_key: String,
    pub message_id: Option<String>,
    pub content_type: Option<String>,
    pub delivery_mode: Option<u8>,
    pub app_id: Option<String>,
    pub timestamp: Option<u64>,
    /// The `x-duplicate-of` header, when the message has it.
    pub duplicate_of: Option<String>,
    pub body: serde_json::Value,
}

impl From<Delivery> for Received {
    fn from(delivery: Delivery) -> Received {
        let p = &delivery.properties;
        Received {
            routing_key: delivery.routing_key.to_string(),
            message_id: p.message_id().as_ref().map(|s| s.to_string()),
            content_type: p.content_type().as_ref().map(|s| s.to_string()),
            delivery_mode: *p.delivery_mode(),
            app_id: p.app_id().as_ref().map(|s| s.to_string()),
            timestamp: *p.timestamp(),
            duplicate_of: p.headers().as_ref().and_then(|h| {
                match h.inner().get("x-duplicate-of")? {
                    lapin::types::AMQPValue::LongString(s) => Some(s.to_string()),
                    other => Some(format!("{other:?}")),
                }
            }),
            body: serde_json::from_slice(&delivery.data).expect("the body is JSON"),
        }
    }
}

/// A queue of the test's own, bound to an exchange with a pattern.
pub struct TestQueue {
    queue: librarywire_testkit::TestQueue,
    deliveries: Deliveries,
}

/// A unique exchange name for one test.
pub fn test_exchange(test: &str) -> String {
    librarywire_testkit::unique(test)
}

/// The `[amqp]` table of a test config that publishes to `exchange` at `url`.
pub fn amqp_toml(url: &str, exchange: &str) -> String {
    format!(
        "[amqp]\nurl = \"{url}\"\nexchange = \"{exchange}\"\ntimeout = \"5s\"\nmax_backoff = \"1s\"\n"
    )
}

impl TestQueue {
    /// Declares `exchange` as the daemon does (durable topic, no arguments),
    /// and an exclusive queue bound with `pattern`, and consumes it.
    pub async fn bind(exchange: &str, pattern: &str) -> TestQueue {
        let queue =
            librarywire_testkit::TestQueue::declare(exchange, pattern, FieldTable::default()).await;
        let deliveries = queue.consume().await;
        TestQueue { queue, deliveries }
    }

    /// Deletes the test's exchange: durable exchanges outlive the test
    /// otherwise, and would pile up in the broker run after run.
    pub async fn delete_exchange(self) {
        self.queue.delete().await;
    }

    /// Exactly `n` messages, each within the test's patience.
    pub async fn take(&mut self, n: usize) -> Vec<Received> {
        let taken = self.deliveries.take(n).await;
        taken.into_iter().map(Received::from).collect()
    }

    /// Everything that arrives within `wait`.
    pub async fn drain_for(&mut self, wait: Duration) -> Vec<Received> {
        let drained = self.deliveries.drain_for(wait).await;
        drained.into_iter().map(Received::from).collect()
    }
}
