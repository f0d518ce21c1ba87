//! LDK's `KVStoreSync` and `KVStore` on the `kv` table, through the store thread.
//!
//! Names are checked as LDK requires (its alphabet, at most 120 characters, no secondary
//! namespace without a primary one, no empty key) before anything is queued.
//!
//! Write ordering (what `KVStore::write` demands): each write or remove is given a
//! per-key version when it is *called*; when its job runs on the store thread it is
//! skipped if a later version of the same key has already been applied. So however the
//! futures are polled, a key never goes back to an older value once a newer one is
//! stored, and the newest call wins once its future completes.
//!
//! Group commit ([`KvGroup`]): blocking writes made inside [`KvGroup::enter`] are queued
//! instead of run, and [`KvGroup::commit`] runs them in call order as one transaction
//! (each still skipped if superseded). A key's write counts as applied once its
//! transaction succeeded; inside one of the store thread's batches (`actor.rs`) that is
//! before the batch's shared commit, but a failed commit stops the store, so no older
//! write queued elsewhere can be hidden by a write that did not land.

use lightning::io;
use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use lightning::util::native_async::MaybeSend;
use lightning::util::persist::{
    KVStore, KVStoreSync, MigratableKVStore, MigratableKVStoreSync, KVSTORE_NAMESPACE_KEY_ALPHABET,
    KVSTORE_NAMESPACE_KEY_MAX_LEN,
};

use crate::actor::StoreHandle;
use crate::error::StoreError;
use crate::tx::{Store, Tx};

/// (primary namespace, secondary namespace, key).
type Names = (String, String, String);

/// Versions of one key: handed out at call time, and the last one stored.
#[derive(Default)]
struct Versions {
    issued: u64,
    applied: u64,
    /// Tickets alive (jobs queued or not yet queued); the entry goes when none are, so
    /// a fresh entry never meets an old job.
    outstanding: usize,
}

type VersionMap = Arc<Mutex<HashMap<Names, Versions>>>;

fn lock(map: &VersionMap) -> MutexGuard<'_, HashMap<Names, Versions>> {
    // Nothing panics while holding it; if something did, the map is still sound.
    map.lock().unwrap_or_else(|e| e.into_inner())
}

/// One write's or remove's place in its key's order. Dropped when its job has run or
/// was dropped unrun (a future nobody polled).
struct Ticket {
    map: VersionMap,
    names: Names,
    version: u64,
}

impl Ticket {
    fn issue(map: &VersionMap, names: Names) -> Ticket {
        let mut m = lock(map);
        let e = m.entry(names.clone()).or_default();
        e.issued += 1;
        e.outstanding += 1;
        let version = e.issued;
        drop(m);
        Ticket {
            map: map.clone(),
            names,
            version,
        }
    }

    /// Whether a later write or remove of the key has already been applied.
    fn superseded(&self) -> bool {
        lock(&self.map)
            .get(&self.names)
            .is_some_and(|e| e.applied >= self.version)
    }

    fn applied(&self) {
        if let Some(e) = lock(&self.map).get_mut(&self.names) {
            e.applied = e.applied.max(self.version);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut m = lock(&self.map);
        if let Some(e) = m.get_mut(&self.names) {
            e.outstanding = e.outstanding.saturating_sub(1);
            if e.outstanding == 0 {
                m.remove(&self.names);
            }
        }
    }
}

/// One write or remove, with its place in its key's order.
struct KvOp {
    ticket: Ticket,
    #[allow(clippy::type_complexity)]
    op: Box<dyn for<'t> FnOnce(&mut Tx<'t>, &Names) -> Result<(), StoreError> + Send>,
}

/// Runs `ops` in order as one transaction (ops a later write of their key already
/// superseded are skipped); their keys count as applied only once it committed.
fn run_ops(store: &mut Store, ops: Vec<KvOp>) -> Result<(), StoreError> {
    let live: Vec<KvOp> = ops.into_iter().filter(|o| !o.ticket.superseded()).collect();
    if live.is_empty() {
        return Ok(());
    }
    let mut tickets = Vec::with_capacity(live.len());
    store.transaction(|tx| {
        for KvOp { ticket, op } in live {
            op(tx, &ticket.names)?;
            tickets.push(ticket);
        }
        Ok::<(), StoreError>(())
    })?;
    for t in &tickets {
        t.applied();
    }
    Ok(())
}

type Queued = Arc<Mutex<Vec<KvOp>>>;

thread_local! {
    /// The group this thread has entered, with its store's id.
    static ENTERED: RefCell<Option<(usize, Queued)>> = const { RefCell::new(None) };
}

/// Gives `op` back unless this thread has entered a group of `store`'s, which takes it.
fn queue_into_entered_group(store: usize, op: KvOp) -> Option<KvOp> {
    ENTERED.with(|e| match &*e.borrow() {
        Some((id, queued)) if *id == store => {
            queued.lock().unwrap_or_else(|p| p.into_inner()).push(op);
            None
        }
        _ => Some(op),
    })
}

/// Writes and removes made through [`KvStore`]s of one store, held back and committed
/// together as one transaction (one `db_write`, one fsync) by [`KvGroup::commit`].
///
/// Inside [`KvGroup::enter`] a blocking write's `Ok` means only that it is queued: it is
/// durable once `commit` returned `Ok`, and lost with the others if it fails or never
/// runs. So only callers that report completion after the commit (a persister answering
/// `InProgress`) may write inside a group. Reads are not grouped: they see what is
/// committed. Async writes are never grouped.
pub struct KvGroup {
    store: StoreHandle,
    ops: Queued,
}

impl KvGroup {
    /// Runs `f`; every blocking write and remove this thread makes meanwhile, through any
    /// [`KvStore`] of the same store, is queued into this group (in call order, across
    /// threads). Entering another group inside `f` is undone when that one is left.
    pub fn enter<T>(&self, f: impl FnOnce() -> T) -> T {
        struct Leave(Option<(usize, Queued)>);
        impl Drop for Leave {
            fn drop(&mut self) {
                let previous = self.0.take();
                ENTERED.with(|e| *e.borrow_mut() = previous);
            }
        }
        let previous =
            ENTERED.with(|e| e.borrow_mut().replace((self.store.id(), self.ops.clone())));
        let _leave = Leave(previous);
        f()
    }

    /// How many writes and removes are queued.
    pub fn len(&self) -> usize {
        self.ops.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Commits what is queued as one transaction; durable when it returns `Ok`. Nothing
    /// queued: nothing written. Blocking, like the sync writes it stands for.
    pub fn commit(self) -> Result<(), io::Error> {
        let ops = std::mem::take(&mut *self.ops.lock().unwrap_or_else(|p| p.into_inner()));
        if ops.is_empty() {
            return Ok(());
        }
        flatten(self.store.call_blocking(move |s| run_ops(s, ops)))
    }
}

/// LDK's key-value store on boltd's database. Cheap to clone.
#[derive(Clone)]
pub struct KvStore {
    store: StoreHandle,
    /// Keys with writes or removes in flight (an entry goes once none are).
    versions: VersionMap,
}

fn invalid(what: &str, primary: &str, secondary: &str, key: &str, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{what} {primary}/{secondary}/{key}: {why}"),
    )
}

fn valid_name(s: &str) -> bool {
    s.len() <= KVSTORE_NAMESPACE_KEY_MAX_LEN
        && s.chars()
            .all(|c| KVSTORE_NAMESPACE_KEY_ALPHABET.contains(c))
}

/// LDK's rules for namespaces (and a key, unless `key` is `None`, as for `list`).
fn check(what: &str, primary: &str, secondary: &str, key: Option<&str>) -> Result<(), io::Error> {
    let k = key.unwrap_or("");
    if key == Some("") {
        return Err(invalid(what, primary, secondary, k, "empty key"));
    }
    if primary.is_empty() && !secondary.is_empty() {
        return Err(invalid(
            what,
            primary,
            secondary,
            k,
            "a secondary namespace needs a primary namespace",
        ));
    }
    if !(valid_name(primary) && valid_name(secondary) && valid_name(k)) {
        return Err(invalid(
            what,
            primary,
            secondary,
            k,
            &format!(
                "names must be at most {KVSTORE_NAMESPACE_KEY_MAX_LEN} characters of [A-Za-z0-9_-]"
            ),
        ));
    }
    Ok(())
}

fn io_error(e: StoreError) -> io::Error {
    io::Error::new(io::ErrorKind::Other, e.to_string())
}

impl KvStore {
    pub fn new(store: StoreHandle) -> KvStore {
        KvStore {
            store,
            versions: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// A write or remove in its key's order: the version is taken now (at call time); it
    /// does nothing if a later one of the same key has already been applied.
    fn versioned(
        &self,
        names: Names,
        op: impl for<'t> FnOnce(&mut Tx<'t>, &Names) -> Result<(), StoreError> + Send + 'static,
    ) -> KvOp {
        KvOp {
            ticket: Ticket::issue(&self.versions, names),
            op: Box::new(op),
        }
    }

    fn write_op(
        &self,
        primary: &str,
        secondary: &str,
        key: &str,
        buf: Vec<u8>,
    ) -> Result<KvOp, io::Error> {
        check("write", primary, secondary, Some(key))?;
        let names = (primary.to_string(), secondary.to_string(), key.to_string());
        Ok(self.versioned(names, move |tx, (p, sec, k)| tx.kv_write(p, sec, k, &buf)))
    }

    fn remove_op(&self, primary: &str, secondary: &str, key: &str) -> Result<KvOp, io::Error> {
        check("remove", primary, secondary, Some(key))?;
        let names = (primary.to_string(), secondary.to_string(), key.to_string());
        Ok(self.versioned(names, |tx, (p, sec, k)| tx.kv_remove(p, sec, k)))
    }

    /// Runs `op` now (its own transaction), or queues it into the group this thread has
    /// entered for this store (see [`KvGroup::enter`]).
    fn apply_blocking(&self, op: KvOp) -> Result<(), io::Error> {
        let Some(op) = queue_into_entered_group(self.store.id(), op) else {
            return Ok(());
        };
        flatten(self.store.call_blocking(move |s| run_ops(s, vec![op])))
    }

    /// A group of writes and removes to be committed as one transaction.
    pub fn group(&self) -> KvGroup {
        KvGroup {
            store: self.store.clone(),
            ops: Arc::new(Mutex::new(Vec::new())),
        }
    }

    fn read_job(
        primary: &str,
        secondary: &str,
        key: &str,
    ) -> Result<impl FnOnce(&mut Store) -> Result<Vec<u8>, io::Error> + Send + 'static, io::Error>
    {
        check("read", primary, secondary, Some(key))?;
        let (p, sec, k) = (primary.to_string(), secondary.to_string(), key.to_string());
        Ok(move |s: &mut Store| match s.kv_read(&p, &sec, &k) {
            Ok(Some(v)) => Ok(v),
            Ok(None) => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{p}/{sec}/{k}: not found"),
            )),
            Err(e) => Err(io_error(e)),
        })
    }

    fn list_job(
        primary: &str,
        secondary: &str,
    ) -> Result<
        impl FnOnce(&mut Store) -> Result<Vec<String>, StoreError> + Send + 'static,
        io::Error,
    > {
        check("list", primary, secondary, None)?;
        let (p, sec) = (primary.to_string(), secondary.to_string());
        Ok(move |s: &mut Store| s.kv_list(&p, &sec))
    }
}

fn flatten<T>(r: Result<Result<T, StoreError>, StoreError>) -> Result<T, io::Error> {
    r.and_then(|r| r).map_err(io_error)
}

impl KVStoreSync for KvStore {
    fn read(&self, primary: &str, secondary: &str, key: &str) -> Result<Vec<u8>, io::Error> {
        let job = Self::read_job(primary, secondary, key)?;
        self.store.call_blocking(job).map_err(io_error)?
    }

    fn write(
        &self,
        primary: &str,
        secondary: &str,
        key: &str,
        buf: Vec<u8>,
    ) -> Result<(), io::Error> {
        self.apply_blocking(self.write_op(primary, secondary, key, buf)?)
    }

    /// Removes at once whether `lazy` or not (a batch would save little here).
    fn remove(
        &self,
        primary: &str,
        secondary: &str,
        key: &str,
        _lazy: bool,
    ) -> Result<(), io::Error> {
        self.apply_blocking(self.remove_op(primary, secondary, key)?)
    }

    fn list(&self, primary: &str, secondary: &str) -> Result<Vec<String>, io::Error> {
        let job = Self::list_job(primary, secondary)?;
        flatten(self.store.call_blocking(job))
    }
}

impl MigratableKVStoreSync for KvStore {
    fn list_all_keys(&self) -> Result<Vec<(String, String, String)>, io::Error> {
        flatten(self.store.call_blocking(Store::kv_list_all))
    }
}

/// The async variant: the same jobs, awaited instead of blocked on. Each future owns
/// what it needs (`'static`); a refused name is an error future, nothing queued.
impl KVStore for KvStore {
    fn read(
        &self,
        primary: &str,
        secondary: &str,
        key: &str,
    ) -> impl Future<Output = Result<Vec<u8>, io::Error>> + 'static + MaybeSend {
        let store = self.store.clone();
        let job = Self::read_job(primary, secondary, key);
        async move { store.call(job?).await.map_err(io_error)? }
    }

    fn write(
        &self,
        primary: &str,
        secondary: &str,
        key: &str,
        buf: Vec<u8>,
    ) -> impl Future<Output = Result<(), io::Error>> + 'static + MaybeSend {
        let store = self.store.clone();
        // The version is taken now, at call time: that is what orders the writes.
        let op = self.write_op(primary, secondary, key, buf);
        async move {
            let op = op?;
            flatten(store.call(move |s| run_ops(s, vec![op])).await)
        }
    }

    fn remove(
        &self,
        primary: &str,
        secondary: &str,
        key: &str,
        _lazy: bool,
    ) -> impl Future<Output = Result<(), io::Error>> + 'static + MaybeSend {
        let store = self.store.clone();
        let op = self.remove_op(primary, secondary, key);
        async move {
            let op = op?;
            flatten(store.call(move |s| run_ops(s, vec![op])).await)
        }
    }

    fn list(
        &self,
        primary: &str,
        secondary: &str,
    ) -> impl Future<Output = Result<Vec<String>, io::Error>> + 'static + MaybeSend {
        let store = self.store.clone();
        let job = Self::list_job(primary, secondary);
        async move { flatten(store.call(job?).await) }
    }
}

impl MigratableKVStore for KvStore {
    fn list_all_keys(
        &self,
    ) -> impl Future<Output = Result<Vec<(String, String, String)>, io::Error>> + 'static + MaybeSend
    {
        let store = self.store.clone();
        async move { flatten(store.call(Store::kv_list_all).await) }
    }
}
