//! The pool of accepted, unconfirmed transactions: who spends what, parents and children,
//! and the order blocks take them in (parents always before children).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use bitcoin::{Amount, OutPoint, Transaction, TxOut, Txid, Wtxid};

/// One accepted transaction.
#[derive(Debug, Clone)]
pub struct MempoolEntry {
    /// The transaction.
    pub tx: Arc<Transaction>,
    /// Its txid (cached: hashing is not free).
    pub txid: Txid,
    /// Its wtxid.
    pub wtxid: Wtxid,
    /// Inputs minus outputs.
    pub fee: Amount,
    /// Virtual size (BIP141), what fee rates are measured against.
    pub vsize: u64,
    /// Weight units.
    pub weight: u64,
    /// Unix time it entered.
    pub time: u64,
    /// Tip height when it entered.
    pub height: u32,
    /// Entry order; a child always enters after its parents, so this order is topological.
    seq: u64,
}

/// The mempool.
#[derive(Debug, Default)]
pub struct Mempool {
    entries: HashMap<Txid, MempoolEntry>,
    /// Outpoint → the mempool transaction spending it.
    spends: HashMap<OutPoint, Txid>,
    /// Entry order → txid.
    order: BTreeMap<u64, Txid>,
    next_seq: u64,
    /// `prioritisetransaction` fee deltas (sat), kept for txids not in the pool too (as
    /// bitcoind's) until the transaction is mined.
    deltas: HashMap<Txid, i64>,
}

impl Mempool {
    /// Number of transactions.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// A transaction by txid.
    pub fn get(&self, txid: &Txid) -> Option<&MempoolEntry> {
        self.entries.get(txid)
    }

    /// The mempool transaction spending `outpoint`, if any.
    pub fn spender(&self, outpoint: &OutPoint) -> Option<Txid> {
        self.spends.get(outpoint).copied()
    }

    /// An output created by a mempool transaction.
    pub fn output(&self, outpoint: &OutPoint) -> Option<&TxOut> {
        self.entries
            .get(&outpoint.txid)?
            .tx
            .output
            .get(outpoint.vout as usize)
    }

    /// Entries in entry order (parents before children).
    pub fn ordered(&self) -> impl Iterator<Item = &MempoolEntry> {
        self.order.values().filter_map(|t| self.entries.get(t))
    }

    /// Adds an accepted transaction.
    pub fn insert(&mut self, mut entry: MempoolEntry) {
        entry.seq = self.next_seq;
        self.next_seq += 1;
        for input in &entry.tx.input {
            self.spends.insert(input.previous_output, entry.txid);
        }
        self.order.insert(entry.seq, entry.txid);
        self.entries.insert(entry.txid, entry);
    }

    /// Builds an entry (its order is set on insert).
    #[allow(clippy::too_many_arguments)]
    pub fn entry(
        tx: Arc<Transaction>,
        txid: Txid,
        wtxid: Wtxid,
        fee: Amount,
        vsize: u64,
        weight: u64,
        time: u64,
        height: u32,
    ) -> MempoolEntry {
        MempoolEntry {
            tx,
            txid,
            wtxid,
            fee,
            vsize,
            weight,
            time,
            height,
            seq: 0,
        }
    }

    /// In-mempool parents of `txid`.
    pub fn parents(&self, txid: &Txid) -> Vec<Txid> {
        let Some(e) = self.entries.get(txid) else {
            return Vec::new();
        };
        let mut out: Vec<Txid> = Vec::new();
        for input in &e.tx.input {
            let p = input.previous_output.txid;
            if self.entries.contains_key(&p) && !out.contains(&p) {
                out.push(p);
            }
        }
        out
    }

    /// In-mempool children of `txid`.
    pub fn children(&self, txid: &Txid) -> Vec<Txid> {
        let Some(e) = self.entries.get(txid) else {
            return Vec::new();
        };
        let mut out: Vec<Txid> = Vec::new();
        for vout in 0..e.tx.output.len() {
            if let Some(c) = self.spends.get(&OutPoint {
                txid: *txid,
                vout: vout as u32,
            }) {
                if !out.contains(c) {
                    out.push(*c);
                }
            }
        }
        out
    }

    /// All in-mempool ancestors of a transaction spending `inputs` (not including itself).
    pub fn ancestors_of_inputs<'a>(
        &self,
        inputs: impl Iterator<Item = &'a OutPoint>,
    ) -> HashSet<Txid> {
        let mut seen = HashSet::new();
        let mut stack: Vec<Txid> = inputs
            .map(|o| o.txid)
            .filter(|t| self.entries.contains_key(t))
            .collect();
        while let Some(t) = stack.pop() {
            if seen.insert(t) {
                stack.extend(self.parents(&t));
            }
        }
        seen
    }

    /// `txid` and everything descending from it in the mempool.
    pub fn with_descendants(&self, txid: &Txid) -> HashSet<Txid> {
        let mut seen = HashSet::new();
        let mut stack = vec![*txid];
        while let Some(t) = stack.pop() {
            if self.entries.contains_key(&t) && seen.insert(t) {
                stack.extend(self.children(&t));
            }
        }
        seen
    }

    /// Removes one transaction (callers remove descendants first or with it).
    fn remove_one(&mut self, txid: &Txid) -> Option<MempoolEntry> {
        let e = self.entries.remove(txid)?;
        for input in &e.tx.input {
            if self.spends.get(&input.previous_output) == Some(txid) {
                self.spends.remove(&input.previous_output);
            }
        }
        self.order.remove(&e.seq);
        Some(e)
    }

    /// Removes `txid` and its descendants.
    pub fn remove_recursive(&mut self, txid: &Txid) -> Vec<MempoolEntry> {
        let set = self.with_descendants(txid);
        set.iter().filter_map(|t| self.remove_one(t)).collect()
    }

    /// After a block connects: drops its transactions, and whatever conflicts with them
    /// (with descendants). The block's children in the mempool stay: their parents are now
    /// confirmed.
    pub fn remove_for_block(&mut self, txs: &[Transaction]) {
        for tx in txs {
            let txid = tx.compute_txid();
            self.remove_one(&txid);
            self.deltas.remove(&txid);
            if tx.is_coinbase() {
                continue;
            }
            for input in &tx.input {
                if let Some(conflict) = self.spends.get(&input.previous_output).copied() {
                    if conflict != txid {
                        self.remove_recursive(&conflict);
                    }
                }
            }
        }
    }

    /// Empties the pool, returning its entries in order (for re-checking after a reorg).
    pub fn drain_ordered(&mut self) -> Vec<MempoolEntry> {
        let order = std::mem::take(&mut self.order);
        self.spends.clear();
        let mut entries = std::mem::take(&mut self.entries);
        order.values().filter_map(|t| entries.remove(t)).collect()
    }

    /// Adds `delta` sat to the fee blocks judge `txid` by (bitcoind sums repeated calls).
    pub fn prioritise(&mut self, txid: Txid, delta: i64) {
        let d = self.deltas.entry(txid).or_insert(0);
        *d = d.saturating_add(delta);
        if *d == 0 {
            self.deltas.remove(&txid);
        }
    }

    /// The entry's fee plus its prioritisation delta, in sat (may be negative), and
    /// whether it has a delta at all.
    pub fn modified_fee(&self, e: &MempoolEntry) -> (i64, bool) {
        let fee = i64::try_from(e.fee.to_sat()).unwrap_or(i64::MAX);
        match self.deltas.get(&e.txid) {
            Some(d) => (fee.saturating_add(*d), true),
            None => (fee, false),
        }
    }

    /// Sum of fees and of virtual sizes.
    pub fn totals(&self) -> (Amount, u64) {
        self.entries
            .values()
            .fold((Amount::ZERO, 0), |(f, s), e| (f + e.fee, s + e.vsize))
    }
}
