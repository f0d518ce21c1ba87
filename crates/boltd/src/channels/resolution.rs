//! The on-chain resolution of closed channels as coin movements (reference §6.7), block
//! by block, after LDK has seen each block:
//!
//! - the funding spend confirms: `channel_close` on the channel account (debit = our
//!   balance at close, at that block's height), then each output of the closing
//!   transaction: ours paying the wallet directly (a mutual close) is the wallet's own
//!   `deposit`; ours to be swept (our delayed `to_local`, our `to_remote` on their
//!   commitment) is `delayed_to_us` (credit); our anchor is `anchor` and the peer's
//!   outputs are `to_them` (credits of account `external`); a `close_to` output is an
//!   `external` `deposit`; HTLC and revoked outputs wait for whoever spends them;
//! - such an output spent to us: `htlc_fulfill` (a preimage in the witness),
//!   `htlc_timeout`, or `penalty` (the peer's revoked commitment) on the channel account;
//!   spent by the peer: `to_them`;
//! - our output swept into the wallet: `to_wallet` (debit, with the sweep's txid); the
//!   wallet's listener records the `deposit`.
//!
//! A record per closing channel (kv namespace [`NS`]) holds what is still to resolve, so
//! a restart goes on where it stopped; the moves themselves are de-duplicated by
//! [`CoinMoves`], so a block seen twice counts once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::PublicKey;
use bitcoin::{Block, OutPoint, ScriptBuf, Transaction, Txid};
use chain::{BlockRef, ChainListener};
use lightning::chain::channelmonitor::Balance;
use lightning::ln::chan_utils::get_keyed_anchor_redeemscript;
use lightning::ln::types::ChannelId;
use lightning::sign::SpendableOutputDescriptor;
use lightning::util::persist::KVStoreSync;
use serde::{Deserialize, Serialize};

use super::Channels;
use crate::coin_moves::ChainMove;

/// The kv namespace of channels still resolving on chain, and of the last block seen.
const NS: &str = "boltd_resolution";
const TIP_NS: &str = "boltd_resolution_tip";
const TIP_KEY: &str = "tip";
/// An anchor output's value (BOLT 3).
const ANCHOR_SAT: u64 = 330;

/// An output whose fate is still open.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Watched {
    outpoint: OutPoint,
    value_sat: u64,
    payment_hash: Option<String>,
}

/// What is left to resolve of one closed channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    channel_id: String,
    funding: OutPoint,
    capacity_sat: u64,
    peer: Option<String>,
    /// Our balance at close, from LDK's `ChannelClosed` (may come after the block).
    our_balance_msat: Option<u64>,
    /// The confirmed funding spend: txid, height, number of outputs.
    close: Option<(Txid, u32, u32)>,
    /// `channel_close` went out; later moves wait for it.
    close_recorded: bool,
    /// Moves found before `channel_close` could go out.
    pending: Vec<ChainMove>,
    /// HTLC or revoked outputs of the closing transaction.
    contested: Vec<Watched>,
    /// Our outputs on their way to the wallet.
    ours: Vec<Watched>,
    /// The closing transaction was the peer's revoked commitment.
    revoked: bool,
}

impl Record {
    fn finished(&self) -> bool {
        self.close_recorded
            && self.pending.is_empty()
            && self.contested.is_empty()
            && self.ours.is_empty()
    }
}

/// The resolution bookkeeping; blocks come through [`ResolutionListener`].
pub struct Resolution {
    records: Mutex<HashMap<String, Record>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn chain_move(
    account: &str,
    tag: &str,
    credit_sat: u64,
    debit_sat: u64,
    utxo: OutPoint,
    spending: Option<Txid>,
    height: u32,
) -> ChainMove {
    ChainMove {
        account_id: account.into(),
        credit_msat: credit_sat.saturating_mul(1000),
        debit_msat: debit_sat.saturating_mul(1000),
        primary_tag: tag.into(),
        extra_tags: Vec::new(),
        utxo,
        peer_id: None,
        originating_account: None,
        spending_txid: spending,
        payment_hash: None,
        output_msat: credit_sat.max(debit_sat).saturating_mul(1000),
        output_count: None,
        blockheight: height,
    }
}

/// The two funding keys of a 2-of-2 funding spend (its witness script).
fn funding_keys(tx: &Transaction, funding: &OutPoint) -> Vec<PublicKey> {
    let Some(input) = tx.input.iter().find(|i| i.previous_output == *funding) else {
        return Vec::new();
    };
    let Some(script) = input.witness.last() else {
        return Vec::new();
    };
    ScriptBuf::from_bytes(script.to_vec())
        .instructions()
        .filter_map(|i| i.ok())
        .filter_map(|i| i.push_bytes().map(|p| p.as_bytes().to_vec()))
        .filter_map(|b| PublicKey::from_slice(&b).ok())
        .collect()
}

/// The outpoint a descriptor spends.
fn desc_outpoint(d: &SpendableOutputDescriptor) -> OutPoint {
    match d {
        SpendableOutputDescriptor::StaticOutput { outpoint, .. } => {
            outpoint.into_bitcoin_outpoint()
        }
        SpendableOutputDescriptor::DelayedPaymentOutput(p) => p.outpoint.into_bitcoin_outpoint(),
        SpendableOutputDescriptor::StaticPaymentOutput(p) => p.outpoint.into_bitcoin_outpoint(),
    }
}

fn channel_id(hex_id: &str) -> Option<ChannelId> {
    let bytes: [u8; 32] = hex::decode(hex_id).ok()?.try_into().ok()?;
    Some(ChannelId(bytes))
}

/// Whether a witness of `tx` spending `op` reveals the preimage of `hash` (hex).
fn reveals_preimage(tx: &Transaction, op: &OutPoint, hash: &str) -> bool {
    tx.input
        .iter()
        .filter(|i| i.previous_output == *op)
        .flat_map(|i| i.witness.iter())
        .filter(|e| e.len() == 32)
        .any(|e| hex::encode(sha256::Hash::hash(e).to_byte_array()) == hash)
}

impl Resolution {
    /// Loads the channels still resolving.
    pub fn load(kv: &store::KvStore) -> Resolution {
        let mut records = HashMap::new();
        for k in kv.list(NS, "").unwrap_or_default() {
            let rec = kv
                .read(NS, "", &k)
                .ok()
                .and_then(|b| serde_json::from_slice::<Record>(&b).ok());
            match rec {
                Some(r) => {
                    records.insert(k, r);
                }
                None => tracing::warn!("unreadable resolution record {k}; skipped"),
            }
        }
        Resolution {
            records: Mutex::new(records),
        }
    }

    /// Where the listener joins the chain: LDK's best block, or the last block resolution
    /// handled if that is lower (a crash between the two).
    pub fn start_at(kv: &store::KvStore, ln_best: BlockRef) -> BlockRef {
        kv.read(TIP_NS, "", TIP_KEY)
            .ok()
            .and_then(|b| serde_json::from_slice::<(u32, bitcoin::BlockHash)>(&b).ok())
            .filter(|(h, _)| *h <= ln_best.height)
            .map(|(height, hash)| BlockRef { height, hash })
            .unwrap_or(ln_best)
    }

    fn save(c: &Channels, rec: &Record) {
        let r = if rec.finished() {
            c.kv.remove(NS, "", &rec.channel_id, false)
        } else {
            match serde_json::to_vec(rec) {
                Ok(b) => c.kv.write(NS, "", &rec.channel_id, b),
                Err(e) => {
                    tracing::error!("encoding resolution of {}: {e}", rec.channel_id);
                    return;
                }
            }
        };
        if let Err(e) = r {
            tracing::error!("storing resolution of {}: {e}", rec.channel_id);
        }
    }

    /// LDK closed the channel: our balance is known. Blocking (store writes).
    pub fn closed(
        &self,
        c: &Channels,
        id: &ChannelId,
        funding: OutPoint,
        capacity_sat: u64,
        peer: Option<String>,
        our_balance_msat: u64,
    ) {
        let key = id.to_string();
        let mut recs = lock(&self.records);
        let rec = recs.entry(key.clone()).or_insert_with(|| Record {
            channel_id: key.clone(),
            funding,
            capacity_sat,
            peer: peer.clone(),
            our_balance_msat: None,
            close: None,
            close_recorded: false,
            pending: Vec::new(),
            contested: Vec::new(),
            ours: Vec::new(),
            revoked: false,
        });
        if rec.our_balance_msat.is_none() {
            rec.our_balance_msat = Some(our_balance_msat);
        }
        if rec.peer.is_none() {
            rec.peer = peer;
        }
        Self::flush(c, rec);
        Self::save(c, rec);
        if rec.finished() {
            recs.remove(&key);
        }
    }

    /// `channel_close` once both the confirmed spend and our balance are known, then
    /// whatever waited for it.
    fn flush(c: &Channels, rec: &mut Record) {
        let Some(moves) = c.coin_moves() else {
            return;
        };
        if !rec.close_recorded {
            let (Some((txid, height, n)), Some(balance)) = (rec.close, rec.our_balance_msat) else {
                return;
            };
            moves.chain_move(ChainMove {
                account_id: rec.channel_id.clone(),
                credit_msat: 0,
                debit_msat: balance,
                primary_tag: "channel_close".into(),
                extra_tags: Vec::new(),
                utxo: rec.funding,
                peer_id: rec.peer.clone(),
                originating_account: None,
                spending_txid: Some(txid),
                payment_hash: None,
                output_msat: rec.capacity_sat.saturating_mul(1000),
                output_count: Some(n),
                blockheight: height,
            });
            rec.close_recorded = true;
        }
        for mv in rec.pending.drain(..) {
            moves.chain_move(mv);
        }
    }

    fn emit(c: &Channels, rec: &mut Record, mv: ChainMove) {
        rec.pending.push(mv);
        Self::flush(c, rec);
    }

    /// One block, after LDK has applied it. Blocking (store writes).
    pub fn block(&self, c: &Channels, block: &Block, height: u32) {
        let mut recs = lock(&self.records);
        // Funding outpoints of every channel we know (open ones too: a force close by
        // the peer is seen in a block before LDK's ChannelClosed).
        let mut fundings: HashMap<OutPoint, (ChannelId, Option<PublicKey>, u64)> = c
            .tracked()
            .values()
            .filter_map(|t| {
                let l = t.last.as_ref()?;
                let f = l.funding_txo?.into_bitcoin_outpoint();
                Some((f, (t.id, Some(t.peer), l.channel_value_satoshis)))
            })
            .collect();
        for ch in super::off_worker(|| c.ln.manager.list_channels()) {
            if let Some(f) = ch.funding_txo {
                fundings.insert(
                    f.into_bitcoin_outpoint(),
                    (
                        ch.channel_id,
                        Some(ch.counterparty.node_id),
                        ch.channel_value_satoshis,
                    ),
                );
            }
        }
        let mut touched = Vec::new();
        for tx in &block.txdata {
            for input in &tx.input {
                let op = input.previous_output;
                if let Some((id, peer, cap)) = fundings.get(&op) {
                    let key = id.to_string();
                    let rec = recs.entry(key.clone()).or_insert_with(|| Record {
                        channel_id: key.clone(),
                        funding: op,
                        capacity_sat: *cap,
                        peer: peer.map(|p| p.to_string()),
                        our_balance_msat: None,
                        close: None,
                        close_recorded: false,
                        pending: Vec::new(),
                        contested: Vec::new(),
                        ours: Vec::new(),
                        revoked: false,
                    });
                    if rec.close.is_none() {
                        Self::closing_tx(c, id, rec, tx, height);
                        Self::flush(c, rec);
                        touched.push(key);
                    }
                }
            }
            for (key, rec) in recs.iter_mut() {
                if rec.close.is_none() {
                    continue;
                }
                let spent: Vec<Watched> = rec
                    .contested
                    .iter()
                    .filter(|w| tx.input.iter().any(|i| i.previous_output == w.outpoint))
                    .cloned()
                    .collect();
                if !spent.is_empty() {
                    rec.contested.retain(|w| !spent.contains(w));
                    Self::contested_spend(c, rec, &spent, tx, height);
                    touched.push(key.clone());
                }
                let swept: Vec<Watched> = rec
                    .ours
                    .iter()
                    .filter(|w| tx.input.iter().any(|i| i.previous_output == w.outpoint))
                    .cloned()
                    .collect();
                if !swept.is_empty() {
                    rec.ours.retain(|w| !swept.contains(w));
                    let txid = tx.compute_txid();
                    for w in swept {
                        let mv = chain_move(
                            &rec.channel_id,
                            "to_wallet",
                            0,
                            w.value_sat,
                            w.outpoint,
                            Some(txid),
                            height,
                        );
                        Self::emit(c, rec, mv);
                    }
                    touched.push(key.clone());
                }
            }
        }
        for key in touched {
            let finished = match recs.get(&key) {
                Some(rec) => {
                    Self::save(c, rec);
                    rec.finished()
                }
                None => false,
            };
            if finished {
                recs.remove(&key);
            }
        }
        drop(recs);
        let tip = serde_json::to_vec(&(height, block.block_hash())).unwrap_or_default();
        if let Err(e) = c.kv.write(TIP_NS, "", TIP_KEY, tip) {
            tracing::warn!("storing the resolution tip: {e}");
        }
    }

    /// Our outputs of `tx` (the monitor's descriptors; the monitor's own height filter is
    /// for sweeping, not for telling whose an output is, hence height 0).
    fn our_outputs(
        c: &Channels,
        id: &ChannelId,
        tx: &Transaction,
    ) -> Vec<SpendableOutputDescriptor> {
        c.ln.chain_monitor
            .get_monitor(*id)
            .map(|m| m.get_spendable_outputs(tx, 0))
            .unwrap_or_default()
    }

    fn closing_tx(c: &Channels, id: &ChannelId, rec: &mut Record, tx: &Transaction, height: u32) {
        let txid = tx.compute_txid();
        rec.close = Some((
            txid,
            height,
            u32::try_from(tx.output.len()).unwrap_or(u32::MAX),
        ));
        let descriptors = Self::our_outputs(c, id, tx);
        tracing::debug!(
            "{id}: funding spent by {txid} at {height}; {} of its outputs are ours",
            descriptors.len()
        );
        let balances =
            c.ln.chain_monitor
                .get_monitor(*id)
                .map(|m| m.get_claimable_balances())
                .unwrap_or_default();
        // HTLC and revoked outputs by amount (LDK's balances carry no outpoints).
        let mut open: Vec<(u64, Option<String>)> = Vec::new();
        for b in &balances {
            match b {
                Balance::ContentiousClaimable {
                    amount_satoshis,
                    payment_hash,
                    ..
                }
                | Balance::MaybeTimeoutClaimableHTLC {
                    amount_satoshis,
                    payment_hash,
                    ..
                }
                | Balance::MaybePreimageClaimableHTLC {
                    amount_satoshis,
                    payment_hash,
                    ..
                } => open.push((*amount_satoshis, Some(hex::encode(payment_hash.0)))),
                Balance::CounterpartyRevokedOutputClaimable { amount_satoshis } => {
                    rec.revoked = true;
                    open.push((*amount_satoshis, None));
                }
                _ => {}
            }
        }
        let keys = funding_keys(tx, &rec.funding);
        let km_scripts = c.ln.signer.keys_manager_scripts();
        let wallet = c.ln.wallet().clone();
        let account = rec.channel_id.clone();
        for (vout, out) in tx.output.iter().enumerate() {
            let op = OutPoint::new(txid, vout as u32);
            let value = out.value.to_sat();
            let external = |tag: &str| {
                let mut mv = chain_move("external", tag, value, 0, op, None, height);
                mv.originating_account = Some(account.clone());
                mv
            };
            if wallet.is_mine(&out.script_pubkey) {
                // The wallet's listener records its deposit.
                continue;
            }
            let desc = descriptors.iter().find(|d| desc_outpoint(d) == op);
            match desc {
                Some(SpendableOutputDescriptor::StaticOutput { output, .. })
                    if !km_scripts.contains(&output.script_pubkey) =>
                {
                    // Paid to the channel's `close_to`: ours, but gone from our books.
                    Self::emit(c, rec, external("deposit"));
                }
                Some(_) => {
                    let mv = chain_move(&account, "delayed_to_us", value, 0, op, None, height);
                    Self::emit(c, rec, mv);
                    rec.ours.push(Watched {
                        outpoint: op,
                        value_sat: value,
                        payment_hash: None,
                    });
                }
                None if value == ANCHOR_SAT
                    && keys.iter().any(|k| {
                        get_keyed_anchor_redeemscript(k).to_p2wsh() == out.script_pubkey
                    }) =>
                {
                    let ours = keys.iter().any(|k| {
                        c.ln.signer.is_our_funding_key(k)
                            && get_keyed_anchor_redeemscript(k).to_p2wsh() == out.script_pubkey
                    });
                    Self::emit(c, rec, external(if ours { "anchor" } else { "to_them" }));
                }
                None => match open.iter().position(|(a, _)| *a == value) {
                    Some(i) => {
                        let (_, hash) = open.remove(i);
                        rec.contested.push(Watched {
                            outpoint: op,
                            value_sat: value,
                            payment_hash: hash,
                        });
                    }
                    None => Self::emit(c, rec, external("to_them")),
                },
            }
        }
    }

    /// Contested outputs of the closing transaction spent by `tx`.
    fn contested_spend(
        c: &Channels,
        rec: &mut Record,
        spent: &[Watched],
        tx: &Transaction,
        height: u32,
    ) {
        let txid = tx.compute_txid();
        let Some(id) = channel_id(&rec.channel_id) else {
            return;
        };
        let wallet = c.ln.wallet().clone();
        let descriptors = Self::our_outputs(c, &id, tx);
        let mut ours: Vec<(OutPoint, u64, bool)> = Vec::new();
        for (vout, out) in tx.output.iter().enumerate() {
            let op = OutPoint::new(txid, vout as u32);
            let in_wallet = wallet.is_mine(&out.script_pubkey);
            if in_wallet || descriptors.iter().any(|d| desc_outpoint(d) == op) {
                ours.push((op, out.value.to_sat(), in_wallet));
            }
        }
        let ours_total: u64 = ours.iter().map(|o| o.1).sum();
        let in_total: u64 = spent.iter().map(|w| w.value_sat).sum::<u64>().max(1);
        let account = rec.channel_id.clone();
        let mut left = ours_total;
        for (i, w) in spent.iter().enumerate() {
            if ours_total == 0 {
                let mut mv = chain_move(
                    "external",
                    "to_them",
                    w.value_sat,
                    0,
                    w.outpoint,
                    Some(txid),
                    height,
                );
                mv.originating_account = Some(account.clone());
                Self::emit(c, rec, mv);
                continue;
            }
            // Our outputs shared among the inputs by value (fees included).
            let share = if i + 1 == spent.len() {
                left
            } else {
                (u128::from(ours_total) * u128::from(w.value_sat) / u128::from(in_total)) as u64
            };
            left = left.saturating_sub(share);
            let tag = if rec.revoked {
                "penalty"
            } else if w
                .payment_hash
                .as_deref()
                .is_some_and(|h| reveals_preimage(tx, &w.outpoint, h))
            {
                "htlc_fulfill"
            } else {
                "htlc_timeout"
            };
            let mut mv = chain_move(&account, tag, share, 0, w.outpoint, Some(txid), height);
            if tag == "htlc_fulfill" {
                mv.payment_hash = w.payment_hash.clone();
            }
            Self::emit(c, rec, mv);
        }
        for (op, value, in_wallet) in ours {
            if in_wallet {
                // Already the wallet's: it leaves the channel here.
                let mv = chain_move(&account, "to_wallet", 0, value, op, None, height);
                Self::emit(c, rec, mv);
            } else {
                rec.ours.push(Watched {
                    outpoint: op,
                    value_sat: value,
                    payment_hash: None,
                });
            }
        }
    }
}

/// Blocks to LDK, then to [`Resolution`]: one listener, so each block's moves are
/// worked out after the monitors have seen it.
pub struct ResolutionListener(pub Arc<Channels>);

impl ChainListener for ResolutionListener {
    fn block_connected(&self, block: &Block, height: u32) {
        // LDK skips a block it has seen (a replay after a crash).
        super::off_worker(|| {
            self.0.ln.block_connected(block, height);
            self.0.resolution.block(&self.0, block, height);
        });
    }
    fn blocks_disconnected(&self, fork_point: BlockRef) {
        // Moves of a block that is gone are not taken back (Core Lightning neither);
        // the replacement block's moves follow.
        super::off_worker(|| self.0.ln.blocks_disconnected(fork_point));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::secp256k1::{Secp256k1, SecretKey};
    use bitcoin::{absolute, transaction, Amount, Sequence, TxIn, TxOut, Witness};

    fn spend(op: OutPoint, witness: Vec<Vec<u8>>) -> Transaction {
        Transaction {
            version: transaction::Version::TWO,
            lock_time: absolute::LockTime::ZERO,
            input: vec![TxIn {
                previous_output: op,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::from_slice(&witness),
            }],
            output: vec![TxOut {
                value: Amount::from_sat(1000),
                script_pubkey: ScriptBuf::new(),
            }],
        }
    }

    #[test]
    fn the_funding_keys_come_from_the_2_of_2_witness_script() {
        let secp = Secp256k1::new();
        let k1 = PublicKey::from_secret_key(&secp, &SecretKey::from_slice(&[1; 32]).unwrap());
        let k2 = PublicKey::from_secret_key(&secp, &SecretKey::from_slice(&[2; 32]).unwrap());
        let script = lightning::ln::chan_utils::make_funding_redeemscript(&k1, &k2);
        let funding = OutPoint::new(Txid::from_byte_array([7; 32]), 0);
        let tx = spend(funding, vec![vec![], vec![1], vec![2], script.to_bytes()]);
        let mut keys = funding_keys(&tx, &funding);
        keys.sort();
        let mut want = vec![k1, k2];
        want.sort();
        assert_eq!(keys, want);
        // Another outpoint's spend says nothing.
        assert!(funding_keys(&tx, &OutPoint::new(Txid::from_byte_array([8; 32]), 0)).is_empty());
    }

    #[test]
    fn a_preimage_in_the_witness_is_an_htlc_fulfill() {
        let preimage = [5u8; 32];
        let hash = hex::encode(sha256::Hash::hash(&preimage).to_byte_array());
        let op = OutPoint::new(Txid::from_byte_array([9; 32]), 2);
        let success = spend(op, vec![vec![], vec![3; 71], preimage.to_vec(), vec![0x51]]);
        assert!(reveals_preimage(&success, &op, &hash));
        let timeout = spend(op, vec![vec![], vec![3; 71], vec![], vec![0x51]]);
        assert!(!reveals_preimage(&timeout, &op, &hash));
    }

    #[test]
    fn a_record_is_finished_only_when_nothing_is_left() {
        let mut r = Record {
            channel_id: "00".repeat(32),
            funding: OutPoint::null(),
            capacity_sat: 1,
            peer: None,
            our_balance_msat: Some(0),
            close: None,
            close_recorded: true,
            pending: Vec::new(),
            contested: Vec::new(),
            ours: vec![Watched {
                outpoint: OutPoint::null(),
                value_sat: 1,
                payment_hash: None,
            }],
            revoked: false,
        };
        assert!(!r.finished());
        r.ours.clear();
        assert!(r.finished());
        assert_eq!(channel_id(&r.channel_id), Some(ChannelId([0; 32])));
    }
}
