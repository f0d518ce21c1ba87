//! The wallet itself: two BDK wallets (bech32, p2tr) behind one lock, their durable record,
//! the blocks they are fed, reservations and spending.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::{SystemTime, UNIX_EPOCH};

use bdk_wallet::chain::{BlockId, ChainPosition, Merge};
use bdk_wallet::error::CreateTxError;
use bdk_wallet::{KeychainKind, LocalOutput, SignOptions, Update};
use bitcoin::bip32::Xpriv;
use bitcoin::{
    Address, Amount, Block, FeeRate, Network, OutPoint, Psbt, ScriptBuf, Transaction, Txid, Weight,
};

use crate::descriptors::{descriptor, AddressType};
use crate::error::{SpendError, WalletError};
use crate::persist::{Record, WalletStore};

/// Core Lightning's default reservation length, in blocks.
pub const DEFAULT_RESERVE: u32 = 72;
/// A coinbase output is spendable in the block 100 above its own.
const COINBASE_MATURITY: u32 = 100;
/// The feerate floor every node relays (1 sat/vB).
pub const MIN_FEERATE_PER_KW: u64 = 253;
/// Above this (10,000 sat/vB) a feerate is a typo, not a choice.
pub const MAX_FEERATE_PER_KW: u64 = 2_500_000;

/// Where an output stands, as `listfunds` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputStatus {
    Unconfirmed,
    Confirmed,
    Spent,
    /// A coinbase output fewer than 100 blocks deep.
    Immature,
}

impl OutputStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OutputStatus::Unconfirmed => "unconfirmed",
            OutputStatus::Confirmed => "confirmed",
            OutputStatus::Spent => "spent",
            OutputStatus::Immature => "immature",
        }
    }
}

/// One wallet output (a `listfunds` row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub outpoint: OutPoint,
    pub amount: Amount,
    pub script_pubkey: ScriptBuf,
    pub address: Option<Address>,
    pub address_type: AddressType,
    pub status: OutputStatus,
    /// For confirmed and immature outputs.
    pub blockheight: Option<u32>,
    /// When reserved: the last block height of the reservation.
    pub reserved_to_block: Option<u32>,
}

/// A wallet transaction (a `listtransactions` row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletTransaction {
    pub tx: Transaction,
    /// 0 while unconfirmed.
    pub blockheight: u32,
}

/// One change `reserve`/`unreserve` made (a `reservations` row).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    pub outpoint: OutPoint,
    pub was_reserved: bool,
    pub reserved: bool,
    pub reserved_to_block: u32,
}

/// What to pay.
#[derive(Debug, Clone)]
pub struct SpendRequest {
    /// Fixed-amount outputs.
    pub outputs: Vec<(ScriptBuf, Amount)>,
    /// Everything left (after `outputs` and fees) goes here (`satoshi: "all"`).
    pub drain_to: Option<ScriptBuf>,
    pub feerate_per_kw: u64,
    /// Only coins with at least this many confirmations (0: unconfirmed ones too).
    pub minconf: u32,
    /// Spend exactly these coins (they must be ours, unspent and unreserved).
    pub utxos: Option<Vec<OutPoint>>,
    /// Blocks to reserve the chosen inputs for.
    pub reserve: u32,
}

/// A signed spend; its inputs are reserved (durably) until broadcast or release.
#[derive(Debug, Clone)]
pub struct Spend {
    pub psbt: Psbt,
    pub tx: Transaction,
    pub fee: Amount,
    pub inputs: Vec<OutPoint>,
}

/// The node's on-chain wallet. Every method takes the one lock, so concurrent spends see
/// each other's reservations; every change is durable before the method returns.
pub struct Wallet {
    network: Network,
    inner: Mutex<Inner>,
}

pub(crate) struct Inner {
    network: Network,
    master: Xpriv,
    bech32: bdk_wallet::Wallet,
    p2tr: bdk_wallet::Wallet,
    /// Reserved through this height.
    reservations: BTreeMap<OutPoint, u32>,
    /// Changes not yet durable (a store write failed); written with the next one.
    unsaved: Record,
    store: Box<dyn WalletStore>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn bdk_wallets(
    master: &Xpriv,
    network: Network,
    record: &Record,
) -> Result<(bdk_wallet::Wallet, bdk_wallet::Wallet), WalletError> {
    let make = |ty: AddressType| -> Result<bdk_wallet::Wallet, WalletError> {
        let ext = descriptor(master, network, ty, KeychainKind::External);
        let int = descriptor(master, network, ty, KeychainKind::Internal);
        let stored = record.changeset(ty);
        if stored.is_empty() {
            return bdk_wallet::Wallet::create(ext, int)
                .network(network)
                .create_wallet_no_persist()
                .map_err(|e| WalletError::Descriptor(e.to_string()));
        }
        bdk_wallet::Wallet::load()
            .descriptor(KeychainKind::External, Some(ext))
            .descriptor(KeychainKind::Internal, Some(int))
            .check_network(network)
            .load_wallet_no_persist(stored.clone())
            .map_err(|e| WalletError::Load(e.to_string()))?
            .ok_or_else(|| WalletError::Load("empty changeset".into()))
    };
    Ok((make(AddressType::Bech32)?, make(AddressType::P2tr)?))
}

impl Wallet {
    /// Opens the wallet kept in `store` (creating it on first start) with the keys derived
    /// from `master` (the keys crate's `wallet_master_key`).
    pub fn open(
        master: Xpriv,
        network: Network,
        mut store: Box<dyn WalletStore>,
    ) -> Result<Wallet, WalletError> {
        let record = store.load()?;
        let (bech32, p2tr) = bdk_wallets(&master, network, &record)?;
        let reservations = record
            .reservations
            .iter()
            .filter_map(|(op, to)| to.map(|to| (*op, to)))
            .collect();
        let mut inner = Inner {
            network,
            master,
            bech32,
            p2tr,
            reservations,
            unsaved: Record::default(),
            store,
        };
        inner.commit()?;
        Ok(Wallet {
            network,
            inner: Mutex::new(inner),
        })
    }

    pub fn network(&self) -> Network {
        self.network
    }

    pub(crate) fn lock_inner(&self) -> MutexGuard<'_, Inner> {
        self.lock()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The holder may be waiting for the store (a slow `db_write` plugin, a
        // `listfunds` of thousands of outputs): a runtime worker that waits here
        // (the chain poller's listener, LDK's funding events) must hand its other tasks
        // to another thread first, or with one or two workers the whole daemon stalls.
        let locked = match self.inner.try_lock() {
            Ok(g) => Ok(g),
            Err(TryLockError::Poisoned(p)) => Err(p),
            Err(TryLockError::WouldBlock) => off_worker(|| self.inner.lock()),
        };
        // A panic while holding the lock leaves BDK's state as it was between calls (every
        // change is staged and persisted at the end), so the data is still usable.
        locked.unwrap_or_else(|p| p.into_inner())
    }

    /// A fresh receive address, durable (so watched after a restart) before it is returned.
    pub fn new_address(&self, ty: AddressType) -> Result<Address, WalletError> {
        let mut inner = self.lock();
        let info = inner
            .wallet_mut(ty)
            .reveal_next_address(KeychainKind::External);
        inner.commit()?;
        Ok(info.address)
    }

    /// A fresh address of the internal (change) keychain, durable before it is returned:
    /// for outputs the node pays itself (channel closes), which `listaddresses` does not
    /// list, as it does not list change.
    pub fn new_internal_address(&self, ty: AddressType) -> Result<Address, WalletError> {
        let mut inner = self.lock();
        let info = inner
            .wallet_mut(ty)
            .reveal_next_address(KeychainKind::Internal);
        inner.commit()?;
        Ok(info.address)
    }

    /// The oldest internal address of `ty` revealed before, never paid to, and not
    /// `in_use`: read from what is loaded, nothing written.
    pub fn unused_internal_address(
        &self,
        ty: AddressType,
        in_use: impl Fn(&ScriptBuf) -> bool,
    ) -> Option<Address> {
        let inner = self.lock();
        let found = inner
            .wallet(ty)
            .list_unused_addresses(KeychainKind::Internal)
            .map(|info| info.address)
            .find(|a| !in_use(&a.script_pubkey()));
        found
    }

    /// Every receive address issued so far, by index: `(index, type, address)`.
    pub fn issued_addresses(&self) -> Vec<(u32, AddressType, Address)> {
        let inner = self.lock();
        let mut out = Vec::new();
        for ty in AddressType::ALL {
            let w = inner.wallet(ty);
            if let Some(last) = w.derivation_index(KeychainKind::External) {
                for i in 0..=last {
                    out.push((i, ty, w.peek_address(KeychainKind::External, i).address));
                }
            }
        }
        out
    }

    /// The last block the wallet has applied.
    pub fn tip(&self) -> BlockId {
        self.lock().p2tr.latest_checkpoint().block_id()
    }

    /// Applies the block at `height` (which must connect to the one below it; a block
    /// already applied is a no-op).
    pub fn apply_block(&self, block: &Block, height: u32) -> Result<(), WalletError> {
        let mut inner = self.lock();
        let connected_to = BlockId {
            height: height.saturating_sub(1),
            hash: block.header.prev_blockhash,
        };
        for ty in AddressType::ALL {
            let w = inner.wallet_mut(ty);
            if height > 0 && w.local_chain().get(connected_to.height).is_none() {
                // A wallet born after the chain (or after blocks it never saw): anchor the
                // block's parent first so the block connects.
                let cp = w.latest_checkpoint().insert(connected_to);
                w.apply_update(Update {
                    chain: Some(cp),
                    ..Default::default()
                })
                .map_err(|e| WalletError::Load(format!("block {height}: {e}")))?;
            }
            w.apply_block_connected_to(block, height, connected_to)
                .map_err(|e| WalletError::Load(format!("block {height}: {e}")))?;
        }
        let tip = height;
        inner.reservations.retain(|_, to| *to >= tip);
        inner.commit()?;
        Ok(())
    }

    /// Every block above `fork_point` is gone. Their transactions go back to unconfirmed
    /// (as they go back to bitcoind's mempool; marking them seen now lets them win over
    /// a conflict BDK only knows from the dead branch); a later block confirms them again.
    pub fn disconnect_blocks(&self, fork_point: BlockId) -> Result<(), WalletError> {
        let mut inner = self.lock();
        let tip = inner.p2tr.latest_checkpoint().height();
        if tip <= fork_point.height {
            return Ok(());
        }
        let mut reorged: Vec<Transaction> = Vec::new();
        let mut record = Record::default();
        for ty in AddressType::ALL {
            let w = inner.wallet(ty);
            for t in w.transactions() {
                if let ChainPosition::Confirmed { anchor, .. } = &t.chain_position {
                    if anchor.block_id.height > fork_point.height {
                        reorged.push((*t.tx_node.tx).clone());
                    }
                }
            }
            let blocks = &mut record.changeset_mut(ty).local_chain.blocks;
            for cp in w.checkpoints() {
                if cp.height() > fork_point.height {
                    blocks.insert(cp.height(), None);
                }
            }
            blocks.insert(fork_point.height, Some(fork_point.hash));
        }
        // BDK cannot drop blocks from a live wallet: write the removal, then rebuild the
        // wallets from the durable record (reorgs are rare; this is also the restart path).
        inner.commit()?;
        inner.store.append(&record)?;
        let full = inner.store.load()?;
        let (bech32, p2tr) = bdk_wallets(&inner.master, inner.network, &full)?;
        inner.bech32 = bech32;
        inner.p2tr = p2tr;
        let seen = now();
        for ty in AddressType::ALL {
            inner
                .wallet_mut(ty)
                .apply_unconfirmed_txs(reorged.iter().map(|t| (t.clone(), seen)));
        }
        inner.commit()?;
        Ok(())
    }

    /// A transaction we broadcast (or saw in the mempool): its outputs to us are ours,
    /// unconfirmed, and the coins it spends are spent.
    pub fn transaction_unconfirmed(&self, tx: &Transaction) -> Result<(), WalletError> {
        let mut inner = self.lock();
        let seen = now();
        for ty in AddressType::ALL {
            inner
                .wallet_mut(ty)
                .apply_unconfirmed_txs([(tx.clone(), seen)]);
        }
        for input in &tx.input {
            inner.release(input.previous_output);
        }
        inner.commit()?;
        Ok(())
    }

    /// A transaction that left the mempool unconfirmed (rejected, replaced, expired): its
    /// inputs are spendable again.
    pub fn transaction_evicted(&self, txid: Txid) -> Result<(), WalletError> {
        let mut inner = self.lock();
        let at = now();
        for ty in AddressType::ALL {
            inner.wallet_mut(ty).apply_evicted_txs([(txid, at)]);
        }
        inner.commit()?;
        Ok(())
    }

    /// Every output (spent ones only when `include_spent`), `listfunds` order: by
    /// address type, then as BDK lists them.
    pub fn outputs(&self, include_spent: bool) -> Vec<Output> {
        let inner = self.lock();
        let tip = inner.p2tr.latest_checkpoint().height();
        let mut out = Vec::new();
        for ty in AddressType::ALL {
            let w = inner.wallet(ty);
            for lo in w.list_output() {
                if lo.is_spent && !include_spent {
                    continue;
                }
                let (status, blockheight) = inner.status(ty, &lo, tip);
                out.push(Output {
                    outpoint: lo.outpoint,
                    amount: lo.txout.value,
                    address: Address::from_script(&lo.txout.script_pubkey, inner.network).ok(),
                    script_pubkey: lo.txout.script_pubkey,
                    address_type: ty,
                    status,
                    blockheight,
                    reserved_to_block: inner.reserved_to(lo.outpoint, tip),
                });
            }
        }
        out
    }

    /// The sum of unspent outputs (confirmed, unconfirmed and immature alike).
    pub fn total(&self) -> Amount {
        self.outputs(false).iter().map(|o| o.amount).sum()
    }

    /// Every transaction the wallet knows, oldest confirmed first, unconfirmed last.
    pub fn transactions(&self) -> Vec<WalletTransaction> {
        let inner = self.lock();
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for ty in AddressType::ALL {
            for t in inner.wallet(ty).transactions() {
                if !seen.insert(t.tx_node.txid) {
                    continue;
                }
                let blockheight = match &t.chain_position {
                    ChainPosition::Confirmed { anchor, .. } => anchor.block_id.height,
                    ChainPosition::Unconfirmed { .. } => 0,
                };
                out.push(WalletTransaction {
                    tx: (*t.tx_node.tx).clone(),
                    blockheight,
                });
            }
        }
        out.sort_by_key(|t| {
            if t.blockheight == 0 {
                u32::MAX
            } else {
                t.blockheight
            }
        });
        out
    }

    /// Reserves our unspent `outpoints` for `blocks` more blocks (`reserveinputs`). With
    /// `exclusive`, an already reserved one is refused and nothing changes.
    pub fn reserve(
        &self,
        outpoints: &[OutPoint],
        exclusive: bool,
        blocks: u32,
    ) -> Result<Vec<Reservation>, SpendError> {
        let mut inner = self.lock();
        let tip = inner.p2tr.latest_checkpoint().height();
        for op in outpoints {
            match inner.utxo(*op) {
                None => continue,
                Some((_, lo)) if lo.is_spent => return Err(SpendError::AlreadySpent(*op)),
                Some(_) => {}
            }
            if exclusive && inner.reserved_to(*op, tip).is_some() {
                return Err(SpendError::AlreadyReserved(*op));
            }
        }
        let mut out = Vec::new();
        for op in outpoints {
            if inner.utxo(*op).is_none() {
                continue;
            }
            let was = inner.reserved_to(*op, tip);
            let to = was.unwrap_or(tip).saturating_add(blocks);
            inner.set_reservation(*op, to);
            out.push(Reservation {
                outpoint: *op,
                was_reserved: was.is_some(),
                reserved: true,
                reserved_to_block: to,
            });
        }
        inner.commit()?;
        Ok(out)
    }

    /// Lowers the reservations of `outpoints` by `blocks` (`unreserveinputs`); lists the
    /// ones that were reserved.
    pub fn unreserve(
        &self,
        outpoints: &[OutPoint],
        blocks: u32,
    ) -> Result<Vec<Reservation>, SpendError> {
        let mut inner = self.lock();
        let tip = inner.p2tr.latest_checkpoint().height();
        let mut out = Vec::new();
        for op in outpoints {
            let Some(was) = inner.reserved_to(*op, tip) else {
                continue;
            };
            let to = was.saturating_sub(blocks);
            if to > tip {
                inner.set_reservation(*op, to);
            } else {
                inner.release(*op);
            }
            out.push(Reservation {
                outpoint: *op,
                was_reserved: true,
                reserved: to > tip,
                reserved_to_block: to,
            });
        }
        inner.commit()?;
        Ok(out)
    }

    /// Chooses coins, builds and signs a transaction paying `req`, and reserves its inputs,
    /// durably, before returning. The caller broadcasts it, then reports the outcome
    /// ([`Wallet::transaction_unconfirmed`], or [`Wallet::unreserve`] on failure).
    pub fn spend(&self, req: &SpendRequest) -> Result<Spend, SpendError> {
        if !(MIN_FEERATE_PER_KW..=MAX_FEERATE_PER_KW).contains(&req.feerate_per_kw) {
            return Err(SpendError::BadFeerate(req.feerate_per_kw));
        }
        let feerate = FeeRate::from_sat_per_kwu(req.feerate_per_kw);
        for (script, amount) in &req.outputs {
            if *amount > Amount::MAX_MONEY {
                return Err(SpendError::TooMuch(amount.to_sat()));
            }
            if *amount < script.minimal_non_dust() {
                return Err(SpendError::Dust(amount.to_sat()));
            }
        }
        let wanted: Amount = req.outputs.iter().map(|(_, a)| *a).sum();
        if wanted > Amount::MAX_MONEY {
            return Err(SpendError::TooMuch(wanted.to_sat()));
        }

        let mut inner = self.lock();
        let tip = inner.p2tr.latest_checkpoint().height();
        let candidates = inner.candidates(req, tip)?;
        let wanted_text = if req.drain_to.is_some() && req.outputs.is_empty() {
            "all".to_string()
        } else {
            format!("{}sat", wanted.to_sat())
        };
        let available: Amount = candidates.iter().map(|(_, lo)| lo.txout.value).sum();
        let cannot_afford = |short: Amount| SpendError::CannotAfford {
            wanted: wanted_text.clone(),
            utxos: candidates.len(),
            short: short.to_sat(),
        };
        if candidates.is_empty() {
            return Err(cannot_afford(wanted.max(Amount::ONE_SAT)));
        }

        // Largest first: the fewest inputs, and selection time linear in the wallet size.
        let take_all = req.utxos.is_some() || req.drain_to.is_some();
        let mut n = if take_all {
            candidates.len()
        } else {
            first_sufficient(&candidates, req, feerate)
        };
        let psbt = loop {
            match inner.build(&candidates[..n], req, feerate) {
                Ok(psbt) => break psbt,
                Err(CreateTxError::CoinSelection(e)) => {
                    if n < candidates.len() {
                        n += 1;
                        continue;
                    }
                    if req.drain_to.is_some() {
                        return Err(SpendError::AllCannotAffordFees(n));
                    }
                    let short =
                        Amount::from_sat(e.needed.to_sat().saturating_sub(available.to_sat()));
                    return Err(cannot_afford(short.max(Amount::ONE_SAT)));
                }
                Err(CreateTxError::OutputBelowDustLimit(_)) if req.drain_to.is_some() => {
                    return Err(SpendError::AllCannotAffordFees(n));
                }
                Err(e) => return Err(SpendError::Build(e.to_string())),
            }
        };
        let (psbt, tx) = inner.sign(psbt)?;
        let fee = psbt
            .fee()
            .map_err(|e| SpendError::Build(format!("fee: {e}")))?;
        let inputs: Vec<OutPoint> = tx.input.iter().map(|i| i.previous_output).collect();
        for op in &inputs {
            let to = tip.saturating_add(req.reserve);
            inner.set_reservation(*op, to);
        }
        inner.commit()?;
        Ok(Spend {
            psbt,
            tx,
            fee,
            inputs,
        })
    }
}

/// How many of the (largest-first) candidates an estimate says are enough; building tells
/// the truth and the caller adds coins while it says "insufficient".
fn first_sufficient(
    candidates: &[(AddressType, LocalOutput)],
    req: &SpendRequest,
    feerate: FeeRate,
) -> usize {
    // version, locktime, counts, segwit marker; plus a p2tr change output.
    let mut weight = Weight::from_wu(4 * 11 + 2 + 4 * 43);
    for (script, _) in &req.outputs {
        weight += Weight::from_wu(4 * (9 + script.len() as u64));
    }
    let wanted: Amount = req.outputs.iter().map(|(_, a)| *a).sum();
    let mut have = Amount::ZERO;
    for (i, (ty, lo)) in candidates.iter().enumerate() {
        have += lo.txout.value;
        weight += input_weight(*ty);
        let fee = feerate.fee_wu(weight).unwrap_or(Amount::MAX_MONEY);
        if have >= wanted + fee {
            return i + 1;
        }
    }
    candidates.len()
}

/// Outpoint, sequence and empty script (41 bytes) plus the witness.
fn input_weight(ty: AddressType) -> Weight {
    match ty {
        // 1-byte count, 65-byte Schnorr signature push.
        AddressType::P2tr => Weight::from_wu(4 * 41 + 66),
        // count, ~72-byte signature push, 34-byte key push.
        AddressType::Bech32 => Weight::from_wu(4 * 41 + 108),
    }
}

impl Inner {
    pub(crate) fn master(&self) -> &Xpriv {
        &self.master
    }

    pub(crate) fn wallet_ref(&self, ty: AddressType) -> &bdk_wallet::Wallet {
        self.wallet(ty)
    }

    pub(crate) fn wallet(&self, ty: AddressType) -> &bdk_wallet::Wallet {
        match ty {
            AddressType::Bech32 => &self.bech32,
            AddressType::P2tr => &self.p2tr,
        }
    }

    pub(crate) fn wallet_mut(&mut self, ty: AddressType) -> &mut bdk_wallet::Wallet {
        match ty {
            AddressType::Bech32 => &mut self.bech32,
            AddressType::P2tr => &mut self.p2tr,
        }
    }

    /// Makes everything staged durable; on failure it stays queued for the next call.
    pub(crate) fn commit(&mut self) -> Result<(), crate::PersistError> {
        for ty in AddressType::ALL {
            if let Some(cs) = self.wallet_mut(ty).take_staged() {
                self.unsaved.changeset_mut(ty).merge(cs);
            }
        }
        if self.unsaved.is_empty() {
            return Ok(());
        }
        self.store.append(&self.unsaved)?;
        self.unsaved = Record::default();
        Ok(())
    }

    pub(crate) fn set_reservation(&mut self, op: OutPoint, to: u32) {
        self.reservations.insert(op, to);
        self.unsaved.reservations.insert(op, Some(to));
    }

    pub(crate) fn release(&mut self, op: OutPoint) {
        if self.reservations.remove(&op).is_some() {
            self.unsaved.reservations.insert(op, None);
        }
    }

    pub(crate) fn reserved_to(&self, op: OutPoint, tip: u32) -> Option<u32> {
        self.reservations.get(&op).copied().filter(|to| *to > tip)
    }

    pub(crate) fn utxo(&self, op: OutPoint) -> Option<(AddressType, LocalOutput)> {
        AddressType::ALL
            .into_iter()
            .find_map(|ty| self.wallet(ty).get_utxo(op).map(|lo| (ty, lo)))
            .or_else(|| {
                // get_utxo only returns unspent outputs; a spent one is still ours.
                AddressType::ALL.into_iter().find_map(|ty| {
                    self.wallet(ty)
                        .list_output()
                        .find(|lo| lo.outpoint == op)
                        .map(|lo| (ty, lo))
                })
            })
    }

    pub(crate) fn status(
        &self,
        ty: AddressType,
        lo: &LocalOutput,
        tip: u32,
    ) -> (OutputStatus, Option<u32>) {
        if lo.is_spent {
            return (OutputStatus::Spent, None);
        }
        match &lo.chain_position {
            ChainPosition::Unconfirmed { .. } => (OutputStatus::Unconfirmed, None),
            ChainPosition::Confirmed { anchor, .. } => {
                let h = anchor.block_id.height;
                // The raw graph lookup: `Wallet::get_tx` canonicalizes the whole graph per call.
                let coinbase = self
                    .wallet(ty)
                    .tx_graph()
                    .get_tx(lo.outpoint.txid)
                    .is_some_and(|t| t.is_coinbase());
                if coinbase && tip.saturating_add(1).saturating_sub(h) < COINBASE_MATURITY {
                    (OutputStatus::Immature, Some(h))
                } else {
                    (OutputStatus::Confirmed, Some(h))
                }
            }
        }
    }

    /// The coins a spend may use, largest first.
    pub(crate) fn candidates(
        &self,
        req: &SpendRequest,
        tip: u32,
    ) -> Result<Vec<(AddressType, LocalOutput)>, SpendError> {
        let mut out = Vec::new();
        if let Some(utxos) = &req.utxos {
            for op in utxos {
                let Some((ty, lo)) = self.utxo(*op) else {
                    return Err(SpendError::UnknownUtxo(*op));
                };
                if lo.is_spent {
                    return Err(SpendError::AlreadySpent(*op));
                }
                if self.reserved_to(*op, tip).is_some() {
                    return Err(SpendError::AlreadyReserved(*op));
                }
                out.push((ty, lo));
            }
            return Ok(out);
        }
        for ty in AddressType::ALL {
            for lo in self.wallet(ty).list_unspent() {
                if self.reserved_to(lo.outpoint, tip).is_some() {
                    continue;
                }
                let (status, height) = self.status(ty, &lo, tip);
                let confs = height.map_or(0, |h| tip.saturating_add(1).saturating_sub(h));
                if status == OutputStatus::Immature || confs < req.minconf {
                    continue;
                }
                out.push((ty, lo));
            }
        }
        out.sort_by_key(|c| std::cmp::Reverse(c.1.txout.value));
        Ok(out)
    }

    /// Builds the PSBT on the p2tr wallet (change is p2tr, as Core Lightning's); bech32
    /// coins join as foreign inputs with their derivation data, so both wallets can sign.
    fn build(
        &mut self,
        coins: &[(AddressType, LocalOutput)],
        req: &SpendRequest,
        feerate: FeeRate,
    ) -> Result<Psbt, CreateTxError> {
        let mut foreign = Vec::new();
        for (ty, lo) in coins {
            if *ty == AddressType::Bech32 {
                let input = self.bech32.get_psbt_input(lo.clone(), None, false)?;
                let weight = self
                    .bech32
                    .public_descriptor(lo.keychain)
                    .max_weight_to_satisfy()
                    .map_err(|e| CreateTxError::Descriptor(e.into()))?;
                foreign.push((lo.outpoint, input, weight));
            }
        }
        let own: Vec<OutPoint> = coins
            .iter()
            .filter(|(ty, _)| *ty == AddressType::P2tr)
            .map(|(_, lo)| lo.outpoint)
            .collect();
        let mut b = self.p2tr.build_tx();
        b.add_utxos(&own)
            .map_err(|e| CreateTxError::UnknownUtxo.tap(e))?;
        for (op, input, weight) in foreign {
            b.add_foreign_utxo(op, input, weight)
                .map_err(|e| CreateTxError::MissingNonWitnessUtxo(op).tap(e))?;
        }
        b.manually_selected_only().fee_rate(feerate);
        for (script, amount) in &req.outputs {
            b.add_recipient(script.clone(), *amount);
        }
        if let Some(drain) = &req.drain_to {
            b.drain_to(drain.clone());
        }
        b.finish()
    }

    pub(crate) fn sign(&self, mut psbt: Psbt) -> Result<(Psbt, Transaction), SpendError> {
        // Every input carries its BIP32 origin (BDK put it there), so the master signs them
        // all, p2wpkh and taproot alike.
        psbt.sign(&self.master, self.p2tr.secp_ctx())
            .map_err(|(_, errors)| SpendError::Build(format!("signing: {errors:?}")))?;
        // We built every input from our own wallet data, so the witness UTXOs are ours to trust.
        let opts = SignOptions {
            trust_witness_utxo: true,
            ..Default::default()
        };
        for w in [&self.p2tr, &self.bech32] {
            w.finalize_psbt(&mut psbt, opts.clone())
                .map_err(|e| SpendError::Build(format!("finalizing: {e}")))?;
        }
        if psbt
            .inputs
            .iter()
            .any(|i| i.final_script_witness.is_none() && i.final_script_sig.is_none())
        {
            return Err(SpendError::Build("an input could not be signed".into()));
        }
        let tx = psbt.clone().extract_tx_unchecked_fee_rate();
        Ok((psbt, tx))
    }
}

/// Keeps the underlying error's text in the log while returning BDK's error kind.
trait Tap: Sized {
    fn tap(self, cause: impl std::fmt::Display) -> Self;
}

impl Tap for CreateTxError {
    fn tap(self, cause: impl std::fmt::Display) -> Self {
        tracing::warn!("wallet: {cause}");
        self
    }
}

/// Runs `f`, which blocks, without holding a tokio worker: on a multi-thread runtime's
/// worker the worker's other tasks move to another thread first. Elsewhere (a plain
/// thread, the blocking pool, a current-thread runtime) `f` simply runs.
fn off_worker<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}
