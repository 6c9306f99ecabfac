//! The normalized item: the one shape every source is turned into.
//!
//! An [`Item`] serializes exactly as the `data` of the published CloudEvent
//! (see `schema/item-event.schema.json`); fields that only the pipeline needs
//! are skipped by serde.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

/// A stable item id: the same on every poll and every restart.
///
/// It is a hash of the source id and the item's own key (its guid, else its
/// canonical link, else its title and date), so two sources that carry the
/// same guid still get two ids.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ItemId(String);

impl ItemId {
    /// Derives the id of an item of `source_id` from the item's key.
    pub fn derive(source_id: &str, key: &str) -> ItemId {
        let mut hasher = Sha256::new();
        hasher.update(source_id.as_bytes());
        // A NUL cannot appear in a source id, so "a" + "bc" never collides with "ab" + "c".
        hasher.update([0u8]);
        hasher.update(key.as_bytes());
        let digest = hasher.finalize();
        ItemId(hex::encode(&digest[..16]))
    }

    /// Wraps an id read back from the store.
    pub fn from_stored(id: String) -> ItemId {
        ItemId(id)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The source an item came from, as carried inside every item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRef {
    /// The source's config id, `[a-z0-9-]+`.
    pub id: String,
    /// The source's display name.
    pub name: String,
    /// The URL the source is configured with.
    pub url: String,
}

/// One normalized news item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// Stable id, see [`ItemId`].
    pub id: ItemId,
    /// The source the item came from.
    pub source: SourceRef,
    /// The item's own guid or id, as the source gave it (empty when it gave none).
    pub guid: String,
    /// Absolute, canonical link, with tracking parameters removed.
    pub url: Option<String>,
    /// Plain-text title.
    pub title: String,
    /// Plain-text summary, trimmed to a bounded length.
    pub summary: String,
    /// Sanitized HTML content, if the source gave any.
    pub content_html: Option<String>,
    /// Author names.
    pub authors: Vec<String>,
    /// Category terms.
    pub categories: Vec<String>,
    /// Language tag, from the item or else its feed.
    pub language: Option<String>,
    /// Publication time, in UTC. Never in the future; the first-seen time when
    /// the source gave no usable date.
    pub published: DateTime<Utc>,
    /// Last update time the source gave, in UTC.
    pub updated: Option<DateTime<Utc>>,
    /// Revision number, starting at 1; the store raises it on every edit.
    pub revision: u32,
    /// True when `published` came from the source, false when it is the
    /// first-seen time. The store keeps the first-seen time of an undated item
    /// across polls instead of moving it forward.
    #[serde(skip, default)]
    pub published_from_source: bool,
    /// Hash of the parts whose change makes a new revision: title, link and content.
    #[serde(skip, default)]
    pub content_hash: String,
}

impl Item {
    /// Computes the content hash over the fields whose edit is a new revision.
    pub fn compute_content_hash(&self) -> String {
        let mut hasher = Sha256::new();
        for part in [
            self.title.as_str(),
            self.url.as_deref().unwrap_or(""),
            self.content_html.as_deref().unwrap_or(""),
            self.summary.as_str(),
        ] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
        hex::encode(hasher.finalize())
    }
}
