//! The node: chain, mempool, block file and faucet behind one owner, and the operations the
//! RPC layer calls (mine, submit, reorg, fund). Every tip change goes through
//! [`Node::after_tip_change`], which logs bitcoind's `UpdateTip` line and repairs the mempool.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bitcoin::{Amount, Block, BlockHash, OutPoint, ScriptBuf, Transaction, Txid};

use crate::accept::{self, Accepted, Reject};
use crate::chain::{Chain, TipChange};
use crate::faucet::{Faucet, FaucetError};
use crate::mempool::Mempool;
use crate::store::{BlockStore, StoreError};
use crate::{miner, params};

/// Why the node could not open.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Block file trouble.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Faucet key trouble.
    #[error(transparent)]
    Faucet(#[from] FaucetError),
}

/// Why `sendrawtransaction` refused.
#[derive(Debug)]
pub enum SubmitError {
    /// An output of it is already unspent in the chain (-27).
    AlreadyInChain,
    /// The mempool said no.
    Rejected(Reject),
    /// Fee rate above `maxfeerate` (-25).
    MaxFee,
}

/// Settings from the command line that change behaviour.
#[derive(Debug, Clone, Default)]
pub struct NodeOptions {
    /// `-fallbackfee` in sat/kvB: the faucet's fee rate when no `setfeerate` is in force.
    pub fallback_fee: Option<u64>,
}

/// The node's state. Not thread-safe by itself: the server keeps it behind one mutex.
#[derive(Debug)]
pub struct Node {
    /// `<datadir>/regtest`.
    dir: PathBuf,
    /// Blocks, active chain, coins.
    pub chain: Chain,
    /// Unconfirmed transactions.
    pub mempool: Mempool,
    store: BlockStore,
    /// Funds `sendtoaddress`.
    pub faucet: Faucet,
    /// What `estimatesmartfee` answers, in sat/kvB; `None` = no estimate yet (as on a fresh node).
    pub fee_rate: Option<u64>,
    /// `setmocktime`: pretend the clock says this.
    pub mock_time: Option<u64>,
    /// Varies coinbases so re-mined blocks never repeat an invalidated one.
    extra_nonce: u32,
    /// Initial block download ends once the tip is recent, and never comes back (bitcoind latches).
    left_ibd: bool,
    opts: NodeOptions,
    started: u64,
}

/// Seconds since the epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Node {
    /// Opens (or creates) the chain in `dir` (the network directory, `<datadir>/regtest`).
    pub fn open(dir: &Path, opts: NodeOptions) -> Result<Node, OpenError> {
        let (store, blocks, invalid) = BlockStore::open(dir)?;
        let faucet = Faucet::open(dir)?;
        let mut chain = Chain::new();
        for (block, trusted) in blocks {
            let hash = block.block_hash();
            if let Err(e) = chain.add_block(block, trusted) {
                tracing::warn!("stored block {hash} skipped: {e}");
            }
        }
        for hash in &invalid {
            chain.mark_invalid(hash);
        }
        chain.activate_best();
        let mut node = Node {
            dir: dir.to_path_buf(),
            chain,
            mempool: Mempool::default(),
            store,
            faucet,
            fee_rate: None,
            mock_time: None,
            extra_nonce: rand::random::<u32>() >> 1,
            left_ibd: false,
            opts,
            started: unix_now(),
        };
        node.update_ibd();
        node.load_mempool();
        let tip = node.chain.tip();
        tracing::info!(
            "Loaded best chain: hashBestChain={} height={} date={}",
            node.chain.tip_hash(),
            tip.height,
            iso_date(u64::from(tip.block.header.time))
        );
        Ok(node)
    }

    /// Writes the mempool to `mempool.dat` (hex transactions, entry order), as bitcoind
    /// saves its mempool at shutdown.
    pub fn save_mempool(&self) -> std::io::Result<()> {
        let text: String = self
            .mempool
            .ordered()
            .map(|e| format!("{}\n", bitcoin::consensus::encode::serialize_hex(&*e.tx)))
            .collect();
        let tmp = self.dir.join("mempool.dat.tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, self.dir.join("mempool.dat"))
    }

    /// Re-accepts the saved mempool; whatever no longer passes is dropped.
    fn load_mempool(&mut self) {
        let Ok(text) = std::fs::read_to_string(self.dir.join("mempool.dat")) else {
            return;
        };
        let mut loaded = 0;
        for line in text.lines() {
            let Some(tx) = crate::rpc::decode_tx(line.trim()) else {
                continue;
            };
            match accept::check(&self.chain, &self.mempool, &tx) {
                Ok(ok) if ok.replaces.is_empty() => {
                    self.insert(Arc::new(tx), &ok);
                    loaded += 1;
                }
                _ => {}
            }
        }
        tracing::info!("Imported mempool transactions from disk: {loaded} succeeded");
    }

    /// The network directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Seconds the node has been up.
    pub fn uptime(&self) -> u64 {
        unix_now().saturating_sub(self.started)
    }

    /// Now, or the mock time.
    pub fn now(&self) -> u64 {
        self.mock_time.unwrap_or_else(unix_now)
    }

    /// Whether the node is still in initial block download.
    pub fn in_ibd(&self) -> bool {
        !self.left_ibd
    }

    fn update_ibd(&mut self) {
        let tip_time = u64::from(self.chain.tip().block.header.time);
        if !self.left_ibd && tip_time + params::MAX_TIP_AGE_SECS >= self.now() {
            self.left_ibd = true;
        }
    }

    /// Mines `count` blocks paying `payout`, each taking what the mempool offers. The blocks
    /// are on disk (synced) before this returns.
    pub fn generate(
        &mut self,
        count: u32,
        payout: &ScriptBuf,
    ) -> Result<Vec<BlockHash>, StoreError> {
        let mut hashes = Vec::with_capacity(count.min(1024) as usize);
        for _ in 0..count {
            let tip = self.chain.tip_hash();
            let height = self.chain.height() + 1;
            let mtp = self.chain.median_time_past(self.chain.height());
            let time = (self.now() as u32).max(mtp + 1);
            let (txs, fees) = miner::select(&self.mempool);
            self.extra_nonce = self.extra_nonce.wrapping_add(1);
            let block = miner::build(tip, height, time, payout, txs, fees, self.extra_nonce);
            self.store.append(&block, true)?;
            let hash = match self.chain.add_block(block, true) {
                Ok(h) => h,
                Err(e) => {
                    tracing::warn!("mined block refused: {e}");
                    continue;
                }
            };
            let change = self.chain.activate_after_add(&hash);
            self.after_tip_change(change);
            hashes.push(hash);
        }
        self.store.sync()?;
        Ok(hashes)
    }

    /// `generateblock`: mines one block with exactly `txs` (in order) paying `payout`, after
    /// checking it as bitcoind's `TestBlockValidity` would. With `submit` false the checked
    /// block is returned and not added.
    pub fn generate_block(
        &mut self,
        payout: &ScriptBuf,
        txs: Vec<Transaction>,
        submit: bool,
    ) -> Result<(BlockHash, Option<Block>), String> {
        let mut fees = Amount::ZERO;
        let mut created: std::collections::HashMap<OutPoint, Amount> =
            std::collections::HashMap::new();
        for tx in &txs {
            let mut value_in = Amount::ZERO;
            for input in &tx.input {
                let op = input.previous_output;
                let value = match self.chain.coin(&op) {
                    Some(c) => c.txout.value,
                    None => *created.get(&op).ok_or("bad-txns-inputs-missingorspent")?,
                };
                value_in = value_in
                    .checked_add(value)
                    .ok_or("bad-txns-inputvalues-outofrange")?;
            }
            let value_out = tx
                .output
                .iter()
                .try_fold(Amount::ZERO, |a, o| a.checked_add(o.value));
            let fee = value_out
                .and_then(|o| value_in.checked_sub(o))
                .ok_or("bad-txns-in-belowout")?;
            fees = fees
                .checked_add(fee)
                .ok_or("bad-txns-accumulated-fee-outofrange")?;
            let txid = tx.compute_txid();
            for (vout, out) in tx.output.iter().enumerate() {
                created.insert(
                    OutPoint {
                        txid,
                        vout: vout as u32,
                    },
                    out.value,
                );
            }
        }
        let tip = self.chain.tip_hash();
        let height = self.chain.height() + 1;
        let time = (self.now() as u32).max(self.chain.median_time_past(self.chain.height()) + 1);
        self.extra_nonce = self.extra_nonce.wrapping_add(1);
        let block = miner::build(tip, height, time, payout, txs, fees, self.extra_nonce);
        if block.weight().to_wu() > params::MAX_BLOCK_WEIGHT {
            return Err("bad-blk-weight".into());
        }
        self.chain
            .test_block_on_tip(&block)
            .map_err(|e| e.to_string())?;
        if !submit {
            return Ok((block.block_hash(), Some(block)));
        }
        // Verified in full just now: stored as trusted.
        self.store.append(&block, true).map_err(|e| e.to_string())?;
        self.store.sync().map_err(|e| e.to_string())?;
        let hash = self
            .chain
            .add_block(block, true)
            .map_err(|e| e.to_string())?;
        let change = self.chain.activate_after_add(&hash);
        self.after_tip_change(change);
        Ok((hash, None))
    }

    /// Adds a block from outside (`submitblock`) after checking its header and structure.
    pub fn submit_block(&mut self, block: Block) -> Result<(), String> {
        if self.chain.entry(&block.block_hash()).is_some() {
            return Err("duplicate".into());
        }
        let Some(parent) = self.chain.entry(&block.header.prev_blockhash) else {
            return Err("inconclusive".into());
        };
        let height = parent.height + 1;
        if block.header.bits != params::pow_bits()
            || block.header.validate_pow(block.header.target()).is_err()
        {
            return Err("high-hash".into());
        }
        if !block.check_merkle_root() {
            return Err("bad-txnmrklroot".into());
        }
        if !block.check_witness_commitment() {
            return Err("bad-witness-merkle-match".into());
        }
        let Some(coinbase) = block.txdata.first().filter(|t| t.is_coinbase()) else {
            return Err("bad-cb-missing".into());
        };
        let expect = bitcoin::blockdata::script::Builder::new()
            .push_int(i64::from(height))
            .into_script();
        if !coinbase.input[0]
            .script_sig
            .as_bytes()
            .starts_with(expect.as_bytes())
        {
            return Err("bad-cb-height".into());
        }
        if block.txdata.iter().skip(1).any(|t| t.is_coinbase()) {
            return Err("bad-cb-multiple".into());
        }
        if block.weight().to_wu() > params::MAX_BLOCK_WEIGHT {
            return Err("bad-blk-weight".into());
        }
        self.store
            .append(&block, false)
            .map_err(|_| "write-failed".to_string())?;
        self.store.sync().map_err(|_| "write-failed".to_string())?;
        let hash = self
            .chain
            .add_block(block, false)
            .map_err(|_| "duplicate".to_string())?;
        let change = self.chain.activate_after_add(&hash);
        self.after_tip_change(change);
        // A block that failed to connect is answered with its reject reason, as bitcoind does.
        if self.chain.entry(&hash).is_some_and(|e| e.invalid) {
            let why = self
                .chain
                .last_failure
                .as_ref()
                .filter(|(h, _)| *h == hash)
                .map(|(_, w)| w.clone());
            return Err(why.unwrap_or_else(|| "invalid".into()));
        }
        Ok(())
    }

    /// Logs the new tip and brings the mempool in line: confirmed and conflicting
    /// transactions leave; after a reorg, disconnected transactions come back if still valid.
    fn after_tip_change(&mut self, change: TipChange) {
        if change.connected.is_empty() && change.disconnected.is_empty() {
            return;
        }
        self.update_ibd();
        if !change.disconnected.is_empty() {
            let old = self.mempool.drain_ordered();
            for block in &change.connected {
                self.log_tip(block);
            }
            let mut again: Vec<Arc<Transaction>> = Vec::new();
            for block in change.disconnected.iter().rev() {
                again.extend(block.txdata.iter().skip(1).cloned().map(Arc::new));
            }
            again.extend(old.into_iter().map(|e| e.tx));
            for tx in again {
                // Anything now confirmed, conflicting or premature just stays out.
                match accept::check(&self.chain, &self.mempool, &tx) {
                    Ok(ok) if ok.replaces.is_empty() => self.insert(tx, &ok),
                    _ => {}
                }
            }
            return;
        }
        for block in &change.connected {
            self.mempool.remove_for_block(&block.txdata);
            self.log_tip(block);
        }
    }

    fn log_tip(&self, block: &Block) {
        let hash = block.block_hash();
        let Some(entry) = self.chain.entry(&hash) else {
            return;
        };
        tracing::info!(
            "UpdateTip: new best={} height={} version=0x{:08x} log2_work={:.6} tx={} date='{}' progress=1.000000",
            hash,
            entry.height,
            block.header.version.to_consensus(),
            entry.chainwork.log2(),
            block.txdata.len(),
            iso_date(u64::from(block.header.time)),
        );
    }

    fn insert(&mut self, tx: Arc<Transaction>, ok: &Accepted) {
        let entry = Mempool::entry(
            tx,
            ok.txid,
            ok.wtxid,
            ok.fee,
            ok.vsize,
            ok.weight,
            self.now(),
            self.chain.height(),
        );
        self.mempool.insert(entry);
    }

    /// `testmempoolaccept`'s check (nothing is added).
    pub fn test_accept(&self, tx: &Transaction) -> Result<Accepted, Reject> {
        accept::check(&self.chain, &self.mempool, tx)
    }

    /// `sendrawtransaction`: checks, then adds. A transaction already in the mempool is
    /// accepted again silently (bitcoind re-announces it).
    pub fn submit(
        &mut self,
        tx: Transaction,
        max_fee_per_kvb: Option<u64>,
    ) -> Result<Txid, SubmitError> {
        let txid = tx.compute_txid();
        if (0..tx.output.len()).any(|vout| {
            self.chain
                .coin(&OutPoint {
                    txid,
                    vout: vout as u32,
                })
                .is_some()
        }) {
            return Err(SubmitError::AlreadyInChain);
        }
        if self.mempool.get(&txid).is_some() {
            return Ok(txid);
        }
        let ok = accept::check(&self.chain, &self.mempool, &tx).map_err(SubmitError::Rejected)?;
        if let Some(max) = max_fee_per_kvb.filter(|m| *m > 0) {
            if exceeds_max_fee(ok.fee, ok.vsize, max) {
                return Err(SubmitError::MaxFee);
            }
        }
        for old in &ok.replaces {
            if !self.mempool.remove_recursive(old).is_empty() {
                tracing::info!("replacing mempool tx {old} with {txid}");
            }
        }
        self.insert(Arc::new(tx), &ok);
        Ok(txid)
    }

    /// `invalidateblock`; `false` if the block is unknown.
    pub fn invalidate(&mut self, hash: &BlockHash) -> Result<bool, StoreError> {
        let Some(change) = self.chain.invalidate(hash) else {
            return Ok(false);
        };
        self.store.save_invalid(&self.chain.invalid_marks())?;
        if let Some(e) = self.chain.entry(hash) {
            // bitcoind's line (two spaces between fields); test frameworks wait for it.
            tracing::info!(
                "InvalidChainFound: invalid block={}  height={}  log2_work={:.6}  date={}",
                hash,
                e.height,
                e.chainwork.log2(),
                iso_date(u64::from(e.block.header.time)),
            );
        }
        self.after_tip_change(change);
        Ok(true)
    }

    /// `reconsiderblock`; `false` if the block is unknown.
    pub fn reconsider(&mut self, hash: &BlockHash) -> Result<bool, StoreError> {
        let Some(change) = self.chain.reconsider(hash) else {
            return Ok(false);
        };
        self.store.save_invalid(&self.chain.invalid_marks())?;
        self.after_tip_change(change);
        Ok(true)
    }

    /// The faucet's spendable coins: mature confirmed ones and its own unconfirmed change,
    /// minus whatever the mempool already spends.
    pub fn faucet_coins(&self) -> Vec<(OutPoint, Amount)> {
        let script = self.faucet.script();
        let next = self.chain.height() + 1;
        let mut coins: Vec<(OutPoint, Amount)> = self
            .chain
            .coins()
            .filter(|(_, c)| &c.txout.script_pubkey == script)
            // bitcoind's wallet waits one block longer than consensus (depth 101, not 100).
            .filter(|(_, c)| !c.coinbase || next - c.height > params::COINBASE_MATURITY)
            .map(|(op, c)| (*op, c.txout.value))
            .collect();
        for e in self.mempool.ordered() {
            for (vout, out) in e.tx.output.iter().enumerate() {
                if &out.script_pubkey == script {
                    coins.push((
                        OutPoint {
                            txid: e.txid,
                            vout: vout as u32,
                        },
                        out.value,
                    ));
                }
            }
        }
        coins.retain(|(op, _)| self.mempool.spender(op).is_none());
        // Confirmed coins first, largest first (as bitcoind's wallet prefers confirmed ones):
        // unconfirmed change is used only when needed, so repeated sends do not build one
        // long unconfirmed chain.
        coins.sort_by_key(|(op, value)| (self.chain.coin(op).is_none(), std::cmp::Reverse(*value)));
        coins
    }

    /// The fee rate the faucet pays when the caller names none, sat/kvB.
    pub fn faucet_fee_rate(&self) -> u64 {
        self.fee_rate
            .or(self.opts.fallback_fee)
            .unwrap_or(2 * params::MIN_RELAY_FEE_SAT_PER_KVB)
    }

    /// `sendtoaddress`: pays from the faucet and submits.
    pub fn send_to(
        &mut self,
        to: ScriptBuf,
        amount: Amount,
        sat_per_kvb: Option<u64>,
    ) -> Result<Txid, String> {
        let rate = sat_per_kvb.unwrap_or_else(|| self.faucet_fee_rate());
        let tx = self
            .faucet
            .pay(self.faucet_coins(), to, amount, rate)
            .map_err(|e| e.to_string())?;
        match self.submit(tx, None) {
            Ok(txid) => Ok(txid),
            Err(SubmitError::Rejected(r)) => Err(r.message()),
            Err(SubmitError::AlreadyInChain) => Err("Transaction already in block chain".into()),
            Err(SubmitError::MaxFee) => {
                Err("Fee exceeds maximum configured by user (e.g. -maxtxfee, maxfeerate)".into())
            }
        }
    }
}

/// Whether `fee` for `vsize` is above `max_per_kvb` (in u128: any caller-given rate is safe).
pub fn exceeds_max_fee(fee: Amount, vsize: u64, max_per_kvb: u64) -> bool {
    u128::from(fee.to_sat()) * 1000 > u128::from(max_per_kvb) * u128::from(vsize)
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a unix time (bitcoind's log and `date=` format).
pub fn iso_date(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_date_formats_like_bitcoind() {
        assert_eq!(iso_date(1_296_688_602), "2011-02-02T23:16:42Z");
        assert_eq!(iso_date(0), "1970-01-01T00:00:00Z");
    }
}
