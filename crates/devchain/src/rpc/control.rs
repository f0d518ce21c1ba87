//! Node and network status: `getnetworkinfo`, `getpeerinfo`, `uptime`, `setmocktime`, `stop`.

use serde_json::{json, Value};

use super::{Params, RpcError, Shared};
use crate::params;

pub fn getnetworkinfo(_: &Shared, _: &Params) -> Result<Value, RpcError> {
    Ok(json!({
        "version": params::CORE_VERSION,
        "subversion": "/Satoshi:26.0.0(devchain)/",
        "protocolversion": 70016,
        "localservices": "0000000000000409",
        "localservicesnames": ["NETWORK", "WITNESS", "NETWORK_LIMITED"],
        "localrelay": true,
        "timeoffset": 0,
        "networkactive": true,
        "connections": 0,
        "connections_in": 0,
        "connections_out": 0,
        "networks": [],
        "relayfee": crate::json::btc(bitcoin::Amount::from_sat(params::MIN_RELAY_FEE_SAT_PER_KVB)),
        "incrementalfee": crate::json::btc(bitcoin::Amount::from_sat(params::MIN_RELAY_FEE_SAT_PER_KVB)),
        "localaddresses": [],
        "warnings": "",
    }))
}

/// No peers: devchain is a one-node network (also answers `getzmqnotifications`).
pub fn getpeerinfo(_: &Shared, _: &Params) -> Result<Value, RpcError> {
    Ok(json!([]))
}

pub fn getconnectioncount(_: &Shared, _: &Params) -> Result<Value, RpcError> {
    Ok(json!(0))
}

pub fn uptime(s: &Shared, _: &Params) -> Result<Value, RpcError> {
    Ok(json!(s.node().uptime()))
}

/// `setmocktime <t>`: new blocks are timestamped from `t` (0 = real clock again).
pub fn setmocktime(s: &Shared, p: &Params) -> Result<Value, RpcError> {
    let t = p.opt_i64(0)?.unwrap_or(0);
    s.node().mock_time = u64::try_from(t).ok().filter(|t| *t > 0);
    Ok(Value::Null)
}

pub fn stop(s: &Shared, _: &Params) -> Result<Value, RpcError> {
    let _ = s.shutdown.send(true);
    Ok(json!("Bitcoin Core stopping"))
}
