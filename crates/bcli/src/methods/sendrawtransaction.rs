//! `sendrawtransaction tx allowhighfees` → `sendrawtransaction <hex> [0]` (`0`: no maximum
//! fee rate). A refusal is `success: false` with bitcoin-cli's error text in `errmsg`.

use jsonrpc::Param;
use serde_json::{json, Value};

use crate::error::{bind, MethodError};
use crate::rpc::{Bitcoind, RpcFailure};

pub const USAGE: &str = "tx allowhighfees";
const PARAMS: [Param; 2] = [Param::req("tx"), Param::req("allowhighfees")];

/// `RPC_VERIFY_ALREADY_IN_CHAIN`: the transaction is already confirmed, which is what the
/// caller wanted. (Core Lightning's bcli meant to treat it so, but compares with the wrong
/// sign and reports a failure.)
const RPC_VERIFY_ALREADY_IN_CHAIN: i32 = -27;

pub async fn run(bitcoind: &Bitcoind, params: &Value) -> Result<Value, MethodError> {
    let bound = bind(params, &PARAMS)?;
    let tx = bound.str("tx")?.unwrap_or_default().to_string();
    let allowhighfees = bound.bool("allowhighfees")?.unwrap_or(false);
    let mut args = vec![json!(tx)];
    if allowhighfees {
        args.push(json!(0));
    }
    let outcome = bitcoind.call_value("sendrawtransaction", &args).await;
    // lightningd's bcli line (bitcoin-cli's exit status, the call, its output): test
    // frameworks find broadcasts by it (pyln-testing waits for `sendrawtx exit.*<hex>`).
    let (exit, output) = match &outcome {
        Ok(v) => (0, v.as_str().unwrap_or_default().to_string()),
        Err(f @ RpcFailure::Rpc { code, .. }) => (code.unsigned_abs(), f.to_string()),
        Err(f) => (1, f.to_string()),
    };
    tracing::debug!(
        "sendrawtx exit {exit} (sendrawtransaction {tx}{}) {output}",
        if allowhighfees { " 0" } else { "" }
    );
    Ok(match outcome {
        Ok(_) => json!({"success": true, "errmsg": ""}),
        Err(
            f @ RpcFailure::Rpc {
                code: RPC_VERIFY_ALREADY_IN_CHAIN,
                ..
            },
        ) => {
            json!({"success": true, "errmsg": f.to_string()})
        }
        Err(f) => json!({"success": false, "errmsg": f.to_string()}),
    })
}
