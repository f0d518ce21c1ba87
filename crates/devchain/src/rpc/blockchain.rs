//! Chain queries and reorg controls: `getblockchaininfo`, `getblockcount`, `getblockhash`,
//! `getblock`, `getblockheader`, `gettxout`, mempool views, `invalidateblock`/`reconsiderblock`.

use bitcoin::{Amount, OutPoint};
use serde_json::{json, Map, Value};

use super::{code, Params, RpcError, Shared};
use crate::json;
use crate::params;

pub fn getblockchaininfo(s: &Shared, _: &Params) -> Result<Value, RpcError> {
    let node = s.node();
    let chain = &node.chain;
    let tip = chain.tip();
    Ok(json!({
        "chain": "regtest",
        "blocks": tip.height,
        "headers": tip.height,
        "bestblockhash": chain.tip_hash().to_string(),
        "difficulty": tip.block.header.target().difficulty_float(),
        "time": tip.block.header.time,
        "mediantime": chain.median_time_past(tip.height),
        "verificationprogress": 1.0,
        "initialblockdownload": node.in_ibd(),
        "chainwork": hex::encode(tip.chainwork.to_be_bytes()),
        "size_on_disk": std::fs::metadata(node.dir().join("blocks.dat")).map(|m| m.len()).unwrap_or(0),
        "pruned": false,
        "warnings": "",
    }))
}

pub fn getchaintips(s: &Shared, _: &Params) -> Result<Value, RpcError> {
    let node = s.node();
    let tips: Vec<Value> = node
        .chain
        .tips()
        .into_iter()
        .map(|(hash, height, branchlen, status)| {
            json!({"height": height, "hash": hash.to_string(), "branchlen": branchlen, "status": status})
        })
        .collect();
    Ok(Value::Array(tips))
}

pub fn getblockcount(s: &Shared, _: &Params) -> Result<Value, RpcError> {
    Ok(json!(s.node().chain.height()))
}

pub fn getbestblockhash(s: &Shared, _: &Params) -> Result<Value, RpcError> {
    Ok(json!(s.node().chain.tip_hash().to_string()))
}

pub fn getdifficulty(s: &Shared, _: &Params) -> Result<Value, RpcError> {
    Ok(json!(s
        .node()
        .chain
        .tip()
        .block
        .header
        .target()
        .difficulty_float()))
}

pub fn getblockhash(s: &Shared, p: &Params) -> Result<Value, RpcError> {
    let height = p.opt_i64(0)?.unwrap_or(-1);
    let node = s.node();
    u32::try_from(height)
        .ok()
        .and_then(|h| node.chain.hash_at(h))
        .map(|h| json!(h.to_string()))
        .ok_or_else(|| RpcError::new(code::INVALID_PARAMETER, "Block height out of range"))
}

/// `verbosity`/`verbose` as bitcoind reads it: a number, or a bool (true = 1).
fn level(p: &Params, i: usize, default: i64) -> Result<i64, RpcError> {
    match p.get(i) {
        Some(Value::Bool(b)) => Ok(i64::from(*b)),
        _ => Ok(p.opt_i64(i)?.unwrap_or(default)),
    }
}

pub fn getblock(s: &Shared, p: &Params) -> Result<Value, RpcError> {
    let hash = p.block_hash(0)?;
    let verbosity = level(p, 1, 1)?;
    let node = s.node();
    let entry = node
        .chain
        .entry(&hash)
        .ok_or_else(|| RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Block not found"))?;
    if verbosity <= 0 {
        return Ok(json!(bitcoin::consensus::encode::serialize_hex(
            &*entry.block
        )));
    }
    Ok(json::block(&node.chain, entry, verbosity.min(2) as u8))
}

pub fn getblockheader(s: &Shared, p: &Params) -> Result<Value, RpcError> {
    let hash = p.block_hash(0)?;
    let verbose = p.opt_bool(1)?.unwrap_or(true);
    let node = s.node();
    let entry = node
        .chain
        .entry(&hash)
        .ok_or_else(|| RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Block not found"))?;
    if !verbose {
        return Ok(json!(bitcoin::consensus::encode::serialize_hex(
            &entry.block.header
        )));
    }
    Ok(Value::Object(json::header(&node.chain, entry)))
}

pub fn gettxout(s: &Shared, p: &Params) -> Result<Value, RpcError> {
    let txid = p.txid(0)?;
    let n = p.opt_i64(1)?.unwrap_or(0);
    let include_mempool = p.opt_bool(2)?.unwrap_or(true);
    let Ok(vout) = u32::try_from(n) else {
        return Err(RpcError::new(
            code::INVALID_PARAMETER,
            "Invalid parameter: vout cannot be negative",
        ));
    };
    let outpoint = OutPoint { txid, vout };
    let node = s.node();
    let best = node.chain.tip_hash().to_string();
    let (out, confirmations, coinbase) = if let Some(coin) = node.chain.coin(&outpoint) {
        if include_mempool && node.mempool.spender(&outpoint).is_some() {
            return Ok(Value::Null);
        }
        (
            coin.txout.clone(),
            node.chain.height() - coin.height + 1,
            coin.coinbase,
        )
    } else if include_mempool && node.mempool.spender(&outpoint).is_none() {
        match node.mempool.output(&outpoint) {
            Some(out) => (out.clone(), 0, false),
            None => return Ok(Value::Null),
        }
    } else {
        return Ok(Value::Null);
    };
    Ok(json!({
        "bestblock": best,
        "confirmations": confirmations,
        "value": json::btc(out.value),
        "scriptPubKey": json::script_pubkey(&out.script_pubkey),
        "coinbase": coinbase,
    }))
}

fn mempool_entry(node: &crate::node::Node, e: &crate::mempool::MempoolEntry) -> Value {
    let ancestors = node
        .mempool
        .ancestors_of_inputs(e.tx.input.iter().map(|i| &i.previous_output));
    let descendants = node.mempool.with_descendants(&e.txid);
    let sum = |set: &mut dyn Iterator<Item = &bitcoin::Txid>| {
        set.filter_map(|t| node.mempool.get(t))
            .fold((Amount::ZERO, 0u64), |(f, v), x| (f + x.fee, v + x.vsize))
    };
    let (anc_fee, anc_size) = sum(&mut ancestors.iter());
    let (desc_fee, desc_size) = sum(&mut descendants.iter());
    let depends: Vec<String> = node
        .mempool
        .parents(&e.txid)
        .iter()
        .map(|t| t.to_string())
        .collect();
    let spentby: Vec<String> = node
        .mempool
        .children(&e.txid)
        .iter()
        .map(|t| t.to_string())
        .collect();
    json!({
        "vsize": e.vsize,
        "weight": e.weight,
        "time": e.time,
        "height": e.height,
        "descendantcount": descendants.len(),
        "descendantsize": desc_size,
        "ancestorcount": ancestors.len() + 1,
        "ancestorsize": anc_size + e.vsize,
        "wtxid": e.wtxid.to_string(),
        "fees": {
            "base": json::btc(e.fee),
            "modified": json::btc(e.fee),
            "ancestor": json::btc(anc_fee + e.fee),
            "descendant": json::btc(desc_fee),
        },
        "depends": depends,
        "spentby": spentby,
        "bip125-replaceable": e.tx.input.iter().any(|i| i.sequence.is_rbf()),
        "unbroadcast": false,
    })
}

pub fn getrawmempool(s: &Shared, p: &Params) -> Result<Value, RpcError> {
    let verbose = p.opt_bool(0)?.unwrap_or(false);
    let node = s.node();
    if verbose {
        let mut m = Map::new();
        for e in node.mempool.ordered() {
            m.insert(e.txid.to_string(), mempool_entry(&node, e));
        }
        return Ok(Value::Object(m));
    }
    Ok(json!(node
        .mempool
        .ordered()
        .map(|e| e.txid.to_string())
        .collect::<Vec<_>>()))
}

pub fn getmempoolentry(s: &Shared, p: &Params) -> Result<Value, RpcError> {
    let txid = p.txid(0)?;
    let node = s.node();
    let e = node
        .mempool
        .get(&txid)
        .ok_or_else(|| RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Transaction not in mempool"))?;
    Ok(mempool_entry(&node, e))
}

pub fn getmempoolinfo(s: &Shared, _: &Params) -> Result<Value, RpcError> {
    let node = s.node();
    let (fees, bytes) = node.mempool.totals();
    let min = json::btc(Amount::from_sat(params::MIN_RELAY_FEE_SAT_PER_KVB));
    Ok(json!({
        "loaded": true,
        "size": node.mempool.len(),
        "bytes": bytes,
        "usage": bytes * 4,
        "total_fee": json::btc(fees),
        "maxmempool": 300_000_000u64,
        "mempoolminfee": min,
        "minrelaytxfee": min,
        "incrementalrelayfee": min,
        "unbroadcastcount": 0,
        "fullrbf": false,
    }))
}

pub fn invalidateblock(s: &Shared, p: &Params) -> Result<Value, RpcError> {
    let hash = p.block_hash(0)?;
    let mut node = s.node();
    if node.chain.entry(&hash).is_some_and(|e| e.height == 0) {
        return Err(RpcError::new(
            code::INVALID_PARAMETER,
            "Genesis block cannot be invalidated",
        ));
    }
    match node.invalidate(&hash) {
        Ok(true) => Ok(Value::Null),
        Ok(false) => Err(RpcError::new(
            code::INVALID_ADDRESS_OR_KEY,
            "Block not found",
        )),
        Err(e) => Err(RpcError::new(code::MISC, e.to_string())),
    }
}

pub fn reconsiderblock(s: &Shared, p: &Params) -> Result<Value, RpcError> {
    let hash = p.block_hash(0)?;
    match s.node().reconsider(&hash) {
        Ok(true) => Ok(Value::Null),
        Ok(false) => Err(RpcError::new(
            code::INVALID_ADDRESS_OR_KEY,
            "Block not found",
        )),
        Err(e) => Err(RpcError::new(code::MISC, e.to_string())),
    }
}
