//! The AMQP side of the message contract (DESIGN.md, "The message"): the
//! properties every outbox row is published with, and the limits AMQP puts on
//! a row before the broker ever sees it. No I/O.

use crate::store::OutboxMessage;
use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable};

/// The header that names the first item of the story when the message's
/// item is a duplicate of another source's (its `data.duplicate_of`), so a
/// consumer that wants each story once can drop it without reading the body.
pub const DUPLICATE_OF_HEADER: &str = "x-duplicate-of";

/// The content type of every message: structured-mode CloudEvents JSON.
pub(super) const CONTENT_TYPE: &str = "application/cloudevents+json";

/// The `app_id` property of every message.
pub(super) const APP_ID: &str = "librarywire";

/// AMQP delivery mode 2: the broker writes the message to disk in durable queues.
const PERSISTENT: u8 = 2;

/// AMQP short strings (routing keys, message ids) hold at most this many bytes.
const SHORT_STRING_MAX: usize = 255;

/// The AMQP properties of an outbox row, as DESIGN.md fixes them.
pub(super) fn properties(message: &OutboxMessage) -> BasicProperties {
    // AMQP timestamps are unsigned seconds; a row from before 1970 is not a
    // real case, and 0 is a better answer than a wrapped number.
    let timestamp = u64::try_from(message.created_at.timestamp()).unwrap_or(0);
    let properties = BasicProperties::default()
        .with_delivery_mode(PERSISTENT)
        .with_content_type(CONTENT_TYPE.into())
        .with_message_id(message.event_id.as_str().into())
        .with_timestamp(timestamp)
        .with_app_id(APP_ID.into());
    match duplicate_of(&message.body) {
        Some(first) => {
            let mut headers = FieldTable::default();
            headers.insert(
                DUPLICATE_OF_HEADER.into(),
                AMQPValue::LongString(first.into()),
            );
            properties.with_headers(headers)
        }
        None => properties,
    }
}

/// The `data.duplicate_of` of an event body: the body is the one record of
/// it (a row written before duplicates were judged has none).
fn duplicate_of(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Event {
        data: Data,
    }
    #[derive(serde::Deserialize)]
    struct Data {
        #[serde(default)]
        duplicate_of: Option<String>,
    }
    serde_json::from_slice::<Event>(body)
        .ok()
        .and_then(|event| event.data.duplicate_of)
}

/// Why `message` can never be published, if it cannot.
pub(super) fn unpublishable(message: &OutboxMessage) -> Option<String> {
    if message.routing_key.len() > SHORT_STRING_MAX {
        return Some(format!(
            "its routing key is {} bytes long, over AMQP's {SHORT_STRING_MAX}",
            message.routing_key.len()
        ));
    }
    if message.event_id.len() > SHORT_STRING_MAX {
        return Some(format!(
            "its event id is {} bytes long, over AMQP's {SHORT_STRING_MAX}",
            message.event_id.len()
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn properties_follow_the_contract() {
        let message = OutboxMessage {
            seq: 1,
            event_id: "abc-r2".into(),
            routing_key: "item.updated.ifla-news".into(),
            body: b"{}".to_vec(),
            created_at: chrono::Utc.with_ymd_and_hms(2021, 8, 19, 8, 0, 0).unwrap(),
        };
        let p = properties(&message);
        assert_eq!(p.delivery_mode(), &Some(2));
        assert_eq!(p.content_type().as_ref().unwrap().as_str(), CONTENT_TYPE);
        assert_eq!(p.message_id().as_ref().unwrap().as_str(), "abc-r2");
        assert_eq!(p.timestamp(), &Some(1_629_360_000));
        assert_eq!(p.app_id().as_ref().unwrap().as_str(), "librarywire");
        assert!(unpublishable(&message).is_none());
        assert!(p.headers().is_none(), "no duplicate, no header");
    }

    #[test]
    fn a_duplicate_carries_its_first_item_in_a_header() {
        let message = OutboxMessage {
            seq: 1,
            event_id: "abc".into(),
            routing_key: "item.new.ifla-atom".into(),
            body: br#"{"data":{"id":"abc","duplicate_of":"f00d","duplicate_reason":"same link"}}"#
                .to_vec(),
            created_at: chrono::Utc::now(),
        };
        let p = properties(&message);
        let headers = p.headers().as_ref().expect("headers");
        let value = headers
            .inner()
            .get(DUPLICATE_OF_HEADER)
            .expect("the header");
        assert_eq!(value, &AMQPValue::LongString("f00d".into()));
        let none = OutboxMessage {
            body: br#"{"data":{"id":"abc","duplicate_of":null}}"#.to_vec(),
            ..message
        };
        assert!(properties(&none).headers().is_none());
    }

    #[test]
    fn overlong_routing_key_is_caught() {
        let message = OutboxMessage {
            seq: 1,
            event_id: "abc".into(),
            routing_key: format!("item.new.{}", "a".repeat(300)),
            body: Vec::new(),
            created_at: chrono::Utc::now(),
        };
        assert!(unpublishable(&message).unwrap().contains("routing key"));
    }
}
