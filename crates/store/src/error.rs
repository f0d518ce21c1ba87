//! Errors of the store itself (not of the datastore's rules, see `datastore.rs`).

use crate::hook::HookRefusal;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The engine failed (I/O, constraint, SQL). The transaction was rolled back.
    #[error("database error: {0}")]
    Backend(String),
    /// A `db_write` plugin did not say `continue`: nothing was committed. The daemon must
    /// shut down (Core Lightning treats this as fatal; stopping is the safe side).
    #[error("db_write hook refused the write, nothing committed: {0}")]
    HookRefused(HookRefusal),
    /// The stored `data_version` moved under us: another process writes to this file.
    #[error("data_version in the database is not {expected}: is another process using it?")]
    DataVersionMismatch { expected: u32 },
    /// A statement could not be captured exactly for `db_write`, so it was not run.
    #[error("cannot capture statement for db_write: {0}")]
    Capture(String),
    /// Stored content of an unexpected shape.
    #[error("unexpected database content: {0}")]
    Corrupt(String),
    /// An earlier write failed in a way that may have let a backup and the database drift
    /// apart (see [`StoreError::is_fatal`]), or the store's thread is gone: nothing more is
    /// written until the daemon restarts.
    #[error("the store stopped after a failed write: {0}")]
    Stopped(String),
    /// The file was written by a newer boltd.
    #[error("database schema version {found} is newer than this boltd knows ({known})")]
    SchemaTooNew { found: i64, known: i64 },
}

impl StoreError {
    /// Errors after which continuing would let a `db_write` backup and the database drift
    /// apart: the store latches them and refuses every later transaction.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            StoreError::HookRefused(_)
                | StoreError::DataVersionMismatch { .. }
                | StoreError::Backend(_)
                | StoreError::Stopped(_)
        )
    }
}
