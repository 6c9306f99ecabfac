//! Normalize: a pure function from a source and its parsed feed to [`Item`]s.

use crate::item::{Item, SourceRef};
use chrono::{DateTime, Utc};
use feed_rs::model::Feed;
use url::Url;

/// Longest plain-text summary, in characters.
pub const SUMMARY_MAX_CHARS: usize = 500;

/// Turns every entry of `feed` into an [`Item`] of `source`.
///
/// `feed_url` is where the feed was fetched from, for resolving relative
/// links; `now` is the first-seen time for undated items and the clamp for
/// future dates. The same arguments always give the same items.
pub fn normalize(source: &SourceRef, feed_url: &Url, feed: &Feed, now: DateTime<Utc>) -> Vec<Item> {
    let _ = (source, feed_url, feed, now);
    todo!("normalize")
}
