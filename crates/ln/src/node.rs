//! [`Ln`]: every LDK object of the node, built (or reloaded from the store) at start-up.

use std::collections::HashMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use bitcoin::Network;
use chain::{BlockRef, Broadcaster, Fees};

use crate::broadcast::TapBroadcaster;
use lightning::chain::chainmonitor::ChainMonitor as LdkChainMonitor;
use lightning::chain::{BlockLocator, ChannelMonitorUpdateStatus};
use lightning::ln::channelmanager::{ChainParameters, ChannelManagerReadArgs};
use lightning::routing::gossip::P2PGossipSync;
use lightning::routing::router::DefaultRouter;
use lightning::routing::scoring::{
    ProbabilisticScorer, ProbabilisticScoringDecayParameters, ProbabilisticScoringFeeParameters,
};
use lightning::sign::{KeysManager, NodeSigner};
use lightning::util::persist::{
    MonitorUpdatingPersister, OUTPUT_SWEEPER_PERSISTENCE_KEY,
    OUTPUT_SWEEPER_PERSISTENCE_PRIMARY_NAMESPACE, OUTPUT_SWEEPER_PERSISTENCE_SECONDARY_NAMESPACE,
    SCORER_PERSISTENCE_KEY, SCORER_PERSISTENCE_PRIMARY_NAMESPACE,
    SCORER_PERSISTENCE_SECONDARY_NAMESPACE,
};
use lightning::util::ser::{ReadableArgs, Writeable};
use lightning::util::sweep::OutputSweeperSync;
use tokio::sync::mpsc;
use wallet::Wallet;

use crate::config::{user_config, LnConfig};
use crate::error::StartError;
use crate::funding::PendingOpen;
use crate::handoff::LnEvent;
use crate::logger::LdkLogger;
use crate::signer::BoltSigner;
use crate::sweep::WalletDestination;
use crate::tower::{Tower, TowerPersister};
use crate::types::{
    BumpHandler, ChainMonitor, ChannelManager, GossipSync, Graph, Kv, MessageRouter,
    OnionMessenger, Scorer, Sweeper,
};
use crate::write_order::Grouping;

/// Monitor updates kept as deltas before the whole monitor is written again.
const MAX_PENDING_UPDATES: u64 = 100;

/// What the Lightning side is built from; everything is the daemon's.
pub struct LnDeps {
    pub config: LnConfig,
    /// The one `KeysManager` (node key, channel keys, entropy).
    pub keys: Arc<KeysManager>,
    /// LDK's key-value store on the daemon's database.
    pub kv: Kv,
    pub fees: Arc<Fees>,
    pub broadcaster: Arc<Broadcaster>,
    /// Funding transactions come from it; swept outputs go to it.
    pub wallet: Arc<Wallet>,
    /// The chain's tip: a new node's channel manager starts there.
    pub tip: BlockRef,
    /// Told (once) that a channel monitor could not be written: the node must stop.
    pub on_persist_failure: crate::persist_guard::OnFailure,
    /// Group commit on `kv`: a manager write and the monitor operations it completes are
    /// one transaction (write_order.rs).
    pub open_group: crate::types::OpenGroup,
    /// Whether some plugin takes `commitment_revocation` now ([`Tower::set_wanted`]),
    /// known from the plugins' manifests before the monitors are read back: a restart
    /// with no such plugin queues nothing (writes nothing) before plugins' `init`.
    pub tower_wanted: Box<dyn Fn() -> bool + Send + Sync>,
}

/// The node's channels: LDK's manager, monitors, gossip, onion messages and sweeper.
pub struct Ln {
    pub manager: Arc<ChannelManager>,
    pub chain_monitor: Arc<ChainMonitor>,
    pub graph: Arc<Graph>,
    pub scorer: Arc<RwLock<Scorer>>,
    pub gossip: Arc<GossipSync>,
    /// What the peer layer hands gossip to: `gossip` plus the repair in [`crate::Gossip`].
    pub routing: Arc<crate::gossip::Gossip>,
    pub onion: Arc<OnionMessenger>,
    pub sweeper: Arc<Sweeper>,
    /// Penalties for revoked counterparty commitments, queued for `commitment_revocation`.
    pub tower: Arc<Tower>,
    /// Fee bumps of anchor channels' transactions, paid from the wallet.
    pub(crate) bump: BumpHandler,
    pub(crate) kv: Kv,
    /// LDK's broadcaster, which remembers closing transactions.
    pub broadcaster: Arc<TapBroadcaster>,
    pub(crate) keys: Arc<KeysManager>,
    /// Channels' signer provider (shutdown scripts, our funding keys).
    pub signer: Arc<BoltSigner>,
    pub(crate) wallet: Arc<Wallet>,
    pub(crate) fees: Arc<Fees>,
    pub(crate) config: LnConfig,
    /// Our `fundchannel`s between `create_channel` and the funding broadcast, by user
    /// channel id.
    pub(crate) opens: Mutex<HashMap<u128, PendingOpen>>,
    /// Events for the daemon (hooks, notifications); funding events are handled here first.
    pub(crate) events: mpsc::UnboundedSender<LnEvent>,
    /// Held while the manager is encoded and written, so writes land in the order the
    /// snapshots were taken (an older one written last would leave the manager stale).
    pub(crate) persisting: Mutex<()>,
    /// Since when the manager has changed without a monitor operation waiting for a
    /// write: such a write is held back a little ([`crate::write_order`]).
    pub(crate) unwritten: crate::unwritten::Unwritten,
    /// The group commit in progress, if one is (write_order.rs).
    pub(crate) grouping: Grouping,
    /// The chain monitor's persister: a group that fails to commit stops the node there.
    pub(crate) guard: Arc<crate::types::GuardedPersister>,
    /// Serialises block delivery with start-up catch-up.
    pub(crate) blocks: Mutex<()>,
    /// Shown the channels' pending HTLCs around each forwarding pass, once set.
    pub htlc_watch: std::sync::OnceLock<Arc<dyn crate::HtlcWatch>>,
    /// Sends what LDK queued for peers, once set ([`crate::handoff`]).
    pub(crate) flush: std::sync::OnceLock<crate::handoff::Flush>,
    /// Reads from peers in progress: a write waits for them (read_gate.rs). The peer layer
    /// is given [`ReadGate::watch`](crate::read_gate::ReadGate::watch).
    pub reads: Arc<crate::read_gate::ReadGate>,
    /// The manager's chunks in the store (manager_chunks.rs).
    pub(crate) manager_chunks: crate::manager_chunks::ManagerChunks,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn read_graph(path: &Path, network: Network, logger: Arc<LdkLogger>) -> Graph {
    match std::fs::read(path) {
        Ok(bytes) => match Graph::read(&mut Cursor::new(bytes), logger.clone()) {
            Ok(g) => return g,
            // The graph is a cache of public gossip: a bad file costs a resync, nothing more.
            Err(e) => tracing::warn!(
                "{}: unreadable gossip ({e:?}); starting afresh",
                path.display()
            ),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!("{}: {e}; starting with an empty graph", path.display()),
    }
    Graph::new(network, logger)
}

/// Writes the network graph to its own file (not the database: like Core Lightning's
/// gossip_store it is public data, and `db_write` plugins need not copy it).
pub(crate) fn write_graph(path: &Path, graph: &Graph) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, graph.encode())?;
    std::fs::rename(&tmp, path)
}

impl Ln {
    /// Reloads (or, on first start, creates) every LDK object. Monitors are read first and
    /// handed to the manager's read, then given to the chain monitor to watch.
    pub fn start(deps: LnDeps) -> Result<(Arc<Ln>, mpsc::UnboundedReceiver<LnEvent>), StartError> {
        let LnDeps {
            config,
            keys,
            kv,
            fees,
            broadcaster,
            wallet,
            tip,
            on_persist_failure,
            open_group,
            tower_wanted,
        } = deps;
        let logger = Arc::new(LdkLogger);
        let network = config.network;
        let broadcaster = Arc::new(TapBroadcaster::new(broadcaster));

        let graph = Arc::new(read_graph(&config.graph_path, network, logger.clone()));
        let decay = ProbabilisticScoringDecayParameters::default();
        let scorer = match kv.read(
            SCORER_PERSISTENCE_PRIMARY_NAMESPACE,
            SCORER_PERSISTENCE_SECONDARY_NAMESPACE,
            SCORER_PERSISTENCE_KEY,
        ) {
            Ok(bytes) => ProbabilisticScorer::read(
                &mut Cursor::new(bytes),
                (decay, graph.clone(), logger.clone()),
            )
            .unwrap_or_else(|e| {
                tracing::warn!("unreadable scorer ({e:?}); starting afresh");
                ProbabilisticScorer::new(decay, graph.clone(), logger.clone())
            }),
            Err(_) => ProbabilisticScorer::new(decay, graph.clone(), logger.clone()),
        };
        let scorer = Arc::new(RwLock::new(scorer));
        let router = Arc::new(DefaultRouter::new(
            graph.clone(),
            logger.clone(),
            keys.clone(),
            scorer.clone(),
            ProbabilisticScoringFeeParameters::default(),
        ));
        let message_router = Arc::new(MessageRouter::new(graph.clone(), keys.clone()));

        // No spare yet: the daemon adopts or makes one (`BoltSigner::adopt_spare`,
        // `refill_spare`), never before plugins' `init`.
        let signer = Arc::new(BoltSigner::new(keys.clone(), wallet.clone()));
        let persister = Arc::new(MonitorUpdatingPersister::new(
            kv.clone(),
            logger.clone(),
            MAX_PENDING_UPDATES,
            keys.clone(),
            signer.clone(),
            broadcaster.clone(),
            fees.clone(),
        ));
        let mut monitors = persister
            .read_all_channel_monitors_with_updates()
            .map_err(|e| StartError::Monitors(e.to_string()))?;
        let tower = Arc::new(Tower::load(kv.clone(), wallet.clone(), fees.clone()));
        tower.set_wanted(tower_wanted);
        let grouping = Grouping::new(open_group);
        let guard = Arc::new(crate::persist_guard::StopOnFailure::new(
            Arc::new(TowerPersister::new(persister.clone(), tower.clone())),
            on_persist_failure,
            grouping.clone(),
        ));
        let chain_monitor: Arc<ChainMonitor> = Arc::new(LdkChainMonitor::new(
            None,
            broadcaster.clone(),
            logger.clone(),
            fees.clone(),
            guard.clone(),
            keys.clone(),
            keys.get_peer_storage_key(),
            // Monitor writes wait for the manager write that knows them (write_order.rs).
            true,
        ));

        let user_config = user_config(&config);
        let manager_chunks = crate::manager_chunks::ManagerChunks::default();
        let stored_manager = manager_chunks
            .load(&*kv)
            .map_err(|e| StartError::Manager(e.to_string()))?;
        let manager = match stored_manager {
            Some(bytes) => {
                let refs = monitors.iter_mut().map(|(_, m)| &*m).collect();
                let args = ChannelManagerReadArgs::new(
                    keys.clone(),
                    keys.clone(),
                    signer.clone(),
                    fees.clone(),
                    chain_monitor.clone(),
                    broadcaster.clone(),
                    router.clone(),
                    message_router.clone(),
                    logger.clone(),
                    user_config,
                    refs,
                );
                let (_, m) = <(BlockLocator, ChannelManager)>::read(&mut Cursor::new(bytes), args)
                    .map_err(|e| StartError::Manager(format!("{e:?}")))?;
                m
            }
            None => {
                if !monitors.is_empty() {
                    // Monitors without a manager: starting afresh would forget these
                    // channels' funds. A restored backup must carry both.
                    return Err(StartError::Manager(format!(
                        "{} channel monitors but no channel manager in the store",
                        monitors.len()
                    )));
                }
                ChannelManager::new(
                    fees.clone(),
                    chain_monitor.clone(),
                    broadcaster.clone(),
                    router.clone(),
                    message_router.clone(),
                    logger.clone(),
                    keys.clone(),
                    keys.clone(),
                    signer.clone(),
                    user_config,
                    ChainParameters {
                        network,
                        best_block: BlockLocator::new(tip.hash, tip.height),
                    },
                    now_secs() as u32,
                )
            }
        };
        let manager = Arc::new(manager);
        let mut first_monitors = Vec::new();
        for (_, monitor) in monitors {
            let id = monitor.channel_id();
            tower.track_loaded_monitor(&monitor);
            if monitor.get_latest_update_id() == 0 {
                first_monitors.push(id);
            }
            // Not `watch_channel`: deferred, it would queue them for a manager write.
            match chain_monitor.load_existing_monitor(id, monitor) {
                Ok(ChannelMonitorUpdateStatus::Completed) => {}
                _ => return Err(StartError::Watch(id.to_string())),
            }
        }
        // A first monitor is durable (it is read back), but the manager may have been
        // written before LDK learnt that, and LDK does not complete a first monitor again
        // when it reads a manager back: such a channel would wait forever (an opener never
        // broadcasting its funding). Completing every never-updated monitor is harmless
        // for a channel not waiting: LDK ignores it.
        for id in first_monitors {
            if let Err(e) = chain_monitor.channel_monitor_updated(id, 0) {
                tracing::warn!("completing the first monitor of {id}: {e:?}");
            }
        }
        // Written at once (no group is open at start-up).
        tower.announce();

        let best = manager.current_best_block();
        let destination = Arc::new(WalletDestination(wallet.clone()));
        let sweeper = match kv.read(
            OUTPUT_SWEEPER_PERSISTENCE_PRIMARY_NAMESPACE,
            OUTPUT_SWEEPER_PERSISTENCE_SECONDARY_NAMESPACE,
            OUTPUT_SWEEPER_PERSISTENCE_KEY,
        ) {
            Ok(bytes) => {
                let (_, s) = <(BlockLocator, Sweeper)>::read(
                    &mut Cursor::new(bytes),
                    (
                        broadcaster.clone(),
                        fees.clone(),
                        None,
                        keys.clone(),
                        destination,
                        kv.clone(),
                        logger.clone(),
                    ),
                )
                .map_err(|e| StartError::Sweeper(format!("{e:?}")))?;
                s
            }
            Err(_) => OutputSweeperSync::new(
                best,
                broadcaster.clone(),
                fees.clone(),
                None,
                keys.clone(),
                destination,
                kv.clone(),
                logger.clone(),
            ),
        };

        let gossip = Arc::new(P2PGossipSync::new(graph.clone(), None, logger.clone()));
        let onion = Arc::new(OnionMessenger::new(
            keys.clone(),
            keys.clone(),
            logger.clone(),
            manager.clone(),
            message_router,
            manager.clone(),
            manager.clone(),
            lightning::ln::peer_handler::IgnoringMessageHandler {},
            lightning::ln::peer_handler::IgnoringMessageHandler {},
        ));
        let bump = BumpHandler::new(
            broadcaster.clone(),
            Arc::new(lightning::util::wallet_utils::WalletSync::new(
                Arc::new(crate::bump::WalletSource(wallet.clone())),
                logger.clone(),
            )),
            keys.clone(),
            logger.clone(),
        );
        let (tx, rx) = mpsc::unbounded_channel();
        let routing = Arc::new(crate::gossip::Gossip::new(gossip.clone(), graph.clone()));
        let ln = Arc::new(Ln {
            manager,
            chain_monitor,
            graph,
            scorer,
            gossip,
            routing,
            onion,
            sweeper: Arc::new(sweeper),
            tower,
            bump,
            kv,
            broadcaster,
            keys,
            signer,
            wallet,
            fees,
            config,
            opens: Mutex::new(HashMap::new()),
            events: tx,
            persisting: Mutex::new(()),
            unwritten: Default::default(),
            grouping,
            guard,
            blocks: Mutex::new(()),
            htlc_watch: std::sync::OnceLock::new(),
            flush: std::sync::OnceLock::new(),
            reads: Arc::new(crate::read_gate::ReadGate::default()),
            manager_chunks,
        });
        ln.release_abandoned_funding();
        Ok((ln, rx))
    }

    /// The best block the channel manager has seen (catch-up starts above it).
    pub fn best_block(&self) -> BlockRef {
        let b = self.manager.current_best_block();
        BlockRef {
            height: b.height,
            hash: b.block_hash,
        }
    }

    /// The sweeper's own best block: it is persisted apart from the manager, so after an
    /// unclean stop the two can differ (and LDK's sweeper panics on a block that does not
    /// build on its own).
    pub fn sweeper_best_block(&self) -> BlockRef {
        let b = self.sweeper.current_best_block();
        BlockRef {
            height: b.height,
            hash: b.block_hash,
        }
    }

    /// Where blocks must be replayed from at start-up: the lower of the manager's and the
    /// sweeper's best blocks (each skips what it has already seen).
    pub fn replay_from(&self) -> BlockRef {
        let (m, s) = (self.best_block(), self.sweeper_best_block());
        if s.height < m.height {
            s
        } else {
            m
        }
    }

    pub fn graph_path(&self) -> PathBuf {
        self.config.graph_path.clone()
    }

    pub fn config(&self) -> &LnConfig {
        &self.config
    }

    pub fn wallet(&self) -> &Arc<Wallet> {
        &self.wallet
    }
}
