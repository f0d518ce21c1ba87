//! Lightning channels on LDK.
//!
//! Owns: the `ChannelManager` (anchor channels; every inbound open waits for the daemon's
//! decision), the `ChainMonitor` with LDK's `MonitorUpdatingPersister` over the daemon's
//! key-value store (every write within a store transaction, so `db_write` plugins hold a
//! restorable copy; a manager write and the monitor updates it completes are one, see
//! `write_order.rs`) and, beside it, the watchtower feed ([`Tower`]: a signed penalty
//! for every revoked counterparty commitment, queued in the store for the daemon's
//! `commitment_revocation` hook), the `NetworkGraph` (its own file, like Core Lightning's
//! gossip_store), `P2PGossipSync`, the scorer and router, the `OnionMessenger`, the
//! `OutputSweeper` paying into the on-chain wallet, the `SignerProvider` over the
//! `KeysManager` (per-channel shutdown scripts: `close_to` or a wallet address; our
//! funding keys), funding transactions from the wallet
//! ([`Ln::open_channel`]), blocks to all of them ([`LnListener`]), and the event loop
//! ([`Ln::run`]) that persists the manager and hands every event to the daemon, counting it
//! handled only once the daemon has answered ([`LnEvent`]).
//!
//! Must not touch: sockets (the `net` crate's `PeerManager` is given these handlers), SQL
//! text (the store is a `KVStoreSync`), JSON-RPC, plugins. The daemon maps events to
//! hooks and notifications.

mod broadcast;
mod bump;
mod config;
mod driver;
mod error;
mod funding;
mod gossip;
mod handoff;
mod htlc_watch;
mod listener;
mod logger;
mod manager_chunks;
mod node;
pub mod persist_guard;
mod read_gate;
mod route;
mod signer;
mod sweep;
mod tower;
pub mod types;
mod unwritten;
mod write_order;

pub use broadcast::{CloseKind, Closing, TapBroadcaster};
pub use config::{provided_features, user_config, LnConfig};
pub use error::{OpenError, StartError};
pub use funding::{FundAmount, OpenRequest, Opened, MAX_FUNDING_NO_WUMBO_SAT, OPEN_TIMEOUT};
pub use gossip::Gossip;
pub use handoff::LnEvent;
pub use htlc_watch::HtlcWatch;
pub use lightning::events::{Event, ReplayEvent};
pub use listener::{fit, BlockFit, LnListener};
pub use logger::LdkLogger;
pub use node::{Ln, LnDeps};
pub use read_gate::ReadGate;
pub use route::{check_hops, hops_of_path, path_of_hops, Hop, HopsError, RouteQuery};
pub use signer::BoltSigner;
pub use tower::{Penalty, Tower};
