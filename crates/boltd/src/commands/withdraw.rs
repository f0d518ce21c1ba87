//! `withdraw destination satoshi [feerate] [minconf] [utxos]` (wallet reference §2.3):
//! coins chosen, signed and reserved (durably) by the wallet, then broadcast; refused
//! broadcasts release them.

use std::sync::Arc;

use bitcoin::consensus::encode::serialize_hex;
use chain::Fees;
use jsonrpc::{Param, RpcError};
use serde_json::{json, Value};
use wallet::SpendRequest;

use super::wallet_params as p;
use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};
use crate::wallet_wiring::Spender;

const PARAMS: &[Param] = &[
    Param::req("destination"),
    Param::req("satoshi"),
    Param::opt("feerate"),
    Param::opt("minconf"),
    Param::opt("utxos"),
];

pub struct Withdraw {
    pub spender: Arc<Spender>,
    pub fees: Arc<Fees>,
}

/// Everything `withdraw` was asked, checked.
fn request(
    ctx: &Context,
    fees: &Fees,
    network: bitcoin::Network,
) -> Result<SpendRequest, RpcError> {
    let b = ctx.bind(PARAMS)?;
    let script = p::destination(
        b.get("destination").unwrap_or(&Value::Null),
        network,
        &ctx.node.settings.network,
    )?;
    let satoshi = b.get("satoshi").cloned().unwrap_or(Value::Null);
    let (outputs, drain_to) = if satoshi.as_str() == Some("all") {
        (Vec::new(), Some(script))
    } else {
        (vec![(script, p::amount("satoshi", &satoshi)?)], None)
    };
    p::spend_request(&b, fees, outputs, drain_to)
}

impl Command for Withdraw {
    fn name(&self) -> &'static str {
        "withdraw"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn check(&self, ctx: &Context) -> Result<(), RpcError> {
        request(ctx, &self.fees, self.spender.wallet.network()).map(|_| ())
    }
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        let spender = self.spender.clone();
        let fees = self.fees.clone();
        Box::pin(async move {
            let req = request(&ctx, &fees, spender.wallet.network())?;
            let synced = spender.synced();
            let spend = crate::wallet_wiring::blocking(&spender.wallet, move |w| w.spend(&req))
                .await?
                .map_err(|e| p::spend_error(e, synced))?;
            spender.broadcast(&spend.tx).await?;
            Ok(Reply::Result(json!({
                "tx": serialize_hex(&spend.tx),
                "txid": spend.tx.compute_txid().to_string(),
                "psbt": spend.psbt.to_string(),
            })))
        })
    }
}
