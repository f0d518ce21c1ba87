//! `waitsendpay payment_hash [timeout] [partid] [groupid]`: waits for a `sendpay` part
//! (by default of the hash's latest group) to complete or fail (lightningd/pay.c).

use std::sync::Arc;

use jsonrpc::{Bound, Param, RpcError};

use super::sendpay::hash_param;
use crate::payments::send::Sender;
use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};

const PARAMS: &[Param] = &[
    Param::req("payment_hash"),
    Param::opt("timeout"),
    Param::opt("partid"),
    Param::opt("groupid"),
];

pub struct Waitsendpay {
    pub sender: Arc<Sender>,
}

struct Parsed {
    hash: [u8; 32],
    timeout: Option<u64>,
    partid: u64,
    groupid: Option<u64>,
}

fn parse(b: &Bound) -> Result<Parsed, RpcError> {
    Ok(Parsed {
        hash: hash_param(b, "payment_hash")?
            .ok_or_else(|| RpcError::invalid_params("missing required parameter: payment_hash"))?,
        timeout: b.u64("timeout")?,
        partid: b.u64("partid")?.unwrap_or(0),
        groupid: b.u64("groupid")?,
    })
}

impl Command for Waitsendpay {
    parsed_command!("waitsendpay");
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        let sender = self.sender.clone();
        Box::pin(async move {
            let p = parse(&ctx.bind(PARAMS)?)?;
            Ok(Reply::Result(
                sender
                    .waitsendpay(p.hash, p.timeout, p.partid, p.groupid)
                    .await?,
            ))
        })
    }
}
