//! The seam between the store and a database engine. SQLite implements it today
//! ([`crate::SqliteBackend`]); PostgreSQL is meant to implement it later without the rest
//! of the crate changing.
//!
//! What a PostgreSQL backend has to translate (the way Core Lightning's `devtools/sql-rewrite`
//! does): `?` placeholders to `$1..$n`, `BLOB` to `BYTEA` in migrations. Everything else the
//! store sends is common SQL: `BIGINT`/`TEXT`, `LIMIT`, `ON CONFLICT ... DO UPDATE`, and
//! byte-wise comparison of keys (`key >= ? AND key < ?`), which `BYTEA` also has. It returns
//! `expanded: None` (no expanded statements), so `db_write` gets an empty `writes` array there,
//! as in Core Lightning.

use crate::error::StoreError;

/// A value bound into, or read out of, a statement. Deliberately small: these four map
/// one to one onto SQLite and PostgreSQL types, and each has an exact literal form, which
/// is what makes the captured `db_write` statements replayable. (No floating point: its
/// expanded text would not round-trip exactly.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlValue {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

impl SqlValue {
    pub fn as_i64(&self) -> Result<i64, StoreError> {
        match self {
            SqlValue::Int(i) => Ok(*i),
            other => Err(StoreError::Corrupt(format!(
                "expected an integer, got {other:?}"
            ))),
        }
    }

    pub fn as_blob(&self) -> Result<&[u8], StoreError> {
        match self {
            SqlValue::Blob(b) => Ok(b),
            // A NULL or empty blob can come back as either; treat both as empty.
            SqlValue::Null => Ok(&[]),
            other => Err(StoreError::Corrupt(format!(
                "expected a blob, got {other:?}"
            ))),
        }
    }

    pub fn as_text(&self) -> Result<&str, StoreError> {
        match self {
            SqlValue::Text(s) => Ok(s),
            other => Err(StoreError::Corrupt(format!("expected text, got {other:?}"))),
        }
    }
}

/// One result row, columns in `SELECT` order.
pub type Row = Vec<SqlValue>;

/// What running one modifying statement produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executed {
    /// Rows inserted, updated or deleted.
    pub changes: usize,
    /// The statement with every bound value written inline as a literal, exactly as the
    /// engine ran it; `None` when the engine cannot produce it (Core Lightning sends an
    /// empty `writes` array on PostgreSQL for the same reason).
    pub expanded: Option<String>,
}

/// A connection to one database. Implementations must run everything between
/// [`Backend::begin`] and [`Backend::commit`] as one atomic, durable transaction.
pub trait Backend: Send {
    /// Where this connection points, for log lines (`sqlite3:///path/lightningd.sqlite3`).
    fn describe(&self) -> String;
    fn begin(&mut self) -> Result<(), StoreError>;
    fn commit(&mut self) -> Result<(), StoreError>;
    fn rollback(&mut self) -> Result<(), StoreError>;
    /// Marks a point inside the open transaction that [`Backend::rollback_to_savepoint`]
    /// can go back to (one job's share of a batch, see `actor.rs`). Not nested.
    fn savepoint(&mut self) -> Result<(), StoreError>;
    /// Keeps what was done since the savepoint, as part of the open transaction.
    fn release_savepoint(&mut self) -> Result<(), StoreError>;
    /// Undoes what was done since the savepoint; the open transaction goes on.
    fn rollback_to_savepoint(&mut self) -> Result<(), StoreError>;
    /// Runs a statement that changes the database; with `capture`, also returns it
    /// expanded (without, `expanded` is `None`: nobody is listening to `db_write`, and the
    /// expansion writes every bound blob out as hex).
    fn execute(
        &mut self,
        sql: &str,
        params: &[SqlValue],
        capture: bool,
    ) -> Result<Executed, StoreError>;
    /// Runs a read-only statement.
    fn query(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<Row>, StoreError>;
    /// Whether a table exists (engines answer this from different catalogs).
    fn has_table(&mut self, name: &str) -> Result<bool, StoreError>;
    /// Folds any write-ahead log into the main file, so the file alone is a complete
    /// copy (called at clean shutdown). Engines without one do nothing.
    fn checkpoint(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}
