//! Test pieces: regtest-shaped blocks, a backend plugin that serves a chain as JSON (and
//! can be told to answer badly), and a listener that checks what it is told.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bitcoin::absolute::LockTime;
use bitcoin::block::{Header, Version};
use bitcoin::hashes::Hash;
use bitcoin::{
    transaction, Amount, Block, BlockHash, CompactTarget, OutPoint, ScriptBuf, Sequence,
    Transaction, TxIn, TxMerkleNode, TxOut, Txid, Witness,
};
use chain::{BlockRef, ChainListener, PluginCall};
use serde_json::{json, Value};

pub fn coinbase(height: u32, salt: u64) -> Transaction {
    let script_sig = bitcoin::script::Builder::new()
        .push_int(i64::from(height))
        .push_int(salt as i64)
        .into_script();
    Transaction {
        version: transaction::Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig,
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(50 * 100_000_000),
            script_pubkey: ScriptBuf::new_op_return([0x51]),
        }],
    }
}

/// A plain transaction spending a made-up outpoint (blocks are not validated for UTXOs).
pub fn filler_tx(n: u64, salt: u64) -> Transaction {
    let mut txid = [0u8; 32];
    txid[..8].copy_from_slice(&n.to_le_bytes());
    txid[8..16].copy_from_slice(&salt.to_le_bytes());
    Transaction {
        version: transaction::Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::new(Txid::from_byte_array(txid), 0),
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(1000 + n),
            script_pubkey: ScriptBuf::new_p2wsh(&bitcoin::WScriptHash::all_zeros()),
        }],
    }
}

pub fn header(prev: BlockHash, height: u32) -> Header {
    Header {
        version: Version::from_consensus(0x2000_0000),
        prev_blockhash: prev,
        merkle_root: TxMerkleNode::all_zeros(),
        time: 1_700_000_000 + height,
        bits: CompactTarget::from_consensus(0x207f_ffff),
        nonce: 0,
    }
}

/// A block at `height` on top of `prev` with `txs` transactions besides the coinbase;
/// `salt` makes sibling blocks (other branches) differ.
pub fn make_block(prev: BlockHash, height: u32, txs: usize, salt: u64) -> Block {
    let mut txdata = vec![coinbase(height, salt)];
    txdata.extend((0..txs as u64).map(|n| filler_tx(n, salt ^ u64::from(height) << 20)));
    let mut block = Block {
        header: header(prev, height),
        txdata,
    };
    block.header.merkle_root = block.compute_merkle_root().expect("has a coinbase");
    block
}

/// A block of `witness_bytes` of witness data: heavy, yet within consensus weight.
pub fn heavy_block(prev: BlockHash, height: u32, witness_bytes: usize) -> Block {
    let mut cb = coinbase(height, 7);
    cb.input[0].witness = Witness::from_slice(&[[0u8; 32]]);
    let mut big = filler_tx(1, 7);
    big.input[0].witness = Witness::from_slice(&[vec![0x42u8; witness_bytes]]);
    let mut block = Block {
        header: header(prev, height),
        txdata: vec![cb, big],
    };
    let root = block.witness_root().expect("has transactions");
    let commitment = Block::compute_witness_commitment(&root, &[0u8; 32]);
    let mut script = vec![0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed];
    script.extend_from_slice(commitment.as_byte_array());
    block.txdata[0].output.push(TxOut {
        value: Amount::ZERO,
        script_pubkey: ScriptBuf::from_bytes(script),
    });
    block.header.merkle_root = block.compute_merkle_root().expect("has a coinbase");
    block
}

/// What the next call of a method answers instead of the truth.
pub enum Fault {
    /// This JSON as the result.
    Reply(Value),
    /// No result: the call failed with this reason.
    Fail(String),
    /// The result, passed through a function.
    Edit(Box<dyn Fn(Value) -> Value + Send>),
}

/// Faults queued per method.
type Faults = Arc<Mutex<Vec<(&'static str, VecDeque<Fault>)>>>;

/// A Bitcoin backend plugin (as the daemon would reach one through its plugin host) whose
/// chain the test controls, and which answers badly when told to.
#[derive(Clone)]
pub struct TestPlugin {
    pub chain: Arc<Mutex<Vec<Block>>>,
    pub network: String,
    faults: Faults,
    pub calls: Arc<Mutex<Vec<(String, Value)>>>,
}

impl TestPlugin {
    /// A regtest chain of `len` blocks (genesis included).
    pub fn new(len: u32) -> Self {
        let genesis = bitcoin::constants::genesis_block(bitcoin::Network::Regtest);
        let plugin = TestPlugin {
            chain: Arc::new(Mutex::new(vec![genesis])),
            network: "regtest".into(),
            faults: Arc::default(),
            calls: Arc::default(),
        };
        plugin.mine(len.saturating_sub(1), 2, 0);
        plugin
    }

    pub fn tip(&self) -> BlockRef {
        let chain = self.chain.lock().unwrap();
        BlockRef {
            height: chain.len() as u32 - 1,
            hash: chain.last().unwrap().block_hash(),
        }
    }

    pub fn hash_at(&self, height: u32) -> BlockHash {
        self.chain.lock().unwrap()[height as usize].block_hash()
    }

    /// Appends `n` blocks of `txs` transactions each.
    pub fn mine(&self, n: u32, txs: usize, salt: u64) {
        let mut chain = self.chain.lock().unwrap();
        for _ in 0..n {
            let height = chain.len() as u32;
            let prev = chain.last().unwrap().block_hash();
            chain.push(make_block(prev, height, txs, salt));
        }
    }

    /// invalidateblock at `height`, then a longer branch: `depth` blocks replaced, one more.
    pub fn reorg(&self, depth: u32, salt: u64) {
        {
            let mut chain = self.chain.lock().unwrap();
            let keep = chain.len() - depth as usize;
            chain.truncate(keep);
        }
        self.mine(depth + 1, 1, salt);
    }

    pub fn push_block(&self, block: Block) {
        self.chain.lock().unwrap().push(block);
    }

    pub fn fault(&self, method: &'static str, fault: Fault) {
        let mut faults = self.faults.lock().unwrap();
        match faults.iter_mut().find(|(m, _)| *m == method) {
            Some((_, q)) => q.push_back(fault),
            None => faults.push((method, VecDeque::from([fault]))),
        }
    }

    fn next_fault(&self, method: &str) -> Option<Fault> {
        let mut faults = self.faults.lock().unwrap();
        faults
            .iter_mut()
            .find(|(m, _)| *m == method)
            .and_then(|(_, q)| q.pop_front())
    }

    fn answer(&self, method: &str, params: &Value) -> Result<Value, String> {
        let chain = self.chain.lock().unwrap();
        let count = chain.len() as u32 - 1;
        match method {
            "getchaininfo" => Ok(json!({
                "chain": self.network, "headercount": count, "blockcount": count, "ibd": false
            })),
            "estimatefees" => Ok(json!({"feerate_floor": 1000, "feerates": [
                {"blocks": 2, "feerate": 40000}, {"blocks": 6, "feerate": 20000},
                {"blocks": 12, "feerate": 12000}, {"blocks": 100, "feerate": 4000}]})),
            "getrawblockbyheight" => {
                let h = params["height"].as_u64().ok_or("no height")? as usize;
                Ok(match chain.get(h) {
                    None => json!({"blockhash": null, "block": null}),
                    Some(b) => json!({
                        "blockhash": b.block_hash().to_string(),
                        "block": bitcoin::consensus::encode::serialize_hex(b),
                    }),
                })
            }
            "sendrawtransaction" => Ok(json!({"success": true, "errmsg": ""})),
            "getutxout" => Ok(json!({"amount": null, "script": null})),
            other => Err(format!("unknown method {other}")),
        }
    }
}

impl PluginCall for TestPlugin {
    async fn call(&self, method: &'static str, params: Value) -> Result<Value, String> {
        self.calls
            .lock()
            .unwrap()
            .push((method.to_string(), params.clone()));
        match self.next_fault(method) {
            Some(Fault::Reply(v)) => Ok(v),
            Some(Fault::Fail(reason)) => Err(reason),
            Some(Fault::Edit(f)) => self.answer(method, &params).map(f),
            None => self.answer(method, &params),
        }
    }
}

/// A listener that keeps the chain it was told about and notes every inconsistency:
/// a block that does not build on its tip, a height out of order, a block applied twice,
/// a fork point it never had.
#[derive(Default)]
pub struct Recorder {
    pub state: Mutex<RecorderState>,
}

#[derive(Default)]
pub struct RecorderState {
    /// The chain as told, from the first connected block's parent on.
    pub chain: Vec<BlockRef>,
    pub events: Vec<String>,
    pub problems: Vec<String>,
    pub connected: usize,
    pub disconnects: usize,
    pub txs_seen: usize,
}

impl Recorder {
    pub fn tip(&self) -> Option<BlockRef> {
        self.state.lock().unwrap().chain.last().copied()
    }
    pub fn problems(&self) -> Vec<String> {
        self.state.lock().unwrap().problems.clone()
    }
    pub fn events(&self) -> Vec<String> {
        self.state.lock().unwrap().events.clone()
    }
}

impl ChainListener for Recorder {
    fn block_connected(&self, block: &Block, height: u32) {
        let mut st = self.state.lock().unwrap();
        let hash = block.block_hash();
        if let Some(tip) = st.chain.last().copied() {
            if tip.hash != block.header.prev_blockhash {
                st.problems.push(format!(
                    "block {height} does not build on tip {}",
                    tip.height
                ));
            }
            if tip.height + 1 != height {
                st.problems
                    .push(format!("block {height} after tip {}", tip.height));
            }
            if st.chain.iter().any(|b| b.hash == hash) {
                st.problems.push(format!("block {height} applied twice"));
            }
        } else if let Some(parent) = height.checked_sub(1) {
            // The root is not announced: remember it as the parent.
            st.chain.push(BlockRef {
                height: parent,
                hash: block.header.prev_blockhash,
            });
        }
        st.chain.push(BlockRef { height, hash });
        st.events.push(format!("connect {height}"));
        st.connected += 1;
        st.txs_seen += block.txdata.len();
    }

    fn blocks_disconnected(&self, fork_point: BlockRef) {
        let mut st = self.state.lock().unwrap();
        // A listener that joined after a restart knows no history to check against.
        if !st.chain.is_empty() && !st.chain.contains(&fork_point) {
            st.problems
                .push(format!("fork point {} unknown", fork_point.height));
        }
        st.chain.retain(|b| b.height <= fork_point.height);
        st.events
            .push(format!("disconnect to {}", fork_point.height));
        st.disconnects += 1;
    }
}
