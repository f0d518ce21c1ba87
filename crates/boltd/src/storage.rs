//! The daemon's side of the store: where the database is (`--wallet`), the store thread
//! every store call is queued to, routing each transaction to the `db_write` plugins
//! before it commits, and turning a refused write into shutdown.
//!
//! The store thread ([`store::StoreHandle`]) runs one job at a time, so while a
//! `db_write` hook is out nothing else writes (backup plugins rely on it), and callers
//! waiting behind it hold no thread. The hook itself is async (the plugin host) and is
//! driven from the store thread, which is not a runtime thread, with `Handle::block_on`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use jsonrpc::RpcError;
use store::{DatastoreError, HookRefusal, KvStore, Store, StoreError, StoreHandle, WriteHook};

use crate::shutdown::Shutdown;

/// Database file name inside `<lightning-dir>/<network>/` (Core Lightning's).
pub const DEFAULT_DB_FILE: &str = "lightningd.sqlite3";

/// The name boltd used before; a network dir that has it keeps using it.
pub const OLD_DB_FILE: &str = "boltd.sqlite3";

/// How long all `db_write` plugins together may take before the write is refused.
/// Core Lightning waits forever; a hung backup plugin would freeze the node silently, so
/// boltd refuses (and shuts down, naming the hook) instead.
pub const DB_WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// Test knob: a shorter [`DB_WRITE_TIMEOUT`], in milliseconds.
const DB_WRITE_TIMEOUT_ENV: &str = "BOLTD_DEV_DB_WRITE_TIMEOUT_MS";

fn db_write_timeout() -> Duration {
    std::env::var(DB_WRITE_TIMEOUT_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis)
        .unwrap_or(DB_WRITE_TIMEOUT)
}

/// Whether a `db_write` sink has anyone to tell.
pub type Listening = Arc<dyn Fn() -> bool + Send + Sync>;

/// Sends one transaction to every `db_write` plugin; `Err` names who refused.
/// The daemon passes it to [`start`] once plugins have their manifests in (so migrations
/// reach them too).
pub type DbWriteFn =
    Arc<dyn Fn(u32, Vec<String>) -> BoxFuture<'static, Result<(), HookRefusal>> + Send + Sync>;

/// `--wallet` value check: `sqlite3://PATH` (PostgreSQL comes later).
pub fn check_wallet(v: &str) -> Result<(), String> {
    match v.strip_prefix("sqlite3://") {
        Some(p) if !p.is_empty() => Ok(()),
        _ if v.starts_with("postgres://") => {
            Err("--wallet=postgres:// is not supported yet".into())
        }
        _ => Err(format!(
            "Unknown DSN scheme in '{v}': expected sqlite3://PATH"
        )),
    }
}

/// The database path for `--wallet` (relative paths are relative to the network dir).
/// Without it: `lightningd.sqlite3`, unless only an older `boltd.sqlite3` is there.
pub fn wallet_path(wallet: Option<&str>, network_dir: &Path) -> PathBuf {
    match wallet.and_then(|w| w.strip_prefix("sqlite3://")) {
        Some(p) => network_dir.join(p),
        None => {
            let old = network_dir.join(OLD_DB_FILE);
            let new = network_dir.join(DEFAULT_DB_FILE);
            if !new.exists() && old.exists() {
                old
            } else {
                new
            }
        }
    }
}

/// The hook the store calls (on its own thread): forwards to the plugin task's
/// [`DbWriteFn`], if any, and shuts the daemon down when the store stops.
struct PluginWriteHook {
    sink: Option<DbWriteFn>,
    /// Whether some plugin hooks `db_write` now (asked per transaction); none means the
    /// sink always listens.
    listening: Option<Listening>,
    rt: tokio::runtime::Handle,
    shutdown: Shutdown,
}

impl WriteHook for PluginWriteHook {
    fn store_stopped(&self, error: &StoreError) {
        tracing::error!("{error}");
        self.shutdown.trigger(&format!("store: {error}"), 1);
    }

    fn wants_statements(&self) -> bool {
        self.sink.is_some() && self.listening.as_ref().is_none_or(|l| l())
    }

    fn db_write(&self, data_version: u32, writes: &[String]) -> Result<(), HookRefusal> {
        let Some(sink) = &self.sink else {
            return Ok(());
        };
        let call = sink(data_version, writes.to_vec());
        // A backstop only: the sink enforces the limit itself and names the plugins.
        let limit = db_write_timeout() + Duration::from_secs(5);
        // The timer is made inside the runtime (this thread is not one of its threads).
        match self
            .rt
            .block_on(async move { tokio::time::timeout(limit, call).await })
        {
            Ok(r) => r,
            Err(_) => Err(HookRefusal {
                plugin: "db_write".into(),
                reason: format!(
                    "not every db_write plugin answered data_version {data_version} within {limit:?}"
                ),
            }),
        }
    }
}

/// Cheap to clone; commands hold one.
#[derive(Clone)]
pub struct Storage {
    /// The store thread. A refused or failed write stops it for good (the store latches
    /// it and the hook shuts the daemon down): a backup may be out of step.
    store: StoreHandle,
    /// Where what waits for a record's commit runs (see `after_commit.rs`).
    after: crate::after_commit::AfterCommit,
}

impl Storage {
    /// Opens the database at `path` (migrations go through `db_write`, so install the
    /// plugin sink first if `db_write` plugins exist: pass it as `sink`).
    pub async fn open(
        path: PathBuf,
        sink: Option<DbWriteFn>,
        shutdown: Shutdown,
    ) -> Result<Storage, StoreError> {
        Self::open_listening(path, sink, None, shutdown).await
    }

    /// [`open`](Self::open), with statements expanded for the sink only while `listening`
    /// says a plugin hooks `db_write` (the expansion of every monitor blob as hex is most
    /// of a paying node's store thread otherwise).
    pub async fn open_listening(
        path: PathBuf,
        sink: Option<DbWriteFn>,
        listening: Option<Listening>,
        shutdown: Shutdown,
    ) -> Result<Storage, StoreError> {
        let hook = Arc::new(PluginWriteHook {
            sink,
            listening,
            rt: tokio::runtime::Handle::current(),
            shutdown,
        });
        let store = StoreHandle::open(move || Store::open_sqlite(&path, hook)).await?;
        let data_version = store.call(|s| s.data_version()).await?;
        tracing::info!("Using {} (data_version {data_version})", store.describe());
        Ok(Storage {
            store,
            after: crate::after_commit::AfterCommit::start(),
        })
    }

    /// Runs `f` on the store thread. A refused `db_write` or a failed commit shuts the
    /// daemon down with a non-zero exit code and a broken log line (the hook's
    /// `store_stopped`, on the store thread); the caller gets the error.
    pub async fn run<T, F>(&self, f: F) -> Result<T, DatastoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> Result<T, DatastoreError> + Send + 'static,
    {
        self.store.call(f).await?
    }

    /// [`Storage::run`] for synchronous callers (the wallet's `WalletStore`): blocks the
    /// calling thread, never a runtime worker's other tasks (see `StoreHandle::call_blocking`).
    pub fn run_blocking<T, F>(&self, f: F) -> Result<T, DatastoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> Result<T, DatastoreError> + Send + 'static,
    {
        self.store.call_blocking(f)?
    }

    /// Runs `f` on the store thread; `Err` only when the store itself is gone or the
    /// commit `f` shared with other callers' jobs failed (the caller's own errors come
    /// back inside `T`).
    pub async fn call<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> T + Send + 'static,
    {
        self.store.call(f).await
    }

    pub(crate) fn store_handle(&self) -> &StoreHandle {
        &self.store
    }

    pub(crate) fn after_commit(&self) -> &crate::after_commit::AfterCommit {
        &self.after
    }

    /// LDK's key-value store on this database (every write goes through `db_write`).
    pub fn kv_store(&self) -> KvStore {
        KvStore::new(self.store.clone())
    }
}

impl Storage {
    /// Remembers where a peer was reached, for `connect <id>` without an address.
    pub async fn remember_peer_address(
        &self,
        node_id: String,
        address: String,
    ) -> Result<(), StoreError> {
        self.run(move |s| Ok(s.remember_peer_address(&node_id, &address)?))
            .await
            .map_err(into_store_error)
    }

    /// The remembered address of a peer (node id in hex).
    pub async fn peer_address(&self, node_id: String) -> Result<Option<String>, StoreError> {
        self.run(move |s| Ok(s.peer_address(&node_id)?))
            .await
            .map_err(into_store_error)
    }
}

fn into_store_error(e: DatastoreError) -> StoreError {
    match e {
        DatastoreError::Store(s) => s,
        other => StoreError::Backend(other.to_string()),
    }
}

/// A store failure as the client sees it (`-1`, the daemon is going down).
pub fn store_rpc_error(e: &StoreError) -> RpcError {
    RpcError::daemon(e.to_string())
}

/// Whether some plugin of `host` hooks `db_write` (a plugin started later may).
pub fn plugin_db_write_listening(host: plugins::PluginHost) -> Listening {
    Arc::new(move || host.has_hook("db_write"))
}

/// The `db_write` chain of the plugin host as a [`DbWriteFn`]: every registered plugin
/// at once; anything but `continue` from all of them (an error, a death) is a refusal
/// whose reason names the plugin.
pub fn plugin_db_write(host: plugins::PluginHost) -> DbWriteFn {
    use plugins::hooks::{DbWrite, DbWriteOutcome, DbWritePayload};
    Arc::new(move |data_version, writes| {
        let host = host.clone();
        Box::pin(async move {
            let payload = DbWritePayload {
                data_version,
                writes,
            };
            let limit = db_write_timeout();
            match tokio::time::timeout(limit, host.call_hook::<DbWrite>(&payload, None)).await {
                Ok(DbWriteOutcome::Continue) => Ok(()),
                // The host's reason names the plugin (`Plugin '<path>' ...`).
                Ok(DbWriteOutcome::Refused(reason)) => Err(HookRefusal {
                    plugin: "Plugin".into(),
                    reason,
                }),
                Err(_) => {
                    let plugins = host
                        .hook_plugins("db_write")
                        .iter()
                        .map(|p| format!("'{p}'"))
                        .collect::<Vec<_>>()
                        .join(", ");
                    Err(HookRefusal {
                        plugin: plugins.clone(),
                        reason: format!(
                            "Plugin(s) {plugins} did not answer db_write data_version {data_version} within {limit:?}"
                        ),
                    })
                }
            }
        })
    })
}

/// Opens the store the configuration names (`--wallet`, else
/// `<network dir>/lightningd.sqlite3`) with `sink` already routing to `db_write` plugins, and
/// checkpoints it at a clean stop. Call it after plugins answered `getmanifest` and
/// before they get `init`.
pub async fn start(
    node: &crate::node::Node,
    sink: Option<DbWriteFn>,
    listening: Option<Listening>,
) -> Result<Storage, String> {
    let wallet = node.config.read().ok().and_then(|c| c.get_str("wallet"));
    let path = wallet_path(wallet.as_deref(), &node.settings.network_dir);
    let storage = Storage::open_listening(path.clone(), sink, listening, node.shutdown.clone())
        .await
        .map_err(|e| format!("opening database {}: {e}", path.display()))?;
    // At a clean stop, fold the WAL into the file so the file alone is a full copy.
    let s = storage.clone();
    node.shutdown.on_exit(
        "store checkpoint",
        Box::new(move || {
            Box::pin(async move {
                if let Err(e) = s.run(|st| Ok(st.checkpoint()?)).await {
                    tracing::warn!("store checkpoint at shutdown: {e}");
                }
            })
        }),
    );
    Ok(storage)
}

impl Storage {
    /// Where we last reached `node_id` (hex), for `connect <id>` without an address.
    pub async fn remembered_address(&self, node_id: &str) -> Option<(String, u16)> {
        let stored = match self.peer_address(node_id.to_string()).await {
            Ok(a) => a?,
            Err(e) => {
                tracing::warn!("looking up the address of {node_id}: {e}");
                return None;
            }
        };
        match crate::peering::addr::split_host_port(&stored) {
            Ok((host, Some(port))) => Some((host, port)),
            _ => {
                tracing::warn!("ignoring unusable stored address '{stored}' of {node_id}");
                None
            }
        }
    }

    /// Remembers that `node_id` answered at `host:port` (a write only when it changed).
    pub async fn remember_address(&self, node_id: &str, host: &str, port: u16) {
        let addr = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        if let Err(e) = self.remember_peer_address(node_id.to_string(), addr).await {
            tracing::warn!("remembering the address of {node_id}: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_database_is_lightningd_sqlite3_unless_boltd_sqlite3_exists() {
        let dir = tempfile::tempdir().unwrap();
        let net = dir.path();
        assert_eq!(wallet_path(None, net), net.join("lightningd.sqlite3"));
        std::fs::write(net.join("boltd.sqlite3"), b"").unwrap();
        assert_eq!(wallet_path(None, net), net.join("boltd.sqlite3"));
        // Both there (someone copied one in): Core Lightning's name wins.
        std::fs::write(net.join("lightningd.sqlite3"), b"").unwrap();
        assert_eq!(wallet_path(None, net), net.join("lightningd.sqlite3"));
        assert_eq!(
            wallet_path(Some("sqlite3://x.sqlite3"), net),
            net.join("x.sqlite3")
        );
    }

    /// A `db_write` sink that takes `ms` per transaction without holding a thread.
    fn slow_sink(ms: u64) -> DbWriteFn {
        Arc::new(move |_, _| {
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok(())
            })
        })
    }

    #[test]
    fn statements_reach_the_sink_only_while_a_plugin_listens() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Mutex;
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let seen = Arc::new(Mutex::new(Vec::new()));
            let s2 = seen.clone();
            let sink: DbWriteFn = Arc::new(move |_, writes: Vec<String>| {
                s2.lock().unwrap().push(writes.len());
                Box::pin(async { Ok(()) })
            });
            let on = Arc::new(AtomicBool::new(false));
            let o2 = on.clone();
            let listening: Listening = Arc::new(move || o2.load(Ordering::SeqCst));
            let storage = Storage::open_listening(
                dir.path().join("lightningd.sqlite3"),
                Some(sink),
                Some(listening),
                Shutdown::new(),
            )
            .await
            .unwrap();
            let put = |k: &'static str| {
                let s = storage.clone();
                async move {
                    s.run(move |st| {
                        st.datastore_put(&[k.to_string()], b"v", store::Mode::MustCreate, None)
                    })
                    .await
                    .unwrap()
                }
            };
            put("quiet").await;
            assert_eq!(seen.lock().unwrap().last(), Some(&0));
            on.store(true, Ordering::SeqCst);
            put("heard").await;
            assert!(seen.lock().unwrap().last().is_some_and(|n| *n >= 2));
        });
    }

    #[test]
    fn writers_waiting_on_a_slow_db_write_leave_the_blocking_pool_free() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .max_blocking_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let storage = Storage::open(
                dir.path().join("lightningd.sqlite3"),
                Some(slow_sink(100)),
                Shutdown::new(),
            )
            .await
            .unwrap();
            let writers: Vec<_> = (0..20)
                .map(|i| {
                    let s = storage.clone();
                    tokio::spawn(async move {
                        s.run(move |st| {
                            st.datastore_put(
                                &[format!("k{i}")],
                                b"v",
                                store::Mode::MustCreate,
                                None,
                            )
                        })
                        .await
                    })
                })
                .collect();
            tokio::time::sleep(Duration::from_millis(30)).await;
            let t = std::time::Instant::now();
            tokio::task::spawn_blocking(|| ()).await.unwrap();
            assert!(
                t.elapsed() < Duration::from_millis(500),
                "the blocking pool was busy for {:?}",
                t.elapsed()
            );
            for w in writers {
                w.await.unwrap().unwrap();
            }
        });
    }

    #[test]
    fn a_refused_db_write_shuts_the_daemon_down_and_stops_writing() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let refuse: DbWriteFn = Arc::new(|dv, _| {
                Box::pin(async move {
                    if dv > 1 {
                        Err(HookRefusal {
                            plugin: "backup.py".into(),
                            reason: "Plugin 'backup.py' returned failed db_write".into(),
                        })
                    } else {
                        Ok(())
                    }
                })
            });
            let shutdown = Shutdown::new();
            let storage = Storage::open(
                dir.path().join("lightningd.sqlite3"),
                Some(refuse),
                shutdown.clone(),
            )
            .await
            .unwrap();
            let put = |k: &str| {
                let k = vec![k.to_string()];
                let s = storage.clone();
                async move {
                    s.run(move |st| st.datastore_put(&k, b"v", store::Mode::MustCreate, None))
                        .await
                }
            };
            let e = put("a").await.unwrap_err();
            assert!(e.to_string().contains("returned failed db_write"), "{e}");
            assert_eq!(shutdown.exit_code(), 1);
            let e = put("b").await.unwrap_err();
            assert!(e.to_string().contains("store stopped"), "{e}");
        });
    }
}
