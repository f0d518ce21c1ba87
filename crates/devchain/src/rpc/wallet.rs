//! The faucet as a bitcoind wallet: `getnewaddress`, `getbalance`, `sendtoaddress`, and the
//! wallet-management calls test frameworks make at start-up.

use bitcoin::Amount;
use serde_json::{json, Value};

use super::mining::parse_address;
use super::{code, Params, RpcError, Shared};
use crate::json;

pub fn getnewaddress(s: &Shared, _: &Params) -> Result<Value, RpcError> {
    Ok(json!(s.node().faucet.address().to_string()))
}

pub fn getbalance(s: &Shared, _: &Params) -> Result<Value, RpcError> {
    let total: Amount = s.node().faucet_coins().iter().map(|(_, a)| *a).sum();
    Ok(json::btc(total))
}

pub fn sendtoaddress(s: &Shared, p: &Params) -> Result<Value, RpcError> {
    let script = parse_address(p.str(0)?)
        .map_err(|_| RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Invalid address"))?;
    let amount = p.opt_amount(1)?.unwrap_or(Amount::ZERO);
    if amount == Amount::ZERO {
        return Err(RpcError::new(code::TYPE, "Invalid amount for send"));
    }
    if p.opt_bool(4)?.unwrap_or(false) {
        return Err(RpcError::new(
            code::INVALID_PARAMETER,
            "subtractfeefromamount is not supported by devchain's faucet",
        ));
    }
    // `fee_rate` is sat/vB; the faucet works in sat/kvB.
    let rate = match p.get(9) {
        None => None,
        Some(Value::Number(n)) => n.as_f64().map(|f| (f * 1000.0).ceil() as u64),
        Some(Value::String(t)) => t.parse::<f64>().ok().map(|f| (f * 1000.0).ceil() as u64),
        Some(_) => None,
    };
    match s.node().send_to(script, amount, rate) {
        Ok(txid) => Ok(json!(txid.to_string())),
        Err(e) if e == "Insufficient funds" => Err(RpcError::new(code::INSUFFICIENT_FUNDS, e)),
        Err(e) => Err(RpcError::new(code::WALLET, e)),
    }
}

/// `createwallet`/`loadwallet`: there is one wallet (the faucet); any name gets it.
pub fn createwallet(s: &Shared, p: &Params) -> Result<Value, RpcError> {
    let name = p.str(0)?;
    super::walletinfo::remember(s, name);
    Ok(json!({"name": name, "warning": ""}))
}

/// The names loaded so far; `[""]` (bitcoind's default wallet) before any, for clients
/// that expect one wallet to exist.
pub fn listwallets(s: &Shared, _: &Params) -> Result<Value, RpcError> {
    let w = s.wallets();
    Ok(if w.is_empty() { json!([""]) } else { json!(*w) })
}
