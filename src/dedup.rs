//! Cross-source duplicates: when is a new item the same story as one
//! already stored from another source. Pure: no I/O, no clock. The store
//! computes an item's [`Fingerprint`] when it writes it, keeps its parts in
//! indexed columns, and, in the transaction that first stores an item,
//! looks up the few stored items that share a key and asks [`judge`].
//!
//! Two rules, in this order:
//! - **same link**: the canonical link ([`link_key`]: the item's link, and
//!   its guid when that is a URL, without scheme, `www.`, trailing slash,
//!   fragment and tracking parameters) equals a stored item's.
//! - **same text**: the normalized title ([`title_key`]) equals a stored
//!   item's published within [`DedupRule::window`], and the MinHash
//!   estimate of the Jaccard similarity of their texts' word shingles
//!   ([`Signature`]) is at least [`DedupRule::threshold`]. A generic title
//!   ("News", "Weekly update", anything under [`MIN_TITLE_WORDS`] words
//!   once dates and numbers are left out) has no title key: it never
//!   matches by text, only by link.
//!
//! An item is never a duplicate of its own source; a duplicate points at
//! the first item of the story (the original), never at another duplicate.
//!
//! The MinHash is this module's own (64 slots over xxh3 of each shingle):
//! the crates that offer one are young or built for in-memory LSH indexes,
//! and what the store needs is a small, stable signature to keep in a
//! column and compare with a handful of candidates.

use crate::config::{DedupSettings, SourceSettings};
use crate::item::{Item, ItemId, SourceRef};
use serde::Serialize;
use std::time::Duration;
use url::Url;

/// A title with fewer words than this (dates and numbers aside) is
/// generic: it never matches by text alone.
pub const MIN_TITLE_WORDS: usize = 2;

/// Words that make a title generic when it holds nothing else (besides
/// dates and numbers): "Weekly newsletter #42", "News update".
const GENERIC_WORDS: &[&str] = &[
    "a",
    "an",
    "and",
    "announcement",
    "announcements",
    "blog",
    "bulletin",
    "daily",
    "digest",
    "edition",
    "for",
    "from",
    "in",
    "issue",
    "latest",
    "links",
    "monthly",
    "new",
    "news",
    "newsletter",
    "no",
    "notes",
    "of",
    "post",
    "press",
    "quarterly",
    "release",
    "report",
    "roundup",
    "the",
    "this",
    "title",
    "today",
    "untitled",
    "update",
    "updates",
    "vol",
    "volume",
    "week",
    "weekly",
    "month",
    "year",
    "jan",
    "january",
    "feb",
    "february",
    "mar",
    "march",
    "apr",
    "april",
    "may",
    "jun",
    "june",
    "jul",
    "july",
    "aug",
    "august",
    "sep",
    "sept",
    "september",
    "oct",
    "october",
    "nov",
    "november",
    "dec",
    "december",
];

/// How many MinHash slots a signature has: the estimate's standard error
/// is under 0.05 near the default threshold.
const SLOTS: usize = 64;

/// Words per shingle.
const SHINGLE_WORDS: usize = 3;

/// Only the first this many words of an item's text are shingled: enough
/// to tell two stories apart, and a long article costs no more than that.
const MAX_WORDS: usize = 400;

/// The first byte of a stored signature: its layout and hash family. A
/// signature of another version never matches, so a change of the
/// algorithm needs only a new version.
const SIGNATURE_VERSION: u8 = 1;

/// What one source's poll applies: whether its new items are judged, and
/// whether its items are fingerprinted for others to be judged against.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DedupRule {
    /// New items are judged against the stored items of other sources
    /// (`dedup.enabled`, and the source's `dedup`).
    pub judge: bool,
    /// The items' keys are stored, so later items of other sources can be
    /// found to be their duplicates. Off for a source with `dedup = false`:
    /// it takes no part at all.
    pub fingerprint: bool,
    /// The least estimated share of same text (0 to 1) that makes two
    /// items with the same title one story (`dedup.threshold`).
    pub threshold: f64,
    /// Two items match by text only when published at most this far apart
    /// (`dedup.window`).
    pub window: Duration,
}

impl Default for DedupRule {
    /// Fingerprints, judges nothing: what tools and tests that store items
    /// directly get.
    fn default() -> DedupRule {
        let settings = DedupSettings::default();
        DedupRule {
            judge: false,
            fingerprint: true,
            threshold: settings.threshold,
            window: settings.window,
        }
    }
}

impl DedupRule {
    /// The rule `[dedup]` and `source`'s own `dedup` set.
    pub fn of(settings: &DedupSettings, source: &SourceSettings) -> DedupRule {
        DedupRule {
            judge: settings.enabled && source.dedup,
            fingerprint: source.dedup,
            threshold: settings.threshold,
            window: settings.window,
        }
    }

    /// Judges every new item with the default threshold and window.
    pub fn judging() -> DedupRule {
        DedupRule {
            judge: true,
            ..DedupRule::default()
        }
    }
}

/// What the store keeps of an item to find its duplicates by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// The canonical link of the item's link.
    pub link: Option<String>,
    /// The canonical link of its guid, when that is an http(s) URL other
    /// than the link.
    pub guid_link: Option<String>,
    /// The normalized title; `None` for a generic one.
    pub title: Option<String>,
    /// The MinHash of its text, stored as bytes; `None` for an item with no text.
    pub signature: Option<Vec<u8>>,
}

impl Fingerprint {
    /// The fingerprint of `item`.
    pub fn of(item: &Item) -> Fingerprint {
        let link = item.url.as_deref().and_then(link_key);
        let guid_link = link_key(&item.guid).filter(|g| Some(g) != link.as_ref());
        let text = match item.content_html.as_deref() {
            Some(html) if !html.trim().is_empty() => html_text(html),
            _ => item.summary.clone(),
        };
        Fingerprint {
            link,
            guid_link,
            title: title_key(&item.title),
            signature: Signature::of(&text).map(|s| s.to_bytes()),
        }
    }

    /// The link keys, the link's first.
    pub fn links(&self) -> impl Iterator<Item = &str> {
        self.link.iter().chain(&self.guid_link).map(String::as_str)
    }
}

/// `url` as the same-link rule compares it: an http(s) URL without its
/// scheme, `www.`, fragment, tracking parameters and trailing slash, its
/// host lowercased. `None` for anything that is not an http(s) URL.
pub fn link_key(url: &str) -> Option<String> {
    let parsed = Url::parse(url.trim()).ok()?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return None;
    }
    let host = parsed.host_str()?.to_ascii_lowercase();
    let host = host.strip_prefix("www.").unwrap_or(&host);
    let mut key = String::with_capacity(url.len());
    key.push_str(host);
    if let Some(port) = parsed.port() {
        key.push(':');
        key.push_str(&port.to_string());
    }
    key.push_str(parsed.path().trim_end_matches('/'));
    let kept: Vec<&str> = parsed
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty() && !is_tracking(pair))
        .collect();
    if !kept.is_empty() {
        key.push('?');
        key.push_str(&kept.join("&"));
    }
    Some(key)
}

/// A `name=value` pair that only tracks a click (`utm_*` and the like).
fn is_tracking(pair: &str) -> bool {
    const TRACKING: [&str; 12] = [
        "fbclid", "gclid", "dclid", "msclkid", "yclid", "mc_cid", "mc_eid", "_hsenc", "_hsmi",
        "mkt_tok", "igshid", "ref_src",
    ];
    let name = pair.split('=').next().unwrap_or("").to_ascii_lowercase();
    name.starts_with("utm_") || TRACKING.contains(&name.as_str())
}

/// The lowercase words of `text`: letters and digits, everything else a break.
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// `title` as the same-text rule compares it: its words, lowercased, one
/// space apart. `None` when it is generic: fewer than [`MIN_TITLE_WORDS`]
/// words that are not numbers, or only words of the generic list.
pub fn title_key(title: &str) -> Option<String> {
    let all: Vec<String> = words(title).collect();
    let telling: Vec<&String> = all
        .iter()
        .filter(|w| !w.chars().all(|c| c.is_numeric()))
        .collect();
    let generic = telling.len() < MIN_TITLE_WORDS
        || telling.iter().all(|w| GENERIC_WORDS.contains(&w.as_str()));
    (!generic).then(|| all.join(" "))
}

/// The text a reader sees in sanitized HTML.
fn html_text(html: &str) -> String {
    let fragment = scraper::Html::parse_fragment(html);
    fragment.root_element().text().collect::<Vec<_>>().join(" ")
}

/// A MinHash signature of a text's word shingles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature([u32; SLOTS]);

impl Signature {
    /// The signature of `text`'s first [`MAX_WORDS`] words, in shingles of
    /// [`SHINGLE_WORDS`] (a shorter text is one shingle). `None` for a text
    /// without words.
    pub fn of(text: &str) -> Option<Signature> {
        let words: Vec<String> = words(text).take(MAX_WORDS).collect();
        if words.is_empty() {
            return None;
        }
        let mut slots = [u32::MAX; SLOTS];
        let width = SHINGLE_WORDS.min(words.len());
        for shingle in words.windows(width) {
            let base = xxhash_rust::xxh3::xxh3_64(shingle.join(" ").as_bytes());
            for (i, slot) in slots.iter_mut().enumerate() {
                // One hash per slot from one hash of the shingle: the
                // splitmix64 finalizer over it, offset per slot.
                let h = mix(base ^ (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
                *slot = (*slot).min((h >> 32) as u32);
            }
        }
        Some(Signature(slots))
    }

    /// The estimated share of shingles the two texts have in common (their
    /// Jaccard similarity), 0 to 1.
    pub fn similarity(&self, other: &Signature) -> f64 {
        let same = self.0.iter().zip(&other.0).filter(|(a, b)| a == b).count();
        same as f64 / SLOTS as f64
    }

    /// The signature as stored: its version, then each slot little-endian.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(1 + SLOTS * 4);
        bytes.push(SIGNATURE_VERSION);
        for slot in self.0 {
            bytes.extend_from_slice(&slot.to_le_bytes());
        }
        bytes
    }

    /// A stored signature read back; `None` for one of another version or
    /// length, which then matches nothing.
    pub fn from_bytes(bytes: &[u8]) -> Option<Signature> {
        let (&version, slots) = bytes.split_first()?;
        if version != SIGNATURE_VERSION || slots.len() != SLOTS * 4 {
            return None;
        }
        let mut out = [0u32; SLOTS];
        for (slot, chunk) in out.iter_mut().zip(slots.chunks_exact(4)) {
            *slot = u32::from_le_bytes(chunk.try_into().expect("chunks of four"));
        }
        Some(Signature(out))
    }
}

/// The splitmix64 finalizer: a well-mixed 64-bit value from any.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A stored item that shares a key with a new one, as the store found it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The stored item.
    pub id: ItemId,
    /// Its source.
    pub source_id: String,
    /// The original it duplicates, with the original's source, if it is a duplicate.
    pub original: Option<(ItemId, String)>,
    /// Its stored signature, for the text rule.
    pub signature: Option<Vec<u8>>,
}

impl Candidate {
    /// The first item of the story: the candidate's original, or itself.
    fn root(&self) -> (&ItemId, &str) {
        match &self.original {
            Some((id, source)) => (id, source),
            None => (&self.id, &self.source_id),
        }
    }
}

/// Why an item is a duplicate, and of which item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// The first item of the story.
    pub of: ItemId,
    /// Its source's id.
    pub of_source: String,
    /// In words: `same link`, or `same title, 94% same text`.
    pub reason: String,
}

/// The reason the same-link rule gives.
pub const SAME_LINK: &str = "same link";

/// Judges a new item of `source_id` against the stored items found by its
/// link keys (`by_link`, first stored first) and by its title key within
/// the window (`by_title`, first stored first), under `rule`.
///
/// The first candidate by link whose story began in another source wins;
/// else the candidate by title with the most text in common, at least
/// `rule.threshold` (the first stored among equals).
pub fn judge(
    source_id: &str,
    fingerprint: &Fingerprint,
    by_link: &[Candidate],
    by_title: &[Candidate],
    rule: &DedupRule,
) -> Option<Verdict> {
    let elsewhere = |c: &&Candidate| c.source_id != source_id && c.root().1 != source_id;
    if let Some(c) = by_link.iter().find(elsewhere) {
        let (of, of_source) = c.root();
        return Some(Verdict {
            of: of.clone(),
            of_source: of_source.to_owned(),
            reason: SAME_LINK.to_owned(),
        });
    }
    fingerprint.title.as_ref()?;
    let own = Signature::from_bytes(fingerprint.signature.as_deref()?)?;
    let mut best: Option<(&Candidate, f64)> = None;
    for c in by_title.iter().filter(elsewhere) {
        let Some(theirs) = c.signature.as_deref().and_then(Signature::from_bytes) else {
            continue;
        };
        let similarity = own.similarity(&theirs);
        if similarity >= rule.threshold && best.is_none_or(|(_, b)| similarity > b) {
            best = Some((c, similarity));
        }
    }
    let (c, similarity) = best?;
    let (of, of_source) = c.root();
    Some(Verdict {
        of: of.clone(),
        of_source: of_source.to_owned(),
        reason: text_reason(similarity),
    })
}

/// The same-text rule's reason for `similarity`, rounded down to a whole
/// percent (so 0.999 is not called 100%).
fn text_reason(similarity: f64) -> String {
    let percent = (similarity * 100.0).floor() as u32;
    format!("same title, {percent}% same text")
}

/// Whether an edited duplicate is still the same story as its original,
/// by the same rules: a link key in common, or the same title key and at
/// least `rule.threshold` of text in common. An edit that makes it differ
/// ends the link.
pub fn still_same(edited: &Fingerprint, original: &Fingerprint, rule: &DedupRule) -> bool {
    if edited.links().any(|l| original.links().any(|o| o == l)) {
        return true;
    }
    let same_title = edited.title.is_some() && edited.title == original.title;
    let signatures = edited
        .signature
        .as_deref()
        .and_then(Signature::from_bytes)
        .zip(
            original
                .signature
                .as_deref()
                .and_then(Signature::from_bytes),
        );
    same_title && signatures.is_some_and(|(a, b)| a.similarity(&b) >= rule.threshold)
}

/// An item that duplicates another, as the feeds and `/items/<id>` name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlsoIn {
    /// The duplicate's id.
    pub id: ItemId,
    /// Its source.
    pub source: SourceRef,
    /// Why it was judged the same story.
    pub reason: String,
}

#[cfg(test)]
mod tests;
