//! The block tree and the active chain: which blocks we know, which one is the tip, and the
//! coins (UTXO set) the tip implies. Connecting a block spends coins and records undo data;
//! disconnecting restores them, so `invalidateblock`/`reconsiderblock` can reorganise.
//!
//! Blocks reach this module already checked (mined here, or reloaded from our own file), so
//! connecting checks only what the coin view needs; a block whose inputs are missing is
//! marked invalid instead of corrupting the set.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bitcoin::pow::Work;
use bitcoin::{Amount, Block, BlockHash, OutPoint, TxOut, Txid};

use crate::{accept, params};

/// An unspent output and where it was created.
#[derive(Debug, Clone)]
pub struct Coin {
    /// The output itself (value and script).
    pub txout: TxOut,
    /// Height of the block that created it (coinbase maturity, BIP68, confirmations).
    pub height: u32,
    /// Coinbase outputs mature only after [`params::COINBASE_MATURITY`] blocks.
    pub coinbase: bool,
}

/// One block we know, on the active chain or not.
#[derive(Debug)]
pub struct BlockEntry {
    /// The full block (kept in memory: a development chain is small).
    pub block: Arc<Block>,
    /// Its height (genesis is 0).
    pub height: u32,
    /// Total work up to and including this block; the most-work valid block is the tip.
    pub chainwork: Work,
    /// Arrival order, so of two equal-work branches the first seen wins (as in bitcoind).
    pub seq: u64,
    /// Marked by `invalidateblock` (or by a failed connect); descendants are then invalid too.
    pub invalid: bool,
    /// Mined here or reloaded from our own file: its scripts were verified on the way into
    /// the mempool, so connecting skips them. Blocks from `submitblock` are not trusted.
    pub trusted: bool,
}

/// Why a block could not be added.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The parent is unknown.
    #[error("prev-blk-not-found")]
    UnknownParent,
    /// Already in the tree.
    #[error("duplicate")]
    Duplicate,
    /// Spends coins the chain does not have.
    #[error("bad-txns-inputs-missingorspent")]
    MissingInputs,
    /// Breaks another consensus rule (Core's reject reason).
    #[error("{0}")]
    Invalid(&'static str),
}

/// What a tip change did, for the mempool and the log.
#[derive(Debug, Default)]
pub struct TipChange {
    /// Blocks taken off the active chain, tip first.
    pub disconnected: Vec<Arc<Block>>,
    /// Blocks put on the active chain, lowest first.
    pub connected: Vec<Arc<Block>>,
}

/// The block tree, active chain and coin set.
#[derive(Debug)]
pub struct Chain {
    entries: HashMap<BlockHash, BlockEntry>,
    /// `active[h]` is the hash of the active block at height `h`.
    active: Vec<BlockHash>,
    utxos: HashMap<OutPoint, Coin>,
    /// Coins each active block spent, in spending order, to restore on disconnect.
    undo: HashMap<BlockHash, Vec<(OutPoint, Coin)>>,
    /// Active-chain transactions: block and position (bitcoind's `-txindex`).
    txindex: HashMap<Txid, (BlockHash, usize)>,
    next_seq: u64,
    /// The last block that failed to connect and why (`submitblock` answers with it).
    pub last_failure: Option<(BlockHash, String)>,
}

impl Default for Chain {
    fn default() -> Self {
        Self::new()
    }
}

impl Chain {
    /// A chain holding only the regtest genesis block.
    pub fn new() -> Chain {
        let genesis = params::genesis();
        let hash = genesis.block_hash();
        let mut entries = HashMap::new();
        let work = genesis.header.work();
        entries.insert(
            hash,
            BlockEntry {
                block: Arc::new(genesis),
                height: 0,
                chainwork: work,
                seq: 0,
                invalid: false,
                trusted: true,
            },
        );
        // Genesis outputs are unspendable (as in bitcoind): no coins, no txindex entry.
        Chain {
            entries,
            active: vec![hash],
            utxos: HashMap::new(),
            undo: HashMap::new(),
            txindex: HashMap::new(),
            next_seq: 1,
            last_failure: None,
        }
    }

    /// Height of the tip.
    pub fn height(&self) -> u32 {
        (self.active.len() - 1) as u32
    }

    /// Hash of the tip.
    pub fn tip_hash(&self) -> BlockHash {
        self.active[self.active.len() - 1]
    }

    /// The tip's entry.
    pub fn tip(&self) -> &BlockEntry {
        &self.entries[&self.tip_hash()]
    }

    /// Hash of the active block at `height`.
    pub fn hash_at(&self, height: u32) -> Option<BlockHash> {
        self.active.get(height as usize).copied()
    }

    /// Any known block.
    pub fn entry(&self, hash: &BlockHash) -> Option<&BlockEntry> {
        self.entries.get(hash)
    }

    /// Whether `hash` is on the active chain.
    pub fn is_active(&self, hash: &BlockHash) -> bool {
        self.entries
            .get(hash)
            .is_some_and(|e| self.active.get(e.height as usize) == Some(hash))
    }

    /// Number of known blocks (all branches).
    pub fn block_count(&self) -> usize {
        self.entries.len()
    }

    /// An unspent output of the active chain.
    pub fn coin(&self, outpoint: &OutPoint) -> Option<&Coin> {
        self.utxos.get(outpoint)
    }

    /// Every unspent output (the faucet scans it for its own coins).
    pub fn coins(&self) -> impl Iterator<Item = (&OutPoint, &Coin)> {
        self.utxos.iter()
    }

    /// Where an active-chain transaction is: block hash and position in it.
    pub fn tx_location(&self, txid: &Txid) -> Option<(BlockHash, usize)> {
        self.txindex.get(txid).copied()
    }

    /// Median of the last 11 block times up to and including the active block at `height`
    /// (BIP113 median-time-past).
    pub fn median_time_past(&self, height: u32) -> u32 {
        let low = height.saturating_sub(10);
        let mut times: Vec<u32> = (low..=height.min(self.height()))
            .filter_map(|h| self.hash_at(h))
            .map(|hash| self.entries[&hash].block.header.time)
            .collect();
        times.sort_unstable();
        times.get(times.len() / 2).copied().unwrap_or(0)
    }

    /// Median-time-past of any known block (walks its own branch).
    pub fn median_time_past_of(&self, hash: &BlockHash) -> u32 {
        let mut times = Vec::with_capacity(11);
        let mut cursor = Some(*hash);
        while let Some(h) = cursor {
            let Some(entry) = self.entries.get(&h) else {
                break;
            };
            times.push(entry.block.header.time);
            if times.len() == 11 || entry.height == 0 {
                break;
            }
            cursor = Some(entry.block.header.prev_blockhash);
        }
        times.sort_unstable();
        times.get(times.len() / 2).copied().unwrap_or(0)
    }

    /// Adds a block whose parent is known (not yet connected: call [`Chain::activate_best`]).
    /// `trusted`: mined here, so connecting may skip script checks.
    pub fn add_block(&mut self, block: Block, trusted: bool) -> Result<BlockHash, ChainError> {
        let hash = block.block_hash();
        if self.entries.contains_key(&hash) {
            return Err(ChainError::Duplicate);
        }
        let parent = self
            .entries
            .get(&block.header.prev_blockhash)
            .ok_or(ChainError::UnknownParent)?;
        let height = parent.height + 1;
        let chainwork = parent.chainwork + block.header.work();
        let seq = self.next_seq;
        self.next_seq += 1;
        self.entries.insert(
            hash,
            BlockEntry {
                block: Arc::new(block),
                height,
                chainwork,
                seq,
                invalid: false,
                trusted,
            },
        );
        Ok(hash)
    }

    /// Marks `hash` invalid (its descendants follow) and moves the tip off it.
    /// Returns `None` when the block is unknown.
    pub fn invalidate(&mut self, hash: &BlockHash) -> Option<TipChange> {
        self.entries.get_mut(hash)?.invalid = true;
        Some(self.activate_best())
    }

    /// Clears the invalid mark on `hash`, its ancestors and its descendants, then moves to
    /// the best chain. Returns `None` when the block is unknown.
    pub fn reconsider(&mut self, hash: &BlockHash) -> Option<TipChange> {
        if !self.entries.contains_key(hash) {
            return None;
        }
        let mut clear: Vec<BlockHash> = self.ancestors(hash);
        // Descendants, in one pass by height: a block is one if its parent is.
        let mut by_height: Vec<(u32, BlockHash, BlockHash)> = self
            .entries
            .iter()
            .map(|(h, e)| (e.height, *h, e.block.header.prev_blockhash))
            .collect();
        by_height.sort_unstable_by_key(|(height, _, _)| *height);
        let mut below: HashSet<BlockHash> = HashSet::from([*hash]);
        for (_, h, prev) in by_height {
            if below.contains(&prev) {
                below.insert(h);
                clear.push(h);
            }
        }
        for h in clear {
            if let Some(e) = self.entries.get_mut(&h) {
                e.invalid = false;
            }
        }
        Some(self.activate_best())
    }

    /// `hash` and all blocks below it.
    fn ancestors(&self, hash: &BlockHash) -> Vec<BlockHash> {
        let mut out = Vec::new();
        let mut cursor = *hash;
        while let Some(e) = self.entries.get(&cursor) {
            out.push(cursor);
            if e.height == 0 {
                break;
            }
            cursor = e.block.header.prev_blockhash;
        }
        out
    }

    /// `getchaintips`: every block without children, with its height, the length of its
    /// branch off the active chain, and bitcoind's status (`active`, `valid-fork`, `invalid`).
    pub fn tips(&self) -> Vec<(BlockHash, u32, u32, &'static str)> {
        let parents: HashSet<BlockHash> = self
            .entries
            .values()
            .filter(|e| e.height > 0)
            .map(|e| e.block.header.prev_blockhash)
            .collect();
        let mut by_height: Vec<(&BlockHash, &BlockEntry)> = self.entries.iter().collect();
        by_height.sort_by_key(|(_, e)| e.height);
        let mut bad: HashSet<BlockHash> = HashSet::new();
        for (hash, e) in &by_height {
            if e.invalid || (e.height > 0 && bad.contains(&e.block.header.prev_blockhash)) {
                bad.insert(**hash);
            }
        }
        let mut tips = Vec::new();
        for (hash, e) in by_height.into_iter().rev() {
            // The active tip, and every block nothing builds on.
            if *hash != self.tip_hash() && parents.contains(hash) {
                continue;
            }
            let mut cursor = *hash;
            while !self.is_active(&cursor) {
                cursor = self.entries[&cursor].block.header.prev_blockhash;
            }
            let branch = e.height - self.entries[&cursor].height;
            let status = if *hash == self.tip_hash() {
                "active"
            } else if bad.contains(hash) {
                "invalid"
            } else {
                "valid-fork"
            };
            tips.push((*hash, e.height, branch, status));
        }
        tips
    }

    /// Hashes of blocks marked invalid by `invalidateblock` (persisted by the node).
    pub fn invalid_marks(&self) -> Vec<BlockHash> {
        self.entries
            .iter()
            .filter(|(_, e)| e.invalid)
            .map(|(h, _)| *h)
            .collect()
    }

    /// Marks a block invalid without reorganising (used while loading).
    pub fn mark_invalid(&mut self, hash: &BlockHash) {
        if let Some(e) = self.entries.get_mut(hash) {
            e.invalid = true;
        }
    }

    /// The most-work block none of whose ancestors is invalid.
    fn best_candidate(&self) -> BlockHash {
        let mut by_height: Vec<(&BlockHash, &BlockEntry)> = self.entries.iter().collect();
        by_height.sort_by_key(|(_, e)| e.height);
        let mut bad: HashSet<BlockHash> = HashSet::new();
        let mut best: Option<(&BlockHash, &BlockEntry)> = None;
        for (hash, entry) in by_height {
            if entry.invalid
                || (entry.height > 0 && bad.contains(&entry.block.header.prev_blockhash))
            {
                bad.insert(*hash);
                continue;
            }
            let better = match best {
                None => true,
                Some((_, b)) => {
                    entry.chainwork > b.chainwork
                        || (entry.chainwork == b.chainwork && entry.seq < b.seq)
                }
            };
            if better {
                best = Some((hash, entry));
            }
        }
        best.map(|(h, _)| *h).unwrap_or(self.active[0])
    }

    /// After [`Chain::add_block`]: a block on the tip is connected directly (the tip is always
    /// the best candidate, so a child of it is the new best); anything else searches.
    pub fn activate_after_add(&mut self, hash: &BlockHash) -> TipChange {
        let extends = self
            .entries
            .get(hash)
            .is_some_and(|e| !e.invalid && e.block.header.prev_blockhash == self.tip_hash());
        if extends {
            match self.connect(hash) {
                Ok(block) => {
                    return TipChange {
                        disconnected: Vec::new(),
                        connected: vec![block],
                    }
                }
                Err(e) => {
                    tracing::warn!("ConnectBlock {hash} failed, {e}; marked invalid");
                    self.last_failure = Some((*hash, e.to_string()));
                    self.mark_invalid(hash);
                }
            }
        }
        self.activate_best()
    }

    /// Moves the active chain to the best valid block, disconnecting and connecting as needed.
    /// A block that cannot be connected is marked invalid and the search repeats.
    pub fn activate_best(&mut self) -> TipChange {
        let mut change = TipChange::default();
        loop {
            let best = self.best_candidate();
            if best == self.tip_hash() {
                return change;
            }
            // Path from `best` down to the active chain.
            let mut path = Vec::new();
            let mut cursor = best;
            while !self.is_active(&cursor) {
                path.push(cursor);
                cursor = self.entries[&cursor].block.header.prev_blockhash;
            }
            let fork_height = self.entries[&cursor].height;
            while self.height() > fork_height {
                change.disconnected.push(self.disconnect_tip());
            }
            let mut failed = false;
            for hash in path.into_iter().rev() {
                match self.connect(&hash) {
                    Ok(block) => change.connected.push(block),
                    Err(e) => {
                        tracing::warn!("ConnectBlock {hash} failed, {e}; marked invalid");
                        self.last_failure = Some((hash, e.to_string()));
                        self.mark_invalid(&hash);
                        failed = true;
                        break;
                    }
                }
            }
            if !failed {
                return change;
            }
        }
    }

    /// Connects the child of the tip `hash`: spends its inputs, adds its outputs.
    fn connect(&mut self, hash: &BlockHash) -> Result<Arc<Block>, ChainError> {
        let entry = &self.entries[hash];
        let block = entry.block.clone();
        let height = entry.height;
        // Check the whole block first so a bad one leaves the coin set untouched.
        self.check_block_spends(&block, height, entry.trusted)?;
        let mut undo = Vec::new();
        for (pos, tx) in block.txdata.iter().enumerate() {
            let txid = tx.compute_txid();
            if !tx.is_coinbase() {
                for input in &tx.input {
                    if let Some(coin) = self.utxos.remove(&input.previous_output) {
                        undo.push((input.previous_output, coin));
                    }
                }
            }
            for (vout, out) in tx.output.iter().enumerate() {
                if out.script_pubkey.is_op_return() {
                    continue;
                }
                self.utxos.insert(
                    OutPoint {
                        txid,
                        vout: vout as u32,
                    },
                    Coin {
                        txout: out.clone(),
                        height,
                        coinbase: tx.is_coinbase(),
                    },
                );
            }
            self.txindex.insert(txid, (*hash, pos));
        }
        self.undo.insert(*hash, undo);
        self.active.push(*hash);
        Ok(block)
    }

    /// Checks a block meant to extend the tip without adding it (bitcoind's
    /// `TestBlockValidity`), scripts included.
    pub fn test_block_on_tip(&self, block: &Block) -> Result<(), ChainError> {
        if block.header.prev_blockhash != self.tip_hash() {
            return Err(ChainError::Invalid("bad-prevblk"));
        }
        self.check_block_spends(block, self.height() + 1, false)
    }

    /// Consensus checks of a block's transactions against the coins at the tip (its parent):
    /// inputs exist once, coinbase maturity, lock times, BIP68, amounts, the coinbase value,
    /// and (for blocks from outside) every script.
    fn check_block_spends(
        &self,
        block: &Block,
        height: u32,
        trusted: bool,
    ) -> Result<(), ChainError> {
        let prev_mtp = self.median_time_past(self.height());
        let mut created: HashMap<OutPoint, TxOut> = HashMap::new();
        let mut spent: HashSet<OutPoint> = HashSet::new();
        let mut fees = Amount::ZERO;
        for tx in &block.txdata {
            let txid = tx.compute_txid();
            if !tx.is_coinbase() {
                let mut coins = Vec::with_capacity(tx.input.len());
                for input in &tx.input {
                    let op = input.previous_output;
                    let coin = match self.utxos.get(&op) {
                        Some(c) => (c.txout.clone(), c.height, c.coinbase),
                        None => (
                            created.get(&op).ok_or(ChainError::MissingInputs)?.clone(),
                            height,
                            false,
                        ),
                    };
                    if !spent.insert(op) {
                        return Err(ChainError::MissingInputs);
                    }
                    if coin.2 && height - coin.1 < params::COINBASE_MATURITY {
                        return Err(ChainError::Invalid("bad-txns-premature-spend-of-coinbase"));
                    }
                    coins.push(coin);
                }
                if !accept::is_final(tx, height, prev_mtp) {
                    return Err(ChainError::Invalid("bad-txns-nonfinal"));
                }
                if !accept::sequence_locks_ok(self, tx, &coins, height, prev_mtp) {
                    return Err(ChainError::Invalid("bad-txns-nonfinal"));
                }
                let value_in = coins
                    .iter()
                    .try_fold(Amount::ZERO, |a, c| a.checked_add(c.0.value));
                let value_out = tx
                    .output
                    .iter()
                    .try_fold(Amount::ZERO, |a, o| a.checked_add(o.value));
                let fee = match (value_in, value_out) {
                    (Some(i), Some(o)) if i >= o && i <= Amount::MAX_MONEY => i - o,
                    _ => return Err(ChainError::Invalid("bad-txns-in-belowout")),
                };
                fees = fees
                    .checked_add(fee)
                    .ok_or(ChainError::Invalid("bad-txns-accumulated-fee-outofrange"))?;
                if !trusted && accept::verify_scripts(tx, &coins).is_err() {
                    return Err(ChainError::Invalid("mandatory-script-verify-flag-failed"));
                }
            }
            for (vout, out) in tx.output.iter().enumerate() {
                created.insert(
                    OutPoint {
                        txid,
                        vout: vout as u32,
                    },
                    out.clone(),
                );
            }
        }
        let reward = block
            .txdata
            .first()
            .map(|cb| cb.output.iter().map(|o| o.value.to_sat()).sum::<u64>());
        if reward.unwrap_or(0) > (params::subsidy(height) + fees).to_sat() {
            return Err(ChainError::Invalid("bad-cb-amount"));
        }
        Ok(())
    }

    /// Takes the tip off the active chain, restoring the coins it spent.
    fn disconnect_tip(&mut self) -> Arc<Block> {
        let hash = self.active.pop().expect("genesis is never disconnected");
        let block = self.entries[&hash].block.clone();
        for tx in block.txdata.iter().rev() {
            let txid = tx.compute_txid();
            for vout in 0..tx.output.len() {
                self.utxos.remove(&OutPoint {
                    txid,
                    vout: vout as u32,
                });
            }
            if self.txindex.get(&txid).is_some_and(|(h, _)| *h == hash) {
                self.txindex.remove(&txid);
            }
        }
        for (op, coin) in self
            .undo
            .remove(&hash)
            .unwrap_or_default()
            .into_iter()
            .rev()
        {
            self.utxos.insert(op, coin);
        }
        block
    }

    /// The coins an active block spent (bitcoind's undo data: fees in `getblock` 2).
    pub fn spent_by_block(&self, hash: &BlockHash) -> Option<&[(OutPoint, Coin)]> {
        self.undo.get(hash).map(Vec::as_slice)
    }
}
