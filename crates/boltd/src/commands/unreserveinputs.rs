//! `unreserveinputs psbt [reserve]`: lowers reservations by `reserve` blocks and lists the
//! inputs that were reserved (wallet reference §2.3).

use std::sync::Arc;

use jsonrpc::{Param, RpcError};
use serde_json::Value;
use wallet::Wallet;

use super::reserveinputs::{reservations_json, reserve_blocks};
use super::wallet_params as p;
use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};

const PARAMS: &[Param] = &[Param::req("psbt"), Param::opt("reserve")];

pub struct Unreserveinputs {
    pub wallet: Arc<Wallet>,
}

impl Command for Unreserveinputs {
    fn name(&self) -> &'static str {
        "unreserveinputs"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn check(&self, ctx: &Context) -> Result<(), RpcError> {
        let b = ctx.bind(PARAMS)?;
        p::psbt("psbt", b.get("psbt").unwrap_or(&Value::Null))?;
        reserve_blocks(&b).map(|_| ())
    }
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        let wallet = self.wallet.clone();
        Box::pin(async move {
            let b = ctx.bind(PARAMS)?;
            let psbt = p::psbt("psbt", b.get("psbt").unwrap_or(&Value::Null))?;
            let blocks = reserve_blocks(&b)?;
            let ops: Vec<_> = psbt
                .unsigned_tx
                .input
                .iter()
                .map(|i| i.previous_output)
                .collect();
            let rs = crate::wallet_wiring::blocking(&wallet, move |w| w.unreserve(&ops, blocks))
                .await?
                .map_err(|e| p::spend_error(e, true))?;
            Ok(Reply::Result(reservations_json(&rs)))
        })
    }
}
