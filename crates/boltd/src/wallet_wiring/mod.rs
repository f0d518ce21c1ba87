//! The daemon's side of the wallet crate: the store as the wallet's [`WalletStore`]
//! (table `wallet_records`, one `Store::transaction` per record so `db_write` plugins see
//! each), opening the wallet with the node's keys, and how it joins the chain poller (at
//! its own best block, so blocks it missed while we were down are replayed to it).

mod listener;
pub mod spender;
mod store;

use std::sync::Arc;

use bitcoin::Network;
use chain::{BlockRef, ChainListener};
use wallet::Wallet;

use crate::coin_moves::CoinMoves;
use crate::node::Node;
use crate::storage::Storage;

pub use listener::WalletListener;
pub use spender::Spender;
pub use store::StoreRecords;

/// lightningd's `--network` names as rust-bitcoin networks.
pub fn network(name: &str) -> Result<Network, String> {
    match name {
        "bitcoin" => Ok(Network::Bitcoin),
        "testnet" => Ok(Network::Testnet),
        "testnet4" => Ok(Network::Testnet4),
        "signet" => Ok(Network::Signet),
        "regtest" => Ok(Network::Regtest),
        other => Err(format!("no wallet for network '{other}'")),
    }
}

/// Opens (or creates) the node's wallet from the store. Blocking: store reads.
pub fn open(node: &Node, storage: Storage) -> Result<Arc<Wallet>, String> {
    let net = network(&node.settings.network)?;
    let master = node
        .keys
        .wallet_master_key(net)
        .map_err(|e| format!("wallet keys: {e}"))?;
    let w = Wallet::open(master, net, Box::new(StoreRecords::new(storage)))
        .map_err(|e| e.to_string())?;
    Ok(Arc::new(w))
}

/// The wallet as a chain listener (with its coin movements), with the block it has
/// (`None` for a new wallet, which starts at our tip: it has no address anyone could
/// have paid before).
pub fn as_listener(
    w: &Arc<Wallet>,
    moves: &Arc<CoinMoves>,
) -> (Arc<dyn ChainListener>, Option<BlockRef>) {
    let tip = w.tip();
    let best = (tip.height > 0).then_some(BlockRef {
        height: tip.height,
        hash: tip.hash,
    });
    let listener = WalletListener {
        wallet: w.clone(),
        moves: moves.clone(),
    };
    (Arc::new(listener), best)
}

/// Runs `f` on the blocking pool: wallet calls take the wallet's lock and may wait for
/// the store (a slow `db_write` plugin), which must hold no runtime worker.
pub async fn blocking<T, F>(w: &Arc<Wallet>, f: F) -> Result<T, jsonrpc::RpcError>
where
    T: Send + 'static,
    F: FnOnce(&Wallet) -> T + Send + 'static,
{
    let w = w.clone();
    tokio::task::spawn_blocking(move || f(&w))
        .await
        .map_err(|e| jsonrpc::RpcError::daemon(format!("wallet task: {e}")))
}
