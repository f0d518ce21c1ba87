//! `getutxout txid vout` → `gettxout`: `amount` (`"<n>sat"`) and `script` (hex), or both
//! null when the output is spent or unknown.

use bitcoin::Amount;
use corepc_types::v17;
use jsonrpc::Param;
use serde_json::{json, Value};

use crate::error::{bind, u32_param, MethodError};
use crate::rpc::{Bitcoind, RpcFailure};

pub const USAGE: &str = "txid vout";
const PARAMS: [Param; 2] = [Param::req("txid"), Param::req("vout")];

pub async fn run(bitcoind: &Bitcoind, params: &Value) -> Result<Value, MethodError> {
    let bound = bind(params, &PARAMS)?;
    let txid = bound.str("txid")?.unwrap_or_default().to_string();
    let vout = u32_param(&bound, "vout")?;
    let call = format!("gettxout {txid} {vout}");
    let spent = json!({"amount": null, "script": null});
    let out = match bitcoind
        .call::<Option<v17::GetTxOut>>("gettxout", &[json!(txid), json!(vout)])
        .await
    {
        Ok(Some(out)) => out,
        Ok(None) => return Ok(spent),
        // bitcoind refused the question (e.g. not a txid): nothing there.
        Err(RpcFailure::Rpc { .. }) => return Ok(spent),
        // Unlike bitcoin-cli's bcli, an unreachable bitcoind is not reported as "spent":
        // that would make lightningd forget channels.
        Err(f) => return Err(MethodError::from_failure(&call, &f)),
    };
    let amount = Amount::from_btc(out.value)
        .map_err(|e| MethodError::bcli(&call, "bad JSON", format!("value {}: {e}", out.value)))?;
    Ok(json!({
        "amount": format!("{}sat", amount.to_sat()),
        "script": out.script_pubkey.hex,
    }))
}
