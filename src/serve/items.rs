//! `GET /items/<id>`: one item as JSON, with its revisions, what it
//! duplicates and what duplicates it, so an admin can see why two items
//! were judged one story.

use super::{ServeState, text};
use crate::dedup::{AlsoIn, Verdict};
use crate::error::error_chain;
use crate::item::Item;
use crate::store::{Duplication, Revision, StoreError};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use tracing::warn;

/// The longest id looked up: an item id is 32 hexadecimal digits.
const MAX_ID_LEN: usize = 64;

/// The document of `GET /items/<id>`.
#[derive(Debug, Serialize)]
pub struct ItemDocument {
    /// The item as it is now, as an event's `data` carries it.
    pub item: Item,
    /// Every stored version, oldest first.
    pub revisions: Vec<RevisionDocument>,
    /// The first item of the story, when this one duplicates it: its id
    /// and source, and why.
    pub duplicate_of: Option<Verdict>,
    /// Why, as the event's `data.duplicate_reason` says; null when none.
    pub duplicate_reason: Option<String>,
    /// The other sources' items judged duplicates of this one.
    pub duplicates: Vec<AlsoIn>,
}

/// One revision in `GET /items/<id>`.
#[derive(Debug, Serialize)]
pub struct RevisionDocument {
    /// 1 for the first version.
    pub revision: u32,
    /// The content hash of that version.
    pub content_hash: String,
    /// When it was stored.
    pub recorded_at: DateTime<Utc>,
}

impl ItemDocument {
    /// The document of `item` with its stored revisions and duplication.
    pub fn new(item: Item, revisions: Vec<Revision>, duplication: Duplication) -> ItemDocument {
        ItemDocument {
            item,
            revisions: revisions
                .into_iter()
                .map(|r| RevisionDocument {
                    revision: r.revision,
                    content_hash: r.content_hash,
                    recorded_at: r.recorded_at,
                })
                .collect(),
            duplicate_reason: duplication.duplicate_of.as_ref().map(|d| d.reason.clone()),
            duplicate_of: duplication.duplicate_of,
            duplicates: duplication.duplicates,
        }
    }
}

/// Whether `id` can be an item id: hexadecimal digits, not too many. Any
/// other text (axum has percent-decoded the path segment) is no item.
fn looks_like_an_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_LEN && id.bytes().all(|b| b.is_ascii_hexdigit())
}

pub(super) async fn item(State(state): State<ServeState>, Path(id): Path<String>) -> Response {
    let not_found = |id: &str| {
        let shown: String = id.chars().take(MAX_ID_LEN).collect();
        text(
            StatusCode::NOT_FOUND,
            format!("no item {shown:?}: /items/ takes an item id, 32 hexadecimal digits\n"),
        )
    };
    if !looks_like_an_id(&id) {
        return not_found(&id);
    }
    let id = id.to_ascii_lowercase();
    match read(&state, &id).await {
        Ok(Some(document)) => axum::Json(document).into_response(),
        Ok(None) => not_found(&id),
        Err(e) => {
            warn!(item = %id, error = %error_chain(&e), "cannot read an item for /items/");
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot read the store: {e}\n"),
            )
        }
    }
}

async fn read(state: &ServeState, id: &str) -> Result<Option<ItemDocument>, StoreError> {
    let Some(item) = state.store.item(id).await? else {
        return Ok(None);
    };
    let revisions = state.store.revisions(id).await?;
    let duplication = state.store.duplication(id).await?;
    Ok(Some(ItemDocument::new(item, revisions, duplication)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hexadecimal_ids_are_looked_up() {
        assert!(looks_like_an_id("0123456789abcdef0123456789ABCDEF"));
        for id in ["", "../status", "a b", "%41", "é", &"a".repeat(65)] {
            assert!(!looks_like_an_id(id), "{id:?}");
        }
    }
}
