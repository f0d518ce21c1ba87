//! The daemon's side of the chain crate: the plugin host as the Bitcoin backend
//! ([`HostCalls`]), the store as the poller's block-hash window ([`StoreHashes`]), what a
//! connected block does to the node ([`NodeListener`]: `getinfo.blockheight`,
//! `block_added`), and the regtest dev chain started for users who name no bitcoind
//! ([`devchain`]).

pub mod backend_calls;
pub mod devchain;
pub mod hash_store;
pub mod node_listener;
pub mod startup;

pub use backend_calls::{HostCalls, BACKEND_METHODS};
pub use hash_store::StoreHashes;
pub use node_listener::NodeListener;
pub use startup::{start, Chain, Joining, BACKEND_DIED, BCLI, DEVCHAIN};
