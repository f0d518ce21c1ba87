//! The one transaction API. Every write goes through [`Store::transaction`]: statements
//! are captured as they run; at the end `data_version` is bumped, the captured list goes
//! to the [`WriteHook`], and only if it agrees is the transaction committed.

use std::path::Path;
use std::sync::Arc;

use crate::backend::{Backend, Row, SqlValue};
use crate::error::StoreError;
use crate::hook::WriteHook;
use crate::migrations::{MIGRATIONS, SCHEMA_VERSION};
use crate::sqlite::SqliteBackend;

/// The database, its `db_write` hook, and the `data_version` of the last commit.
pub struct Store {
    /// The engine connection; only this struct talks to it, so all writes are captured.
    backend: Box<dyn Backend>,
    /// Who must agree before anything is committed (the daemon's `db_write` chain).
    hook: Arc<dyn WriteHook>,
    /// The committed `data_version`; the next transaction writes this + 1 (wrapping).
    data_version: u32,
    /// The fatal error that stopped writing, if one happened: a backup may be out of step
    /// with the file, so no later transaction may commit (the daemon is going down).
    stopped: Option<StoreError>,
}

/// An open transaction. Modifying statements go through [`Tx::execute`] and are
/// captured; reads go through [`Tx::query`] and are not (Core Lightning reports only
/// statements that change the database).
pub struct Tx<'a> {
    backend: &'a mut dyn Backend,
    /// Expanded statements, in execution order.
    writes: Vec<String>,
    /// Whether any modifying statement ran (even one the engine could not expand).
    dirty: bool,
    /// Whether statements are expanded for the hook (see [`WriteHook::wants_statements`]).
    capture: bool,
    /// The first engine failure inside the transaction: the closure may swallow or wrap
    /// it, but the store must still stop.
    fatal: Option<StoreError>,
}

impl Tx<'_> {
    /// Runs a statement that changes the database; returns the number of rows changed.
    pub fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<usize, StoreError> {
        self.dirty = true;
        let done = self
            .backend
            .execute(sql, params, self.capture)
            .map_err(|e| self.note(e))?;
        if let Some(s) = done.expanded {
            self.writes.push(s);
        }
        Ok(done.changes)
    }

    /// Runs a read-only statement inside the transaction.
    pub fn query(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<Row>, StoreError> {
        self.backend.query(sql, params).map_err(|e| self.note(e))
    }

    fn note(&mut self, e: StoreError) -> StoreError {
        if e.is_fatal() && self.fatal.is_none() {
            self.fatal = Some(e.clone());
        }
        e
    }
}

impl Store {
    /// Opens `path` with SQLite and brings its schema up to date (through `hook`).
    pub fn open_sqlite(path: &Path, hook: Arc<dyn WriteHook>) -> Result<Store, StoreError> {
        Store::open(Box::new(SqliteBackend::open(path)?), hook)
    }

    /// Opens the store on any backend, running missing migrations through `hook`.
    pub fn open(
        mut backend: Box<dyn Backend>,
        hook: Arc<dyn WriteHook>,
    ) -> Result<Store, StoreError> {
        let (schema, data_version) = if backend.has_table("vars")? {
            (
                read_var(&mut *backend, "schema_version")?,
                read_var(&mut *backend, "data_version")?,
            )
        } else {
            (0, 0)
        };
        if schema > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                found: schema,
                known: SCHEMA_VERSION,
            });
        }
        let data_version = u32::try_from(data_version).map_err(|_| {
            StoreError::Corrupt(format!("data_version {data_version} is not a u32"))
        })?;
        let mut store = Store {
            backend,
            hook,
            data_version,
            stopped: None,
        };
        if schema < SCHEMA_VERSION {
            let from = usize::try_from(schema).unwrap_or(0);
            store.transaction(|tx| {
                for step in MIGRATIONS.iter().skip(from) {
                    for sql in step.iter() {
                        tx.execute(sql, &[])?;
                    }
                }
                tx.execute(
                    "UPDATE vars SET intval = ? WHERE name = 'schema_version'",
                    &[SqlValue::Int(SCHEMA_VERSION)],
                )?;
                Ok::<(), StoreError>(())
            })?;
            tracing::info!(
                "{}: schema migrated from version {schema} to {SCHEMA_VERSION}",
                store.backend.describe()
            );
        }
        Ok(store)
    }

    /// Replaces the `db_write` hook (e.g. once the plugin host is up).
    pub fn set_hook(&mut self, hook: Arc<dyn WriteHook>) {
        self.hook = hook;
    }

    /// The `data_version` of the last committed transaction.
    pub fn data_version(&self) -> u32 {
        self.data_version
    }

    /// Where the database is, for log lines.
    pub fn describe(&self) -> String {
        self.backend.describe()
    }

    /// Runs `f` as one transaction. If `f` fails, everything is rolled back and its error
    /// returned. If it changed anything: `data_version` is bumped (the update is the last
    /// captured statement), the hook sees the statements, and only its consent commits.
    ///
    /// A fatal failure ([`StoreError::is_fatal`]) stops the store: this and every later
    /// transaction fail with [`StoreError::Stopped`], and the hook hears of it once.
    pub fn transaction<T, E>(&mut self, f: impl FnOnce(&mut Tx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        if let Some(e) = &self.stopped {
            return Err(StoreError::Stopped(e.to_string()).into());
        }
        if let Err(e) = self.backend.begin() {
            return Err(self.fail(e).into());
        }
        let mut tx = Tx {
            backend: &mut *self.backend,
            writes: Vec::new(),
            dirty: false,
            capture: self.hook.wants_statements(),
            fatal: None,
        };
        let result = f(&mut tx);
        let (writes, dirty, fatal) = (std::mem::take(&mut tx.writes), tx.dirty, tx.fatal.take());
        drop(tx);
        let result = match (result, fatal) {
            (Ok(v), None) => v,
            (Err(e), None) => {
                self.abort();
                return Err(e);
            }
            // An engine failure the closure swallowed still stops the store.
            (r, Some(fatal)) => {
                self.abort();
                let stopped = self.fail(fatal);
                return Err(r.err().unwrap_or_else(|| stopped.into()));
            }
        };
        if !dirty {
            // Nothing changed: no new data_version, nothing for backups to see.
            if let Err(e) = self.backend.commit() {
                self.abort();
                return Err(self.fail(e).into());
            }
            return Ok(result);
        }
        if let Err(e) = self.commit_with_hook(writes) {
            self.abort();
            return Err(self.fail(e).into());
        }
        Ok(result)
    }

    /// Bumps `data_version` inside the open transaction, asks the hook, commits.
    fn commit_with_hook(&mut self, mut writes: Vec<String>) -> Result<(), StoreError> {
        let next = self.data_version.wrapping_add(1);
        let bumped = self.backend.execute(
            "UPDATE vars SET intval = ? WHERE name = 'data_version' AND intval = ?",
            &[
                SqlValue::Int(next.into()),
                SqlValue::Int(self.data_version.into()),
            ],
            self.hook.wants_statements(),
        )?;
        if bumped.changes != 1 {
            return Err(StoreError::DataVersionMismatch {
                expected: self.data_version,
            });
        }
        writes.extend(bumped.expanded);
        self.hook
            .db_write(next, &writes)
            .map_err(StoreError::HookRefused)?;
        self.backend.commit()?;
        self.data_version = next;
        Ok(())
    }

    /// Latches a fatal error (the first one wins) and tells the hook; returns `e`.
    fn fail(&mut self, e: StoreError) -> StoreError {
        if e.is_fatal() && self.stopped.is_none() {
            self.stopped = Some(e.clone());
            self.hook.store_stopped(&e);
        }
        e
    }

    /// Stops the store from the outside (its thread caught a panic half way through a
    /// job): any open transaction is rolled back and nothing more is written.
    pub fn stop(&mut self, reason: StoreError) {
        self.abort();
        self.fail(reason);
    }

    /// Makes the database file complete on its own (WAL folded in); for clean shutdown.
    pub fn checkpoint(&mut self) -> Result<(), StoreError> {
        self.backend.checkpoint()
    }

    /// Runs read-only statements outside any write transaction.
    pub fn query(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<Row>, StoreError> {
        self.backend.query(sql, params)
    }

    fn abort(&mut self) {
        if let Err(e) = self.backend.rollback() {
            tracing::error!("{}: rollback failed: {e}", self.backend.describe());
        }
    }
}

fn read_var(backend: &mut dyn Backend, name: &str) -> Result<i64, StoreError> {
    let rows = backend.query(
        "SELECT intval FROM vars WHERE name = ?",
        &[SqlValue::Text(name.to_string())],
    )?;
    match rows.first().and_then(|r| r.first()) {
        Some(v) => v.as_i64(),
        None => Err(StoreError::Corrupt(format!("vars has no {name}"))),
    }
}
