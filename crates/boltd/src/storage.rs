//! The daemon's side of the store: where the database is (`--wallet`), running every
//! store call off the async runtime behind one lock, routing each transaction to the
//! `db_write` plugins before it commits, and turning a refused write into shutdown.
//!
//! Why one lock: while a `db_write` hook is out, nothing else may write (backup plugins
//! rely on it). Store calls run on tokio's blocking pool; the hook itself is async (the
//! plugin host) and is driven from that blocking thread with `Handle::block_on`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures::future::BoxFuture;
use jsonrpc::RpcError;
use store::{DatastoreError, HookRefusal, Store, StoreError, WriteHook};

use crate::shutdown::Shutdown;

/// Database file name inside `<lightning-dir>/<network>/`.
pub const DEFAULT_DB_FILE: &str = "boltd.sqlite3";

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

/// Sends one transaction to every `db_write` plugin; `Err` names who refused.
/// The daemon passes it to [`start`] once plugins have their manifests in (so migrations
/// reach them too); [`Storage::set_db_write`] replaces it later if needed.
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
pub fn wallet_path(wallet: Option<&str>, network_dir: &Path) -> PathBuf {
    match wallet.and_then(|w| w.strip_prefix("sqlite3://")) {
        Some(p) => network_dir.join(p),
        None => network_dir.join(DEFAULT_DB_FILE),
    }
}

/// The hook the store calls: forwards to the plugin task's [`DbWriteFn`], if any.
struct PluginWriteHook {
    sink: RwLock<Option<DbWriteFn>>,
    rt: tokio::runtime::Handle,
}

impl WriteHook for PluginWriteHook {
    fn db_write(&self, data_version: u32, writes: &[String]) -> Result<(), HookRefusal> {
        let sink = self.sink.read().ok().and_then(|s| s.clone());
        let Some(sink) = sink else { return Ok(()) };
        let call = sink(data_version, writes.to_vec());
        // A backstop only: the sink enforces the limit itself and names the plugins.
        let limit = db_write_timeout() + Duration::from_secs(5);
        match self.rt.block_on(tokio::time::timeout(limit, call)) {
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
    store: Arc<Mutex<Store>>,
    hook: Arc<PluginWriteHook>,
    /// Set after a refused or failed commit: from then on nothing is written (the daemon
    /// is shutting down; a backup may be out of step).
    failed: Arc<AtomicBool>,
    shutdown: Shutdown,
}

impl Storage {
    /// Opens the database at `path` (migrations go through `db_write`, so install the
    /// plugin sink first if `db_write` plugins exist: pass it as `sink`).
    pub async fn open(
        path: PathBuf,
        sink: Option<DbWriteFn>,
        shutdown: Shutdown,
    ) -> Result<Storage, StoreError> {
        let hook = Arc::new(PluginWriteHook {
            sink: RwLock::new(sink),
            rt: tokio::runtime::Handle::current(),
        });
        let h = hook.clone();
        let store = tokio::task::spawn_blocking(move || Store::open_sqlite(&path, h))
            .await
            .map_err(|e| StoreError::Backend(format!("store task failed: {e}")))??;
        tracing::info!(
            "Using {} (data_version {})",
            store.describe(),
            store.data_version()
        );
        Ok(Storage {
            store: Arc::new(Mutex::new(store)),
            hook,
            failed: Arc::new(AtomicBool::new(false)),
            shutdown,
        })
    }

    /// Routes future transactions to `sink` (the `db_write` plugins).
    pub fn set_db_write(&self, sink: Option<DbWriteFn>) {
        if let Ok(mut s) = self.hook.sink.write() {
            *s = sink;
        }
    }

    /// Runs `f` with the store on the blocking pool. A refused `db_write` or a failed
    /// commit shuts the daemon down with a non-zero exit code and a broken log line.
    pub async fn run<T, F>(&self, f: F) -> Result<T, DatastoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> Result<T, DatastoreError> + Send + 'static,
    {
        if self.failed.load(Ordering::SeqCst) {
            return Err(
                StoreError::Backend("the store stopped after a failed write".into()).into(),
            );
        }
        let store = self.store.clone();
        let failed = self.failed.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut guard = store
                .lock()
                .map_err(|_| StoreError::Backend("store lock poisoned".into()))?;
            if failed.load(Ordering::SeqCst) {
                return Err(
                    StoreError::Backend("the store stopped after a failed write".into()).into(),
                );
            }
            let r = f(&mut guard);
            if let Err(DatastoreError::Store(e)) = &r {
                if is_fatal(e) {
                    failed.store(true, Ordering::SeqCst);
                }
            }
            r
        })
        .await
        .map_err(|e| {
            DatastoreError::Store(StoreError::Backend(format!("store task failed: {e}")))
        })?;
        if let Err(DatastoreError::Store(e)) = &result {
            if is_fatal(e) {
                tracing::error!("{e}");
                self.shutdown.trigger(&format!("store: {e}"), 1);
            }
        }
        result
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

/// Errors after which continuing would let a backup and the database drift apart.
fn is_fatal(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::HookRefused(_)
            | StoreError::DataVersionMismatch { .. }
            | StoreError::Backend(_)
    )
}

/// A store failure as the client sees it (`-1`, the daemon is going down).
pub fn store_rpc_error(e: &StoreError) -> RpcError {
    RpcError::daemon(e.to_string())
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
/// `<network dir>/boltd.sqlite3`) with `sink` already routing to `db_write` plugins, and
/// checkpoints it at a clean stop. Call it after plugins answered `getmanifest` and
/// before they get `init`.
pub async fn start(node: &crate::node::Node, sink: Option<DbWriteFn>) -> Result<Storage, String> {
    let wallet = node.config.read().ok().and_then(|c| c.get_str("wallet"));
    let path = wallet_path(wallet.as_deref(), &node.settings.network_dir);
    let storage = Storage::open(path.clone(), sink, node.shutdown.clone())
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
