//! `reserveinputs psbt [exclusive] [reserve]` and the rows both it and `unreserveinputs`
//! return (wallet reference §2.3). Reservations are block heights and durable.

use std::sync::Arc;

use jsonrpc::{Param, RpcError};
use serde_json::{json, Value};
use wallet::{Reservation, SpendError, Wallet};

use super::wallet_params as p;
use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};

const PARAMS: &[Param] = &[
    Param::req("psbt"),
    Param::opt("exclusive"),
    Param::opt("reserve"),
];

pub struct Reserveinputs {
    pub wallet: Arc<Wallet>,
}

pub fn reservations_json(rs: &[Reservation]) -> Value {
    let rows: Vec<Value> = rs
        .iter()
        .map(|r| {
            json!({
                "txid": r.outpoint.txid.to_string(),
                "vout": r.outpoint.vout,
                "was_reserved": r.was_reserved,
                "reserved": r.reserved,
                "reserved_to_block": r.reserved_to_block,
            })
        })
        .collect();
    json!({ "reservations": rows })
}

pub fn reserve_blocks(b: &jsonrpc::Bound) -> Result<u32, RpcError> {
    Ok(b.u64("reserve")?.map_or(wallet::DEFAULT_RESERVE, |r| {
        u32::try_from(r).unwrap_or(u32::MAX)
    }))
}

impl Command for Reserveinputs {
    fn name(&self) -> &'static str {
        "reserveinputs"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn check(&self, ctx: &Context) -> Result<(), RpcError> {
        let b = ctx.bind(PARAMS)?;
        p::psbt("psbt", b.get("psbt").unwrap_or(&Value::Null))?;
        b.bool("exclusive")?;
        reserve_blocks(&b).map(|_| ())
    }
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        let wallet = self.wallet.clone();
        Box::pin(async move {
            let b = ctx.bind(PARAMS)?;
            let psbt = p::psbt("psbt", b.get("psbt").unwrap_or(&Value::Null))?;
            let exclusive = b.bool("exclusive")?.unwrap_or(true);
            let blocks = reserve_blocks(&b)?;
            let ops: Vec<_> = psbt
                .unsigned_tx
                .input
                .iter()
                .map(|i| i.previous_output)
                .collect();
            let rs = crate::wallet_wiring::blocking(&wallet, move |w| {
                w.reserve(&ops, exclusive, blocks)
            })
            .await?
            .map_err(|e| match e {
                SpendError::AlreadyReserved(o) => {
                    RpcError::invalid_params(format!("{o} already reserved"))
                }
                SpendError::AlreadySpent(o) => {
                    RpcError::invalid_params(format!("{o} already spent"))
                }
                other => p::spend_error(other, true),
            })?;
            Ok(Reply::Result(reservations_json(&rs)))
        })
    }
}
