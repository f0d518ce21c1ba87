//! SQLite through `rusqlite` (bundled): the default engine.

use std::path::{Path, PathBuf};

use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, OpenFlags};

use crate::backend::{Backend, Executed, Row, SqlValue};
use crate::error::StoreError;

/// How long a statement waits for another connection's lock (e.g. an operator's
/// `sqlite3` shell) before failing.
const BUSY_TIMEOUT_MS: u64 = 10_000;

pub struct SqliteBackend {
    conn: Connection,
    path: PathBuf,
}

fn db_err(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl SqliteBackend {
    /// Opens (creating if needed) the file and sets the durability pragmas: WAL so readers
    /// never block the writer, `synchronous=FULL` so an acknowledged commit survives power
    /// loss, foreign keys enforced.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| StoreError::Backend(format!("{}: {e}", dir.display())))?;
            }
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)
            .map_err(|e| StoreError::Backend(format!("{}: {e}", path.display())))?;
        conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS))
            .map_err(db_err)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(db_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Backend(format!(
                "{}: cannot switch to WAL journal (got {mode})",
                path.display()
            )));
        }
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
            .map_err(db_err)?;
        Ok(SqliteBackend {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// The file this backend writes.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn to_sql(v: &SqlValue) -> Value {
    match v {
        SqlValue::Null => Value::Null,
        SqlValue::Int(i) => Value::Integer(*i),
        SqlValue::Text(s) => Value::Text(s.clone()),
        SqlValue::Blob(b) => Value::Blob(b.clone()),
    }
}

fn from_sql(v: ValueRef<'_>) -> Result<SqlValue, StoreError> {
    Ok(match v {
        ValueRef::Null => SqlValue::Null,
        ValueRef::Integer(i) => SqlValue::Int(i),
        ValueRef::Text(t) => SqlValue::Text(
            std::str::from_utf8(t)
                .map_err(|_| StoreError::Corrupt("text column is not UTF-8".into()))?
                .to_string(),
        ),
        ValueRef::Blob(b) => SqlValue::Blob(b.to_vec()),
        ValueRef::Real(_) => return Err(StoreError::Corrupt("unexpected REAL column".into())),
    })
}

impl Backend for SqliteBackend {
    fn describe(&self) -> String {
        format!("sqlite3://{}", self.path.display())
    }

    fn begin(&mut self) -> Result<(), StoreError> {
        // IMMEDIATE takes the write lock now, so a transaction never fails half way on
        // a lock upgrade.
        self.conn.execute_batch("BEGIN IMMEDIATE").map_err(db_err)
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        self.conn.execute_batch("COMMIT").map_err(db_err)
    }

    fn rollback(&mut self) -> Result<(), StoreError> {
        if self.conn.is_autocommit() {
            // SQLite already rolled back (e.g. after an I/O error); nothing to undo.
            return Ok(());
        }
        self.conn.execute_batch("ROLLBACK").map_err(db_err)
    }

    fn savepoint(&mut self) -> Result<(), StoreError> {
        self.conn.execute_batch("SAVEPOINT job").map_err(db_err)
    }

    fn release_savepoint(&mut self) -> Result<(), StoreError> {
        self.conn.execute_batch("RELEASE job").map_err(db_err)
    }

    fn rollback_to_savepoint(&mut self) -> Result<(), StoreError> {
        // ROLLBACK TO leaves the savepoint in place; RELEASE closes it.
        self.conn
            .execute_batch("ROLLBACK TO job; RELEASE job")
            .map_err(db_err)
    }

    fn execute(
        &mut self,
        sql: &str,
        params: &[SqlValue],
        capture: bool,
    ) -> Result<Executed, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(db_err)?;
        if stmt.parameter_count() != params.len() {
            return Err(StoreError::Backend(format!(
                "{sql}: expected {} parameters, got {}",
                stmt.parameter_count(),
                params.len()
            )));
        }
        for (i, p) in params.iter().enumerate() {
            // SQLite writes bound text into expanded SQL with a C string routine, so a NUL
            // would silently cut the statement a backup replays. Refuse instead.
            if let SqlValue::Text(s) = p {
                if s.contains('\0') {
                    return Err(StoreError::Capture(format!(
                        "text parameter {} contains a NUL byte",
                        i + 1
                    )));
                }
            }
            stmt.raw_bind_parameter(i + 1, to_sql(p)).map_err(db_err)?;
        }
        // Captured after binding and before running: exactly what is executed.
        let expanded = if capture { stmt.expanded_sql() } else { None };
        if capture && expanded.is_none() {
            stmt.clear_bindings();
            return Err(StoreError::Capture(format!(
                "{sql}: expansion failed (too large?)"
            )));
        }
        let changes = stmt.raw_execute().map_err(db_err);
        // Do not keep (possibly megabytes of) bound values alive in the statement cache.
        stmt.clear_bindings();
        Ok(Executed {
            changes: changes?,
            expanded,
        })
    }

    fn query(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<Row>, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(db_err)?;
        let ncols = stmt.column_count();
        let values: Vec<Value> = params.iter().map(to_sql).collect();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(values))
            .map_err(db_err)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(db_err)? {
            let mut r = Vec::with_capacity(ncols);
            for i in 0..ncols {
                r.push(from_sql(row.get_ref(i).map_err(db_err)?)?);
            }
            out.push(r);
        }
        Ok(out)
    }

    fn checkpoint(&mut self) -> Result<(), StoreError> {
        self.query("PRAGMA wal_checkpoint(TRUNCATE)", &[])
            .map(|_| ())
    }

    fn has_table(&mut self, name: &str) -> Result<bool, StoreError> {
        let rows = self.query(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
            &[SqlValue::Text(name.to_string())],
        )?;
        Ok(!rows.is_empty())
    }
}
