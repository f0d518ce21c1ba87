//! The one transaction API. Every write goes through [`Store::transaction`]: statements
//! are captured as they run; at the end `data_version` is bumped, the captured list goes
//! to the [`WriteHook`], and only if it agrees is the transaction committed.
//!
//! Inside a batch (the store thread's jobs that were queued together, see `actor.rs`)
//! each [`Store::transaction`] is a savepoint of one shared transaction: a failing one
//! undoes only its own writes, and the batch ends with one `data_version` bump, one hook
//! call holding every job's statements, and one commit (one fsync).

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
    /// The batch the store thread is running, if it is.
    batch: Option<Batch>,
}

/// Expanded statements a batch may gather before the store thread commits it, so a
/// `db_write` hook is never handed something huge.
const BATCH_BYTES: usize = 1 << 20;

/// Jobs' transactions sharing one commit.
#[derive(Default)]
struct Batch {
    /// Whether the shared transaction is open (the first job that writes opens it).
    open: bool,
    /// Whether any job's transaction changed something.
    dirty: bool,
    /// Every job's expanded statements, in order.
    writes: Vec<String>,
    bytes: usize,
    /// The fatal error met during this batch: every job in it fails, including those
    /// whose own transaction had succeeded.
    failed: Option<StoreError>,
    /// Whether the shared transaction was rolled back (the same, whatever the reason).
    undone: bool,
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
            batch: None,
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

    /// Replaces the `db_write` hook (e.g. once the plugin host is up). What the batch
    /// wrote so far is committed through the old hook first: it was captured for it.
    pub fn set_hook(&mut self, hook: Arc<dyn WriteHook>) {
        // A failure latches (the store stops) and fails the whole batch at its end.
        let _ = self.commit_batch();
        self.hook = hook;
    }

    /// Starts a batch: until [`Store::end_batch`], transactions are savepoints of one
    /// shared transaction, and nothing is committed.
    pub(crate) fn begin_batch(&mut self) {
        self.batch = Some(Batch::default());
    }

    /// Whether the batch holds writes not yet committed (or failed): a job's answer must
    /// then wait for the batch's end, since what it saw may still be undone.
    pub(crate) fn batch_pending(&self) -> bool {
        self.batch
            .as_ref()
            .is_some_and(|b| b.open || b.undone || b.failed.is_some())
    }

    /// Whether the batch gathered as many statements as one hook call should carry.
    pub(crate) fn batch_full(&self) -> bool {
        self.batch.as_ref().is_some_and(|b| b.bytes >= BATCH_BYTES)
    }

    /// Commits the batch (one `data_version`, one hook call, one commit) and leaves batch
    /// mode. `Err` means no job of the batch is durable: each must fail.
    pub(crate) fn end_batch(&mut self) -> Result<(), StoreError> {
        let r = self.commit_batch();
        self.batch = None;
        r
    }

    /// Commits what the batch wrote so far; the batch goes on (a later job opens a new
    /// shared transaction).
    fn commit_batch(&mut self) -> Result<(), StoreError> {
        let Some(b) = self.batch.as_mut() else {
            return Ok(());
        };
        if let Some(e) = &b.failed {
            return Err(e.clone());
        }
        if b.undone {
            return Err(StoreError::Stopped(
                "the batch's shared transaction was rolled back".into(),
            ));
        }
        if !b.open {
            return Ok(());
        }
        let (writes, dirty) = (std::mem::take(&mut b.writes), b.dirty);
        (b.open, b.dirty, b.bytes) = (false, false, 0);
        let done = if dirty {
            self.commit_with_hook(writes)
        } else {
            // Nothing changed: no new data_version, nothing for backups to see.
            self.backend.commit()
        };
        if let Err(e) = done {
            self.abort();
            return Err(self.fail(e));
        }
        Ok(())
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
        if self.batch.is_some() {
            return self.batch_transaction(f);
        }
        if let Err(e) = self.backend.begin() {
            return Err(self.fail(e).into());
        }
        let (result, writes, dirty, fatal) = self.run_tx(f);
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

    /// Runs `f` on a [`Tx`] over the open transaction: its result, the statements it
    /// captured, whether it changed anything, and an engine failure it may have swallowed.
    #[allow(clippy::type_complexity)]
    fn run_tx<T, E>(
        &mut self,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T, E>,
    ) -> (Result<T, E>, Vec<String>, bool, Option<StoreError>) {
        let mut tx = Tx {
            backend: &mut *self.backend,
            writes: Vec::new(),
            dirty: false,
            capture: self.hook.wants_statements(),
            fatal: None,
        };
        let result = f(&mut tx);
        (result, tx.writes, tx.dirty, tx.fatal)
    }

    /// [`Store::transaction`] inside a batch: a savepoint of the shared transaction (opened
    /// here if no job opened it yet); its statements join the batch's.
    fn batch_transaction<T, E>(
        &mut self,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let opened = self.batch.as_ref().is_some_and(|b| b.open);
        if !opened {
            if let Err(e) = self.backend.begin() {
                return Err(self.fail(e).into());
            }
            if let Some(b) = self.batch.as_mut() {
                b.open = true;
            }
        }
        if let Err(e) = self.backend.savepoint() {
            self.abort();
            return Err(self.fail(e).into());
        }
        let (result, writes, dirty, fatal) = self.run_tx(f);
        match (result, fatal) {
            (Ok(v), None) => {
                if let Err(e) = self.backend.release_savepoint() {
                    self.abort();
                    return Err(self.fail(e).into());
                }
                if let Some(b) = self.batch.as_mut() {
                    b.dirty |= dirty;
                    b.bytes += writes.iter().map(String::len).sum::<usize>();
                    b.writes.extend(writes);
                }
                self.close_if_clean();
                Ok(v)
            }
            (Err(e), None) => {
                // Only this job's writes go; the others of the batch stay.
                if let Err(undo) = self.backend.rollback_to_savepoint() {
                    self.abort();
                    self.fail(undo);
                }
                self.close_if_clean();
                Err(e)
            }
            (r, Some(fatal)) => {
                self.abort();
                let stopped = self.fail(fatal);
                Err(r.err().unwrap_or_else(|| stopped.into()))
            }
        }
    }

    /// Ends the shared transaction at once if nothing in it changed (only reads so far):
    /// such a commit costs no fsync, and the jobs' answers need not wait for a later one.
    fn close_if_clean(&mut self) {
        let Some(b) = self.batch.as_mut() else {
            return;
        };
        if !b.open || b.dirty {
            return;
        }
        b.open = false;
        if let Err(e) = self.backend.commit() {
            self.abort();
            self.fail(e);
        }
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
    /// In a batch, a fatal error fails every job of it (the shared transaction is gone).
    fn fail(&mut self, e: StoreError) -> StoreError {
        if e.is_fatal() {
            if let Some(b) = self.batch.as_mut() {
                b.failed.get_or_insert_with(|| e.clone());
            }
        }
        if e.is_fatal() && self.stopped.is_none() {
            self.stopped = Some(e.clone());
            self.hook.store_stopped(&e);
        }
        e
    }

    /// Rolls back the open transaction; in a batch that undoes every job's writes so far,
    /// so the batch fails as a whole.
    fn abort(&mut self) {
        if let Err(e) = self.backend.rollback() {
            tracing::error!("{}: rollback failed: {e}", self.backend.describe());
        }
        if let Some(b) = self.batch.as_mut() {
            b.undone |= b.open;
            (b.open, b.dirty, b.bytes) = (false, false, 0);
            b.writes.clear();
        }
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
