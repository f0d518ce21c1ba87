//! Whether a transaction may enter the mempool: Bitcoin Core's `AcceptToMemoryPool` checks in
//! Core's order, with Core's reject reasons. Scripts go through `bitcoinconsensus` (Core's own
//! interpreter); what it does not see (finality, BIP68, maturity, conflicts, amounts, fees,
//! standardness) is checked here.

use std::collections::HashSet;

use bitcoin::hashes::{hash160, sha256, Hash};
use bitcoin::{Amount, OutPoint, Script, Transaction, TxOut, Txid, Wtxid};

use crate::chain::Chain;
use crate::mempool::Mempool;
use crate::params;

/// How a refusal maps to bitcoind's RPC errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectKind {
    /// `TX_MISSING_INPUTS`: `sendrawtransaction` answers -25, `testmempoolaccept` `missing-inputs`.
    MissingInputs,
    /// Everything else: -26 with the reason (and Core's debug text after a comma).
    Rejected,
}

/// A refusal: reason as bitcoind spells it, plus Core's optional debug detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// Which RPC error it becomes.
    pub kind: RejectKind,
    /// The reject reason (`testmempoolaccept`'s `reject-reason`).
    pub reason: String,
    /// Core's debug message, appended as `reason, debug` in `sendrawtransaction` errors.
    pub debug: Option<String>,
}

impl Reject {
    fn new(reason: impl Into<String>) -> Reject {
        Reject {
            kind: RejectKind::Rejected,
            reason: reason.into(),
            debug: None,
        }
    }

    fn with(reason: impl Into<String>, debug: impl Into<String>) -> Reject {
        Reject {
            kind: RejectKind::Rejected,
            reason: reason.into(),
            debug: Some(debug.into()),
        }
    }

    /// Core's `ValidationState::ToString()`: `reason` or `reason, debug`.
    pub fn message(&self) -> String {
        match &self.debug {
            Some(d) => format!("{}, {}", self.reason, d),
            None => self.reason.clone(),
        }
    }
}

/// What an acceptable transaction costs.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// Its txid.
    pub txid: Txid,
    /// Its wtxid.
    pub wtxid: Wtxid,
    /// Inputs minus outputs.
    pub fee: Amount,
    /// Virtual size.
    pub vsize: u64,
    /// Weight.
    pub weight: u64,
    /// Mempool transactions it replaces (BIP125), descendants included: evict before adding.
    pub replaces: Vec<Txid>,
}

/// BIP125: at most this many transactions may be evicted by one replacement.
const MAX_REPLACEMENT_CANDIDATES: usize = 100;

/// Whether `tx` opts in to replacement (BIP125: some input's sequence below 0xfffffffe).
fn signals_rbf(tx: &Transaction) -> bool {
    tx.input.iter().any(|i| i.sequence.0 < 0xffff_fffe)
}

/// Checks `tx` against the active chain and the mempool, as `testmempoolaccept` would.
pub fn check(chain: &Chain, mempool: &Mempool, tx: &Transaction) -> Result<Accepted, Reject> {
    check_transaction(tx)?;
    if tx.is_coinbase() {
        return Err(Reject::new("coinbase"));
    }
    check_standard(tx)?;
    if tx.base_size() < params::MIN_STANDARD_TX_NONWITNESS_SIZE {
        return Err(Reject::new("tx-size-small"));
    }
    let tip = chain.height();
    let next_height = tip + 1;
    let tip_mtp = chain.median_time_past(tip);
    if !is_final(tx, next_height, tip_mtp) {
        return Err(Reject::new("non-final"));
    }
    let txid = tx.compute_txid();
    let wtxid = tx.compute_wtxid();
    if let Some(e) = mempool.get(&txid) {
        return Err(Reject::new(if e.wtxid == wtxid {
            "txn-already-in-mempool"
        } else {
            "txn-same-nonwitness-data-in-mempool"
        }));
    }
    // Conflicts may be replaced only if each signals BIP125 (bitcoind 26 defaults:
    // `-mempoolfullrbf=0`); the fee rules are checked once the fee is known.
    let mut direct: Vec<Txid> = Vec::new();
    for input in &tx.input {
        if let Some(c) = mempool.spender(&input.previous_output) {
            let signals = mempool.get(&c).is_some_and(|e| signals_rbf(&e.tx));
            if !signals {
                return Err(Reject::new("txn-mempool-conflict"));
            }
            if !direct.contains(&c) {
                direct.push(c);
            }
        }
    }
    let mut evicted: HashSet<Txid> = HashSet::new();
    for c in &direct {
        evicted.extend(mempool.with_descendants(c));
    }
    if let Some(input) = tx
        .input
        .iter()
        .find(|i| evicted.contains(&i.previous_output.txid))
    {
        return Err(Reject::with(
            "bad-txns-spends-conflicting-tx",
            format!(
                "{txid} spends conflicting transaction {}",
                input.previous_output.txid
            ),
        ));
    }
    // The coins spent: (output, height it was created at, coinbase?). Mempool outputs count
    // as created in the next block, as in Core's `CCoinsViewMemPool`.
    let mut spent: Vec<(TxOut, u32, bool)> = Vec::with_capacity(tx.input.len());
    for input in &tx.input {
        let op = &input.previous_output;
        if let Some(coin) = chain.coin(op) {
            spent.push((coin.txout.clone(), coin.height, coin.coinbase));
        } else if let Some(out) = mempool.output(op) {
            spent.push((out.clone(), next_height, false));
        } else {
            let known = (0..tx.output.len()).any(|vout| {
                chain
                    .coin(&OutPoint {
                        txid,
                        vout: vout as u32,
                    })
                    .is_some()
            });
            if known {
                return Err(Reject::new("txn-already-known"));
            }
            return Err(Reject {
                kind: RejectKind::MissingInputs,
                reason: "bad-txns-inputs-missingorspent".into(),
                debug: None,
            });
        }
    }
    if !sequence_locks_ok(chain, tx, &spent, next_height, tip_mtp) {
        return Err(Reject::new("non-BIP68-final"));
    }
    let mut value_in = Amount::ZERO;
    for (out, height, coinbase) in &spent {
        if *coinbase && next_height - height < params::COINBASE_MATURITY {
            return Err(Reject::with(
                "bad-txns-premature-spend-of-coinbase",
                format!("tried to spend coinbase at depth {}", next_height - height),
            ));
        }
        value_in = value_in
            .checked_add(out.value)
            .filter(|v| *v <= Amount::MAX_MONEY)
            .ok_or_else(|| Reject::new("bad-txns-inputvalues-outofrange"))?;
    }
    let value_out: Amount = tx.output.iter().map(|o| o.value).sum();
    if value_in < value_out {
        return Err(Reject::with(
            "bad-txns-in-belowout",
            format!(
                "value in ({}) < value out ({})",
                format_money(value_in),
                format_money(value_out)
            ),
        ));
    }
    let fee = value_in - value_out;
    if spent
        .iter()
        .any(|(out, _, _)| !input_script_standard(&out.script_pubkey))
    {
        return Err(Reject::new("bad-txns-nonstandard-inputs"));
    }
    let weight = tx.weight().to_wu();
    let vsize = weight.div_ceil(4);
    let min_fee = params::MIN_RELAY_FEE_SAT_PER_KVB * vsize / 1000;
    if fee.to_sat() < min_fee {
        return Err(Reject::with(
            "min relay fee not met",
            format!("{} < {}", fee.to_sat(), min_fee),
        ));
    }
    if !direct.is_empty() {
        check_replacement(mempool, tx, txid, fee, vsize, &direct, &evicted)?;
    }
    let ancestors = mempool.ancestors_of_inputs(tx.input.iter().map(|i| &i.previous_output));
    if ancestors.len() + 1 > params::MEMPOOL_CHAIN_LIMIT {
        return Err(Reject::with(
            "too-long-mempool-chain",
            format!(
                "too many unconfirmed ancestors [limit: {}]",
                params::MEMPOOL_CHAIN_LIMIT
            ),
        ));
    }
    for parent in &ancestors {
        // A parent whose descendants would exceed the limit refuses another child.
        if mempool.with_descendants(parent).len() + 1 > params::MEMPOOL_CHAIN_LIMIT {
            return Err(Reject::with(
                "too-long-mempool-chain",
                format!(
                    "too many descendants for tx {parent} [limit: {}]",
                    params::MEMPOOL_CHAIN_LIMIT
                ),
            ));
        }
    }
    verify_scripts(tx, &spent)?;
    Ok(Accepted {
        txid,
        wtxid,
        fee,
        vsize,
        weight,
        replaces: evicted.into_iter().collect(),
    })
}

/// BIP125's rules as bitcoind 26 words them: few enough evictions, no new unconfirmed inputs,
/// a higher fee rate than each direct conflict, more total fee, and enough extra fee to pay
/// for relaying the replacement.
fn check_replacement(
    mempool: &Mempool,
    tx: &Transaction,
    txid: Txid,
    fee: Amount,
    vsize: u64,
    direct: &[Txid],
    evicted: &HashSet<Txid>,
) -> Result<(), Reject> {
    if evicted.len() > MAX_REPLACEMENT_CANDIDATES {
        return Err(Reject::with(
            "too many potential replacements",
            format!(
                "rejecting replacement {txid}; too many potential replacements ({} > {MAX_REPLACEMENT_CANDIDATES})",
                evicted.len()
            ),
        ));
    }
    let old_parents: HashSet<Txid> = direct.iter().flat_map(|c| mempool.parents(c)).collect();
    for (j, input) in tx.input.iter().enumerate() {
        let parent = input.previous_output.txid;
        if mempool.get(&parent).is_some() && !old_parents.contains(&parent) {
            return Err(Reject::with(
                "replacement-adds-unconfirmed",
                format!("replacement {txid} adds unconfirmed input, idx {j}"),
            ));
        }
    }
    for c in direct {
        let Some(old) = mempool.get(c) else { continue };
        // Fee rates as fractions: new_fee / new_vsize <= old_fee / old_vsize.
        if u128::from(fee.to_sat()) * u128::from(old.vsize)
            <= u128::from(old.fee.to_sat()) * u128::from(vsize)
        {
            return Err(Reject::with(
                "insufficient fee",
                format!(
                    "rejecting replacement {txid}; new feerate {} <= old feerate {}",
                    fee_rate_text(fee, vsize),
                    fee_rate_text(old.fee, old.vsize)
                ),
            ));
        }
    }
    let old_fees: Amount = evicted
        .iter()
        .filter_map(|t| mempool.get(t))
        .map(|e| e.fee)
        .sum();
    if fee < old_fees {
        return Err(Reject::with(
            "insufficient fee",
            format!(
                "rejecting replacement {txid}, less fees than conflicting txs; {} < {}",
                format_money(fee),
                format_money(old_fees)
            ),
        ));
    }
    let extra = fee - old_fees;
    let relay = Amount::from_sat(params::MIN_RELAY_FEE_SAT_PER_KVB * vsize / 1000);
    if extra < relay {
        return Err(Reject::with(
            "insufficient fee",
            format!(
                "rejecting replacement {txid}, not enough additional fees to relay; {} < {}",
                format_money(extra),
                format_money(relay)
            ),
        ));
    }
    Ok(())
}

/// Core's `CFeeRate::ToString()`: `N.NNNNNNNN BTC/kvB`.
fn fee_rate_text(fee: Amount, vsize: u64) -> String {
    let per_kvb = fee.to_sat() * 1000 / vsize.max(1);
    format!(
        "{}.{:08} BTC/kvB",
        per_kvb / 100_000_000,
        per_kvb % 100_000_000
    )
}

/// Core's `CheckTransaction`: context-free consensus rules.
fn check_transaction(tx: &Transaction) -> Result<(), Reject> {
    if tx.input.is_empty() {
        return Err(Reject::new("bad-txns-vin-empty"));
    }
    if tx.output.is_empty() {
        return Err(Reject::new("bad-txns-vout-empty"));
    }
    if tx.base_size() as u64 * 4 > params::MAX_BLOCK_WEIGHT {
        return Err(Reject::new("bad-txns-oversize"));
    }
    let mut total = Amount::ZERO;
    for out in &tx.output {
        if out.value > Amount::MAX_MONEY {
            return Err(Reject::new("bad-txns-vout-toolarge"));
        }
        total = total
            .checked_add(out.value)
            .filter(|t| *t <= Amount::MAX_MONEY)
            .ok_or_else(|| Reject::new("bad-txns-txouttotal-toolarge"))?;
    }
    let mut seen = HashSet::with_capacity(tx.input.len());
    for input in &tx.input {
        if !seen.insert(input.previous_output) {
            return Err(Reject::new("bad-txns-inputs-duplicate"));
        }
    }
    if !tx.is_coinbase() && tx.input.iter().any(|i| i.previous_output.is_null()) {
        return Err(Reject::new("bad-txns-prevout-null"));
    }
    Ok(())
}

/// Core's `IsStandardTx` (default policy: bare multisig allowed, one OP_RETURN up to 83 bytes).
fn check_standard(tx: &Transaction) -> Result<(), Reject> {
    if tx.version.0 < 1 || tx.version.0 > 2 {
        return Err(Reject::new("version"));
    }
    if tx.weight().to_wu() > params::MAX_STANDARD_TX_WEIGHT {
        return Err(Reject::new("tx-size"));
    }
    for input in &tx.input {
        if input.script_sig.len() > 1650 {
            return Err(Reject::new("scriptsig-size"));
        }
        if !input.script_sig.is_push_only() {
            return Err(Reject::new("scriptsig-not-pushonly"));
        }
    }
    let mut op_returns = 0;
    for out in &tx.output {
        match output_type(&out.script_pubkey) {
            "nonstandard" => return Err(Reject::new("scriptpubkey")),
            "nulldata" => {
                if out.script_pubkey.len() > 83 {
                    return Err(Reject::new("scriptpubkey"));
                }
                op_returns += 1;
            }
            _ => {
                if out.value < out.script_pubkey.minimal_non_dust() {
                    return Err(Reject::new("dust"));
                }
            }
        }
    }
    if op_returns > 1 {
        return Err(Reject::new("multi-op-return"));
    }
    Ok(())
}

/// Spending an output of unknown or future type is non-standard (Core's `AreInputsStandard`).
fn input_script_standard(script: &Script) -> bool {
    !matches!(output_type(script), "nonstandard" | "witness_unknown")
}

/// bitcoind's script type names (`scriptPubKey.type`).
pub fn output_type(script: &Script) -> &'static str {
    if script.is_p2pkh() {
        "pubkeyhash"
    } else if script.is_p2sh() {
        "scripthash"
    } else if script.is_p2wpkh() {
        "witness_v0_keyhash"
    } else if script.is_p2wsh() {
        "witness_v0_scripthash"
    } else if script.is_p2tr() {
        "witness_v1_taproot"
    } else if script.is_witness_program() {
        if script.witness_version().map(|v| v.to_num()) == Some(0) {
            "nonstandard"
        } else {
            "witness_unknown"
        }
    } else if script.is_p2pk() {
        "pubkey"
    } else if script.is_multisig() {
        "multisig"
    } else if script.as_bytes().first() == Some(&0x6a) && script.is_push_only_after_first() {
        "nulldata"
    } else {
        "nonstandard"
    }
}

trait PushOnlyTail {
    fn is_push_only_after_first(&self) -> bool;
}

impl PushOnlyTail for Script {
    fn is_push_only_after_first(&self) -> bool {
        Script::from_bytes(&self.as_bytes()[1..]).is_push_only()
    }
}

/// Core's `IsFinalTx` for the next block: height locks below it, time locks below the tip's
/// median-time-past, or every input's sequence final.
pub fn is_final(tx: &Transaction, next_height: u32, tip_mtp: u32) -> bool {
    let lock = tx.lock_time.to_consensus_u32();
    if lock == 0 {
        return true;
    }
    let limit = if lock < 500_000_000 {
        next_height
    } else {
        tip_mtp
    };
    if lock < limit {
        return true;
    }
    tx.input.iter().all(|i| i.sequence.0 == 0xffff_ffff)
}

/// BIP68 relative locks against the next block (Core's `CheckSequenceLocksAtTip`).
pub(crate) fn sequence_locks_ok(
    chain: &Chain,
    tx: &Transaction,
    spent: &[(TxOut, u32, bool)],
    next_height: u32,
    tip_mtp: u32,
) -> bool {
    if tx.version.0 < 2 {
        return true;
    }
    let mut min_height: i64 = -1;
    let mut min_time: i64 = -1;
    for (input, (_, coin_height, _)) in tx.input.iter().zip(spent) {
        let seq = input.sequence.0;
        if seq & (1 << 31) != 0 {
            continue;
        }
        let value = i64::from(seq & 0xffff);
        if seq & (1 << 22) != 0 {
            // Time locks count from the median-time-past of the block before the coin's.
            let base_height = coin_height.saturating_sub(1);
            let coin_time = i64::from(chain.median_time_past(base_height));
            min_time = min_time.max(coin_time + (value << 9) - 1);
        } else {
            min_height = min_height.max(i64::from(*coin_height) + value - 1);
        }
    }
    min_height < i64::from(next_height) && min_time < i64::from(tip_mtp)
}

/// Every input's script through Core's interpreter, with all consensus flags (taproot too).
pub(crate) fn verify_scripts(tx: &Transaction, spent: &[(TxOut, u32, bool)]) -> Result<(), Reject> {
    let bytes = bitcoin::consensus::serialize(tx);
    let utxos: Vec<bitcoinconsensus::Utxo> = spent
        .iter()
        .map(|(out, _, _)| bitcoinconsensus::Utxo {
            script_pubkey: out.script_pubkey.as_bytes().as_ptr(),
            script_pubkey_len: out.script_pubkey.len() as u32,
            value: out.value.to_sat() as i64,
        })
        .collect();
    let flags = bitcoinconsensus::VERIFY_ALL_PRE_TAPROOT | bitcoinconsensus::VERIFY_TAPROOT;
    for (index, (out, _, _)) in spent.iter().enumerate() {
        let verdict = bitcoinconsensus::verify_with_flags(
            out.script_pubkey.as_bytes(),
            out.value.to_sat(),
            &bytes,
            Some(&utxos),
            index,
            flags,
        );
        if verdict.is_err() {
            let why = script_failure_text(tx, index, &out.script_pubkey);
            return Err(Reject::new(format!(
                "mandatory-script-verify-flag-failed ({why})"
            )));
        }
    }
    Ok(())
}

/// The library says only "script failed"; this names the likely `ScriptErrorString` for the
/// common shapes (Core's text), falling back to the false-stack message.
fn script_failure_text(tx: &Transaction, index: usize, spk: &Script) -> &'static str {
    let Some(input) = tx.input.get(index) else {
        return "Script failed";
    };
    let witness: Vec<&[u8]> = input.witness.iter().collect();
    if spk.is_p2wsh() {
        match witness.last() {
            None => return "Witness program was passed an empty witness",
            Some(ws) if sha256::Hash::hash(ws).as_byte_array()[..] != spk.as_bytes()[2..] => {
                return "Witness program hash mismatch"
            }
            _ => {}
        }
    } else if spk.is_p2wpkh() {
        if witness.len() != 2 {
            return "Witness program hash mismatch";
        }
        if hash160::Hash::hash(witness[1]).as_byte_array()[..] != spk.as_bytes()[2..] {
            return "Witness program hash mismatch";
        }
    } else if spk.is_p2tr() {
        let items = witness.len()
            - usize::from(
                witness.last().is_some_and(|w| w.first() == Some(&0x50)) && witness.len() > 1,
            );
        if items == 0 {
            return "Witness program was passed an empty witness";
        }
        if items == 1 {
            return "Invalid Schnorr signature";
        }
    }
    "Script evaluated without error but finished with a false/empty top stack element"
}

/// Core's `FormatMoney`: at least two decimals, trailing zeros trimmed.
pub fn format_money(amount: Amount) -> String {
    let sat = amount.to_sat();
    let mut s = format!("{}.{:08}", sat / 100_000_000, sat % 100_000_000);
    while s.ends_with('0') && s.len() - s.find('.').unwrap_or(0) > 3 {
        s.pop();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_money_keeps_two_decimals() {
        assert_eq!(format_money(Amount::from_sat(100_000_000)), "1.00");
        assert_eq!(format_money(Amount::from_sat(1_500_000)), "0.015");
        assert_eq!(format_money(Amount::from_sat(1)), "0.00000001");
        assert_eq!(format_money(Amount::ZERO), "0.00");
    }
}
