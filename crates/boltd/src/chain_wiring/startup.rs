//! The chain at start-up, in lightningd's order (chain reference §1.3): the embedded
//! devchain if the user named no bitcoind, every backend method's provider checked, the
//! backend plugins' `init` ahead of all others, their death made fatal, the first
//! `getchaininfo` (wrong network: refuse), the root block and the first fees; all before
//! the RPC socket exists. Polling starts with [`Chain::run`] once every plugin is up.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chain::{
    BlockRef, Broadcaster, ChainError, ChainListener, ChainStatus, FeeConfig, Fees, JsonBackend,
    Poller, PollerConfig,
};
use plugins::PluginHost;
use tokio::sync::watch;

use super::{devchain, HostCalls, NodeListener, StoreHashes};
use crate::node::Node;
use crate::shutdown::Shutdown;
use crate::storage::Storage;

/// The bundled backend plugin's file name (next to boltd).
pub const BCLI: &str = "bcli";
/// The dev chain server's file name (next to boltd).
pub const DEVCHAIN: &str = "devchain";
/// lightningd's message when a backend plugin goes away.
pub const BACKEND_DIED: &str = "The Bitcoin backend died.";

pub type HostBackend = JsonBackend<HostCalls>;

/// The chain handles the rest of the node uses.
pub struct Chain {
    /// LDK's `FeeEstimator` and the `feerates` data.
    pub fees: Arc<Fees>,
    /// Tip and sync state (`getinfo`).
    pub status: watch::Receiver<ChainStatus>,
    /// LDK's `BroadcasterInterface` over `sendrawtransaction`.
    pub broadcaster: Arc<Broadcaster>,
    poller: Mutex<Option<Poller<HostBackend>>>,
}

/// A listener and the last block it has applied (`None`: it takes the chain from now on).
/// With a block, the poller replays what it lacks before any new block reaches anyone.
pub type Joining = (Arc<dyn ChainListener>, Option<BlockRef>);

impl Chain {
    /// Adds a listener before [`Chain::run`] (caught up at the first round); Err once the
    /// poller runs (listeners join at start-up only).
    pub fn add_listener(&self, (listener, best): Joining) -> Result<(), String> {
        let mut poller = self
            .poller
            .lock()
            .map_err(|_| "chain poller lock poisoned".to_string())?;
        let poller = poller
            .as_mut()
            .ok_or_else(|| "the chain poller runs already".to_string())?;
        match best {
            Some(b) => poller.add_listener_at(listener, b),
            None => poller.add_listener(listener),
        }
        Ok(())
    }

    /// Starts the poller's rounds (once; later calls do nothing), until shutdown.
    pub fn run(&self, shutdown: Shutdown) {
        let poller = self.poller.lock().ok().and_then(|mut p| p.take());
        if let Some(poller) = poller {
            let sd = shutdown.clone();
            let task = tokio::spawn(poller.run(async move { sd.recv().await }));
            // Exit waits for the round in progress: a task still running when the runtime
            // shuts down may be polled without its timer driver, and tokio panics then.
            shutdown.on_exit(
                "chain poller",
                Box::new(move || {
                    Box::pin(async move {
                        let _ = task.await;
                    })
                }),
            );
        }
    }
}

/// lightningd's `--network` names as the backend's BIP70 chain names.
pub fn bip70(network: &str) -> &str {
    match network {
        "bitcoin" => "main",
        "testnet" => "test",
        other => other,
    }
}

/// Whether the user gave any `--bitcoin-*` option (plugin options: the host owns their
/// values after the parse).
fn bitcoin_options_given(host: &PluginHost) -> bool {
    host.listconfigs().iter().any(|(name, entry)| {
        name.starts_with("bitcoin-")
            && match entry.get("source").and_then(|s| s.as_str()) {
                Some(source) => source != "default",
                None => entry.get("sources").is_some(),
            }
    })
}

fn next_to_boltd(name: &str) -> Result<PathBuf, String> {
    std::env::current_exe()
        .map(|e| e.with_file_name(name))
        .map_err(|e| format!("cannot find own executable: {e}"))
}

/// With `--network=regtest`, bcli as the backend and no `--bitcoin-*` option: use (or
/// start) the devchain and give bcli the options that point at it.
async fn embedded_devchain(node: &Node, host: &PluginHost) -> Result<(), String> {
    let bcli = host.provider("getchaininfo");
    let is_bcli = bcli
        .as_deref()
        .map(std::path::Path::new)
        .and_then(|p| p.file_name())
        == Some(std::ffi::OsStr::new(BCLI));
    if node.settings.network != "regtest" || !is_bcli || bitcoin_options_given(host) {
        return Ok(());
    }
    let dir = node
        .config
        .read()
        .ok()
        .and_then(|c| c.get("dev-chain-dir"))
        .map(|d| node.settings.network_dir.join(d))
        .unwrap_or_else(devchain::default_dir);
    let exe = next_to_boltd(DEVCHAIN)?;
    let found =
        tokio::task::spawn_blocking(move || devchain::ensure(&dir, &exe, devchain::START_WAIT))
            .await
            .map_err(|e| format!("devchain start-up task: {e}"))?
            .map_err(|e| e.to_string())?;
    if found.started {
        tracing::info!(
            "Started devchain in {} on port {} (no --bitcoin-* option on regtest)",
            found.dir.display(),
            found.port
        );
    } else {
        tracing::info!(
            "Using the devchain in {} on port {} (no --bitcoin-* option on regtest)",
            found.dir.display(),
            found.port
        );
    }
    for (name, value) in found.bcli_options() {
        host.set_option_value(name, Some(value.clone()), "devchain")
            .map_err(|e| format!("--{name}={value}: {e}"))?;
    }
    Ok(())
}

/// Everything up to the first round, `listeners` caught up to our tip in it. Err is the
/// message boltd prints before exiting 1.
pub async fn start(
    node: &Arc<Node>,
    host: &PluginHost,
    storage: Storage,
    listeners: Vec<Joining>,
) -> Result<Chain, String> {
    let (developer, poll) = node
        .config
        .read()
        .map(|c| {
            (
                c.get_bool("developer"),
                c.is_set("dev-bitcoind-poll")
                    .then(|| c.get_int("dev-bitcoind-poll"))
                    .flatten(),
            )
        })
        .map_err(|_| "config lock poisoned".to_string())?;
    // The logger exists now: plugins' start-up lines (a backend's reason for dying among
    // them) go to it rather than waiting for the host's wiring.
    host.host_log().replay();
    if poll.is_some() && !developer {
        return Err("--dev-bitcoind-poll: requires --developer".into());
    }
    embedded_devchain(node, host).await?;

    let calls = HostCalls(host.clone());
    if let Some(msg) = calls.missing_provider() {
        return Err(msg);
    }
    for p in calls.providers() {
        if let Err(why) = host.init_backend(&p).await {
            tracing::error!("{p}: {why}");
            return Err(BACKEND_DIED.into());
        }
        watch_backend(host, &p, node.shutdown.clone());
    }

    let backend = Arc::new(JsonBackend(calls));
    let fees = Arc::new(Fees::new(FeeConfig::default()));
    let mut config = PollerConfig::new(bip70(&node.settings.network));
    if let Some(secs) = poll {
        config.interval = Duration::from_secs(secs.max(1) as u64);
    }
    let mut poller = Poller::new(
        backend.clone(),
        Box::new(StoreHashes(storage)),
        fees.clone(),
        config,
    )
    .map_err(|e| e.to_string())?;
    poller.add_listener(Arc::new(NodeListener {
        node: node.clone(),
        plugins: host.clone(),
    }));
    for (listener, best) in listeners {
        match best {
            Some(b) => poller.add_listener_at(listener, b),
            None => poller.add_listener(listener),
        }
    }
    match poller.sync().await {
        Ok(_) => {}
        Err(e @ (ChainError::WrongNetwork { .. } | ChainError::Backend(_))) => {
            return Err(e.to_string())
        }
        // A bad block is the backend's problem this round; the next one retries.
        Err(e) => tracing::warn!("chain: {e}; retrying"),
    }
    if let Some(tip) = poller.tip() {
        node.blockheight
            .store(tip.height, std::sync::atomic::Ordering::Relaxed);
    }
    poller.poll_fees().await;
    let status = poller.status();
    let broadcaster = Arc::new(Broadcaster::spawn(backend));
    Ok(Chain {
        fees,
        status,
        broadcaster,
        poller: Mutex::new(Some(poller)),
    })
}

/// A backend plugin that goes away while we run is fatal, as in lightningd; at shutdown
/// (we stop the plugins ourselves) it is not.
fn watch_backend(host: &PluginHost, path: &str, shutdown: Shutdown) {
    let Some(gone) = host.removal(path) else {
        return;
    };
    let host = host.clone();
    let path = path.to_string();
    tokio::spawn(async move {
        let why = gone.await;
        if host.is_shutting_down() || shutdown.is_shutdown() {
            return;
        }
        tracing::error!("{path}: {why}");
        tracing::error!("{BACKEND_DIED}");
        eprintln!("{BACKEND_DIED}");
        shutdown.trigger(BACKEND_DIED, 1);
    });
}
