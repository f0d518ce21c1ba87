//! Building blocks: a coinbase with the BIP34 height and the BIP141 witness commitment,
//! mempool transactions parents-first within the weight limit, and real proof of work at
//! regtest difficulty (about two hashes per block).

use std::collections::HashSet;

use bitcoin::block::{Header, Version};
use bitcoin::blockdata::script::Builder;
use bitcoin::hashes::Hash;
use bitcoin::opcodes::all::OP_RETURN;
use bitcoin::{
    absolute, transaction, Amount, Block, BlockHash, OutPoint, ScriptBuf, Sequence, Transaction,
    TxIn, TxMerkleNode, TxOut, Witness,
};

use crate::mempool::Mempool;
use crate::params;

/// BIP141's commitment header: `OP_RETURN` push of `aa21a9ed` + 32 bytes.
const WITNESS_COMMITMENT_MAGIC: [u8; 4] = [0xaa, 0x21, 0xa9, 0xed];

/// bitcoind's `-blockmintxfee` default, sat/kvB.
const BLOCK_MIN_TX_FEE_SAT_PER_KVB: i64 = 1_000;

/// Mempool transactions for the next block, parents first, within the weight limit; fees summed.
/// A transaction `prioritisetransaction` pushed below `-blockmintxfee` waits (with its
/// descendants), as in bitcoind.
pub fn select(mempool: &Mempool) -> (Vec<Transaction>, Amount) {
    // Room for the header, the coinbase and the transaction count.
    let mut room = params::MAX_BLOCK_WEIGHT - 4_000;
    let mut skipped = HashSet::new();
    let mut txs = Vec::new();
    let mut fees = Amount::ZERO;
    for e in mempool.ordered() {
        let parent_skipped =
            e.tx.input
                .iter()
                .any(|i| skipped.contains(&i.previous_output.txid));
        let (modified, prioritised) = mempool.modified_fee(e);
        let vsize = i64::try_from(e.vsize).unwrap_or(i64::MAX);
        let too_cheap = prioritised
            && modified.saturating_mul(1000) < BLOCK_MIN_TX_FEE_SAT_PER_KVB.saturating_mul(vsize);
        if parent_skipped || too_cheap || e.weight > room {
            skipped.insert(e.txid);
            continue;
        }
        room -= e.weight;
        txs.push((*e.tx).clone());
        fees += e.fee;
    }
    (txs, fees)
}

/// A solved block on `prev` at `height` paying `subsidy + fees` to `payout`.
pub fn build(
    prev: BlockHash,
    height: u32,
    time: u32,
    payout: &ScriptBuf,
    txs: Vec<Transaction>,
    fees: Amount,
    extra_nonce: u32,
) -> Block {
    // BIP34: the height first; the extra nonce keeps blocks at one height distinct, so
    // re-mining after `invalidateblock` never reproduces the invalidated block.
    let script_sig = Builder::new()
        .push_int(i64::from(height))
        .push_int(i64::from(extra_nonce))
        .into_script();
    let mut coinbase = Transaction {
        version: transaction::Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig,
            sequence: Sequence::MAX,
            witness: Witness::from_slice(&[[0u8; 32]]),
        }],
        output: vec![TxOut {
            value: params::subsidy(height) + fees,
            script_pubkey: payout.clone(),
        }],
    };
    let mut txdata = Vec::with_capacity(txs.len() + 1);
    txdata.push(coinbase.clone());
    txdata.extend(txs);
    let mut block = Block {
        header: Header {
            version: Version::from_consensus(0x2000_0000),
            prev_blockhash: prev,
            merkle_root: TxMerkleNode::all_zeros(),
            time,
            bits: params::pow_bits(),
            nonce: 0,
        },
        txdata,
    };
    if let Some(root) = block.witness_root() {
        let commitment = Block::compute_witness_commitment(&root, &[0u8; 32]);
        let mut payload = WITNESS_COMMITMENT_MAGIC.to_vec();
        payload.extend_from_slice(commitment.as_byte_array());
        let push = bitcoin::script::PushBytesBuf::try_from(payload).expect("36 bytes fit a push");
        coinbase.output.push(TxOut {
            value: Amount::ZERO,
            script_pubkey: Builder::new()
                .push_opcode(OP_RETURN)
                .push_slice(push)
                .into_script(),
        });
        block.txdata[0] = coinbase;
    }
    block.header.merkle_root = block.compute_merkle_root().expect("a block has a coinbase");
    let target = block.header.target();
    while block.header.validate_pow(target).is_err() {
        block.header.nonce = block.header.nonce.wrapping_add(1);
        if block.header.nonce == 0 {
            block.header.time += 1;
        }
    }
    block
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_block_has_valid_merkle_root_witness_commitment_and_pow() {
        let genesis = params::genesis();
        let block = build(
            genesis.block_hash(),
            1,
            genesis.header.time + 1,
            &ScriptBuf::new(),
            vec![],
            Amount::ZERO,
            7,
        );
        assert!(block.check_merkle_root());
        assert!(block.check_witness_commitment());
        assert!(block.header.validate_pow(block.header.target()).is_ok());
        // Core's `CScript() << 1` is OP_1: heights 1..=16 are small-number opcodes.
        assert_eq!(block.txdata[0].input[0].script_sig.as_bytes()[0], 0x51);
        assert_eq!(
            block.txdata[0].output[0].value,
            Amount::from_sat(5_000_000_000)
        );
        let block = build(
            genesis.block_hash(),
            300,
            1,
            &ScriptBuf::new(),
            vec![],
            Amount::ZERO,
            7,
        );
        assert_eq!(block.bip34_block_height().ok(), Some(300));
        assert_eq!(
            block.txdata[0].output[0].value,
            Amount::from_sat(1_250_000_000)
        );
    }
}
