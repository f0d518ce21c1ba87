//! The wallet's errors. Spending refusals carry Core Lightning's texts (reservation.c,
//! txprepare.c); the daemon picks the JSON-RPC code.

use bitcoin::OutPoint;

use crate::persist::PersistError;

#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    #[error(transparent)]
    Persist(#[from] PersistError),
    /// The stored wallet does not match the keys or network it is opened with.
    #[error("cannot load the wallet: {0}")]
    Load(String),
    #[error("bad descriptor: {0}")]
    Descriptor(String),
}

/// Why a spend was refused; nothing is reserved when one of these is returned.
#[derive(Debug, thiserror::Error)]
pub enum SpendError {
    /// Code 301.
    #[error("Could not afford {wanted} using all {utxos} available UTXOs: {short}sat short")]
    CannotAfford {
        /// `<n>sat`, or `all`.
        wanted: String,
        utxos: usize,
        short: u64,
    },
    /// Code 301 (`utxopsbt`).
    #[error("Could not afford {wanted} using UTXOs totalling {total}sat with weight {weight} at feerate {feerate}")]
    CannotAffordUtxos {
        /// `<n>sat`, or `anything`.
        wanted: String,
        total: u64,
        weight: u64,
        feerate: u64,
    },
    /// Code 301: spending everything leaves less than dust after fees.
    #[error("All {0} inputs could not afford fees")]
    AllCannotAffordFees(usize),
    /// Code -32602 (utxopsbt's texts).
    #[error("Unknown UTXO {0}")]
    UnknownUtxo(OutPoint),
    #[error("Already spent UTXO {0}")]
    AlreadySpent(OutPoint),
    #[error("UTXO {0} already reserved")]
    AlreadyReserved(OutPoint),
    /// The fee rate is below 1 sat/vB or above what any sane node pays.
    #[error("Invalid feerate: {0} sat/kw")]
    BadFeerate(u64),
    /// An output amount below dust or above 21M BTC.
    #[error("Output {0} would be dust")]
    Dust(u64),
    #[error("Amount {0}sat exceeds 21 million BTC")]
    TooMuch(u64),
    /// BDK refused to build or sign; a bug or a corrupted wallet, never bad input.
    #[error("building the transaction: {0}")]
    Build(String),
    #[error(transparent)]
    Persist(#[from] PersistError),
}
