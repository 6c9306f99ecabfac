//! A downstream consumer of librarywire's exchange: declares a queue, binds
//! it with a routing-key pattern, and prints each event once.
//!
//! ```sh
//! cargo run --example consume -- --pattern 'item.new.*'
//! cargo run --example consume -- --queue my-service --pattern '*.*.ifla-news'
//! ```
//!
//! Delivery is at least once, so the consumer drops duplicates by
//! `message_id`: here with an in-memory set of the ids seen lately (a real
//! service keeps that set in its own database, beside what it does with the
//! event, so dedup survives its restarts).

use clap::Parser;
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicQosOptions, ExchangeDeclareOptions,
    QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties, ExchangeKind};
use std::collections::{HashSet, VecDeque};

/// Print librarywire's events.
#[derive(Debug, Parser)]
struct Args {
    /// The broker.
    #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    url: String,
    /// librarywire's exchange (`amqp.exchange`).
    #[arg(long, default_value = "library.news")]
    exchange: String,
    /// A durable queue of this name; a temporary one when omitted.
    #[arg(long)]
    queue: Option<String>,
    /// Routing-key pattern: `item.#`, `item.new.*`, `item.updated.*`, `*.*.<source-id>`.
    #[arg(long, default_value = "item.#")]
    pattern: String,
}

/// How many recent message ids are remembered for dropping duplicates.
const DEDUP_WINDOW: usize = 100_000;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let connection = Connection::connect(&args.url, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
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
    let options = match &args.queue {
        Some(_) => QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        },
        None => QueueDeclareOptions {
            exclusive: true,
            auto_delete: true,
            ..QueueDeclareOptions::default()
        },
    };
    let queue = channel
        .queue_declare(
            args.queue.clone().unwrap_or_default().as_str().into(),
            options,
            FieldTable::default(),
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
    let mut consumer = channel
        .basic_consume(
            queue.name().clone(),
            "librarywire-example".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    eprintln!(
        "consuming {} from exchange {} with pattern {}",
        queue.name(),
        args.exchange,
        args.pattern
    );

    let mut seen = HashSet::new();
    let mut order = VecDeque::new();
    while let Some(delivery) = consumer.next().await {
        let delivery = delivery?;
        let id = delivery
            .properties
            .message_id()
            .as_ref()
            .map(|s| s.to_string())
            .unwrap_or_default();
        if seen.insert(id.clone()) {
            order.push_back(id.clone());
            if order.len() > DEDUP_WINDOW
                && let Some(old) = order.pop_front()
            {
                seen.remove(&old);
            }
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
        // Ack after the work is done: a crash before this line means the
        // broker delivers the event again, and the dedup above absorbs it.
        delivery.ack(BasicAckOptions::default()).await?;
    }
    Ok(())
}
