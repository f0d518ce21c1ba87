//! `txprepare outputs [feerate] [minconf] [utxos]` (wallet reference §2.3): a signed spend
//! kept (in memory) for `txsend`/`txdiscard`; its inputs stay reserved.

use std::sync::Arc;

use bitcoin::consensus::encode::serialize_hex;
use chain::Fees;
use jsonrpc::{Param, RpcError};
use serde_json::{json, Value};
use wallet::SpendRequest;

use super::wallet_params as p;
use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};
use crate::wallet_wiring::{spender, Spender};

const PARAMS: &[Param] = &[
    Param::req("outputs"),
    Param::opt("feerate"),
    Param::opt("minconf"),
    Param::opt("utxos"),
];

pub struct Txprepare {
    pub spender: Arc<Spender>,
    pub fees: Arc<Fees>,
}

fn request(
    ctx: &Context,
    fees: &Fees,
    network: bitcoin::Network,
) -> Result<SpendRequest, RpcError> {
    let b = ctx.bind(PARAMS)?;
    let format = || RpcError::invalid_params("The output format must be {destination: amount}");
    let outs = b
        .get("outputs")
        .and_then(Value::as_array)
        .ok_or_else(format)?;
    let mut outputs = Vec::new();
    let mut drain_to = None;
    for o in outs {
        let obj = o.as_object().filter(|m| m.len() == 1).ok_or_else(format)?;
        for (addr, amount) in obj {
            let script = p::destination(&json!(addr), network, &ctx.node.settings.network)
                .map_err(|e| RpcError::invalid_params(e.message))?;
            if amount.as_str() == Some("all") {
                if drain_to.is_some() {
                    return Err(RpcError::invalid_params("Cannot use 'all' in two outputs"));
                }
                drain_to = Some(script);
            } else {
                let sat = p::amount("satoshi", amount).map_err(|_| {
                    RpcError::invalid_params(format!(
                        "'{}' is a invalid satoshi amount",
                        amount
                            .as_str()
                            .map(str::to_string)
                            .unwrap_or(amount.to_string())
                    ))
                })?;
                outputs.push((script, sat));
            }
        }
    }
    if outs.is_empty() {
        return Err(format());
    }
    p::spend_request(&b, fees, outputs, drain_to)
}

impl Command for Txprepare {
    fn name(&self) -> &'static str {
        "txprepare"
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
            let out = json!({
                "psbt": spender::unsigned_psbt(&spend.psbt).to_string(),
                "unsigned_tx": serialize_hex(&spender::unsigned(&spend.tx)),
                "txid": spend.tx.compute_txid().to_string(),
            });
            spender.hold(spend);
            Ok(Reply::Result(out))
        })
    }
}
