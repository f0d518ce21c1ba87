//! Wallet figures: catch-up over N blocks that pay it M outputs each (persisted in a real
//! store), then `listfunds` latency, coin selection + signing for a withdrawal, and the
//! restart (load) time, all with N*M wallet UTXOs.
//!
//! `cargo run --release -p wallet --example bench -- [blocks=1000] [per_block=10]`

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use bitcoin::absolute::LockTime;
use bitcoin::block::{Header, Version};
use bitcoin::hashes::Hash;
use bitcoin::transaction::Version as TxVersion;
use bitcoin::{
    Amount, Block, BlockHash, CompactTarget, Network, OutPoint, ScriptBuf, Sequence, Transaction,
    TxIn, TxMerkleNode, TxOut, Witness,
};
use wallet::{AddressType, SpendRequest};

fn tx(salt: u64, spk: &ScriptBuf, sat: u64) -> Transaction {
    let mut prev = [0u8; 32];
    prev[..8].copy_from_slice(&salt.to_le_bytes());
    Transaction {
        version: TxVersion::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::new(bitcoin::Txid::from_byte_array(prev), 0),
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(sat),
            script_pubkey: spk.clone(),
        }],
    }
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let blocks = args.first().copied().unwrap_or(1000) as u32;
    let per_block = args.get(1).copied().unwrap_or(10);
    let dir = tempfile::tempdir().unwrap();
    let w = common::open_wallet(dir.path());
    let addrs: Vec<ScriptBuf> = (0..200)
        .map(|i| {
            let ty = if i % 2 == 0 {
                AddressType::Bech32
            } else {
                AddressType::P2tr
            };
            w.new_address(ty).unwrap().script_pubkey()
        })
        .collect();

    let mut prev = bitcoin::constants::genesis_block(Network::Regtest).block_hash();
    let mut salt = 0u64;
    let start = Instant::now();
    for h in 1..=blocks {
        let mut txdata = Vec::new();
        for _ in 0..per_block {
            salt += 1;
            let spk = &addrs[(salt % addrs.len() as u64) as usize];
            txdata.push(tx(salt, spk, 10_000 + salt));
        }
        let block = Block {
            header: Header {
                version: Version::TWO,
                prev_blockhash: prev,
                merkle_root: TxMerkleNode::all_zeros(),
                time: 1_700_000_000 + h,
                bits: CompactTarget::from_consensus(0x207fffff),
                nonce: h,
            },
            txdata,
        };
        w.apply_block(&block, h).unwrap();
        prev = block.block_hash();
    }
    let catch_up = start.elapsed();
    let _: BlockHash = prev;

    let t = Instant::now();
    let runs = 10;
    let mut n = 0;
    for _ in 0..runs {
        n = w.outputs(false).len();
    }
    let listfunds = t.elapsed() / runs;

    let dest = addrs[0].clone();
    let t = Instant::now();
    let spend = w
        .spend(&SpendRequest {
            outputs: vec![(dest, Amount::from_sat(1_000_000))],
            drain_to: None,
            feerate_per_kw: 2_500,
            minconf: 1,
            utxos: None,
            reserve: 72,
        })
        .unwrap();
    let withdraw = t.elapsed();

    drop(w);
    let t = Instant::now();
    let w = common::open_wallet(dir.path());
    let reopen = t.elapsed();
    assert_eq!(w.outputs(false).len(), n);

    println!("| what | figure |");
    println!("|---|---|");
    println!("| catch-up, {blocks} blocks x {per_block} deposits (store writes included) | {catch_up:.2?} ({:.2?}/block) |", catch_up / blocks);
    println!("| listfunds outputs, {n} UTXOs | {listfunds:.2?} |");
    println!("| withdraw 0.01 BTC: selection + build + sign + durable reservation ({} inputs) | {withdraw:.2?} |", spend.inputs.len());
    println!("| restart (load + rebuild) with {n} UTXOs | {reopen:.2?} |");
}
