//! Raw transactions: `getrawtransaction`, `decoderawtransaction`, `sendrawtransaction`,
//! `testmempoolaccept`.

use bitcoin::Amount;
use serde_json::{json, Value};

use super::{code, decode_tx, Params, RpcError, Shared};
use crate::accept::RejectKind;
use crate::node::SubmitError;
use crate::{json, params};

pub fn getrawtransaction(s: &Shared, p: &Params) -> Result<Value, RpcError> {
    let txid = p.txid(0)?;
    let verbosity = match p.get(1) {
        Some(Value::Bool(b)) => i64::from(*b),
        _ => p.opt_i64(1)?.unwrap_or(0),
    };
    let in_block = match p.get(2) {
        Some(_) => Some(p.block_hash(2)?),
        None => None,
    };
    let node = s.node();
    let not_found = || {
        RpcError::new(
            code::INVALID_ADDRESS_OR_KEY,
            "No such mempool or blockchain transaction. Use gettransaction for wallet transactions.",
        )
    };
    let (tx, block) = if let Some(bh) = in_block {
        let entry = node
            .chain
            .entry(&bh)
            .ok_or_else(|| RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Block hash not found"))?;
        let tx = entry.block.txdata.iter().find(|t| t.compute_txid() == txid).ok_or_else(|| {
            RpcError::new(code::INVALID_ADDRESS_OR_KEY, "No such transaction found in the provided block. Use gettransaction for wallet transactions.")
        })?;
        (tx.clone(), Some(bh))
    } else if let Some(e) = node.mempool.get(&txid) {
        ((*e.tx).clone(), None)
    } else {
        let (bh, pos) = node.chain.tx_location(&txid).ok_or_else(not_found)?;
        let entry = node.chain.entry(&bh).ok_or_else(not_found)?;
        (
            entry.block.txdata.get(pos).ok_or_else(not_found)?.clone(),
            Some(bh),
        )
    };
    if verbosity <= 0 {
        return Ok(json!(bitcoin::consensus::encode::serialize_hex(&tx)));
    }
    let mut m = json::tx(&tx, None, true);
    if let Some(bh) = block {
        m.insert("blockhash".into(), json!(bh.to_string()));
        if let Some(entry) = node.chain.entry(&bh) {
            let active = node.chain.is_active(&bh);
            m.insert("in_active_chain".into(), json!(active));
            let conf = if active {
                node.chain.height() - entry.height + 1
            } else {
                0
            };
            m.insert("confirmations".into(), json!(conf));
            m.insert("time".into(), json!(entry.block.header.time));
            m.insert("blocktime".into(), json!(entry.block.header.time));
        }
    }
    Ok(Value::Object(m))
}

pub fn decoderawtransaction(_: &Shared, p: &Params) -> Result<Value, RpcError> {
    let tx = decode_tx(p.str(0)?)
        .ok_or_else(|| RpcError::new(code::DESERIALIZATION, "TX decode failed"))?;
    Ok(Value::Object(json::tx(&tx, None, false)))
}

/// `maxfeerate` in sat/kvB (default 0.10 BTC/kvB; 0 = no limit).
fn max_fee_rate(p: &Params, i: usize) -> Result<u64, RpcError> {
    Ok(p.opt_amount(i)?
        .map(|a| a.to_sat())
        .unwrap_or(params::DEFAULT_MAX_FEE_RATE_SAT_PER_KVB))
}

pub fn sendrawtransaction(s: &Shared, p: &Params) -> Result<Value, RpcError> {
    let tx = decode_tx(p.str(0)?).ok_or_else(|| {
        RpcError::new(
            code::DESERIALIZATION,
            "TX decode failed. Make sure the tx has at least one input.",
        )
    })?;
    let max = max_fee_rate(p, 1)?;
    match s.node().submit(tx, Some(max)) {
        Ok(txid) => Ok(json!(txid.to_string())),
        Err(SubmitError::AlreadyInChain) => Err(RpcError::new(
            code::ALREADY_IN_CHAIN,
            "Transaction already in block chain",
        )),
        Err(SubmitError::MaxFee) => Err(RpcError::new(
            code::VERIFY,
            "Fee exceeds maximum configured by user (e.g. -maxtxfee, maxfeerate)",
        )),
        Err(SubmitError::Rejected(r)) if r.kind == RejectKind::MissingInputs => {
            Err(RpcError::new(code::VERIFY, r.message()))
        }
        Err(SubmitError::Rejected(r)) => Err(RpcError::new(code::VERIFY_REJECTED, r.message())),
    }
}

pub fn testmempoolaccept(s: &Shared, p: &Params) -> Result<Value, RpcError> {
    let raw = match p.get(0) {
        Some(Value::Array(a)) => a.clone(),
        Some(v) => {
            return Err(RpcError::new(
                code::TYPE,
                format!("Wrong type passed:\n{{\n    \"Position 1 (rawtxs)\": \"JSON value of type {} is not of expected type array\"\n}}", super::type_name(v)),
            ))
        }
        None => Vec::new(),
    };
    if raw.is_empty() || raw.len() > 25 {
        return Err(RpcError::new(
            code::INVALID_PARAMETER,
            "Array must contain between 1 and 25 transactions.",
        ));
    }
    let max = max_fee_rate(p, 1)?;
    let mut txs = Vec::with_capacity(raw.len());
    for r in &raw {
        let hex_str = r.as_str().unwrap_or("");
        let tx = decode_tx(hex_str).ok_or_else(|| {
            RpcError::new(
                code::DESERIALIZATION,
                format!("TX decode failed: {hex_str} Make sure the tx has at least one input."),
            )
        })?;
        txs.push(tx);
    }
    if txs.len() > 1 {
        // Packages are not evaluated: each is judged alone against chain and mempool.
        tracing::debug!(
            "testmempoolaccept with {} transactions: judged one by one",
            txs.len()
        );
    }
    let node = s.node();
    let out: Vec<Value> = txs
        .iter()
        .map(|tx| {
            let mut m = serde_json::Map::new();
            m.insert("txid".into(), json!(tx.compute_txid().to_string()));
            m.insert("wtxid".into(), json!(tx.compute_wtxid().to_string()));
            match node.test_accept(tx) {
                Ok(ok) if max > 0 && crate::node::exceeds_max_fee(ok.fee, ok.vsize, max) => {
                    m.insert("allowed".into(), json!(false));
                    m.insert("reject-reason".into(), json!("max-fee-exceeded"));
                }
                Ok(ok) => {
                    m.insert("allowed".into(), json!(true));
                    m.insert("vsize".into(), json!(ok.vsize));
                    let rate = Amount::from_sat(ok.fee.to_sat() * 1000 / ok.vsize.max(1));
                    m.insert(
                        "fees".into(),
                        json!({"base": json::btc(ok.fee), "effective-feerate": json::btc(rate), "effective-includes": [ok.wtxid.to_string()]}),
                    );
                }
                Err(r) => {
                    m.insert("allowed".into(), json!(false));
                    let reason = if r.kind == RejectKind::MissingInputs { "missing-inputs".to_string() } else { r.reason };
                    m.insert("reject-reason".into(), json!(reason));
                }
            }
            Value::Object(m)
        })
        .collect();
    Ok(Value::Array(out))
}
