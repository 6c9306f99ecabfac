//! A downstream consumer of librarywire's exchange: declares a queue, binds
//! it with a routing-key pattern, and prints each event once. Given the nodes
//! of a cluster, it fails over between them as the daemon does.
//!
//! ```sh
//! cargo run --example consume -- --pattern 'item.new.*'
//! cargo run --example consume -- --queue my-service --pattern '*.*.ifla-news'
//! cargo run --example consume -- --queue my-service \
//!     --url amqp://guest:guest@127.0.0.1:5701/%2f,amqp://guest:guest@127.0.0.1:5702/%2f
//! ```
//!
//! A named queue is a durable **quorum** queue: on a three-node cluster it
//! survives the loss of any one node. Delivery is at least once, and a
//! failover makes duplicates certain (what was delivered but not yet acked on
//! the lost connection comes again, and the publisher resends what it had not
//! seen confirmed), so the consumer drops duplicates by `message_id`: here
//! with an in-memory set of the ids seen lately, kept across reconnections (a
//! real service keeps that set in its own database, beside what it does with
//! the event, so dedup survives its restarts too).

use clap::Parser;
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicQosOptions, ExchangeDeclareOptions,
    QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ConnectionProperties, Consumer, ExchangeKind};
use std::collections::{HashSet, VecDeque};
use std::time::Duration;

/// Print librarywire's events.
#[derive(Debug, Parser)]
struct Args {
    /// The broker, or the nodes of a cluster, comma-separated; tried in turn.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    url: Vec<String>,
    /// librarywire's exchange (`amqp.exchange`).
    #[arg(long, default_value = "library.news")]
    exchange: String,
    /// A durable quorum queue of this name; a temporary one when omitted.
    #[arg(long)]
    queue: Option<String>,
    /// Routing-key pattern: `item.#`, `item.new.*`, `item.updated.*`, `*.*.<source-id>`.
    #[arg(long, default_value = "item.#")]
    pattern: String,
}

/// How many recent message ids are remembered for dropping duplicates.
const DEDUP_WINDOW: usize = 100_000;

/// The pause after every node has failed once, before the next round.
const ROUND_PAUSE: Duration = Duration::from_secs(2);

/// The message ids seen lately.
#[derive(Default)]
struct Seen {
    ids: HashSet<String>,
    order: VecDeque<String>,
}

impl Seen {
    /// Whether `id` is new; remembers it.
    fn first_time(&mut self, id: &str) -> bool {
        if !self.ids.insert(id.to_owned()) {
            return false;
        }
        self.order.push_back(id.to_owned());
        if self.order.len() > DEDUP_WINDOW
            && let Some(old) = self.order.pop_front()
        {
            self.ids.remove(&old);
        }
        true
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let mut seen = Seen::default();
    let mut failed_in_row = 0;
    for node in (0..args.url.len()).cycle() {
        let url = &args.url[node];
        let shown = without_credentials(url);
        let stopped = consume(url, &args, &mut seen).await;
        eprintln!("node {shown}: {stopped}; trying the next node");
        failed_in_row += 1;
        if failed_in_row >= args.url.len() {
            failed_in_row = 0;
            tokio::time::sleep(ROUND_PAUSE).await;
        }
    }
    unreachable!("cycle() never ends")
}

/// Consumes through the node at `url` until its connection fails; why it stopped.
async fn consume(url: &str, args: &Args, seen: &mut Seen) -> Box<dyn std::error::Error> {
    match consume_until_error(url, args, seen).await {
        Ok(()) => "the broker ended the consumer".into(),
        Err(e) => e,
    }
}

async fn consume_until_error(
    url: &str,
    args: &Args,
    seen: &mut Seen,
) -> Result<(), Box<dyn std::error::Error>> {
    let connection = Connection::connect(url, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    let mut consumer = declare_and_consume(&channel, args).await?;
    eprintln!(
        "consuming from {} (exchange {}, pattern {})",
        without_credentials(url),
        args.exchange,
        args.pattern
    );
    while let Some(delivery) = consumer.next().await {
        let delivery = delivery?;
        let id = delivery
            .properties
            .message_id()
            .as_ref()
            .map(|s| s.to_string())
            .unwrap_or_default();
        if seen.first_time(&id) {
            let event: serde_json::Value = serde_json::from_slice(&delivery.data)?;
            let data = &event["data"];
            println!(
                "{} {} r{} {} <{}>",
                delivery.routing_key,
                id,
                data["revision"],
                data["title"].as_str().unwrap_or(""),
                data["url"].as_str().unwrap_or("")
            );
        } else {
            eprintln!("duplicate {id} dropped");
        }
        // Ack after the work is done: a crash or a lost node before this line
        // means the broker delivers the event again, and the dedup absorbs it.
        delivery.ack(BasicAckOptions::default()).await?;
    }
    Ok(())
}

/// Declares the exchange as librarywire does, the queue (a quorum queue when
/// named), binds it and starts consuming.
async fn declare_and_consume(channel: &Channel, args: &Args) -> lapin::Result<Consumer> {
    // The same declaration as librarywire's (durable topic, no arguments), so
    // either side may start first.
    channel
        .exchange_declare(
            args.exchange.as_str().into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    let (options, arguments) = match &args.queue {
        Some(_) => {
            // The same declaration as the daemon's `amqp.queue`.
            let mut arguments = FieldTable::default();
            arguments.insert(
                "x-queue-type".into(),
                AMQPValue::LongString("quorum".into()),
            );
            let options = QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            };
            (options, arguments)
        }
        None => {
            let options = QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..QueueDeclareOptions::default()
            };
            (options, FieldTable::default())
        }
    };
    let queue = channel
        .queue_declare(
            args.queue.clone().unwrap_or_default().as_str().into(),
            options,
            arguments,
        )
        .await?;
    channel
        .queue_bind(
            queue.name().clone(),
            args.exchange.as_str().into(),
            args.pattern.as_str().into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    channel.basic_qos(64, BasicQosOptions::default()).await?;
    channel
        .basic_consume(
            queue.name().clone(),
            "librarywire-example".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
}

/// `url` without its user and password, for messages.
fn without_credentials(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        Err(_) => "<a URL that does not parse>".to_owned(),
    }
}
