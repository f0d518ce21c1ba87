//! Regtest consensus constants, as Bitcoin Core's `CRegTestParams` sets them.

use bitcoin::{pow::CompactTarget, Amount, Block, Network};

/// Regtest's proof-of-work limit (`nBits` of every regtest block: no retargeting).
pub const POW_LIMIT_BITS: u32 = 0x207f_ffff;
/// Regtest halves the subsidy every 150 blocks (mainnet: 210,000).
pub const HALVING_INTERVAL: u32 = 150;
/// A coinbase output may be spent only this many blocks after the block that made it.
pub const COINBASE_MATURITY: u32 = 100;
/// Blocks are capped at four million weight units (BIP141).
pub const MAX_BLOCK_WEIGHT: u64 = 4_000_000;
/// Policy: the largest transaction a node relays (`MAX_STANDARD_TX_WEIGHT`).
pub const MAX_STANDARD_TX_WEIGHT: u64 = 400_000;
/// Policy: smaller non-witness serializations are refused (CVE-2017-12842).
pub const MIN_STANDARD_TX_NONWITNESS_SIZE: usize = 65;
/// Policy: `-minrelaytxfee` default, satoshis per 1000 virtual bytes.
pub const MIN_RELAY_FEE_SAT_PER_KVB: u64 = 1_000;
/// Policy: `-maxtxfee`-style default for `sendrawtransaction`'s `maxfeerate` (0.10 BTC/kvB).
pub const DEFAULT_MAX_FEE_RATE_SAT_PER_KVB: u64 = 10_000_000;
/// Policy: at most this many in-mempool ancestors (or descendants) per transaction.
pub const MEMPOOL_CHAIN_LIMIT: usize = 25;
/// A tip older than this keeps the node in initial block download (`-maxtipage`).
pub const MAX_TIP_AGE_SECS: u64 = 24 * 60 * 60;
/// The version bitcoind 26.0 reports; `bcli` requires at least 220000.
pub const CORE_VERSION: u64 = 260_000;

/// The network this chain is.
pub const NETWORK: Network = Network::Regtest;

/// The regtest genesis block (hash 0f9188f1…2206).
pub fn genesis() -> Block {
    bitcoin::blockdata::constants::genesis_block(NETWORK)
}

/// The block reward at `height`: 50 BTC halved every [`HALVING_INTERVAL`] blocks.
pub fn subsidy(height: u32) -> Amount {
    let halvings = height / HALVING_INTERVAL;
    if halvings >= 64 {
        return Amount::ZERO;
    }
    Amount::from_sat((50 * 100_000_000u64) >> halvings)
}

/// The compact target every regtest block carries.
pub fn pow_bits() -> CompactTarget {
    CompactTarget::from_consensus(POW_LIMIT_BITS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genesis_is_the_real_regtest_genesis() {
        assert_eq!(
            genesis().block_hash().to_string(),
            "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
        );
    }

    #[test]
    fn subsidy_halves_every_150_blocks() {
        assert_eq!(subsidy(0), Amount::from_sat(5_000_000_000));
        assert_eq!(subsidy(149), Amount::from_sat(5_000_000_000));
        assert_eq!(subsidy(150), Amount::from_sat(2_500_000_000));
        assert_eq!(subsidy(300), Amount::from_sat(1_250_000_000));
        assert_eq!(subsidy(150 * 64), Amount::ZERO);
    }
}
