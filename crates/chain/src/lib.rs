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
