//! `txdiscard txid`: forgets what `txprepare` held and releases its inputs.

use std::sync::Arc;

use bitcoin::consensus::encode::serialize_hex;
use jsonrpc::{Param, RpcError};
use serde_json::json;

use super::txsend::{held_txid, not_held};
use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};
use crate::wallet_wiring::{spender, Spender};

const PARAMS: &[Param] = &[Param::req("txid")];

pub struct Txdiscard {
    pub spender: Arc<Spender>,
}

impl Command for Txdiscard {
    fn name(&self) -> &'static str {
        "txdiscard"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn check(&self, ctx: &Context) -> Result<(), RpcError> {
        held_txid(ctx).map(|_| ())
    }
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        let spender = self.spender.clone();
        Box::pin(async move {
            let txid = held_txid(&ctx)?;
            let spend = spender.release(&txid).ok_or_else(|| not_held(&txid))?;
            let inputs = spend.inputs.clone();
            crate::wallet_wiring::blocking(&spender.wallet, move |w| {
                w.unreserve(&inputs, u32::MAX)
            })
            .await?
            .map_err(|e| RpcError::daemon(e.to_string()))?;
            Ok(Reply::Result(json!({
                "unsigned_tx": serialize_hex(&spender::unsigned(&spend.tx)),
                "txid": txid.to_string(),
            })))
        })
    }
}
