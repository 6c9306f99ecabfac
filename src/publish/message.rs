//! The AMQP side of the message contract (DESIGN.md, "The message"): the
//! properties every outbox row is published with, and the limits AMQP puts on
//! a row before the broker ever sees it. No I/O.

use crate::store::OutboxMessage;
use lapin::BasicProperties;

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
    BasicProperties::default()
        .with_delivery_mode(PERSISTENT)
        .with_content_type(CONTENT_TYPE.into())
        .with_message_id(message.event_id.as_str().into())
        .with_timestamp(timestamp)
        .with_app_id(APP_ID.into())
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
