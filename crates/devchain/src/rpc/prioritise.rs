//! `prioritisetransaction txid ( dummy ) fee_delta`: changes the fee blocks judge a
//! transaction by, as bitcoind's; test frameworks use it to keep transactions out of
//! blocks (pyln-testing's `simple_reorg`).

use serde_json::Value;

use super::{code, Params, RpcError, Shared};

pub fn prioritisetransaction(s: &Shared, p: &Params) -> Result<Value, RpcError> {
    let txid = p.txid(0)?;
    if p.opt_i64(1)?.is_some_and(|d| d != 0) {
        return Err(RpcError::new(
            code::INVALID_PARAMETER,
            "Priority is no longer supported, dummy argument to prioritisetransaction must be 0.",
        ));
    }
    let delta = p
        .opt_i64(2)?
        .ok_or_else(|| RpcError::new(code::MISC, "missing fee_delta"))?;
    s.node().mempool.prioritise(txid, delta);
    Ok(Value::Bool(true))
}
