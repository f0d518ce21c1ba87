//! `utxopsbt satoshi feerate startweight utxos [reserve] [reservedok] [locktime]
//! [min_witness_weight] [excess_as_change] [opening_anchor_channel]`: `fundpsbt` with the
//! coins given (wallet reference §2.3).

use std::sync::Arc;

use chain::Fees;
use jsonrpc::{Param, RpcError};
use serde_json::Value;
use wallet::FundRequest;

use super::fundpsbt::{fund, fund_request};
use super::wallet_params as p;
use crate::rpc::{BoxFut, CmdResult, Command, Context};
use crate::wallet_wiring::Spender;

const PARAMS: &[Param] = &[
    Param::req("satoshi"),
    Param::req("feerate"),
    Param::req("startweight"),
    Param::req("utxos"),
    Param::opt("reserve"),
    Param::opt("reservedok"),
    Param::opt("locktime"),
    Param::opt("min_witness_weight"),
    Param::opt("excess_as_change"),
    Param::opt("opening_anchor_channel"),
];

pub struct Utxopsbt {
    pub spender: Arc<Spender>,
    pub fees: Arc<Fees>,
}

fn request(ctx: &Context, fees: &Fees) -> Result<FundRequest, RpcError> {
    let b = ctx.bind(PARAMS)?;
    let mut req = fund_request(&b, fees)?;
    req.minconf = 0;
    req.utxos = Some(p::outpoints(
        "utxos",
        b.get("utxos").unwrap_or(&Value::Null),
    )?);
    req.reserve = b.u64("reserve")?.map_or(wallet::DEFAULT_RESERVE, |r| {
        u32::try_from(r).unwrap_or(u32::MAX)
    });
    req.reserved_ok = b.bool("reservedok")?.unwrap_or(false);
    b.bool("opening_anchor_channel")?;
    Ok(req)
}

impl Command for Utxopsbt {
    fn name(&self) -> &'static str {
        "utxopsbt"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn check(&self, ctx: &Context) -> Result<(), RpcError> {
        request(ctx, &self.fees).map(|_| ())
    }
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        let spender = self.spender.clone();
        let fees = self.fees.clone();
        Box::pin(async move {
            let req = request(&ctx, &fees)?;
            fund(&spender, req).await
        })
    }
}
