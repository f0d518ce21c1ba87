//! Mining and fees: `generatetoaddress`, `submitblock`, `estimatesmartfee`, and the dev-only
//! `setfeerate` that decides what `estimatesmartfee` answers.

use std::str::FromStr;

use bitcoin::{Address, Amount, Block};
use serde_json::{json, Value};

use super::{code, Params, RpcError, Shared};
use crate::{json, params};

/// A regtest address's output script (bitcoind: -5 `Error: Invalid address`).
pub fn parse_address(s: &str) -> Result<bitcoin::ScriptBuf, RpcError> {
    Address::from_str(s)
        .ok()
        .and_then(|a| a.require_network(params::NETWORK).ok())
        .map(|a| a.script_pubkey())
        .ok_or_else(|| RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Error: Invalid address"))
}

pub fn generatetoaddress(s: &Shared, p: &Params) -> Result<Value, RpcError> {
    let n = p.opt_i64(0)?.unwrap_or(0);
    let script = parse_address(p.str(1)?)?;
    let count =
        u32::try_from(n).map_err(|_| RpcError::new(code::INVALID_PARAMETER, "Invalid nblocks"))?;
    let hashes = s
        .node()
        .generate(count, &script)
        .map_err(|e| RpcError::new(code::MISC, e.to_string()))?;
    Ok(json!(hashes
        .iter()
        .map(|h| h.to_string())
        .collect::<Vec<_>>()))
}

/// `generateblock <address> [rawtx or txid, …]`: one block with exactly those transactions
/// (txids are taken from the mempool), in that order.
pub fn generateblock(s: &Shared, p: &Params) -> Result<Value, RpcError> {
    let script = parse_address(p.str(0)?)?;
    let items = match p.get(1) {
        Some(Value::Array(a)) => a.clone(),
        Some(v) => {
            return Err(RpcError::new(
                code::TYPE,
                format!("Wrong type passed:\n{{\n    \"Position 2 (transactions)\": \"JSON value of type {} is not of expected type array\"\n}}", super::type_name(v)),
            ))
        }
        None => Vec::new(),
    };
    let mut node = s.node();
    let mut txs = Vec::with_capacity(items.len());
    for item in &items {
        let text = item.as_str().unwrap_or("");
        if let Ok(txid) = text.parse::<bitcoin::Txid>() {
            let e = node.mempool.get(&txid).ok_or_else(|| {
                RpcError::new(
                    code::INVALID_ADDRESS_OR_KEY,
                    format!("Transaction {txid} not in mempool."),
                )
            })?;
            txs.push((*e.tx).clone());
        } else {
            let tx = super::decode_tx(text).ok_or_else(|| {
                RpcError::new(
                    code::DESERIALIZATION,
                    format!("Transaction decode failed for {text}"),
                )
            })?;
            txs.push(tx);
        }
    }
    let submit = p.opt_bool(2)?.unwrap_or(true);
    match node.generate_block(&script, txs, submit) {
        Ok((hash, None)) => Ok(json!({"hash": hash.to_string()})),
        Ok((hash, Some(block))) => Ok(json!({
            "hash": hash.to_string(),
            "hex": bitcoin::consensus::encode::serialize_hex(&block),
        })),
        Err(why) => Err(RpcError::new(
            code::VERIFY,
            format!("TestBlockValidity failed: {why}"),
        )),
    }
}

pub fn submitblock(s: &Shared, p: &Params) -> Result<Value, RpcError> {
    let block: Block = hex::decode(p.str(0)?)
        .ok()
        .and_then(|b| bitcoin::consensus::deserialize(&b).ok())
        .ok_or_else(|| RpcError::new(code::DESERIALIZATION, "Block decode failed"))?;
    match s.node().submit_block(block) {
        Ok(()) => Ok(Value::Null),
        Err(reason) => Ok(json!(reason)),
    }
}

pub fn estimatesmartfee(s: &Shared, p: &Params) -> Result<Value, RpcError> {
    let target = p.opt_i64(0)?.unwrap_or(0);
    if !(1..=1008).contains(&target) {
        return Err(RpcError::new(
            code::INVALID_PARAMETER,
            "Invalid conf_target, must be between 1 and 1008",
        ));
    }
    if let Some(mode) = p.opt_str(1)? {
        if !["unset", "economical", "conservative"].contains(&mode.to_ascii_lowercase().as_str()) {
            return Err(RpcError::new(
                code::INVALID_PARAMETER,
                "Invalid estimate_mode parameter, must be one of: \"unset\", \"economical\", \"conservative\"",
            ));
        }
    }
    let blocks = target.max(2);
    match s.node().fee_rate {
        Some(rate) => Ok(json!({"feerate": json::btc(Amount::from_sat(rate)), "blocks": blocks})),
        None => Ok(json!({"errors": ["Insufficient data or no feerate found"], "blocks": 0})),
    }
}

/// `setfeerate <BTC/kvB>`: what `estimatesmartfee` answers from now on (0 or null: no estimate).
pub fn setfeerate(s: &Shared, p: &Params) -> Result<Value, RpcError> {
    let rate = p.opt_amount(0)?.map(|a| a.to_sat()).filter(|r| *r > 0);
    if rate.is_some_and(|r| r < params::MIN_RELAY_FEE_SAT_PER_KVB) {
        return Err(RpcError::new(
            code::INVALID_PARAMETER,
            "feerate is below the minimum relay fee (0.00001 BTC/kvB)",
        ));
    }
    s.node().fee_rate = rate;
    Ok(Value::Null)
}
