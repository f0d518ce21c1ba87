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

use lightning::io;
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
use crate::tx::Store;

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

    /// The job that applies a write or remove on the store thread, in its key's order:
    /// the version is taken now (at call time); the job does nothing if a later one of
    /// the same key has already been applied.
    fn versioned(
        &self,
        names: Names,
        op: impl FnOnce(&mut Store, &Names) -> Result<(), StoreError> + Send + 'static,
    ) -> impl FnOnce(&mut Store) -> Result<(), StoreError> + Send + 'static {
        let ticket = Ticket::issue(&self.versions, names);
        move |store| {
            if ticket.superseded() {
                return Ok(());
            }
            op(store, &ticket.names)?;
            ticket.applied();
            Ok(())
        }
    }

    fn write_job(
        &self,
        primary: &str,
        secondary: &str,
        key: &str,
        buf: Vec<u8>,
    ) -> Result<impl FnOnce(&mut Store) -> Result<(), StoreError> + Send + 'static, io::Error> {
        check("write", primary, secondary, Some(key))?;
        let names = (primary.to_string(), secondary.to_string(), key.to_string());
        Ok(self.versioned(names, move |s, (p, sec, k)| s.kv_write(p, sec, k, &buf)))
    }

    fn remove_job(
        &self,
        primary: &str,
        secondary: &str,
        key: &str,
    ) -> Result<impl FnOnce(&mut Store) -> Result<(), StoreError> + Send + 'static, io::Error> {
        check("remove", primary, secondary, Some(key))?;
        let names = (primary.to_string(), secondary.to_string(), key.to_string());
        Ok(self.versioned(names, |s, (p, sec, k)| s.kv_remove(p, sec, k)))
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
        let job = self.write_job(primary, secondary, key, buf)?;
        flatten(self.store.call_blocking(job))
    }

    /// Removes at once whether `lazy` or not (a batch would save little here).
    fn remove(
        &self,
        primary: &str,
        secondary: &str,
        key: &str,
        _lazy: bool,
    ) -> Result<(), io::Error> {
        let job = self.remove_job(primary, secondary, key)?;
        flatten(self.store.call_blocking(job))
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
        let job = self.write_job(primary, secondary, key, buf);
        async move { flatten(store.call(job?).await) }
    }

    fn remove(
        &self,
        primary: &str,
        secondary: &str,
        key: &str,
        _lazy: bool,
    ) -> impl Future<Output = Result<(), io::Error>> + 'static + MaybeSend {
        let store = self.store.clone();
        let job = self.remove_job(primary, secondary, key);
        async move { flatten(store.call(job?).await) }
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
