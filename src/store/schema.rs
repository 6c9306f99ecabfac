//! The rule both backends' migrations follow: which step a store at a
//! given schema version runs next. Each backend keeps its own steps, its
//! own version slot and its own transaction around a step.

use super::StoreError;

/// Where a backend keeps its schema version, for the error that names it.
pub(super) struct VersionSlot {
    /// The table (or `pragma` for SQLite's header).
    pub table: &'static str,
    /// The row's key.
    pub key: String,
    /// The column.
    pub column: &'static str,
}

/// The step that moves a store from schema version `found` to the next,
/// from `steps` (step `n`, counting from 1, moves version `n - 1` to `n`);
/// `None` when the store is up to date. A version newer than `steps` knows
/// is [`StoreError::SchemaTooNew`] naming `store`; a negative one is a bad
/// value in `slot`.
pub(super) fn next_step<'s>(
    steps: &[&'s str],
    found: i64,
    store: &str,
    slot: VersionSlot,
) -> Result<Option<&'s str>, StoreError> {
    let known = i64::try_from(steps.len()).unwrap_or(i64::MAX);
    if found > known {
        return Err(StoreError::SchemaTooNew {
            path: store.to_owned(),
            found,
            known,
        });
    }
    if found == known {
        return Ok(None);
    }
    match usize::try_from(found).ok().and_then(|i| steps.get(i)) {
        Some(step) => Ok(Some(step)),
        None => Err(StoreError::BadValue {
            table: slot.table,
            key: slot.key,
            column: slot.column,
            reason: format!("{found} is not a schema version"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEPS: &[&str] = &["one", "two"];

    fn slot() -> VersionSlot {
        VersionSlot {
            table: "schema_version",
            key: "version".to_owned(),
            column: "version",
        }
    }

    #[test]
    fn each_version_runs_the_step_after_it_until_none_is_left() {
        assert_eq!(next_step(STEPS, 0, "s", slot()).unwrap(), Some("one"));
        assert_eq!(next_step(STEPS, 1, "s", slot()).unwrap(), Some("two"));
        assert_eq!(next_step(STEPS, 2, "s", slot()).unwrap(), None);
    }

    #[test]
    fn a_newer_or_negative_version_is_refused_naming_the_store_or_the_slot() {
        match next_step(STEPS, 3, "store.url", slot()) {
            Err(StoreError::SchemaTooNew { path, found, known }) => {
                assert_eq!((path.as_str(), found, known), ("store.url", 3, 2));
            }
            other => panic!("{other:?}"),
        }
        match next_step(STEPS, -1, "s", slot()) {
            Err(StoreError::BadValue {
                table,
                column,
                reason,
                ..
            }) => {
                assert_eq!((table, column), ("schema_version", "version"));
                assert!(reason.contains("-1"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }
}
