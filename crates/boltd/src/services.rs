//! The composition root's product: every long-lived handle the daemon's commands and
//! subsystems use, built once at start-up before the RPC socket serves anyone, and
//! passed down explicitly (no process-global state). Chain, wallet and Lightning
//! handles join here in phase 2.

use std::sync::Arc;

use plugins::PluginHost;

use crate::chain_wiring::Chain;
use crate::commando::Commando;
use crate::invoices::Invoices;
use crate::node::Node;
use crate::peering::Peering;
use crate::rune_book::RuneBook;
use crate::storage::Storage;

pub struct Services {
    /// Identity, settings, configuration, logging and shutdown.
    pub node: Arc<Node>,
    /// The store (datastore, remembered peer addresses, `db_write`).
    pub storage: Storage,
    /// The peer layer and CLN's view of peers.
    pub peering: Arc<Peering>,
    /// Plugin processes: methods, hooks, notifications, options.
    pub plugins: PluginHost,
    /// Runes: created, checked, blacklisted (stored in the datastore).
    pub runes: Arc<RuneBook>,
    /// Commando: RPC over custom messages, both ways.
    pub commando: Arc<Commando>,
    /// The chain: tip and sync state, fees, the broadcaster.
    pub chain: Arc<Chain>,
    /// The on-chain wallet (fed by the chain poller).
    pub wallet: Arc<wallet::Wallet>,
    /// Lightning channels (LDK) and what they mean to plugins and clients.
    pub channels: Arc<crate::channels::Channels>,
    /// Coin movements and the balance snapshot (`coin_movement`, `balance_snapshot`).
    pub coin_moves: Arc<crate::coin_moves::CoinMoves>,
    /// Broadcasting the wallet's spends; `txprepare`'s held transactions.
    pub spender: Arc<crate::wallet_wiring::Spender>,
    /// Invoices we issued: creation, listing, waits, our preimages.
    pub invoices: Arc<Invoices>,
    /// Our outgoing payments (`pay`, `listsendpays`, `listpays`).
    pub sender: Arc<crate::payments::send::Sender>,
    /// HTLCs we forwarded (`listforwards`, `forward_event`).
    pub forwards: Arc<crate::forwards::Forwards>,
}
