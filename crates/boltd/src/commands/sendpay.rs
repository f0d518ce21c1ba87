//! `sendpay route payment_hash [label] [amount_msat] [bolt11] [payment_secret] [partid]
//! [localinvreqid] [groupid] [payment_metadata] [description]`: sends one part along
//! the caller's route (lightningd/pay.c), recorded before any HTLC leaves; answers
//! `pending` at once. An empty route pays our own invoice at once (a self-payment);
//! `localinvreqid` (BOLT 12) is refused.

use std::sync::Arc;

use jsonrpc::params::bad_token;
use jsonrpc::{Bound, Param, RpcError};
use serde_json::Value;

use super::pay::msat;
use crate::payments::route_json::parse_route;
use crate::payments::send::{Sender, SendpayRequest};
use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};

const PARAMS: &[Param] = &[
    Param::req("route"),
    Param::req("payment_hash"),
    Param::opt("label"),
    Param::opt("amount_msat"),
    Param::opt("bolt11"),
    Param::opt("payment_secret"),
    Param::opt("partid"),
    Param::opt("localinvreqid"),
    Param::opt("groupid"),
    Param::opt("payment_metadata"),
    Param::opt("description"),
];

pub struct Sendpay {
    pub sender: Arc<Sender>,
}

/// A 32-byte hex parameter (`payment_hash`, `payment_secret`).
pub fn hash_param(b: &Bound, name: &str) -> Result<Option<[u8; 32]>, RpcError> {
    match b.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_str()
            .and_then(|s| hex::decode(s).ok())
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .map(Some)
            .ok_or_else(|| bad_token(name, "should be a 32 byte hex value", v)),
    }
}

fn parse(b: &Bound) -> Result<SendpayRequest, RpcError> {
    let route = b
        .get("route")
        .ok_or_else(|| RpcError::invalid_params("missing required parameter: route"))?;
    let route = parse_route(route)?;
    let hash = hash_param(b, "payment_hash")?
        .ok_or_else(|| RpcError::invalid_params("missing required parameter: payment_hash"))?;
    if b.get("localinvreqid").is_some() {
        return Err(RpcError::invalid_params(
            "localinvreqid: BOLT 12 invoice requests are not supported by boltd",
        ));
    }
    let payment_metadata = match b.get("payment_metadata") {
        None => None,
        Some(v) => Some(
            v.as_str()
                .and_then(|s| hex::decode(s).ok())
                .ok_or_else(|| bad_token("payment_metadata", "should be hex", v))?,
        ),
    };
    Ok(SendpayRequest {
        route,
        hash,
        label: b.str("label")?.map(str::to_string),
        amount_msat: msat(b, "amount_msat")?,
        bolt11: b.str("bolt11")?.map(str::to_string),
        payment_secret: hash_param(b, "payment_secret")?,
        partid: b.u64("partid")?.unwrap_or(0),
        groupid: b.u64("groupid")?,
        payment_metadata,
        description: b.str("description")?.map(str::to_string),
    })
}

impl Command for Sendpay {
    parsed_command!("sendpay");
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        let sender = self.sender.clone();
        Box::pin(async move {
            let r = parse(&ctx.bind(PARAMS)?)?;
            let v: Value = sender.sendpay(r).await?;
            Ok(Reply::Result(v))
        })
    }
}
