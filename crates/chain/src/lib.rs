//! The node's view of the Bitcoin chain.
//!
//! Owns: the backend seam ([`Backend`]: Core Lightning's five backend calls, typed, and
//! [`JsonBackend`] reading plugin replies as lightningd does), the block [`Poller`]
//! (tip, reorg walk-back, listeners, the persisted window of recent hashes), the fee
//! estimates ([`Fees`]: LDK's `FeeEstimator` and the `feerates` data) and the
//! [`Broadcaster`] (LDK's `BroadcasterInterface`).
//!
//! Must not touch: channels, wallet internals, SQL, plugins or sockets. The daemon brings
//! a [`PluginCall`] (its plugin host), a [`HashStore`] (its store) and the listeners.
//!
//! Wiring, as the daemon is expected to do it (before the RPC socket binds):
//!
//! ```ignore
//! let backend = Arc::new(JsonBackend(host_calls));          // impl PluginCall
//! let fees = Arc::new(Fees::new(FeeConfig::default()));     // LDK's FeeEstimator; `feerates`
//! let mut poller = Poller::new(backend.clone(), Box::new(store_hashes), fees.clone(),
//!                              PollerConfig::new("regtest"))?;
//! poller.add_listener(Arc::new(LdkListener(chain_monitor.clone())));
//! poller.sync().await?;                                     // wrong network: refuse to start
//! let status = poller.status();                             // getinfo.blockheight, waits
//! tokio::spawn(poller.run(shutdown.wait()));
//! let broadcaster = Arc::new(Broadcaster::spawn(backend));  // LDK's BroadcasterInterface
//! ```
//!
//! Tests: `tests/poller.rs` drives the poller through a backend plugin that answers badly
//! on demand; bcli's tests run it through the real bcli on a devchain.

pub mod backend;
pub mod broadcast;
pub mod fees;
pub mod listener;
pub mod poller;
mod reply;

pub use backend::{
    Backend, BackendError, ChainInfo, FeeReply, FeeTarget, FetchedBlock, JsonBackend, PluginCall,
    SendOutcome, Utxo,
};
pub use broadcast::{parents_first, Broadcaster};
pub use fees::{FeeConfig, FeerateStyle, FeeratesReport, Fees, FEERATE_FLOOR};
pub use listener::{
    BlockRef, ChainListener, HashChange, HashStore, HashStoreError, LdkListener, MemoryHashStore,
};
pub use poller::{check_block, ChainError, ChainStatus, Poller, PollerConfig};
pub use reply::MAX_BLOCK_BYTES;
