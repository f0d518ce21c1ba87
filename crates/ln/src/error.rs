//! What can go wrong starting the Lightning side or opening a channel.

/// Why the Lightning side could not start; boltd refuses to start with the message.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("reading channel monitors: {0}")]
    Monitors(String),
    #[error("reading the channel manager: {0}")]
    Manager(String),
    #[error("channel monitor {0} refused by the chain monitor")]
    Watch(String),
    #[error("reading the output sweeper: {0}")]
    Sweeper(String),
}

/// Why `fundchannel` failed. The texts are Core Lightning's where it has one; the daemon
/// picks the JSON-RPC code from the variant.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Code 305 (or 400 when the daemon could not connect first).
    #[error("Peer not connected")]
    NotConnected,
    /// Code 300.
    #[error("Amount exceeded {0}sat")]
    TooLarge(u64),
    /// Code 301.
    #[error("Requested to push_msat of {push_msat}msat is greater than available funding amount {amount}sat")]
    PushTooLarge { push_msat: u64, amount: u64 },
    /// Code -1: what we keep for anchor fee bumping would not survive this open.
    #[error("Could not afford {wanted}sat while keeping the {reserve}sat on-chain reserve for fee-bumping anchor channels: {available}sat available")]
    AnchorReserve {
        wanted: u64,
        reserve: u64,
        available: u64,
    },
    /// The wallet's refusal, unchanged (codes 301 etc.).
    #[error(transparent)]
    Spend(#[from] wallet::SpendError),
    /// Code -1: `Cannot estimate fees`.
    #[error("Cannot estimate fees")]
    NoFees,
    /// Code -1: LDK refused (bad parameters, peer state); its text.
    #[error("{0}")]
    Ldk(String),
    /// Code -1: the peer ended the open (error message, disconnect, timeout).
    #[error("{0}")]
    Failed(String),
}
