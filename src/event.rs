//! The published message: a CloudEvents 1.0 event around an [`Item`]. No I/O,
//! and no broker client: the store writes these into its outbox, the
//! publisher sends them as they are.

use crate::dedup::Verdict;
use crate::item::Item;
use chrono::{DateTime, SecondsFormat, Utc};

/// Whether an item is new or a new revision of a stored one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// First sight of the item: `item.new.<source>`.
    New,
    /// An edit of a stored item: `item.updated.<source>`.
    Updated,
}

/// An event ready for the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundEvent {
    /// The CloudEvents `id`, also the AMQP `message_id`: the item id for
    /// `item.new`, `<item id>-r<revision>` for `item.updated`.
    pub event_id: String,
    /// `item.new.<source-id>` or `item.updated.<source-id>`.
    pub routing_key: String,
    /// The structured-mode CloudEvents JSON.
    pub body: Vec<u8>,
}

/// Builds the event for `item` (whose `revision` is already set), detected
/// at `now`. `duplicate` is the story's first item when `item` is a
/// duplicate of another source's: its `data` carries `duplicate_of` and
/// `duplicate_reason`, both null when it is none.
pub fn item_event(
    item: &Item,
    kind: EventKind,
    now: DateTime<Utc>,
    duplicate: Option<&Verdict>,
) -> OutboundEvent {
    let event_id = match kind {
        EventKind::New => item.id.to_string(),
        EventKind::Updated => format!("{}-r{}", item.id, item.revision),
    };
    let mut data = serde_json::to_value(item).expect("an Item serializes to JSON");
    if let Some(data) = data.as_object_mut() {
        data.insert(
            "duplicate_of".to_owned(),
            duplicate.map(|d| d.of.as_str()).into(),
        );
        data.insert(
            "duplicate_reason".to_owned(),
            duplicate.map(|d| d.reason.as_str()).into(),
        );
    }
    let body = serde_json::json!({
        "specversion": "1.0",
        "id": event_id,
        "source": format!("librarywire/{}", item.source.id),
        "type": kind.cloudevents_type(),
        "time": now.to_rfc3339_opts(SecondsFormat::Secs, true),
        "datacontenttype": "application/json",
        "data": data,
    });
    OutboundEvent {
        routing_key: routing_key(kind, &item.source.id),
        event_id,
        // An Item is plain data (strings, numbers, dates): serializing it cannot fail.
        body: serde_json::to_vec(&body).expect("an Item serializes to JSON"),
    }
}

/// The routing key of an event of `kind` for `source_id`.
pub fn routing_key(kind: EventKind, source_id: &str) -> String {
    match kind {
        EventKind::New => format!("item.new.{source_id}"),
        EventKind::Updated => format!("item.updated.{source_id}"),
    }
}

impl EventKind {
    /// The CloudEvents `type` attribute.
    pub fn cloudevents_type(self) -> &'static str {
        match self {
            EventKind::New => "org.librarywire.item.new",
            EventKind::Updated => "org.librarywire.item.updated",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::{ItemId, SourceRef};
    use chrono::TimeZone;

    fn item() -> Item {
        Item {
            id: ItemId::derive("ifla-news", "guid-1"),
            source: SourceRef {
                id: "ifla-news".into(),
                name: "IFLA News".into(),
                url: "https://www.ifla.org/news/feed/".into(),
            },
            guid: "guid-1".into(),
            url: Some("https://www.ifla.org/news/1".into()),
            title: "WLIC 2021".into(),
            summary: "Summary".into(),
            content_html: None,
            authors: vec!["IFLA".into()],
            categories: vec![],
            language: Some("en".into()),
            published: Utc.with_ymd_and_hms(2021, 8, 19, 8, 0, 0).unwrap(),
            updated: None,
            revision: 2,
            published_from_source: true,
            content_hash: "x".into(),
        }
    }

    #[test]
    fn new_event_has_contract_shape() {
        let now = Utc.with_ymd_and_hms(2021, 8, 20, 0, 0, 0).unwrap();
        let e = item_event(&item(), EventKind::New, now, None);
        assert_eq!(e.routing_key, "item.new.ifla-news");
        let v: serde_json::Value = serde_json::from_slice(&e.body).unwrap();
        assert_eq!(v["specversion"], "1.0");
        assert_eq!(v["id"], e.event_id);
        assert_eq!(v["id"], item().id.as_str());
        assert_eq!(v["source"], "librarywire/ifla-news");
        assert_eq!(v["type"], "org.librarywire.item.new");
        assert_eq!(v["time"], "2021-08-20T00:00:00Z");
        assert_eq!(v["data"]["published"], "2021-08-19T08:00:00Z");
        assert_eq!(v["data"]["updated"], serde_json::Value::Null);
        assert_eq!(v["data"]["content_html"], serde_json::Value::Null);
        assert_eq!(v["data"]["revision"], 2);
        assert!(v["data"].get("content_hash").is_none());
        assert_eq!(v["data"]["duplicate_of"], serde_json::Value::Null);
        assert_eq!(v["data"]["duplicate_reason"], serde_json::Value::Null);
    }

    #[test]
    fn a_duplicate_names_its_first_item_and_why() {
        let first = ItemId::derive("ifla-atom", "guid-1");
        let verdict = Verdict {
            of: first.clone(),
            of_source: "ifla-atom".into(),
            reason: "same link".into(),
        };
        let e = item_event(&item(), EventKind::New, Utc::now(), Some(&verdict));
        let v: serde_json::Value = serde_json::from_slice(&e.body).unwrap();
        assert_eq!(v["data"]["duplicate_of"], first.as_str());
        assert_eq!(v["data"]["duplicate_reason"], "same link");
        assert_eq!(v["data"]["id"], item().id.as_str());
    }

    #[test]
    fn updated_event_id_carries_revision() {
        let e = item_event(&item(), EventKind::Updated, Utc::now(), None);
        assert_eq!(e.routing_key, "item.updated.ifla-news");
        assert_eq!(e.event_id, format!("{}-r2", item().id));
    }
}
