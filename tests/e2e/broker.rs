//! The real broker, seen from a test: a consumer queue bound to a test's own
//! exchange, and a TCP proxy that can cut or mute the daemon's connection.

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties, ExchangeKind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
    pub body: serde_json::Value,
}

/// A queue of the test's own, bound to `exchange` with `pattern`.
pub struct TestQueue {
    _connection: Connection,
    channel: lapin::Channel,
    exchange: String,
    consumer: lapin::Consumer,
}

/// A unique exchange name for one test.
pub fn test_exchange(test: &str) -> String {
    format!("librarywire.test.{test}.{}", crate::helpers::rand_suffix())
}

/// The `[amqp]` table of a test config that publishes to `exchange` at `url`.
pub fn amqp_toml(url: &str, exchange: &str) -> String {
    format!(
        "[amqp]\nurl = \"{url}\"\nexchange = \"{exchange}\"\ntimeout = \"5s\"\nmax_backoff = \"1s\"\n"
    )
}

impl TestQueue {
    /// Declares `exchange` as the daemon does (durable topic, no arguments),
    /// and an exclusive queue bound with `pattern`.
    pub async fn bind(exchange: &str, pattern: &str) -> TestQueue {
        let connection = match Connection::connect(BROKER, ConnectionProperties::default()).await {
            Ok(c) => c,
            Err(e) => panic!(
                "RabbitMQ does not answer at 127.0.0.1:5672 ({e}). Start it with `rabbitmq-server -detached`, or run the tests with scripts/test, which starts it."
            ),
        };
        let channel = connection.create_channel().await.unwrap();
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
            .unwrap();
        let queue = channel
            .queue_declare(
                "".into(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        channel
            .queue_bind(
                queue.name().clone(),
                exchange.into(),
                pattern.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        let consumer = channel
            .basic_consume(
                queue.name().clone(),
                "librarywire-test".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        TestQueue {
            _connection: connection,
            channel,
            exchange: exchange.to_owned(),
            consumer,
        }
    }

    /// Deletes the test's exchange: durable exchanges outlive the test
    /// otherwise, and would pile up in the broker run after run.
    pub async fn delete_exchange(self) {
        self.channel
            .exchange_delete(
                self.exchange.as_str().into(),
                lapin::options::ExchangeDeleteOptions::default(),
            )
            .await
            .unwrap();
    }

    /// The next message, or `None` after `wait`.
    pub async fn next(&mut self, wait: Duration) -> Option<Received> {
        let delivery = tokio::time::timeout(wait, self.consumer.next())
            .await
            .ok()??
            .unwrap();
        delivery.ack(BasicAckOptions::default()).await.unwrap();
        let p = &delivery.properties;
        Some(Received {
            routing_key: delivery.routing_key.to_string(),
            message_id: p.message_id().as_ref().map(|s| s.to_string()),
            content_type: p.content_type().as_ref().map(|s| s.to_string()),
            delivery_mode: *p.delivery_mode(),
            app_id: p.app_id().as_ref().map(|s| s.to_string()),
            timestamp: *p.timestamp(),
            body: serde_json::from_slice(&delivery.data).expect("the body is JSON"),
        })
    }

    /// Exactly `n` messages, each within the test's patience.
    pub async fn take(&mut self, n: usize) -> Vec<Received> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            match self.next(crate::helpers::PATIENCE).await {
                Some(m) => out.push(m),
                None => panic!("got {} of {n} messages", out.len()),
            }
        }
        out
    }

    /// Everything that arrives within `wait`.
    pub async fn drain_for(&mut self, wait: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut out = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return out;
            }
            match self.next(left).await {
                Some(m) => out.push(m),
                None => return out,
            }
        }
    }
}

/// A TCP proxy to the broker that a test can mute: while muted, what the
/// broker sends (confirms included) is dropped, while what the daemon sends
/// still reaches the broker.
#[derive(Clone)]
pub struct MuteProxy {
    pub port: u16,
    muted: Arc<AtomicBool>,
    connections: Arc<AtomicUsize>,
}

impl MuteProxy {
    pub async fn start() -> MuteProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let muted = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(AtomicUsize::new(0));
        let (m, c) = (muted.clone(), connections.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                c.fetch_add(1, Ordering::SeqCst);
                let muted = m.clone();
                tokio::spawn(async move {
                    let Ok(broker) = tokio::net::TcpStream::connect("127.0.0.1:5672").await else {
                        return;
                    };
                    let (mut client_read, mut client_write) = client.into_split();
                    let (mut broker_read, mut broker_write) = broker.into_split();
                    let upstream = tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut client_read, &mut broker_write).await;
                    });
                    let mut buf = vec![0u8; 16 * 1024];
                    loop {
                        let n = match broker_read.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if muted.load(Ordering::SeqCst) {
                            continue;
                        }
                        if client_write.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    upstream.abort();
                });
            }
        });
        MuteProxy {
            port,
            muted,
            connections,
        }
    }

    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    pub fn mute(&self) {
        self.muted.store(true, Ordering::SeqCst);
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}
