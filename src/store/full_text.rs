//! The article state both backends keep in their `full_text` table
//! (SQLite step 6, PostgreSQL step 4): the words of its `state` column, and
//! how its rows read back, so that the two stores agree on them.

use super::{FullTextCount, FullTextState, StoreError, narrow};

/// The `state` of an item whose article fetch failed: `failed` once given
/// up (`last`), else `retrying`. A fetched one is `fetched`.
pub(super) fn failed_state(last: bool) -> &'static str {
    if last { "failed" } else { "retrying" }
}

/// Item `id`'s state from its row's `state`, `failures` and `content_html`.
pub(super) fn state_of(
    id: &str,
    state: &str,
    failures: i64,
    content_html: Option<String>,
) -> Result<FullTextState, StoreError> {
    Ok(FullTextState {
        fetched: state == "fetched",
        given_up: state == "failed",
        failures: narrow(failures, "full_text", id, "failures")?,
        content_html,
    })
}

/// Each source's counts, from `(source_id, state, count)` rows grouped by
/// both and ordered by source.
pub(super) fn counts_of(
    rows: impl IntoIterator<Item = Result<(String, String, i64), StoreError>>,
) -> Result<Vec<FullTextCount>, StoreError> {
    let mut counts: Vec<FullTextCount> = Vec::new();
    for row in rows {
        let (source_id, state, count) = row?;
        let count = narrow(count, "full_text", &source_id, "state")?;
        if counts.last().is_none_or(|c| c.source_id != source_id) {
            counts.push(FullTextCount {
                source_id: source_id.clone(),
                ..FullTextCount::default()
            });
        }
        let entry = counts.last_mut().expect("pushed above");
        match state.as_str() {
            "fetched" => entry.fetched = count,
            "failed" => entry.failed = count,
            _ => entry.retrying = count,
        }
    }
    Ok(counts)
}
