//! The node's on-chain wallet.
//!
//! Owns: two BDK wallets (`bdk_wallet` 3) — bech32 (P2WPKH) and p2tr (taproot key path) —
//! fed from the same blocks as LDK (it is a [`chain::ChainListener`]), their `ChangeSet`s
//! and the coin reservations, written through [`WalletStore`] (the daemon backs it with
//! its store, one transaction per record, so `db_write` plugins see each); coin selection,
//! building and signing spends, and what `listfunds`/`listtransactions` report.
//!
//! Must not touch: LDK channels, SQL, sockets, JSON-RPC, broadcasting (the caller
//! broadcasts and reports the outcome).
//!
//! # Recovering funds without boltd
//!
//! The wallet's BIP32 master is the keys crate's `wallet_master_key(network)`:
//! `Xpriv::new_master(network, HKDF-SHA256(salt = "boltd wallet", ikm = hsm_secret,
//! info = "bip32 seed"))`. With `coin` = `0` on mainnet and `1` on every other network,
//! the descriptors are (BIP84 and BIP86, so most descriptor wallets scan them by default):
//!
//! ```text
//! wpkh(<master>/84'/<coin>'/0'/0/*)   bech32 receive
//! wpkh(<master>/84'/<coin>'/0'/1/*)   bech32 change (unused: change is p2tr)
//! tr(<master>/86'/<coin>'/0'/0/*)     p2tr receive
//! tr(<master>/86'/<coin>'/0'/1/*)     p2tr change
//! ```
//!
//! [`descriptor`] prints them; import all four (e.g. Bitcoin Core `importdescriptors` with
//! the checksum `getdescriptorinfo` gives) and rescan.
//!
//! # Durability
//!
//! Every method returns after its change is durable: an address is stored before it is
//! handed out, a block before the next is applied, a spend's reservation before its signed
//! transaction is returned (so a crash between signing and broadcast leaves the coins
//! reserved, never double counted; if the transaction was broadcast after all, its block
//! spends them). A store failure keeps the change queued and retried with the next write.
//!
//! # Reorgs
//!
//! BDK cannot drop blocks from a live wallet, so [`Wallet::disconnect_blocks`] writes the
//! removal and rebuilds the wallets from the stored record; transactions of the removed
//! blocks become unconfirmed (as bitcoind returns them to its mempool) and are confirmed
//! again by the block that re-mines them.

mod descriptors;
mod error;
mod listener;
mod moves;
mod persist;
mod psbt;
mod wallet;

/// Records merge with BDK's trait (re-exported so the daemon needs no BDK dependency).
pub use bdk_wallet::chain::Merge;
pub use descriptors::{descriptor, AddressType};
pub use error::{SpendError, WalletError};
pub use moves::TxMoves;
pub use persist::{PersistError, Record, WalletStore};
pub use psbt::{FundRequest, Funded, SignError};
pub use wallet::{
    Output, OutputStatus, Reservation, Spend, SpendRequest, Wallet, WalletTransaction,
    DEFAULT_RESERVE, MAX_FEERATE_PER_KW, MIN_FEERATE_PER_KW,
};
