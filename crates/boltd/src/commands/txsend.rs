//! `txsend txid`: broadcasts what `txprepare` held (wallet reference §2.3).

use std::str::FromStr;
use std::sync::Arc;

use bitcoin::consensus::encode::serialize_hex;
use bitcoin::Txid;
use jsonrpc::{Param, RpcError};
use serde_json::{json, Value};

use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};
use crate::wallet_wiring::Spender;

const PARAMS: &[Param] = &[Param::req("txid")];

pub struct Txsend {
    pub spender: Arc<Spender>,
}

/// The `txid` parameter of txsend/txdiscard; unknown ones are lightningd's error.
pub fn held_txid(ctx: &Context) -> Result<Txid, RpcError> {
    let b = ctx.bind(PARAMS)?;
    let v = b.get("txid").cloned().unwrap_or(Value::Null);
    let t = v.as_str().map(str::to_string).unwrap_or(v.to_string());
    Txid::from_str(&t).map_err(|_| jsonrpc::params::bad_token("txid", "should be a txid", &v))
}

pub fn not_held(txid: &Txid) -> RpcError {
    RpcError::invalid_params(format!("not an unreleased txid '{txid}'"))
}

impl Command for Txsend {
    fn name(&self) -> &'static str {
        "txsend"
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
            spender.broadcast(&spend.tx).await?;
            Ok(Reply::Result(json!({
                "psbt": spend.psbt.to_string(),
                "tx": serialize_hex(&spend.tx),
                "txid": txid.to_string(),
            })))
        })
    }
}
