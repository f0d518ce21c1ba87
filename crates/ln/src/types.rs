//! The concrete LDK types this crate builds, named once.

use std::sync::{Arc, RwLock};

use chain::Fees;

use crate::broadcast::TapBroadcaster as Broadcaster;
use lightning::chain::chainmonitor;
use lightning::chain::Filter;
use lightning::ln::peer_handler::IgnoringMessageHandler;
use lightning::onion_message::messenger::DefaultMessageRouter;
use lightning::routing::gossip::{self, NetworkGraph};
use lightning::routing::router::DefaultRouter;
use lightning::routing::scoring::{ProbabilisticScorer, ProbabilisticScoringFeeParameters};
use lightning::routing::utxo::UtxoLookup;
use lightning::sign::{InMemorySigner, KeysManager};
use lightning::util::persist::{KVStoreSync, MonitorUpdatingPersister};
use lightning::util::sweep::OutputSweeperSync;

use crate::logger::LdkLogger;
use crate::signer::BoltSigner;
use crate::sweep::WalletDestination;

/// The key-value store everything LDK persists goes to (the daemon's `kv` table).
pub type Kv = Arc<dyn KVStoreSync + Send + Sync>;

/// Writes to [`Kv`] committed together as one transaction (the daemon's `store::KvGroup`).
pub trait KvGroup: Send + Sync {
    /// Runs `f`; the blocking writes and removes the calling thread makes through the kv
    /// store meanwhile are queued into the group (their `Ok` means queued, not durable).
    fn enter(&self, f: &mut dyn FnMut());
    /// Commits what is queued, in order, as one transaction; durable when `Ok`.
    fn commit(self: Box<Self>) -> lightning::io::Result<()>;
}

/// Opens a new [`KvGroup`] on the kv store.
pub type OpenGroup = Arc<dyn Fn() -> Box<dyn KvGroup> + Send + Sync>;
pub type Logger = LdkLogger;
/// Chain data filter: unused (we are given whole blocks), but LDK's types name one.
pub type ChainFilter = Arc<dyn Filter + Send + Sync>;

pub type Persister = MonitorUpdatingPersister<
    Kv,
    Arc<Logger>,
    Arc<KeysManager>,
    Arc<BoltSigner>,
    Arc<Broadcaster>,
    Arc<Fees>,
>;

/// What the `ChainMonitor` writes through: a failed write stops the node, never panics it.
/// The watchtower feed sits inside it: after a failed write nothing more is queued.
pub type GuardedPersister = crate::persist_guard::StopOnFailure<Arc<crate::tower::TowerPersister>>;

pub type ChainMonitor = chainmonitor::ChainMonitor<
    InMemorySigner,
    ChainFilter,
    Arc<Broadcaster>,
    Arc<Fees>,
    Arc<Logger>,
    Arc<GuardedPersister>,
    Arc<KeysManager>,
>;

pub type Graph = NetworkGraph<Arc<Logger>>;
pub type Scorer = ProbabilisticScorer<Arc<Graph>, Arc<Logger>>;
pub type Router = DefaultRouter<
    Arc<Graph>,
    Arc<Logger>,
    Arc<KeysManager>,
    Arc<RwLock<Scorer>>,
    ProbabilisticScoringFeeParameters,
    Scorer,
>;
pub type MessageRouter = DefaultMessageRouter<Arc<Graph>, Arc<Logger>, Arc<KeysManager>>;

pub type ChannelManager = lightning::ln::channelmanager::ChannelManager<
    Arc<ChainMonitor>,
    Arc<Broadcaster>,
    Arc<KeysManager>,
    Arc<KeysManager>,
    Arc<BoltSigner>,
    Arc<Fees>,
    Arc<Router>,
    Arc<MessageRouter>,
    Arc<Logger>,
>;

pub type OnionMessenger = lightning::onion_message::messenger::OnionMessenger<
    Arc<KeysManager>,
    Arc<KeysManager>,
    Arc<Logger>,
    Arc<ChannelManager>,
    Arc<MessageRouter>,
    Arc<ChannelManager>,
    Arc<ChannelManager>,
    IgnoringMessageHandler,
    IgnoringMessageHandler,
>;

pub type GossipSync =
    gossip::P2PGossipSync<Arc<Graph>, Arc<dyn UtxoLookup + Send + Sync>, Arc<Logger>>;

pub type BumpHandler = lightning::events::bump_transaction::sync::BumpTransactionEventHandlerSync<
    Arc<Broadcaster>,
    Arc<lightning::util::wallet_utils::WalletSync<Arc<crate::bump::WalletSource>, Arc<Logger>>>,
    Arc<KeysManager>,
    Arc<Logger>,
>;

pub type Sweeper = OutputSweeperSync<
    Arc<Broadcaster>,
    Arc<WalletDestination>,
    Arc<Fees>,
    ChainFilter,
    Kv,
    Arc<Logger>,
    Arc<KeysManager>,
>;
