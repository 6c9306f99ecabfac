//! The store's own health, for `/readyz`, `/status` and `/metrics`: whether
//! its writes fail and why (a full disk, a read-only file system), whether
//! the database reported corruption, and, for SQLite, whether the file at
//! `store.path` is still the one that was opened (not deleted or replaced
//! under the daemon).
//!
//! Every write method of a backend reports its outcome here
//! ([`Health::note_write`]): the first failure of an episode is logged at
//! error level, the recovery at info, so a full disk gives two lines however
//! many writes fail meanwhile. Corruption stays until a restart: the
//! database needs an admin, whatever a later write happens to touch.

use super::StoreError;
use chrono::{DateTime, Utc};
use rusqlite::ErrorCode;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use tracing::{error, info};

/// What is wrong with the store, in one word; also the `kind` label of
/// `librarywire_store_problem`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// Writes fail because the disk (or a quota) is full.
    DiskFull,
    /// Writes fail because the file or its file system is read-only.
    ReadOnly,
    /// Writes fail for another storage reason (an I/O error, permissions).
    WriteFailed,
    /// The database found its data corrupt.
    Corrupt,
    /// The file at `store.path` was deleted while the daemon runs.
    FileDeleted,
    /// The file at `store.path` is another file than the one opened.
    FileReplaced,
}

impl ProblemKind {
    /// Every kind, for metrics that list each one.
    pub const ALL: [ProblemKind; 6] = [
        ProblemKind::DiskFull,
        ProblemKind::ReadOnly,
        ProblemKind::WriteFailed,
        ProblemKind::Corrupt,
        ProblemKind::FileDeleted,
        ProblemKind::FileReplaced,
    ];

    /// The kind as a metric label and in `/status`.
    pub fn label(self) -> &'static str {
        match self {
            ProblemKind::DiskFull => "disk_full",
            ProblemKind::ReadOnly => "read_only",
            ProblemKind::WriteFailed => "write_failed",
            ProblemKind::Corrupt => "corrupt",
            ProblemKind::FileDeleted => "file_deleted",
            ProblemKind::FileReplaced => "file_replaced",
        }
    }
}

/// One thing wrong with the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// What is wrong, in one word.
    pub kind: ProblemKind,
    /// A one-line human reason, with what to do.
    pub reason: String,
    /// When it was first seen in this episode.
    pub since: DateTime<Utc>,
}

/// The device and inode of a file: which file a path names.
type FileId = (u64, u64);

/// The store's health, shared by every clone of a store.
#[derive(Debug)]
pub(super) struct Health {
    /// The store, as log lines and reasons name it.
    subject: String,
    /// An SQLite file, and the identity it had when opened (`None` where
    /// the platform has no inodes); `None` for PostgreSQL.
    file: Option<(PathBuf, Option<FileId>)>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Writes fail; cleared by the next write that works.
    write: Option<Problem>,
    /// The database reported corruption; kept until a restart.
    corrupt: Option<Problem>,
    /// The file at the path is not the one opened.
    file: Option<Problem>,
}

impl Health {
    /// The health of the SQLite store just opened at `path`.
    pub(super) fn of_file(path: &Path) -> Health {
        Health {
            subject: path.display().to_string(),
            file: Some((path.to_path_buf(), file_id(path).ok().flatten())),
            state: Mutex::new(State::default()),
        }
    }

    /// The health of a database server's store, named `subject`.
    pub(super) fn of_server(subject: String) -> Health {
        Health {
            subject,
            file: None,
            state: Mutex::new(State::default()),
        }
    }

    /// Records what a failed read shows: corruption only, since a read
    /// cannot tell whether writes work.
    pub(super) fn note_read<T>(&self, result: &Result<T, StoreError>) {
        if let Err(err) = result
            && classify(err) == Some(ProblemKind::Corrupt)
        {
            self.note_write(result, false);
        }
    }

    /// Records the outcome of one write; `wrote` says whether it changed
    /// rows. Only a write that changed rows and committed proves the store
    /// writes again: a transaction with nothing to write commits even on a
    /// full disk.
    pub(super) fn note_write<T>(&self, result: &Result<T, StoreError>, wrote: bool) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let err = match result {
            Ok(_) if !wrote => return,
            Ok(_) => {
                if let Some(problem) = state.write.take() {
                    info!(
                        store = %self.subject,
                        was = problem.kind.label(),
                        since = %problem.since,
                        "the store writes again"
                    );
                }
                return;
            }
            Err(err) => err,
        };
        let Some(kind) = classify(err) else {
            // Not the storage's fault (a bad value, a constraint): the
            // caller reports it; the store itself is fine.
            return;
        };
        let path = &self.subject;
        let cause = crate::error::error_chain(err);
        if kind == ProblemKind::Corrupt {
            if state.corrupt.is_none() {
                let reason = format!(
                    "the store {path} reports corruption ({cause}); stop the daemon and restore the database from a backup, or move it away to start afresh"
                );
                error!(store = %path, "{reason}");
                state.corrupt = Some(problem(kind, reason));
            }
            return;
        }
        if state.write.as_ref().is_some_and(|p| p.kind == kind) {
            return;
        }
        let what = match kind {
            ProblemKind::DiskFull => "the disk is full",
            ProblemKind::ReadOnly => "the file or its file system is read-only",
            _ => "a storage error",
        };
        let reason = format!(
            "store writes fail: {what} ({cause}); polls and the outbox wait until {path} can be written again"
        );
        error!(store = %path, "{reason}");
        state.write = Some(problem(kind, reason));
    }

    /// Everything wrong now, the file's identity checked afresh.
    pub(super) fn problems(&self) -> Vec<Problem> {
        let file = self.file_problem();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match (&state.file, file) {
            (None, Some(found)) => {
                error!(store = %self.subject, "{}", found.reason);
                state.file = Some(found);
            }
            (Some(known), Some(found)) if known.kind != found.kind => {
                error!(store = %self.subject, "{}", found.reason);
                state.file = Some(found);
            }
            (Some(_), None) => {
                info!(store = %self.subject, "the store file is the one opened again");
                state.file = None;
            }
            _ => {}
        }
        [&state.file, &state.corrupt, &state.write]
            .into_iter()
            .flatten()
            .cloned()
            .collect()
    }

    /// What is wrong with the file at the path, if anything.
    fn file_problem(&self) -> Option<Problem> {
        let (file, opened) = self.file.as_ref()?;
        let opened = (*opened)?;
        let path = file.display();
        match file_id(file) {
            Ok(Some(now)) if now == opened => None,
            Ok(_) => Some(problem(
                ProblemKind::FileReplaced,
                format!(
                    "the store file {path} is not the file the daemon opened (it was replaced); \
                     the daemon still writes to the old one: restart it once the right file is in place"
                ),
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(problem(
                ProblemKind::FileDeleted,
                format!(
                    "the store file {path} was deleted while the daemon runs: what it writes now is lost \
                     at the next start, which would begin with an empty store and publish every item again \
                     as item.new; restore the file and restart"
                ),
            )),
            Err(e) => Some(problem(
                ProblemKind::FileReplaced,
                format!("the store file {path} cannot be checked: {e}"),
            )),
        }
    }
}

fn problem(kind: ProblemKind, reason: String) -> Problem {
    Problem {
        kind,
        reason,
        since: Utc::now(),
    }
}

/// Which storage problem `err` shows, if it is one.
fn classify(err: &StoreError) -> Option<ProblemKind> {
    let failure = match err {
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(failure, _))
        | StoreError::Open {
            source: rusqlite::Error::SqliteFailure(failure, _),
            ..
        } => failure,
        _ => return None,
    };
    match failure.code {
        ErrorCode::DiskFull => Some(ProblemKind::DiskFull),
        ErrorCode::ReadOnly => Some(ProblemKind::ReadOnly),
        ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => Some(ProblemKind::Corrupt),
        ErrorCode::SystemIoFailure | ErrorCode::CannotOpen | ErrorCode::PermissionDenied => {
            Some(ProblemKind::WriteFailed)
        }
        _ => None,
    }
}

/// The device and inode of the file at `path`; `None` without inodes.
fn file_id(path: &Path) -> std::io::Result<Option<FileId>> {
    let meta = std::fs::metadata(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Ok(Some((meta.dev(), meta.ino())))
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite(code: i32) -> StoreError {
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(code),
            None,
        ))
    }

    #[test]
    fn storage_errors_are_told_apart_and_the_rest_is_not_a_problem() {
        assert_eq!(classify(&sqlite(13)), Some(ProblemKind::DiskFull)); // SQLITE_FULL
        assert_eq!(classify(&sqlite(8)), Some(ProblemKind::ReadOnly)); // SQLITE_READONLY
        assert_eq!(classify(&sqlite(11)), Some(ProblemKind::Corrupt)); // SQLITE_CORRUPT
        assert_eq!(classify(&sqlite(26)), Some(ProblemKind::Corrupt)); // SQLITE_NOTADB
        assert_eq!(classify(&sqlite(10)), Some(ProblemKind::WriteFailed)); // SQLITE_IOERR
        assert_eq!(
            classify(&sqlite(19)),
            None,
            "a constraint is a bug, not the disk"
        );
        assert_eq!(classify(&sqlite(5)), None, "busy passes");
        let bad_value = StoreError::BadValue {
            table: "items",
            key: "x".into(),
            column: "published",
            reason: "out of range".into(),
        };
        assert_eq!(classify(&bad_value), None);
    }

    #[test]
    fn a_write_problem_lasts_until_a_write_works_and_corruption_until_a_restart() {
        let health = Health::of_server("a database".into());
        assert!(health.problems().is_empty());
        health.note_write::<()>(&Err(sqlite(13)), false);
        health.note_write::<()>(&Err(sqlite(13)), false);
        let problems = health.problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].kind, ProblemKind::DiskFull);
        assert!(problems[0].reason.contains("disk is full"), "{problems:?}");
        health.note_write(&Ok(()), false);
        assert_eq!(
            health.problems().len(),
            1,
            "a write with nothing to write proves nothing"
        );
        health.note_write(&Ok(()), true);
        assert!(health.problems().is_empty(), "a working write ends it");

        health.note_write::<()>(&Err(sqlite(11)), false);
        health.note_write(&Ok(()), true);
        let kinds: Vec<_> = health.problems().iter().map(|p| p.kind).collect();
        assert_eq!(kinds, [ProblemKind::Corrupt]);
    }

    #[test]
    fn a_deleted_or_replaced_file_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("health.db");
        std::fs::write(&path, b"the store").unwrap();
        let health = Health::of_file(&path);
        assert!(health.problems().is_empty());
        std::fs::rename(&path, dir.path().join("moved.db")).unwrap();
        let kinds: Vec<_> = health.problems().iter().map(|p| p.kind).collect();
        assert_eq!(kinds, [ProblemKind::FileDeleted]);
        std::fs::write(&path, b"another file").unwrap();
        let kinds: Vec<_> = health.problems().iter().map(|p| p.kind).collect();
        assert_eq!(kinds, [ProblemKind::FileReplaced]);
        std::fs::remove_file(&path).unwrap();
        std::fs::rename(dir.path().join("moved.db"), &path).unwrap();
        assert!(health.problems().is_empty(), "the file opened is back");
    }
}
